package correlate

import (
	"bytes"

	"github.com/callscope/callscope/decode"
)

// Kept-media modes, from Config.KeepRTP (and Config.KeepMessages).
const (
	keepNone uint8 = iota
	keepHeaders
	keepFull
)

func keepModeOf(cfg *Config) uint8 {
	if !cfg.KeepMessages {
		return keepNone
	}
	switch cfg.KeepRTP {
	case KeepRTPHeaders:
		return keepHeaders
	case KeepRTPFull:
		return keepFull
	}
	return keepNone
}

// keepFrame packs the frame of a media packet of cl for pcap export (framepack.go).
// rtpHdr is the RTP header length (0 for RTCP, which is kept whole): in headers mode
// the frame is cut right after it.
func (c *Correlator) keepFrame(cl *call, ev *decode.Event, rtpHdr int) {
	data := ev.Frame
	if len(data) == 0 {
		return
	}
	if c.keepMode == keepHeaders && rtpHdr > 0 {
		data = data[:rtpHeaderEnd(data, ev.Payload, rtpHdr)]
	}
	k := cl.keep
	if k == nil {
		k = &mediaKeep{}
		cl.keep = k
	}
	switch capped, budget := c.appendFrame(cl, k, ev.TS, ev.LinkType, len(ev.Frame), data); {
	case capped:
		c.cnt.MediaFramesDropped++
	case budget:
		c.cnt.RetainedBytesDropped++
	}
}

// rtpHeaderEnd returns the offset in frame just past the RTP header that starts payload
// (a datagram of the frame): usually the payload is the frame's tail; with Ethernet
// padding it is found by its header bytes. A frame that does not hold the header (the
// last fragment of a reassembled datagram) is cut at maxHeaderlessKept bytes.
func rtpHeaderEnd(frame, payload []byte, hl int) int {
	if hl > len(payload) {
		hl = len(payload)
	}
	if off := len(frame) - len(payload); off >= 0 && bytes.Equal(frame[off:off+hl], payload[:hl]) {
		return off + hl
	}
	if hl >= 12 {
		if i := bytes.Index(frame, payload[:hl]); i >= 0 {
			return i + hl
		}
	}
	return min(len(frame), maxHeaderlessKept)
}

// retain accounts n more bytes kept by cl against Config.MaxRetainedBytes; it reports
// false, keeping nothing, when that would go past the budget.
func (c *Correlator) retain(cl *call, n int64) bool {
	if c.cfg.MaxRetainedBytes > 0 && c.retained+n > c.cfg.MaxRetainedBytes {
		return false
	}
	c.retained += n
	cl.retained += n
	return true
}

// release returns what cl kept to the budget when it leaves the table.
func (c *Correlator) release(cl *call) {
	c.retained -= cl.retained
	cl.retained = 0
}
