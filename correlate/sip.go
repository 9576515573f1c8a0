package correlate

import (
	"bytes"
	"hash/maphash"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/quality"
)

func (c *Correlator) sipEvent(ev *decode.Event) {
	m := ev.SIP
	if m == nil || len(m.CallID) == 0 {
		return
	}
	method := m.Method
	if !m.Request {
		method = m.CSeqMethod
	}
	if bytes.EqualFold(method, []byte("REGISTER")) {
		c.register(ev, m)
		return
	}
	cl := c.calls[string(m.CallID)]
	if cl == nil {
		isInvite := m.Request && bytes.EqualFold(m.Method, []byte("INVITE"))
		if !isInvite && !inviteDialogMethod(method) {
			c.cnt.NonCallSIP++
			return
		}
		cl = c.newCall(ev, m)
		if cl == nil {
			return
		}
	}
	c.addMessage(cl, ev, m)
}

// inviteDialogMethod reports whether a message of this method belongs to an INVITE dialog,
// so that a capture starting mid-call still shows the call.
func inviteDialogMethod(method []byte) bool {
	for _, s := range [...]string{"INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO", "REFER"} {
		if bytes.EqualFold(method, []byte(s)) {
			return true
		}
	}
	return false
}

// senderSide says which side of the call sent m.
func (cl *call) senderSide(m *sip.Message) uint8 {
	if cl.fromTag == "" || len(m.FromTag) == 0 {
		if m.Request {
			return sideCaller
		}
		return sideCallee
	}
	fromCaller := string(m.FromTag) == cl.fromTag
	if m.Request == fromCaller {
		return sideCaller
	}
	return sideCallee
}

func (c *Correlator) msgHash(ev *decode.Event, m *sip.Message) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	a := ev.Src.Addr().As16()
	h.Write(a[:])
	a = ev.Dst.Addr().As16()
	h.Write(a[:])
	var b [16]byte
	b[0] = byte(ev.Src.Port() >> 8)
	b[1] = byte(ev.Src.Port())
	b[2] = byte(ev.Dst.Port() >> 8)
	b[3] = byte(ev.Dst.Port())
	b[4] = byte(m.CSeq >> 24)
	b[5] = byte(m.CSeq >> 16)
	b[6] = byte(m.CSeq >> 8)
	b[7] = byte(m.CSeq)
	b[8] = byte(m.StatusCode >> 8)
	b[9] = byte(m.StatusCode)
	if m.Request {
		b[10] = 1
	}
	h.Write(b[:11])
	h.Write(m.Method)
	h.Write(m.CSeqMethod)
	h.Write(m.ViaBranch)
	h.Write(m.ToTag)
	return h.Sum64()
}

// dtmfSameKey is how close two reports of the same digit must start to be one key press.
const dtmfSameKey = 200e6

// captureDupWindow: the same message again within this time is the capture seeing it
// twice (a SPAN port mirroring both directions, Kamailio's siptrace mirroring an ACK
// twice), not the network repeating it: SIP over UDP retransmits after T1 (500 ms,
// RFC 3261 §17.1.1.2) at the earliest. A copy that came the other way (one from the wire,
// one from a HEP agent, whose timestamp is the agent's and may lag under load) is a
// duplicate within crossSourceDupWindow, half of T1.
const (
	captureDupWindow     = 10e6
	crossSourceDupWindow = 250e6
)

// seenMsg is a message already seen in a call: its hash (the low bit replaced by
// whether the copy last seen came from HEP) and when it was last seen.
type seenMsg struct {
	h    uint64
	last int64
}

func (s *seenMsg) hep() bool { return s.h&1 != 0 }

func seenHash(h uint64, hep bool) uint64 {
	h &^= 1
	if hep {
		h |= 1
	}
	return h
}

