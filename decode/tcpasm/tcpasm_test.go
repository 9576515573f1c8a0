package tcpasm

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

var (
	cli = netip.MustParseAddrPort("192.0.2.1:40000")
	srv = netip.MustParseAddrPort("192.0.2.2:5060")
)

// harness records what consumers receive. By default the consumer frames
// "messages" ending in a blank line (CRLFCRLF) and leaves partial ones.
type harness struct {
	a        *Assembler
	msgs     []string // framed messages, in delivery order
	consumed map[[2]netip.AddrPort][]byte
	calls    int
	gaps     int // deliveries that saw Gap set
	all      bool
}

func newHarness(cfg Config) *harness {
	h := &harness{consumed: map[[2]netip.AddrPort][]byte{}}
	h.a = New(cfg, h.consume)
	return h
}

func (h *harness) consume(s *Stream, data []byte, ts int64) int {
	h.calls++
	if s.Gap {
		h.gaps++
		s.Gap = false
	}
	k := [2]netip.AddrPort{s.Src, s.Dst}
	if h.all {
		h.consumed[k] = append(h.consumed[k], data...)
		return len(data)
	}
	n := 0
	for {
		i := bytes.Index(data[n:], []byte("\r\n\r\n"))
		if i < 0 {
			break
		}
		h.msgs = append(h.msgs, string(data[n:n+i+4]))
		h.consumed[k] = append(h.consumed[k], data[n:n+i+4]...)
		n += i + 4
	}
	return n
}

// wrapISN is a variable so that wrapping additions are legal.
var wrapISN uint32 = 0xFFFFFFF0

func msg(i int) string {
	return fmt.Sprintf("OPTIONS sip:%d@x SIP/2.0\r\nCSeq: %d OPTIONS\r\n\r\n", i, i)
}

type seg struct {
	seq           uint32
	syn, fin, rst bool
	data          string
	src, dst      netip.AddrPort // zero: cli -> srv
	ts            int64
}

func (h *harness) feed(segs ...seg) {
	for _, s := range segs {
		src, dst := s.src, s.dst
		if !src.IsValid() {
			src, dst = cli, srv
		}
		h.a.Segment(s.ts, src, dst, s.seq, s.syn, s.fin, s.rst, []byte(s.data))
	}
}

