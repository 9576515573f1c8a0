package correlate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

// The harness drives a Correlator with events built here: SIP text parsed by sip.Parse,
// RTP headers from pion/rtp, each wrapped in a fake 42-byte Ethernet+IPv4+UDP frame.

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()

const l2l4 = 42 // bytes of fake Ethernet, IPv4 and UDP headers in front of every payload

// Addresses of the scenarios: signalling and media of caller and callee, a proxy.
const (
	aSig   = "10.0.0.1:5060"
	bSig   = "10.0.0.2:5060"
	pSig   = "10.0.0.9:5060"
	aMedia = "10.0.0.1:4000"
	bMedia = "10.0.0.2:6000"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func at(d time.Duration) int64 { return t0 + int64(d) }

type harness struct {
	t       testing.TB
	c       *Correlator
	recs    []*Record
	orphans []Stream
	regs    []Registration
	msg     sip.Message
	hdr     rtp.Header
	seq     map[uint32]uint16
}

func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, seq: map[uint32]uint16{}}
	h.c = New(cfg, Output{
		Call:         func(r *Record) { h.recs = append(h.recs, r) },
		Orphan:       func(s *Stream) { h.orphans = append(h.orphans, *s) },
		Registration: func(r *Registration) { h.regs = append(h.regs, *r) },
	})
	return h
}

// sipAt feeds one SIP message sent at t0+d.
func (h *harness) sipAt(d time.Duration, src, dst, text string) {
	h.t.Helper()
	raw := []byte(text)
	if err := sip.Parse(raw, &h.msg); err != nil {
		h.t.Fatalf("sip.Parse: %v\n%s", err, text)
	}
	frame := append(make([]byte, l2l4), raw...)
	ev := decode.Event{Kind: decode.KindSIP, TS: at(d), Src: ap(src), Dst: ap(dst), Payload: raw,
		Frame: frame, LinkType: 1, SIP: &h.msg}
	h.c.Event(&ev)
}

// rtpAt feeds one RTP packet with a 160-byte payload.
func (h *harness) rtpAt(d time.Duration, src, dst string, ssrc uint32, pt uint8) {
	seq := h.seq[ssrc]
	h.seq[ssrc] = seq + 1
	h.rtpSeq(d, src, dst, ssrc, pt, seq)
}

func (h *harness) rtpSeq(d time.Duration, src, dst string, ssrc uint32, pt uint8, seq uint16) {
	h.hdr = rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc}
	full := make([]byte, l2l4+12+160)
	if _, err := h.hdr.MarshalTo(full[l2l4:]); err != nil {
		h.t.Fatal(err)
	}
	ev := decode.Event{Kind: decode.KindRTP, TS: at(d), Src: ap(src), Dst: ap(dst), Payload: full[l2l4:],
		Frame: full, LinkType: 1, RTP: &h.hdr, RTPPayloadLen: 160}
	h.c.Event(&ev)
}

// media feeds 20 ms packets of one stream in [from, to).
func (h *harness) media(from, to time.Duration, src, dst string, ssrc uint32) {
	for d := from; d < to; d += 20 * time.Millisecond {
		h.rtpAt(d, src, dst, ssrc, 0)
	}
}

// both feeds both directions of a call's media in [from, to).
func (h *harness) both(from, to time.Duration) {
	h.media(from, to, aMedia, bMedia, 0xA)
	h.media(from+time.Millisecond, to, bMedia, aMedia, 0xB)
}

// rtcpAt feeds one RTCP compound.
func (h *harness) rtcpAt(d time.Duration, src, dst string, payload []byte) {
	frame := append(make([]byte, l2l4), payload...)
	ev := decode.Event{Kind: decode.KindRTCP, TS: at(d), Src: ap(src), Dst: ap(dst), Payload: frame[l2l4:],
		Frame: frame, LinkType: 1}
	h.c.Event(&ev)
}

func (h *harness) finish() { h.c.Finish() }

// call returns the one finished call with this Call-ID.
func (h *harness) call(id string) *Call {
	h.t.Helper()
	var found *Call
	for _, r := range h.recs {
		if r.Call.CallID == id {
			if found != nil {
				h.t.Fatalf("call %s emitted twice", id)
			}
			found = &r.Call
		}
	}
	if found == nil {
		h.t.Fatalf("call %s not emitted (have %d calls)", id, len(h.recs))
	}
	return found
}

func (h *harness) record(id string) *Record {
	h.t.Helper()
	for _, r := range h.recs {
		if r.Call.CallID == id {
			return r
		}
	}
	h.t.Fatalf("call %s not emitted", id)
	return nil
}

// dialog writes the SIP messages of one call between caller a and callee b.
type dialog struct {
	id               string
	fromUser, toUser string
	ftag, ttag       string
	extra            []string // added to the initial INVITE
}

