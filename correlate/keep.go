package correlate

import (
	"bytes"
	"unsafe"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
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
	c.charge(cl, n)
	return true
}

// charge accounts n bytes (negative: released) to cl without the budget check.
func (c *Correlator) charge(cl *call, n int64) {
	c.retained += n
	cl.retained += n
}

// release returns what cl kept to the budget when it leaves the table.
func (c *Correlator) release(cl *call) {
	c.retained -= cl.retained
	cl.retained = 0
}

// sipKeep holds the SIP messages kept for one call (Config.KeepMessages) and their
// text (Message.Frame, and Raw when it is not a view of the frame) in one arena per
// call: chunks growing to 64 KiB (the first fits the first message) that the messages
// alias, so keeping a message costs one copy of its frame and no allocation of its own.
// Each chunk is counted against Config.MaxRetainedBytes when it is made; the call's
// bytes go back to the budget when it leaves the table, and the arena goes with its
// Record: it is freed once the store writer, the last holder, has written it.
//
// Once the dialog is confirmed (an ACK) and its SIP has been quiet for packQuiet, Advance
// packs the messages kept so far (sippack.go) and their arena and array are let go: packed holds them compressed, messages and buf only
// what came after.
type sipKeep struct {
	messages []Message
	buf      []byte // current chunk; kept messages alias it and the chunks before it
	arena    int64  // bytes of the chunks messages alias (charged to the call)
	// confirmed: an ACK came with at least packAfter raw messages; Advance packs them
	// once the call's SIP has been quiet for packQuiet.
	confirmed bool
	packed    *packedMessages // immutable once made: a repack makes a new one
}

// count is the number of messages kept (none for a nil sipKeep).
func (k *sipKeep) count() int {
	if k == nil {
		return 0
	}
	return k.packed.count() + len(k.messages)
}

// all returns every message kept, in arrival order: the raw ones as they are, or, when
// some are packed, all of them unpacked into new memory (what an ended call's Record
// takes). A pack that does not decode (never seen: the bytes are the correlator's own)
// loses the packed messages, not the later ones.
func (k *sipKeep) all() []Message {
	if k == nil {
		return nil
	}
	if k.packed == nil {
		return k.messages
	}
	out, _ := k.packed.unpack(make([]Message, 0, k.count()))
	return append(out, k.messages...)
}

// held returns the messages as k holds them: the packed first ones (nil when none are)
// and the raw ones after them.
func (k *sipKeep) held() (*packedMessages, []Message) {
	if k == nil {
		return nil, nil
	}
	return k.packed, k.messages
}

const maxMsgChunk = 64 << 10

// packAfter is the number of raw messages an ACK packs at least: fewer are not worth a
// block (a re-INVITE's ACK after one BYE-less exchange).
const packAfter = 3

// packQuiet is how long (packet time) a confirmed call's SIP must be quiet before its
// messages are packed: a short call (a second or two, as in BenchmarkHEPIngest) ends
// before that and is never packed and unpacked for nothing (that cost HEP ingest 1.3 µs
// of CPU and 1.2 KB of allocation per message when the ACK itself packed), while a call
// of ordinary length spends nearly all its life packed.
const packQuiet = 2e9