func TestAssembler(t *testing.T) {
	m1, m2, m3 := msg(1), msg(2), msg(3)
	const isn = 1000
	tests := []struct {
		name     string
		cfg      Config
		segs     []seg
		wantMsgs []string
		want     Counters
		wantLen  int
		wantGaps int // deliveries with Gap set
	}{
		{
			name:     "message split across 3 segments",
			segs:     []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1[:10]}, {seq: isn + 11, data: m1[10:30]}, {seq: isn + 31, data: m1[30:]}},
			wantMsgs: []string{m1}, want: Counters{Streams: 1}, wantLen: 1,
		},
		{
			name:     "3 messages coalesced in one segment",
			segs:     []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1 + m2 + m3}},
			wantMsgs: []string{m1, m2, m3}, want: Counters{Streams: 1}, wantLen: 1,
		},
		{
			name: "retransmission dropped",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1}, {seq: isn + 1, data: m1},
				{seq: isn + 1, data: m1[:5]}, {seq: isn + 1 + uint32(len(m1)), data: m2}},
			wantMsgs: []string{m1, m2}, want: Counters{Streams: 1, Retransmissions: 2}, wantLen: 1,
		},
		{
			name: "out of order",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1 + uint32(len(m1)), data: m2},
				{seq: isn + 1 + uint32(len(m1)+len(m2)), data: m3}, {seq: isn + 1, data: m1}},
			wantMsgs: []string{m1, m2, m3}, want: Counters{Streams: 1, OutOfOrder: 2}, wantLen: 1,
		},
		{
			name: "duplicate out-of-order segment held once",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1 + uint32(len(m1)), data: m2},
				{seq: isn + 1 + uint32(len(m1)), data: m2}, {seq: isn + 1, data: m1}},
			wantMsgs: []string{m1, m2}, want: Counters{Streams: 1, OutOfOrder: 1, Retransmissions: 1}, wantLen: 1,
		},
		{
			name: "overlapping segments contribute only new bytes",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1[:20]}, {seq: isn + 11, data: m1[10:40]},
				{seq: isn + 31, data: m1[30:] + m2}},
			wantMsgs: []string{m1, m2}, want: Counters{Streams: 1}, wantLen: 1,
		},
		{
			name: "overlapping held segments",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 21, data: m1[20:]}, {seq: isn + 11, data: m1[10:35]},
				{seq: isn + 1, data: m1[:15]}},
			wantMsgs: []string{m1}, want: Counters{Streams: 1, OutOfOrder: 2}, wantLen: 1,
		},
		{
			name: "sequence wrap at 2^32",
			segs: []seg{{seq: wrapISN, syn: true}, {seq: wrapISN + 1, data: m1[:20]},
				{seq: wrapISN + 31, data: m1[30:]}, {seq: wrapISN + 21, data: m1[20:30]},
				{seq: wrapISN + 1 + uint32(len(m1)), data: m2}},
			wantMsgs: []string{m1, m2}, want: Counters{Streams: 1, OutOfOrder: 1}, wantLen: 1,
		},
		{
			name:     "mid-stream start sets gap",
			segs:     []seg{{seq: 5000, data: "tail of something\r\n\r\n" + m1}},
			wantMsgs: []string{"tail of something\r\n\r\n", m1}, want: Counters{Streams: 1}, wantLen: 1, wantGaps: 1,
		},
		{
			name: "lost segment: gap after MaxOOO held, resync flag",
			cfg:  Config{MaxOOO: 2},
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1[:10]}, // m1 rest lost
				{seq: isn + 1 + uint32(len(m1)), data: m2}, {seq: isn + 1 + uint32(len(m1)+len(m2)), data: m3[:10]},
				{seq: isn + 11 + uint32(len(m1)+len(m2)), data: m3[10:]}},
			wantMsgs: []string{m2, m3}, want: Counters{Streams: 1, OutOfOrder: 3, Gaps: 1}, wantLen: 1, wantGaps: 1,
		},
		{
			name: "lost segment: gap when held bytes exceed MaxBuffer",
			cfg:  Config{MaxBuffer: len(m2) + 5},
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1[:10]},
				{seq: isn + 1 + uint32(len(m1)), data: m2}},
			wantMsgs: []string{m2}, want: Counters{Streams: 1, OutOfOrder: 1, Gaps: 1}, wantLen: 1, wantGaps: 1,
		},
		{
			name: "overflow: unconsumed bytes beyond MaxBuffer skipped",
			cfg:  Config{MaxBuffer: 64},
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: strings.Repeat("x", 60)},
				{seq: isn + 61, data: strings.Repeat("y", 30)}, {seq: isn + 91, data: "\r\n\r\n"}},
			wantMsgs: []string{strings.Repeat("y", 30) + "\r\n\r\n"}, want: Counters{Streams: 1, Overflow: 1}, wantLen: 1, wantGaps: 1,
		},
		{
			name: "table full",
			cfg:  Config{MaxStreams: 2},
			segs: []seg{{seq: 1, data: m1}, {seq: 1, data: m2, src: srv, dst: cli},
				{seq: 1, data: m3, src: netip.MustParseAddrPort("192.0.2.9:1"), dst: srv}},
			wantMsgs: []string{m1, m2}, want: Counters{Streams: 2, TableFull: 1}, wantLen: 2, wantGaps: 2,
		},
		{
			name:     "fin closes the half",
			segs:     []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1, fin: true}, {seq: isn + 1 + uint32(len(m1)), fin: true}},
			wantMsgs: []string{m1}, want: Counters{Streams: 1}, wantLen: 0,
		},
		{
			name: "fin before missing data waits for it",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1 + uint32(len(m1)), data: m2, fin: true},
				{seq: isn + 1, data: m1}},
			wantMsgs: []string{m1, m2}, want: Counters{Streams: 1, OutOfOrder: 1}, wantLen: 0,
		},
		{
			name: "rst flushes held data past the hole",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1[:5]}, {seq: isn + 1 + uint32(len(m1)), data: m2},
				{seq: isn + 1 + uint32(len(m1)+len(m2)), rst: true}},
			wantMsgs: []string{m2}, want: Counters{Streams: 1, OutOfOrder: 1, Gaps: 1}, wantLen: 0, wantGaps: 1,
		},
		{
			name: "new SYN on the same ports starts a new stream",
			segs: []seg{{seq: isn, syn: true}, {seq: isn + 1, data: m1[:7]}, {seq: 90000, syn: true},
				{seq: 90001, data: m2}},
			wantMsgs: []string{m2}, want: Counters{Streams: 2}, wantLen: 1,
		},
		{
			name:     "retransmitted SYN ignored",
			segs:     []seg{{seq: isn, syn: true}, {seq: isn, syn: true}, {seq: isn + 1, data: m1}},
			wantMsgs: []string{m1}, want: Counters{Streams: 1}, wantLen: 1,
		},
		{
			name:    "pure ack, fin and rst of unknown streams are not tracked",
			segs:    []seg{{seq: 7}, {seq: 7, fin: true}, {seq: 7, rst: true, data: "x"}},
			want:    Counters{},
			wantLen: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(tc.cfg)
			h.feed(tc.segs...)
			if strings.Join(h.msgs, "|") != strings.Join(tc.wantMsgs, "|") {
				t.Errorf("messages:\n got %q\nwant %q", h.msgs, tc.wantMsgs)
			}
			if got := h.a.Counters(); got != tc.want {
				t.Errorf("counters:\n got %+v\nwant %+v", got, tc.want)
			}
			if h.a.Len() != tc.wantLen {
				t.Errorf("Len = %d, want %d", h.a.Len(), tc.wantLen)
			}
			if h.gaps != tc.wantGaps {
				t.Errorf("deliveries with Gap = %d, want %d", h.gaps, tc.wantGaps)
			}
		})
	}
}

