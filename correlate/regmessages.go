package correlate

import (
	"bytes"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// maxRegMessages bounds the SIP messages kept per REGISTER flow (Registration.Messages):
// a REGISTER, its challenge, the authenticated REGISTER and its answer are four;
// retransmissions and provisional answers fill the rest. Beyond it messages are counted
// in callscope_correlate_dropped_total{what="messages"}.
const maxRegMessages = 16

// keepRegMessage keeps the message of a REGISTER flow for its ladder when
// Config.KeepMessages, counted against Config.MaxRetainedBytes like a call's messages
// and given back when the flow is emitted (releaseReg).
func (c *Correlator) keepRegMessage(f *regFlow, ev *decode.Event, m *sip.Message) {
	if !c.cfg.KeepMessages {
		return
	}
	size := int64(len(ev.Payload) + len(ev.Frame))
	switch {
	case len(f.msgs) >= maxRegMessages:
		c.cnt.MessagesDropped++
		return
	case c.cfg.MaxRetainedBytes > 0 && c.retained+size > c.cfg.MaxRetainedBytes:
		c.cnt.RetainedBytesDropped++
		return
	}
	c.retained += size
	f.retained += size
	f.msgs = append(f.msgs, Message{
		TS: ev.TS, Src: ev.Src, Dst: ev.Dst, Transport: ev.Transport.String(),
		Request: m.Request, Method: string(m.Method), Status: m.StatusCode, CSeq: m.CSeq,
		Raw: bytes.Clone(ev.Payload), Frame: bytes.Clone(ev.Frame), LinkType: ev.LinkType,
	})
}

// releaseReg returns what f kept to the budget when it leaves the table.
func (c *Correlator) releaseReg(f *regFlow) {
	c.retained -= f.retained
	f.retained = 0
}

// RegistrationID is the stable id of a REGISTER flow: like a call's (CallUID), of its
// Call-ID and the time of its first REGISTER, so it can be derived again from a stored
// registration.
func RegistrationID(r *Registration) string { return CallUID(r.CallID, r.Time) }
