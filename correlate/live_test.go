package correlate

import (
	"testing"
	"time"
)

// TestLiveRecords: a call in progress is exported with the 5 messages sent so far (the
// harness's answer: INVITE, 100, 180, 200, ACK; packed by the ACK, so AllMessages reads
// them) and no end; after its BYE and 200 it is still exported while it lingers, ended
// (end set, state answered) with 7 messages, while the record taken before still holds
// its 5 (the views do not see later appends); after the linger it is gone.
func TestLiveRecords(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.KeepMessages = true })
	d := newDialog("live-1")
	h.answer(d, 0)
	before := h.c.LiveRecords(10)
	msgs := func(r *Record) []Message {
		t.Helper()
		m, err := r.AllMessages()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if len(before) != 1 || len(msgs(&before[0])) != 5 || before[0].Call.End != 0 || before[0].Call.CallID != "live-1" {
		t.Fatalf("in progress: %d records, %+v", len(before), before)
	}
	h.bye(d, 3*time.Second, false)
	after := h.c.LiveRecords(10)
	if len(after) != 1 || len(msgs(&after[0])) != 7 || after[0].Call.End == 0 || after[0].Call.State != StateAnswered || after[0].Call.EndReason != EndBye {
		t.Fatalf("lingering: %+v", after)
	}
	if m := msgs(&before[0]); len(m) != 5 || m[4].Method != "ACK" {
		t.Errorf("the earlier snapshot changed: %d messages", len(m))
	}
	if after[0].Call.ID != before[0].Call.ID {
		t.Errorf("the id changed from %s to %s", before[0].Call.ID, after[0].Call.ID)
	}
	h.tick(20 * time.Second)
	h.c.Advance(int64(at(20 * time.Second)))
	if n := len(h.c.LiveRecords(10)); n != 0 {
		t.Errorf("%d records after the linger, want 0", n)
	}
	if len(h.c.LiveRecords(0)) != 0 {
		t.Error("max 0 exports records")
	}
}