func TestSplitDeliveryCalls(t *testing.T) {
	// The consumer is called after each segment that extends contiguous
	// data, and partial bytes stay buffered between calls.
	m := msg(9)
	var seen []string
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int {
		seen = append(seen, fmt.Sprintf("%d:%q", ts, data))
		if bytes.HasSuffix(data, []byte("\r\n\r\n")) {
			return len(data)
		}
		return 0
	})
	a.Segment(1, cli, srv, 10, true, false, false, nil)
	a.Segment(2, cli, srv, 11, false, false, false, []byte(m[:4]))
	a.Segment(3, cli, srv, 15+6, false, false, false, []byte(m[10:])) // held: no call
	a.Segment(4, cli, srv, 15, false, false, false, []byte(m[4:10]))
	want := []string{fmt.Sprintf("2:%q", m[:4]), fmt.Sprintf("4:%q", m)}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("calls:\n got %v\nwant %v", seen, want)
	}
}

func TestModeOwnedByConsumer(t *testing.T) {
	var modes []uint8
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int {
		modes = append(modes, s.Mode)
		s.Mode = 2
		return len(data)
	})
	a.Segment(0, cli, srv, 1, false, false, false, []byte("a"))
	a.Segment(0, cli, srv, 2, false, false, false, []byte("b"))
	a.Segment(0, cli, srv, 3, false, true, false, []byte("c"))  // closes
	a.Segment(0, cli, srv, 9, false, false, false, []byte("d")) // new stream: recycled struct, Mode zeroed
	if fmt.Sprint(modes) != "[0 2 2 0]" {
		t.Fatalf("modes = %v", modes)
	}
}