func (c *Correlator) addMessage(cl *call, ev *decode.Event, m *sip.Message) {
	hv := c.msgHash(ev, m) &^ 1
	retrans := false
	for i := range cl.seen {
		s := &cl.seen[i]
		if s.h&^1 != hv {
			continue
		}
		window := int64(captureDupWindow)
		if s.hep() != ev.FromHEP {
			window = crossSourceDupWindow
		}
		if d := ev.TS - s.last; d <= window && d >= -window {
			c.cnt.DuplicateSIP++ // a second copy of a message we already have
			return
		}
		retrans, s.last, s.h = true, ev.TS, seenHash(hv, ev.FromHEP)
		break
	}
	cl.msgs++
	if ev.TS > cl.lastSIP {
		cl.lastSIP = ev.TS
	}
	if retrans {
		cl.retrans++
	} else if len(cl.seen) < maxSeenPerCall {
		if cl.seen == nil {
			cl.seen = make([]seenMsg, 0, 4) // an INVITE transaction without growing (a 7-message call grows once)
		}
		cl.seen = append(cl.seen, seenMsg{h: seenHash(hv, ev.FromHEP), last: ev.TS})
	} else {
		c.cnt.SeenHashesDropped++
	}
	if c.cfg.KeepMessages {
		switch {
		case cl.sip.count() >= c.cfg.MaxMessagesPerCall:
			c.cnt.MessagesDropped++
		case !c.keepMessage(cl, ev, m, retrans): // keep.go
			c.cnt.RetainedBytesDropped++
		}
	}
	c.userAgent(cl, m.UserAgent)
	c.userAgent(cl, m.Server)
	if retrans {
		return
	}
	if m.Request {
		c.request(cl, ev, m)
	} else {
		c.response(cl, ev, m)
	}
	if body := m.SDP(); len(body) > 0 {
		c.sdp(cl, cl.senderSide(m), body, ev.TS)
	}
}

func (c *Correlator) userAgent(cl *call, ua []byte) {
	if len(ua) == 0 {
		return
	}
	for _, u := range cl.userAgents {
		if u == string(ua) {
			return
		}
	}
	if len(cl.userAgents) < maxUserAgents {
		if cl.userAgents == nil {
			cl.userAgents = make([]string, 0, 2) // a User-Agent and a Server, without growing
		}
		cl.userAgents = append(cl.userAgents, c.internUA(ua))
	} else {
		c.cnt.UserAgentsDropped++
	}
}

// internUA returns ua as a string, the same string for every call that names it while
// the table of them has room: the calls of one site share a few User-Agent and Server
// values, which were a string per call (2 MB at 20,000 calls). Values longer than
// maxInternedUALen, and new ones once maxInternedUAs are in the table (never evicted:
// at most 128 KiB of text), are allocated per call as before.
func (c *Correlator) internUA(ua []byte) string {
	if s, ok := c.uas[string(ua)]; ok {
		return s
	}
	s := string(ua)
	if len(c.uas) < maxInternedUAs && len(s) <= maxInternedUALen {
		if c.uas == nil {
			c.uas = make(map[string]string)
		}
		c.uas[s] = s
	}
	return s
}

// internUA's caps.
const (
	maxInternedUAs   = 1024
	maxInternedUALen = 128
)