// keepMessage appends ev, a SIP message of cl, to cl.sip.messages with its frame and
// payload copied into cl's arena. The payload is usually the frame's tail (a UDP
// datagram, or the frame synthesised for HEP): then Raw is a view of the kept frame
// and the text is copied once. It reports false, keeping nothing, when a new chunk
// would go past the retained-bytes budget. An ACK marks the call for packing what it
// has kept (sippack.go) once its SIP is quiet (Advance).
func (c *Correlator) keepMessage(cl *call, ev *decode.Event, m *sip.Message, retrans bool) bool {
	frame, payload := ev.Frame, ev.Payload
	tail := len(payload) > 0 && len(payload) <= len(frame) && &frame[len(frame)-len(payload)] == &payload[0]
	need := len(frame)
	if !tail {
		need += len(payload)
	}
	a := cl.sip
	if a == nil {
		a = &sipKeep{messages: make([]Message, 0, 8)}
		cl.sip = a
	}
	if cap(a.buf)-len(a.buf) < need {
		// The first chunk fits the first message exactly (a call of one INVITE, as in a
		// Call-ID flood, keeps no more than it did); the next has room for the rest of a
		// usual call, and chunks double from there up to maxMsgChunk. After a pack, the
		// chunks start small again: a confirmed call usually has a BYE and its answer
		// to come.
		size := need
		switch {
		case a.packed != nil && a.buf == nil:
			size = max(2*need, 1024)
		case a.buf != nil:
			size = max(min(max(8*need, 2*cap(a.buf)), maxMsgChunk), need)
		}
		if !c.retain(cl, int64(size)) {
			return false
		}
		a.arena += int64(size)
		a.buf = make([]byte, 0, size)
	}
	var rawKept, frameKept []byte
	if frame != nil {
		frameKept = a.put(frame)
	}
	switch {
	case tail:
		rawKept = frameKept[len(frame)-len(payload):]
	case payload != nil:
		rawKept = a.put(payload)
	}
	if a.messages == nil {
		a.messages = make([]Message, 0, 2)
	}
	method := methodName(m.Method)
	a.messages = append(a.messages, Message{
		TS: ev.TS, Src: ev.Src, Dst: ev.Dst, Transport: ev.Transport.String(),
		Request: m.Request, Method: method, Status: m.StatusCode, CSeq: m.CSeq,
		Retrans: retrans, Raw: rawKept, Frame: frameKept, LinkType: ev.LinkType,
	})
	if method == "ACK" && m.Request && len(a.messages) >= packAfter {
		a.confirmed = true
	}
	return true
}

// packMessages packs every message a keeps (sippack.go) and lets their arena go; the
// budget is charged the packed bytes instead. When the pack would not be smaller, the
// messages stay raw.
func (c *Correlator) packMessages(cl *call, a *sipKeep) {
	var prev []Message
	if a.packed != nil {
		var err error
		if prev, err = a.packed.unpack(nil); err != nil {
			return
		}
	}
	z := c.sipz.pack(prev, a.messages)
	old := int64(a.packed.size())
	if int64(len(z)) >= old+a.arena+int64(cap(a.messages))*msgSize {
		return
	}
	c.charge(cl, int64(len(z))-old-a.arena)
	a.packed = &packedMessages{z: z, n: len(prev) + len(a.messages)}
	a.messages, a.buf, a.arena = nil, nil, 0
}

// msgSize is the size of a Message (what packing frees per message besides its bytes).
const msgSize = int64(unsafe.Sizeof(Message{}))

// put copies b into the current chunk (which has room) and returns the copy, capped so
// that appending to it cannot reach the next message.
func (a *sipKeep) put(b []byte) []byte {
	off := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[off:len(a.buf):len(a.buf)]
}

// methodName returns the method of a request as a string without allocating for the
// methods of RFC 3261 and its extensions; another method is copied.
func methodName(b []byte) string {
	switch string(b) { // the conversion in a switch does not allocate
	case "":
		return ""
	case "INVITE":
		return "INVITE"
	case "ACK":
		return "ACK"
	case "BYE":
		return "BYE"
	case "CANCEL":
		return "CANCEL"
	case "PRACK":
		return "PRACK"
	case "UPDATE":
		return "UPDATE"
	case "INFO":
		return "INFO"
	case "REFER":
		return "REFER"
	case "NOTIFY":
		return "NOTIFY"
	case "OPTIONS":
		return "OPTIONS"
	case "MESSAGE":
		return "MESSAGE"
	case "SUBSCRIBE":
		return "SUBSCRIBE"
	case "REGISTER":
		return "REGISTER"
	}
	return string(b)
}
