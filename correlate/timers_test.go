package correlate

import (
	"encoding/json"
	"testing"
	"time"
)

func TestOrphanStreams(t *testing.T) {
	cases := []struct {
		name    string
		run     func(h *harness)
		orphans int
		junk    uint64 // RTP packets counted while no orphan is reported
	}{
		{"advancing sequence numbers are an orphan stream", func(h *harness) {
			h.media(0, 2*sec, "10.1.0.1:20000", "10.1.0.2:30000", 0x77)
		}, 1, 0},
		{"fewer than 8 packets are not reported", func(h *harness) {
			h.media(0, 100*time.Millisecond, "10.1.0.1:20000", "10.1.0.2:30000", 0x77)
		}, 0, 5},
		{"RTP-looking junk with random sequence numbers is not reported", func(h *harness) {
			for i := 0; i < 100; i++ {
				h.rtpSeq(time.Duration(i)*20*time.Millisecond, "10.1.0.1:20000", "10.1.0.2:30000", 0x77, 0, uint16(i*7919%65536))
			}
		}, 0, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			tc.run(h)
			h.finish()
			if len(h.orphans) != tc.orphans || len(h.recs) != 0 {
				t.Fatalf("orphans %d calls %d, want %d orphans", len(h.orphans), len(h.recs), tc.orphans)
			}
			if tc.orphans == 1 {
				o := h.orphans[0]
				if o.SSRC != "0x00000077" || o.Src != "10.1.0.1:20000" || o.Packets != 100 || o.Codec != "PCMU" {
					t.Errorf("orphan %+v", o)
				}
			}
			if n := h.c.Counters().RTPPackets; tc.junk != 0 && n != tc.junk {
				t.Errorf("rtp packets %d want %d", n, tc.junk)
			}
		})
	}
}

func TestOrphanIdleTimeout(t *testing.T) {
	h := newHarness(t, nil)
	h.media(0, 2*sec, "10.1.0.1:20000", "10.1.0.2:30000", 0x77)
	for s := 3 * sec; s <= 40*sec; s += sec {
		h.tick(s)
	}
	if len(h.orphans) != 1 || h.c.ActiveStreams() != 0 {
		t.Fatalf("idle orphan not emitted: %d orphans, %d streams", len(h.orphans), h.c.ActiveStreams())
	}
}

func TestSnapshot(t *testing.T) {
	h := newHarness(t, nil)
	d1, d2, d3 := newDialog("c1"), newDialog("c2"), newDialog("c3")
	h.answer(d1, 0)
	h.both(sec, 3*sec)
	h.sipAt(2*sec, aSig, bSig, d2.req("INVITE", 1, "inv", false, ""))
	h.sipAt(2500*time.Millisecond, aSig, bSig, d3.req("INVITE", 1, "inv", false, ""))
	d3.ttag = "x"
	h.sipAt(2600*time.Millisecond, bSig, aSig, d3.resp(486, "Busy Here", "INVITE", 1, "inv", false, "")) // ended: not in progress
	h.both(3*sec, 4*sec)

	snap := h.c.Snapshot(10)
	if len(snap) != 2 || snap[0].CallID != "c2" || snap[1].CallID != "c1" {
		t.Fatalf("snapshot %d calls: %v", len(snap), snap)
	}
	c1 := snap[1]
	if c1.State != "answered" || c1.End != 0 || c1.EndReason != "" || c1.Dropped || len(c1.Streams) != 2 {
		t.Errorf("c1 %+v", c1)
	}
	if c1.DurationMs == nil || *c1.DurationMs < 2900 {
		t.Errorf("c1 duration so far %s", msOf(c1.DurationMs))
	}
	if c1.Streams[0].Packets == 0 || len(c1.Streams[0].Intervals) != 0 {
		t.Errorf("live stream %+v", c1.Streams[0])
	}
	if snap[0].State != "in_progress" || snap[0].End != 0 {
		t.Errorf("c2 %s %v", snap[0].State, snap[0].End)
	}
	if got := h.c.Snapshot(1); len(got) != 1 || got[0].CallID != "c2" {
		t.Errorf("Snapshot(1) = %d calls", len(got))
	}
	if h.c.Snapshot(0) != nil {
		t.Error("Snapshot(0) not empty")
	}

	// A snapshot must not change what the finished call says: compare with a run without.
	h.both(4*sec, 12*sec)
	h.bye(d1, 12*sec, false)
	h.finish()
	ref := newHarness(t, nil)
	r1, r2, r3 := newDialog("c1"), newDialog("c2"), newDialog("c3")
	ref.answer(r1, 0)
	ref.both(sec, 3*sec)
	ref.sipAt(2*sec, aSig, bSig, r2.req("INVITE", 1, "inv", false, ""))
	ref.sipAt(2500*time.Millisecond, aSig, bSig, r3.req("INVITE", 1, "inv", false, ""))
	r3.ttag = "x"
	ref.sipAt(2600*time.Millisecond, bSig, aSig, r3.resp(486, "Busy Here", "INVITE", 1, "inv", false, ""))
	ref.both(3*sec, 12*sec)
	ref.bye(r1, 12*sec, false)
	ref.finish()
	got, want := h.call("c1"), ref.call("c1")
	gj, _ := json.Marshal(got.Streams)
	wj, _ := json.Marshal(want.Streams)
	if string(gj) != string(wj) || len(got.Streams[0].Intervals) < 2 {
		t.Errorf("snapshot changed the call:\n%+v\n%+v", got.Streams, want.Streams)
	}
}
