package correlate

import (
	"testing"
	"time"
)

// TestCaptureDuplicates: the same SIP message fed twice within 10 ms (the wire and a HEP
// agent both feeding the probe, or a SPAN port mirroring both directions) is one
// message, not a retransmission; a real retransmission 500 ms later (RFC 3261 Timer A
// starts at T1 = 500 ms) still counts, and its own mirrored copy does not.
func TestCaptureDuplicates(t *testing.T) {
	h := newHarness(t, nil)
	d := newDialog("dup")
	twice := func(at time.Duration, src, dst, text string) {
		h.sipAt(at, src, dst, text)
		h.sipAt(at+20*time.Microsecond, src, dst, text)
	}
	inv := d.req("INVITE", 1, "inv", false, sdpBody(aMedia, ""))
	twice(0, aSig, bSig, inv)
	twice(500*time.Millisecond, aSig, bSig, inv) // Timer A retransmission
	d.ttag = "x"
	twice(600*time.Millisecond, bSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, "")))
	twice(610*time.Millisecond, aSig, bSig, d.req("ACK", 1, "ack", false, ""))
	twice(3*time.Second, aSig, bSig, d.req("BYE", 2, "bye", false, ""))
	twice(3*time.Second+5*time.Millisecond, bSig, aSig, d.resp(200, "OK", "BYE", 2, "bye", false, ""))
	h.finish()
	c := h.call(d.id)
	// On the wire: INVITE, INVITE (retransmitted), 200, ACK, BYE, 200.
	if c.SIPMessages != 6 || c.Retrans != 1 {
		t.Errorf("sip_messages %d retransmissions %d, want 6 and 1", c.SIPMessages, c.Retrans)
	}
	if n := h.c.Counters().DuplicateSIP; n != 6 {
		t.Errorf("duplicate_sip %d, want 6", n)
	}
	if c.State != "answered" || c.EndReason != "bye" {
		t.Errorf("%s %s", c.State, c.EndReason)
	}
}
