package correlate

import (
	"fmt"
	"testing"
	"time"
)

// TestRetainedBytesBudget: SIP text and media frames kept for ladders and pcap export
// never exceed Config.MaxRetainedBytes together, what does not fit is counted, every
// call is still analysed, and the budget is released when calls leave the table.
func TestRetainedBytesBudget(t *testing.T) {
	const budget = 64 << 10
	h := newHarness(t, func(c *Config) {
		c.KeepMessages, c.KeepRTP, c.MaxRetainedBytes = true, KeepRTPFull, budget
	})
	for i := 0; i < 40; i++ {
		d := newDialog(fmt.Sprint("budget-", i))
		start := time.Duration(i) * 10 * time.Millisecond
		h.answer(d, start)
		if got := h.c.Counters().RetainedBytes; got > budget {
			t.Fatalf("after call %d: %d bytes retained, budget %d", i, got, budget)
		}
	}
	h.both(2*sec, 3*sec)
	cnt := h.c.Counters()
	if cnt.RetainedBytes > budget {
		t.Errorf("%d bytes retained, budget %d", cnt.RetainedBytes, budget)
	}
	if cnt.RetainedBytesDropped == 0 {
		t.Error("nothing counted as dropped although 40 calls of messages and media exceed the budget")
	}
	h.finish()
	if len(h.recs) != 40 {
		t.Errorf("%d calls analysed, want 40", len(h.recs))
	}
	for _, r := range h.recs {
		if r.Call.State != "answered" {
			t.Errorf("call %s: %s", r.Call.CallID, r.Call.State)
		}
	}
	if got := h.c.Counters().RetainedBytes; got != 0 {
		t.Errorf("%d bytes still retained after every call left the table", got)
	}
}
