package correlate

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

func TestRegistrations(t *testing.T) {
	type step struct {
		d    time.Duration
		text func(d *dialog) string
	}
	reg := func(cseq int, expires string, extra ...string) func(d *dialog) string {
		return func(d *dialog) string {
			d.fromUser, d.toUser = "alice", "alice"
			hdrs := append([]string{"Contact: <sip:alice@10.0.0.1:5060>" + expires}, extra...)
			return strings.Replace(d.req("REGISTER", cseq, fmt.Sprint("r", cseq), false, "", hdrs...), "REGISTER sip:alice@example.com", "REGISTER sip:example.com", 1)
		}
	}
	res := func(code int, reason string, cseq int, extra ...string) func(d *dialog) string {
		return func(d *dialog) string {
			return d.resp(code, reason, "REGISTER", cseq, fmt.Sprint("r", cseq), false, "", extra...)
		}
	}
	cases := []struct {
		name    string
		steps   []step
		outcome string
		code    int
		expires int // -1: null
	}{
		{"401 challenge then 200", []step{
			{0, reg(1, ";expires=3600")},
			{10 * time.Millisecond, res(401, "Unauthorized", 1, `WWW-Authenticate: Digest realm="x", nonce="n"`)},
			{20 * time.Millisecond, reg(2, ";expires=3600", `Authorization: Digest username="alice"`)},
			{30 * time.Millisecond, res(200, "OK", 2, "Contact: <sip:alice@10.0.0.1:5060>;expires=1800")},
		}, "registered", 200, 1800},
		{"407 challenge then 403", []step{
			{0, reg(1, "")},
			{10 * time.Millisecond, res(407, "Proxy Authentication Required", 1)},
			{20 * time.Millisecond, reg(2, "")},
			{30 * time.Millisecond, res(403, "Forbidden", 2)},
		}, "failed", 403, -1},
		{"expires 0 unregisters", []step{
			{0, reg(1, "", "Expires: 0")},
			{10 * time.Millisecond, res(200, "OK", 1)},
		}, "unregistered", 200, 0},
		{"challenge left unanswered", []step{
			{0, reg(1, "")},
			{10 * time.Millisecond, res(401, "Unauthorized", 1)},
		}, "challenged", 401, -1},
		{"no response", []step{{0, reg(1, "", "Expires: 60")}}, "no_response", 0, 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			d := newDialog("reg-1")
			for i, s := range tc.steps {
				src, dst := aSig, pSig
				if i%2 == 1 {
					src, dst = dst, src
				}
				h.sipAt(s.d, src, dst, s.text(d))
			}
			h.finish()
			if len(h.regs) != 1 || len(h.recs) != 0 {
				t.Fatalf("registrations %d calls %d", len(h.regs), len(h.recs))
			}
			r := h.regs[0]
			exp := -1
			if r.Expires != nil {
				exp = *r.Expires
			}
			if r.Outcome != tc.outcome || r.FinalCode != tc.code || exp != tc.expires {
				t.Errorf("outcome %s code %d expires %d, want %s %d %d", r.Outcome, r.FinalCode, exp, tc.outcome, tc.code, tc.expires)
			}
			if r.AOR != "sip:alice@example.com" || r.Contact != "sip:alice@10.0.0.1:5060" || r.Source != aSig || r.Time != Time(at(0)) || r.CallID != "reg-1" {
				t.Errorf("registration %+v", r)
			}
		})
	}
}

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
			if n.MediaFramesDropped != 90 || len(h.record("call-1").Media) != 10 {
				t.Errorf("dropped %d kept %d", n.MediaFramesDropped, len(h.record("call-1").Media))
			}
		}},
		{"media bytes per call", func(c *Config) { c.KeepMessages, c.KeepRTP, c.MaxMediaBytesPerCall = true, KeepRTPFull, 1000 }, func(h *harness) {
			h.answer(newDialog("call-1"), 0)
			h.both(sec, 2*sec)
		}, func(t *testing.T, h *harness, n Counters) {
			if n.MediaFramesDropped != 96 || len(h.record("call-1").Media) != 4 { // 4 × 214 B ≤ 1000 B
				t.Errorf("dropped %d kept %d", n.MediaFramesDropped, len(h.record("call-1").Media))
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

func TestKeepRTP(t *testing.T) {
	sr := &rtcp.SenderReport{SSRC: 0xA, NTPTime: 1 << 32, RTPTime: 160, PacketCount: 10, OctetCount: 1600}
	srb, err := sr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		keep      string
		messages  bool
		frames    int
		rtpLen    int
		rtcpFrame bool
	}{
		{"headers", KeepRTPHeaders, true, 101, l2l4 + 12, true},
		{"full", KeepRTPFull, true, 101, l2l4 + 12 + 160, true},
		{"none", KeepRTPNone, true, 0, 0, false},
		{"headers without KeepMessages keeps nothing", KeepRTPHeaders, false, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.KeepRTP, c.KeepMessages = tc.keep, tc.messages })
			d := newDialog("call-1")
			h.answer(d, 0)
			h.both(sec, 2*sec)
			h.rtcpAt(2*sec, "10.0.0.1:4001", "10.0.0.2:6001", srb)
			h.media(9*sec, 10*sec, "10.5.0.1:1000", "10.5.0.2:2000", 0x99) // orphan: never kept
			h.bye(d, 2*sec, false)
			h.finish()
			r := h.record("call-1")
			if len(r.Media) != tc.frames {
				t.Fatalf("%d frames kept, want %d", len(r.Media), tc.frames)
			}
			if tc.frames == 0 {
				return
			}
			for i, f := range r.Media {
				if f.TS < at(sec) || f.LinkType != 1 {
					t.Fatalf("frame %d: ts %d, link %d", i, f.TS, f.LinkType)
				}
				want := tc.rtpLen
				if i == len(r.Media)-1 {
					want = l2l4 + len(srb)
				}
				if len(f.Data) != want || f.OrigLen < len(f.Data) {
					t.Fatalf("frame %d: %d bytes (orig %d), want %d", i, len(f.Data), f.OrigLen, want)
				}
			}
			if f := r.Media[0]; f.Data[l2l4]>>6 != 2 || f.OrigLen != l2l4+12+160 {
				t.Errorf("first frame does not hold the RTP header at %d: %x", l2l4, f.Data[l2l4:])
			}
			if h.call("call-1").Streams[0].RTCP == nil {
				t.Error("sender report not matched to the stream")
			}
		})
	}
}