func (c *Correlator) request(cl *call, ev *decode.Event, m *sip.Message) {
	switch {
	case bytes.EqualFold(m.Method, []byte("INVITE")):
		switch {
		case len(m.ToTag) == 0 && (!cl.hasInvite || cl.fromTag == "" || string(m.FromTag) == cl.fromTag ||
			(cl.finalCode != 0 && cl.answer == 0)):
			// Some UAs send the INVITE with credentials with a new From tag: after a final
			// answer it is still this call's next attempt (the tag follows it).
			first := !cl.hasInvite
			if !cl.initialInvite(ev.TS, m.CSeq) {
				break
			}
			cl.fromTag = within(cl.from, m.FromTag)
			cl.inviteBranch = c.branchHash(m.ViaBranch)
			if first {
				cl.parties(ev, m, ev.Src, ev.Dst)
				c.linkKeys(cl, m)
				c.indexLinks(cl)
			}
		case !cl.hasInvite && cl.fromTag == "":
			c.adoptMidDialog(cl, ev, m)
		}
	case bytes.EqualFold(m.Method, []byte("BYE")):
		if cl.fromTag == "" {
			c.adoptMidDialog(cl, ev, m)
		}
		cl.bye(ev.TS, cl.senderSide(m))
		c.reasonHeader(cl, m)
	case bytes.EqualFold(m.Method, []byte("REFER")):
		if cl.fromTag == "" {
			c.adoptMidDialog(cl, ev, m)
		}
		c.refer(cl, m)
	case bytes.EqualFold(m.Method, []byte("CANCEL")):
		cl.cancel()
		c.reasonHeader(cl, m)
	case bytes.EqualFold(m.Method, []byte("INFO")):
		if d, dur, ok := quality.ParseDTMFInfo(m.ContentType, m.Body); ok {
			if len(cl.few().infoDTMF) < maxInfoDTMF {
				r := cl.more()
				r.infoDTMF = append(r.infoDTMF, quality.DTMFEvent{Digit: d, Start: ev.TS, DurationMs: float64(dur)})
			} else {
				c.cnt.DTMFDropped++
			}
		}
	default:
		if cl.fromTag == "" {
			c.adoptMidDialog(cl, ev, m)
		}
	}
}

// adoptMidDialog fills a call whose INVITE was not captured from an in-dialog request.
func (c *Correlator) adoptMidDialog(cl *call, ev *decode.Event, m *sip.Message) {
	cl.parties(ev, m, ev.Src, ev.Dst)
	if len(m.ToTag) > 0 {
		// An in-dialog request means the dialog was established before the capture.
		cl.adopt(ev.TS)
	}
}

// adoptFromResponse fills a call whose INVITE was not captured from a response to it:
// the response goes from callee to caller, and its CSeq names the INVITE transaction
// whose outcome it is.
func (c *Correlator) adoptFromResponse(cl *call, ev *decode.Event, m *sip.Message) {
	cl.parties(ev, m, ev.Dst, ev.Src)
	cl.inviteResponseOnly(m.CSeq)
}

// parties takes the call's From/To, caller tag, signalling addresses and transport
// from m.
func (cl *call) parties(ev *decode.Event, m *sip.Message, caller, callee netip.AddrPort) {
	cl.from, cl.to = unescapeNameAddr(m.From), unescapeNameAddr(m.To)
	cl.fromUser, cl.toUser = within(cl.from, sip.URIUser(m.FromURI)), within(cl.to, sip.URIUser(m.ToURI))
	cl.fromTag = within(cl.from, m.FromTag)
	cl.caller, cl.callee = caller, callee
	cl.transport = ev.Transport.String()
}

// within returns b as a string, sharing s's bytes when s contains them (the user and tag
// of a From or To header are in its value): a call then holds one string of its From
// instead of three (at 20,000 calls, 1 MB of the state).
func within(s string, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if i := strings.Index(s, string(b)); i >= 0 {
		return s[i : i+len(b)]
	}
	return string(b)
}

func (c *Correlator) reasonHeader(cl *call, m *sip.Message) {
	if len(m.Reason) == 0 || cl.hasQ850 {
		return
	}
	if cause, ok := sip.Q850Cause(m.Reason); ok {
		cl.q850, cl.hasQ850 = int32(cause), true
	}
}

// toCaller reports whether a response answers a request the caller sent: its From tag
// is the caller's (or a tag is unknown). A callee's re-INVITE may carry the same CSeq
// number as the caller's initial INVITE; its responses are not the call's outcome.
func (cl *call) toCaller(m *sip.Message) bool {
	return cl.fromTag == "" || len(m.FromTag) == 0 || string(m.FromTag) == cl.fromTag
}

