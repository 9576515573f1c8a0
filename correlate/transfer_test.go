package correlate

import (
	"slices"
	"testing"
	"time"
)

// TestAttendedTransfer follows RFC 5589 §7 (attended transfer): alice talks to bob (call
// A); bob consults carol (call B); bob REFERs alice to carol with Replaces naming B
// (escaped in the Refer-To URI, RFC 3891 §4.2); alice's INVITE to carol (call C) carries
// Replaces: B. A and C name B and each other's group: A links B (Refer-To's Replaces),
// C links B (its Replaces header); A is transferred to carol and not dropped although
// its media stops long before its BYE.
func TestAttendedTransfer(t *testing.T) {
	const ms = time.Millisecond
	h := newHarness(t, nil)
	a := newDialog("xfer-A")
	h.answer(a, 0)
	h.media(1020*ms, 3*sec, aMedia, bMedia, 0xA1)
	h.media(1020*ms, 3*sec, bMedia, aMedia, 0xA2)
	b := newDialog("xfer-B")
	b.fromUser, b.toUser = "bob", "carol"
	h.answer(b, 1500*ms)
	// bob (the callee of A) sends the REFER in A's dialog.
	refer := a.req("REFER", 1, "ref", true, "",
		"Refer-To: <sip:carol@example.com?Replaces=xfer-B%3Bto-tag%3Dtt-xfer-B%3Bfrom-tag%3Dft-xfer-B>",
		"Referred-By: <sip:bob@example.com>")
	h.sipAt(3*sec, bSig, aSig, refer)
	h.sipAt(3*sec+5*ms, aSig, bSig, a.resp(202, "Accepted", "REFER", 1, "ref", true, ""))
	c := newDialog("xfer-C")
	c.fromUser, c.toUser = "alice", "carol"
	c.extra = []string{"Replaces: xfer-B;to-tag=tt-xfer-B;from-tag=ft-xfer-B", "Referred-By: <sip:bob@example.com>"}
	h.answer(c, 3100*ms)
	h.bye(b, 5*sec, false)
	h.bye(a, 9*sec, true) // bob hangs up A long after its media moved to C
	h.bye(c, 10*sec, false)
	h.finish()
	ca, cb, cc := h.call("xfer-A"), h.call("xfer-B"), h.call("xfer-C")
	if !slices.Contains(ca.LinkedCallIDs, "xfer-B") {
		t.Errorf("A links %v, want xfer-B (Replaces in Refer-To)", ca.LinkedCallIDs)
	}
	if !slices.Contains(cc.LinkedCallIDs, "xfer-B") || !slices.Contains(cb.LinkedCallIDs, "xfer-C") {
		t.Errorf("C links %v, B links %v: want C and B linked (Replaces header)", cc.LinkedCallIDs, cb.LinkedCallIDs)
	}
	if str(ca.TransferredTo) != "sip:carol@example.com" {
		t.Errorf("A transferred_to %q", str(ca.TransferredTo))
	}
	if ca.Dropped {
		t.Errorf("A dropped (%s) although it was transferred", str(ca.DropReason))
	}
	if cb.TransferredTo != nil || cc.TransferredTo != nil {
		t.Errorf("only A was transferred: B %q C %q", str(cb.TransferredTo), str(cc.TransferredTo))
	}
}