func TestRTPHeaderEnd(t *testing.T) {
	hdr := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 0xA}
	pkt := append(append([]byte{}, hdr...), make([]byte, 4)...)
	cases := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"payload is the tail", append(make([]byte, 42), pkt...), 54},
		{"ethernet padding after the datagram", append(append(make([]byte, 42), pkt...), make([]byte, 8)...), 54},
		{"header not in the frame", make([]byte, 300), maxHeaderlessKept},
		{"short frame without the header", make([]byte, 20), 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rtpHeaderEnd(tc.frame, pkt, 12); got != tc.want {
				t.Errorf("got %d want %d", got, tc.want)
			}
		})
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

func TestLinkCalls(t *testing.T) {
	mk := func(id, from, to string, start time.Duration, window time.Duration, keys ...string) *Record {
		return &Record{Call: Call{CallID: id, FromUser: from, ToUser: to, Start: Time(at(start))},
			LinkKeys: append([]string{"cid:" + id}, keys...), LinkWindow: int64(window)}
	}
	cases := []struct {
		name string
		recs []*Record
		want map[string]string // call id -> comma-joined links
	}{
		{"by X-CID header", []*Record{mk("a", "1", "2", 0, 0), mk("b", "1", "2", 0, 0, "cid:a")},
			map[string]string{"a": "b", "b": "a"}},
		{"by icid", []*Record{mk("a", "1", "2", 0, 0, "icid:x"), mk("b", "3", "4", 0, 0, "icid:x"), mk("c", "3", "4", 0, 0)},
			map[string]string{"a": "b", "b": "a", "c": ""}},
		{"by number off", []*Record{mk("a", "1", "2", 0, 0), mk("b", "1", "2", sec, 0)},
			map[string]string{"a": "", "b": ""}},
		{"by number within the window", []*Record{
			mk("a", "+4930123", "555", 0, 2*sec), mk("b", "4930123", "555", 1500*time.Millisecond, 2*sec),
			mk("c", "4930123", "555", 3500*time.Millisecond, 2*sec), mk("d", "4930123", "556", 0, 2*sec),
		}, map[string]string{"a": "b", "b": "a,c", "c": "b", "d": ""}},
		{"by number needs both sides to opt in", []*Record{mk("a", "1", "2", 0, 2*sec), mk("b", "1", "2", sec, 0)},
			map[string]string{"a": "", "b": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			LinkCalls(tc.recs)
			for _, r := range tc.recs {
				if got := strings.Join(r.Call.LinkedCallIDs, ","); got != tc.want[r.Call.CallID] {
					t.Errorf("%s linked to %q, want %q", r.Call.CallID, got, tc.want[r.Call.CallID])
				}
			}
		})
	}
}

func TestLinkByNumberConfig(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LinkByNumber = true })
	a, b := newDialog("leg-a"), newDialog("leg-b")
	h.answer(a, 0)
	h.answer(b, 50*time.Millisecond)
	h.finish()
	LinkCalls(h.recs)
	if got := h.call("leg-a").LinkedCallIDs; len(got) != 1 || got[0] != "leg-b" {
		t.Errorf("leg-a linked to %v", got)
	}
	bad := DefaultConfig()
	bad.LinkByNumber, bad.LinkWindow = true, 0
	if bad.Validate() == nil {
		t.Error("LinkByNumber without a window validated")
	}
	bad = DefaultConfig()
	bad.KeepRTP = "some"
	if bad.Validate() == nil {
		t.Error("KeepRTP \"some\" validated")
	}
}

func TestRegisterMetrics(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCalls = 1 })
	h.answer(newDialog("c1"), 0)
	h.answer(newDialog("c2"), 2*sec)
	h.both(3*sec, 4*sec)
	reg := prometheus.NewPedanticRegistry()
	if err := RegisterMetrics(reg, h.c.Counters); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP callscope_correlate_evictions_total Entries evicted because a table was full (raise the Max* setting of that table).
# TYPE callscope_correlate_evictions_total counter
callscope_correlate_evictions_total{table="calls"} 1
callscope_correlate_evictions_total{table="media"} 0
callscope_correlate_evictions_total{table="registrations"} 0
callscope_correlate_evictions_total{table="streams"} 0
# HELP callscope_correlate_rtp_packets_total RTP packets correlated.
# TYPE callscope_correlate_rtp_packets_total counter
callscope_correlate_rtp_packets_total 100
# HELP callscope_correlate_active Entries in the correlator's tables.
# TYPE callscope_correlate_active gauge
callscope_correlate_active{table="calls"} 1
callscope_correlate_active{table="media"} 4
callscope_correlate_active{table="registrations"} 0
callscope_correlate_active{table="streams"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"callscope_correlate_evictions_total", "callscope_correlate_rtp_packets_total", "callscope_correlate_active"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 30 {
		t.Errorf("%d series, %v", n, err)
	}
}