func (c *Correlator) response(cl *call, ev *decode.Event, m *sip.Message) {
	code := m.StatusCode
	isInvite := bytes.EqualFold(m.CSeqMethod, []byte("INVITE"))
	if isInvite && !cl.hasInvite && cl.fromTag == "" && cl.answer == 0 {
		c.adoptFromResponse(cl, ev, m)
	}
	// A response carrying the INVITE's Via branch answers it (RFC 3261 §17.1.3), even when
	// its CSeq could not be read or its From tag was mangled.
	branch := (isInvite || len(m.CSeqMethod) == 0) && len(m.ViaBranch) > 0 && cl.inviteBranch != 0 &&
		c.branchHash(m.ViaBranch) == cl.inviteBranch
	if (isInvite && (cl.hasInvite || cl.responseOnly) && m.CSeq == cl.inviteCSeq && cl.toCaller(m)) || branch {
		switch {
		case code == 180 || code == 183:
			cl.provisional(ev.TS)
		case code >= 200 && code < 300:
			if cl.answered(ev.TS, code, string(m.ReasonPhrase)) {
				cl.hasQ850, cl.q850 = false, 0
			}
		case code >= 300:
			if cl.failed(ev.TS, code, string(m.ReasonPhrase)) {
				c.reasonHeader(cl, m)
			}
		}
		return
	}
	if code < 200 {
		return
	}
	if bytes.EqualFold(m.CSeqMethod, []byte("REFER")) {
		cl.referAnswered(code)
		return
	}
	byeOrCancel := bytes.EqualFold(m.CSeqMethod, []byte("BYE")) || bytes.EqualFold(m.CSeqMethod, []byte("CANCEL"))
	if code < 300 && bytes.EqualFold(m.CSeqMethod, []byte("BYE")) {
		cl.byeAnswered()
		return
	}
	cl.inDialogResult(code, byeOrCancel)
}

func (c *Correlator) linkKeys(cl *call, m *sip.Message) {
	c.addLinkKey(cl, "cid:"+cl.id)
	for _, h := range c.cfg.LinkHeaders {
		v := m.Get(h)
		if len(v) == 0 {
			continue
		}
		switch {
		case strings.EqualFold(h, "P-Charging-Vector"):
			v = sip.Param(append([]byte(";"), v...), "icid-value")
			if len(v) > 0 {
				c.addLinkKey(cl, "icid:"+strings.Trim(string(v), `"`))
			}
		case strings.EqualFold(h, "Session-ID"):
			if i := bytes.IndexByte(v, ';'); i >= 0 {
				v = v[:i]
			}
			v = bytes.TrimSpace(v)
			if len(v) > 0 && !bytes.Equal(v, []byte("00000000000000000000000000000000")) {
				c.addLinkKey(cl, "sid:"+strings.ToLower(string(v)))
			}
		default:
			c.addLinkKey(cl, "cid:"+string(bytes.TrimSpace(v)))
		}
	}
	// Attended transfer (RFC 3891): the INVITE names the call it replaces.
	if v := m.Get("Replaces"); len(v) > 0 {
		if id := replacesCallID(v); id != "" {
			c.addLinkKey(cl, "cid:"+id)
		}
	}
	// Blind transfer (RFC 3515, RFC 3892): the transferee's INVITE to the target says who
	// referred it; the REFER's call carries the same key (see refer).
	if v := m.Get("Referred-By"); len(v) > 0 {
		if k := transferKey(sip.URIUser(sip.AddrURI(v)), sip.URIUser(m.RequestURI)); k != "" {
			c.addLinkKey(cl, k)
		}
	}
}

// branchHash is a seeded hash of a Via branch, never 0, so a call keeps 8 bytes instead
// of the branch text.
func (c *Correlator) branchHash(b []byte) uint64 {
	h := maphash.Bytes(c.seed, b)
	if h == 0 {
		h = 1
	}
	return h
}
