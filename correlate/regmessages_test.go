package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRegistrationMessagesKept: with KeepMessages a REGISTER flow carries its messages
// (the four the test sent, in order) and gives their bytes back to the retained budget
// when emitted; without it, none. And at most maxRegMessages per flow, the rest counted.
func TestRegistrationMessagesKept(t *testing.T) {
	reg := func(d *dialog, cseq int) string {
		d.fromUser, d.toUser = "alice", "alice"
		return d.req("REGISTER", cseq, fmt.Sprint("r", cseq), false, "", "Contact: <sip:alice@10.0.0.1:5060>")
	}
	res := func(d *dialog, code int, reason string, cseq int) string {
		return d.resp(code, reason, "REGISTER", cseq, fmt.Sprint("r", cseq), false, "")
	}
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.KeepMessages = keep })
			d := newDialog("reg-k")
			sent := []string{reg(d, 1), res(d, 401, "Unauthorized", 1), reg(d, 2), res(d, 200, "OK", 2)}
			for i, m := range sent {
				src, dst := aSig, pSig
				if i%2 == 1 {
					src, dst = dst, src
				}
				h.sipAt(time.Duration(i)*10*time.Millisecond, src, dst, m)
			}
			if h.c.retained != 0 {
				t.Errorf("%d bytes still counted retained after the flow was emitted", h.c.retained)
			}
			h.finish()
			if len(h.regs) != 1 {
				t.Fatalf("%d registrations", len(h.regs))
			}
			got := h.regs[0].Messages
			if !keep {
				if len(got) != 0 {
					t.Errorf("%d messages kept without KeepMessages", len(got))
				}
				return
			}
			if len(got) != len(sent) {
				t.Fatalf("%d messages kept, %d sent", len(got), len(sent))
			}
			for i, m := range got {
				if string(m.Raw) != sent[i] || len(m.Frame) == 0 {
					t.Errorf("message %d: kept %q, sent %q", i, firstLine(string(m.Raw)), firstLine(sent[i]))
				}
			}
		})
	}
	t.Run("capped", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.KeepMessages = true })
		d := newDialog("reg-cap")
		for i := range maxRegMessages + 3 { // retransmissions of the first REGISTER, unanswered
			h.sipAt(time.Duration(i)*500*time.Millisecond, aSig, pSig, reg(d, 1))
		}
		h.finish()
		if len(h.regs) != 1 || len(h.regs[0].Messages) != maxRegMessages || h.c.cnt.MessagesDropped != 3 {
			t.Errorf("%d flows, %d messages kept, %d dropped; want 1, %d, 3", len(h.regs), len(h.regs[0].Messages), h.c.cnt.MessagesDropped, maxRegMessages)
		}
	})
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\r\n"); return l }