func newDialog(id string) *dialog {
	return &dialog{id: id, fromUser: "alice", toUser: "bob", ftag: "ft-" + id}
}

func sdpBody(media string, dir string) string {
	a := ap(media)
	s := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\n"+
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n", a.Addr(), a.Addr(), a.Port())
	if dir != "" {
		s += "a=" + dir + "\r\n"
	}
	return s
}

func message(start string, hdrs []string, body string) string {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, x := range hdrs {
		b.WriteString(x + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (d *dialog) fromTo(byCallee bool) (from, to string) {
	a := fmt.Sprintf("<sip:%s@example.com>;tag=%s", d.fromUser, d.ftag)
	b := fmt.Sprintf("<sip:%s@example.com>", d.toUser)
	if d.ttag != "" {
		b += ";tag=" + d.ttag
	}
	if byCallee {
		return b, a
	}
	return a, b
}

// req writes a request; byCallee sends it from the callee (From and To swapped).
func (d *dialog) req(method string, cseq int, branch string, byCallee bool, body string, extra ...string) string {
	from, to := d.fromTo(byCallee)
	hdrs := []string{
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK" + branch,
		"From: " + from, "To: " + to, "Call-ID: " + d.id,
		fmt.Sprintf("CSeq: %d %s", cseq, method), "Max-Forwards: 70",
	}
	if method == "INVITE" && d.ttag == "" {
		hdrs = append(hdrs, d.extra...)
	}
	hdrs = append(hdrs, extra...)
	return message(method+" sip:"+d.toUser+"@example.com SIP/2.0", hdrs, body)
}

// resp writes a response to a request of the caller (or of the callee when byCallee).
func (d *dialog) resp(code int, reason, method string, cseq int, branch string, byCallee bool, body string, extra ...string) string {
	from, to := d.fromTo(byCallee)
	hdrs := []string{
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK" + branch,
		"From: " + from, "To: " + to, "Call-ID: " + d.id,
		fmt.Sprintf("CSeq: %d %s", cseq, method),
	}
	hdrs = append(hdrs, extra...)
	return message(fmt.Sprintf("SIP/2.0 %d %s", code, reason), hdrs, body)
}

// answer plays INVITE at start, 100, 180 at +100 ms, 200 (with SDP) at +1 s, ACK.
func (h *harness) answer(d *dialog, start time.Duration) {
	h.sipAt(start, aSig, bSig, d.req("INVITE", 1, "inv"+d.id, false, sdpBody(aMedia, "")))
	h.sipAt(start+10*time.Millisecond, bSig, aSig, d.resp(100, "Trying", "INVITE", 1, "inv"+d.id, false, ""))
	d.ttag = "tt-" + d.id
	h.sipAt(start+100*time.Millisecond, bSig, aSig, d.resp(180, "Ringing", "INVITE", 1, "inv"+d.id, false, ""))
	h.sipAt(start+time.Second, bSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv"+d.id, false, sdpBody(bMedia, "")))
	h.sipAt(start+time.Second+10*time.Millisecond, aSig, bSig, d.req("ACK", 1, "ack"+d.id, false, ""))
}

// bye plays a BYE from the caller (or callee) at t with a 200 OK.
func (h *harness) bye(d *dialog, t time.Duration, byCallee bool, extra ...string) {
	src, dst := aSig, bSig
	if byCallee {
		src, dst = dst, src
	}
	h.sipAt(t, src, dst, d.req("BYE", 2, "bye"+d.id, byCallee, "", extra...))
	h.sipAt(t+5*time.Millisecond, dst, src, d.resp(200, "OK", "BYE", 2, "bye"+d.id, byCallee, ""))
}

// fail plays INVITE at 0 and a final response code at 500 ms, with ACK.
func (h *harness) fail(d *dialog, code int, reason string, ringing bool, extra ...string) {
	h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
	d.ttag = "tt"
	if ringing {
		h.sipAt(100*time.Millisecond, bSig, aSig, d.resp(180, "Ringing", "INVITE", 1, "inv", false, ""))
	}
	h.sipAt(500*time.Millisecond, bSig, aSig, d.resp(code, reason, "INVITE", 1, "inv", false, "", extra...))
	h.sipAt(510*time.Millisecond, aSig, bSig, d.req("ACK", 1, "inv", false, ""))
}

// tick feeds an unrelated OPTIONS at t so packet time moves on.
func (h *harness) tick(t time.Duration) {
	d := newDialog("tick")
	h.sipAt(t, "10.9.9.9:5060", "10.9.9.8:5060", d.req("OPTIONS", 1, fmt.Sprint("t", t), false, ""))
}

func msOf(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%.3f", *p)
}

func wantMs(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %s, want %.3f", name, msOf(got), want)
	}
}

func str[T ~string](p *T) string {
	if p == nil {
		return "null"
	}
	return string(*p)
}
