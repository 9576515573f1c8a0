package correlate

import (
	"fmt"
	"testing"
	"time"
)

// TestTableCaps fills every bounded table past its cap and checks the eviction counters.
func TestTableCaps(t *testing.T) {
	cases := []struct {
		name  string
		cfg   func(*Config)
		run   func(h *harness)
		check func(t *testing.T, h *harness, n Counters)
	}{
		{"calls", func(c *Config) { c.MaxCalls = 2 }, func(h *harness) {
			for i := 0; i < 3; i++ {
				d := newDialog(fmt.Sprint("c", i))
				h.sipAt(time.Duration(i)*sec, aSig, bSig, d.req("INVITE", 1, "inv", false, ""))
			}
			if len(h.recs) != 1 || h.recs[0].Call.CallID != "c0" || h.recs[0].Call.EndReason != "evicted" {
				h.t.Errorf("evicted call not emitted first: %d", len(h.recs))
			}
		}, func(t *testing.T, h *harness, n Counters) {
			if n.CallsEvicted != 1 || len(h.recs) != 3 {
				t.Errorf("evicted %d, calls %d", n.CallsEvicted, len(h.recs))
			}
		}},
		{"streams", func(c *Config) { c.MaxStreams = 2 }, func(h *harness) {
			for i := 0; i < 3; i++ {
				h.media(time.Duration(i)*sec, time.Duration(i)*sec+sec/2, "10.1.0.1:20000", fmt.Sprintf("10.1.0.2:%d", 30000+2*i), uint32(i))
			}
		}, func(t *testing.T, h *harness, n Counters) {
			if n.StreamsEvicted != 1 || len(h.orphans) != 3 {
				t.Errorf("evicted %d, orphans %d", n.StreamsEvicted, len(h.orphans))
			}
		}},
		{"streams per call", func(c *Config) { c.MaxStreamsPerCall = 1 }, func(h *harness) {
			d := newDialog("call-1")
			h.answer(d, 0)
			h.both(sec, 2*sec)
		}, func(t *testing.T, h *harness, n Counters) {
			if n.StreamsDroppedPerCall == 0 || len(h.call("call-1").Streams) != 1 {
				t.Errorf("dropped %d streams %d", n.StreamsDroppedPerCall, len(h.call("call-1").Streams))
			}
		}},
		{"media index", func(c *Config) { c.MaxMedia = 2 }, func(h *harness) {
			for i := 0; i < 3; i++ {
				d := newDialog(fmt.Sprint("c", i))
				h.sipAt(time.Duration(i)*sec, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(fmt.Sprintf("10.0.0.1:%d", 4000+2*i), "")))
			}
		}, func(t *testing.T, h *harness, n Counters) {
			if n.MediaEvicted == 0 {
				t.Errorf("media evicted %d", n.MediaEvicted)
			}
		}},
		{"registrations", func(c *Config) { c.MaxRegistrations = 1 }, func(h *harness) {
			for i := 0; i < 2; i++ {
				d := newDialog(fmt.Sprint("r", i))
				h.sipAt(time.Duration(i)*sec, aSig, pSig, d.req("REGISTER", 1, "r", false, ""))
			}
		}, func(t *testing.T, h *harness, n Counters) {
			if n.RegistrationsEvicted != 1 || len(h.regs) != 2 || h.regs[0].CallID != "r0" {
				t.Errorf("evicted %d regs %d", n.RegistrationsEvicted, len(h.regs))
			}
		}},
		{"messages per call", func(c *Config) { c.KeepMessages, c.MaxMessagesPerCall = true, 3 }, func(h *harness) {
			h.answer(newDialog("call-1"), 0)
		}, func(t *testing.T, h *harness, n Counters) {
			if n.MessagesDropped != 2 || len(h.record("call-1").Messages) != 3 || h.call("call-1").SIPMessages != 5 {
				t.Errorf("dropped %d kept %d", n.MessagesDropped, len(h.record("call-1").Messages))
			}
		}},
		{"media frames per call", func(c *Config) { c.KeepMessages, c.MaxMediaFramesPerCall = true, 10 }, func(h *harness) {
			h.answer(newDialog("call-1"), 0)
			h.both(sec, 2*sec)
		}, func(t *testing.T, h *harness, n Counters) {
			if n.MediaFramesDropped != 90 || h.record("call-1").MediaCount() != 10 {
				t.Errorf("dropped %d kept %d", n.MediaFramesDropped, h.record("call-1").MediaCount())
			}
		}},
		{"media bytes per call", func(c *Config) { c.KeepMessages, c.KeepRTP, c.MaxMediaBytesPerCall = true, KeepRTPFull, 1000 }, func(h *harness) {
			h.answer(newDialog("call-1"), 0)
			h.both(sec, 2*sec)
		}, func(t *testing.T, h *harness, n Counters) {
			if n.MediaFramesDropped != 96 || h.record("call-1").MediaCount() != 4 { // 24-B pcap file header + 4 × (16-B record header + 214 B) ≤ 1000 B
				t.Errorf("dropped %d kept %d", n.MediaFramesDropped, h.record("call-1").MediaCount())
			}
		}},
		{"user agents", nil, func(h *harness) {
			d := newDialog("call-1")
			for i := 0; i < 10; i++ {
				h.sipAt(time.Duration(i)*time.Millisecond, aSig, bSig, d.req("INVITE", 1, fmt.Sprint("b", i), false, "", fmt.Sprintf("User-Agent: ua-%d", i)))
			}
		}, func(t *testing.T, h *harness, n Counters) {
			if n.UserAgentsDropped != 2 || len(h.call("call-1").UserAgents) != 8 {
				t.Errorf("dropped %d kept %d", n.UserAgentsDropped, len(h.call("call-1").UserAgents))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			tc.run(h)
			h.finish()
			tc.check(t, h, h.c.Counters())
		})
	}
}
