package correlate

import (
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/quality"
)

// rtcpEvent attributes one RTCP compound (RFC 3550 §6.1) to the streams it describes.
// It is parsed into the Correlator's reused quality.RTCPCompound: no allocation per
// datagram. Whatever decoded before damage is used (a truncated trailing SDES must not
// lose the SR ahead of it); a datagram where nothing decoded counts as bad_rtcp.
func (c *Correlator) rtcpEvent(ev *decode.Event) {
	var cl *call
	if e, ok := c.media[mkey(ev.Dst)]; ok {
		cl = e.call
	} else if e, ok := c.media[mkey(ev.Src)]; ok {
		cl = e.call
	}
	rc := &c.rtcp
	if err := rc.Parse(ev.Payload); err != nil {
		c.cnt.BadRTCP++
		if rc.Packets == 0 {
			return
		}
	}
	matched := false
	for _, si := range rc.Senders() {
		if st := c.streamBySSRC(cl, si.SSRC); st != nil {
			st.q.SenderReport(ev.TS, si.NTP, si.RTPTime)
			matched = true
		}
	}
	reported := false
	for _, rb := range rc.Reports() {
		if st := c.streamBySSRC(cl, rb.SSRC); st != nil {
			st.q.ReportBlock(ev.TS, rb.FractionLost, rb.CumulativeLost, rb.ExtHighestSeq, rb.Jitter, rb.LSR, rb.DLSR)
			matched, reported = true, true
		}
	}
	for _, x := range rc.XRVoIP() {
		if st := c.streamBySSRC(cl, x.SSRC); st != nil {
			st.q.XRVoIPMetrics(x.Metrics)
			matched = true
		}
	}
	if reported && cl != nil {
		c.endToEndRTT(cl)
	}
	if !matched {
		c.cnt.UnmatchedRTCP++
	}
	if cl != nil && c.keepMode != keepNone {
		c.keepFrame(cl, ev, 0)
	}
}

// mainStreams returns the stream with the most packets sent by each side of cl.
func (cl *call) mainStreams() (caller, callee *stream) {
	for _, s := range cl.streams {
		switch {
		case s.side == sideCaller && (caller == nil || s.q.Packets() > caller.q.Packets()):
			caller = s
		case s.side == sideCallee && (callee == nil || s.q.Packets() > callee.q.Packets()):
			callee = s
		}
	}
	return caller, callee
}

// endToEndRTT gives both directions of cl the call's round trip, the sum of the two
// probe-side RTCP segments (quality.EndToEndRTT, docs/quality.md), for the E-model delay.
// It runs on every report block, so intervals closing later use the latest value.
func (c *Correlator) endToEndRTT(cl *call) {
	a, b := cl.mainStreams()
	if a == nil || b == nil {
		return
	}
	if rtt, ok := quality.EndToEndRTT(&a.q, &b.q); ok {
		a.q.SetEndToEndRTT(rtt)
		b.q.SetEndToEndRTT(rtt)
	}
}

func (c *Correlator) streamBySSRC(cl *call, ssrc uint32) *stream {
	if cl != nil {
		for _, s := range cl.streams {
			if s.key.ssrc == ssrc {
				return s
			}
		}
	}
	return c.bySSRC[ssrc]
}