func TestExpire(t *testing.T) {
	const sec = int64(1e9)
	h := newHarness(Config{IdleTimeout: 10 * sec})
	m1, m2 := msg(1), msg(2)
	h.feed(
		seg{ts: 0, seq: 100, syn: true},
		seg{ts: 1 * sec, seq: 101, data: m1[:3]},
		seg{ts: 2 * sec, seq: 101 + uint32(len(m1)), data: m2}, // held behind a hole
		seg{ts: 5 * sec, seq: 1, data: m1, src: srv, dst: cli},
	)
	h.a.Expire(12 * sec) // first half idle 10s: not yet (strictly longer)
	if h.a.Len() != 2 {
		t.Fatalf("Len after early Expire = %d", h.a.Len())
	}
	h.a.Expire(12*sec + 1)
	if h.a.Len() != 1 || h.a.Counters().Expired != 1 {
		t.Fatalf("Len = %d, Expired = %d; want 1, 1", h.a.Len(), h.a.Counters().Expired)
	}
	if strings.Join(h.msgs, "") != m1+m2 { // srv->cli m1, then the held m2 flushed on expiry
		t.Fatalf("msgs = %q", h.msgs)
	}
	h.a.Expire(100 * sec)
	if h.a.Len() != 0 || h.a.Counters().Expired != 2 {
		t.Fatalf("Len = %d, Expired = %d", h.a.Len(), h.a.Counters().Expired)
	}
}

func TestFlushAllOrder(t *testing.T) {
	var order []string
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int {
		order = append(order, s.Src.String()+">"+string(data))
		return 0 // never consume: only the flush of held data shows
	})
	for i := range 20 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 5060)
		a.Segment(int64(i), src, srv, 1, true, false, false, nil)
		a.Segment(int64(i), src, srv, 5, false, false, false, []byte{'a' + byte(i)}) // held
	}
	a.FlushAll()
	if a.Len() != 0 || len(order) != 20 {
		t.Fatalf("Len = %d, deliveries = %d", a.Len(), len(order))
	}
	for i, o := range order {
		if want := fmt.Sprintf("10.0.0.%d:5060>%c", i, 'a'+byte(i)); o != want {
			t.Fatalf("delivery %d = %q, want %q (creation order)", i, o, want)
		}
	}
}

func TestSegmentZeroAlloc(t *testing.T) {
	m := []byte(msg(1))
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int {
		// frame only whole messages, as a SIP consumer would
		n := 0
		for {
			i := bytes.Index(data[n:], []byte("\r\n\r\n"))
			if i < 0 {
				return n
			}
			n += i + 4
		}
	})
	seq := uint32(0xFFFFF000)
	a.Segment(0, cli, srv, seq, true, false, false, nil)
	seq++
	step := func() {
		// a message in two segments, then two coalesced
		a.Segment(1, cli, srv, seq, false, false, false, m[:17])
		a.Segment(1, cli, srv, seq+17, false, false, false, m[17:])
		seq += uint32(len(m))
	}
	step()
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("Segment allocs = %v, want 0", allocs)
	}
}

func BenchmarkSegmentInOrder(b *testing.B) {
	payload := bytes.Repeat([]byte(msg(1)), 20) // ~1 KiB of whole messages
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int { return len(data) })
	seq := uint32(1)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		a.Segment(0, cli, srv, seq, false, false, false, payload)
		seq += uint32(len(payload))
	}
}

func BenchmarkSegmentReordered(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1000)
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int { return len(data) })
	seq := uint32(1)
	b.ReportAllocs()
	b.SetBytes(2 * int64(len(payload)))
	for b.Loop() {
		a.Segment(0, cli, srv, seq+1000, false, false, false, payload) // held
		a.Segment(0, cli, srv, seq, false, false, false, payload)
		seq += 2000
	}
}
