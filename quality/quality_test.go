package quality

import (
	"math"
	"testing"
)

const ms = int64(1e6)

// gen describes a synthetic stream: n packets of ptime ms at clock Hz starting at seq0;
// drop/dup/swap act on packet indices; delay adds network delay (ns) per index.
type gen struct {
	n      int
	seq0   uint16
	ts0    uint32
	clock  uint32
	ptime  int64 // ms
	drop   map[int]bool
	dup    map[int]bool
	swap   map[int]bool // swap packet i with i+1 in arrival order
	delay  func(i int) int64
	kind   func(i int) PacketKind
	marker func(i int) bool
	start  int64
}

type genPkt struct {
	arr    int64
	seq    uint16
	ts     uint32
	marker bool
	kind   PacketKind
}

func (g gen) packets() []genPkt {
	var out []genPkt
	step := uint32(int64(g.clock) * g.ptime / 1000)
	if g.start == 0 {
		g.start = 1_700_000_000 * 1e9
	}
	for i := 0; i < g.n; i++ {
		if g.drop[i] {
			continue
		}
		p := genPkt{arr: g.start + int64(i)*g.ptime*ms, seq: g.seq0 + uint16(i), ts: g.ts0 + uint32(i)*step}
		if g.delay != nil {
			p.arr += g.delay(i)
		}
		if g.kind != nil {
			p.kind = g.kind(i)
		}
		if g.marker != nil {
			p.marker = g.marker(i)
		}
		out = append(out, p)
		if g.dup[i] {
			d := p
			d.arr += ms / 10
			out = append(out, d)
		}
	}
	for i := 0; i+1 < len(out); i++ {
		if g.swap[int(out[i].seq-g.seq0)] {
			out[i].arr, out[i+1].arr = out[i+1].arr, out[i].arr
			out[i], out[i+1] = out[i+1], out[i]
			i++
		}
	}
	return out
}

func run(cfg *Config, codec Codec, pk []genPkt) Summary {
	var s Stream
	s.Init(cfg, 0x1234, codec.ClockRate, codec)
	for _, p := range pk {
		s.Packet(p.arr, p.seq, p.ts, p.marker, p.kind, nil)
	}
	s.Finish(0)
	return s.Summary()
}

func set(idx ...int) map[int]bool {
	m := map[int]bool{}
	for _, i := range idx {
		m[i] = true
	}
	return m
}

func approx(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.6f, want %.6f ± %g", name, got, want, tol)
	}
}

// TestSequenceAccounting checks RFC 3550 A.1/A.3 bookkeeping against truth known by
// construction.
func TestSequenceAccounting(t *testing.T) {
	pcmu := LookupCodec([]byte("PCMU"), 8000)
	tests := []struct {
		name                                       string
		g                                          gen
		packets, expected, lost, dups, ooo, strays uint64
		restarts                                   uint64
	}{
		{name: "clean", g: gen{n: 100, seq0: 1000, clock: 8000, ptime: 20}, packets: 100, expected: 100},
		{name: "random loss", g: gen{n: 100, clock: 8000, ptime: 20, drop: set(10, 30, 50, 70)}, packets: 96, expected: 100, lost: 4},
		{name: "burst loss", g: gen{n: 100, clock: 8000, ptime: 20, drop: set(10, 11, 12, 13, 14)}, packets: 95, expected: 100, lost: 5},
		{name: "duplicates", g: gen{n: 50, clock: 8000, ptime: 20, dup: set(5, 6, 40)}, packets: 53, expected: 50, dups: 3},
		{name: "reorder", g: gen{n: 50, clock: 8000, ptime: 20, swap: set(10, 20)}, packets: 50, expected: 50, ooo: 2},
		{name: "reorder+dup", g: gen{n: 50, clock: 8000, ptime: 20, swap: set(10), dup: set(30)}, packets: 51, expected: 50, dups: 1, ooo: 1},
		{name: "seq wrap", g: gen{n: 300, seq0: 65400, clock: 8000, ptime: 20, drop: set(136)}, packets: 299, expected: 300, lost: 1},
		{name: "wrap with reorder across 0", g: gen{n: 20, seq0: 65530, clock: 8000, ptime: 20, swap: set(5)}, packets: 20, expected: 20, ooo: 1},
		{name: "loss at start of stream is invisible", g: gen{n: 20, clock: 8000, ptime: 20, drop: set(0, 1)}, packets: 18, expected: 18},
		{name: "loss at end of stream is invisible", g: gen{n: 20, clock: 8000, ptime: 20, drop: set(18, 19)}, packets: 18, expected: 18},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(nil, pcmu, tc.g.packets())
			if s.Packets != tc.packets || s.Expected != tc.expected || s.Lost != tc.lost ||
				s.Duplicates != tc.dups || s.OutOfOrder != tc.ooo || s.Problems.Strays != tc.strays || s.Problems.Restarts != tc.restarts {
				t.Errorf("got packets=%d expected=%d lost=%d dups=%d ooo=%d strays=%d restarts=%d; want %d %d %d %d %d %d %d",
					s.Packets, s.Expected, s.Lost, s.Duplicates, s.OutOfOrder, s.Problems.Strays, s.Problems.Restarts,
					tc.packets, tc.expected, tc.lost, tc.dups, tc.ooo, tc.strays, tc.restarts)
			}
			if s.Packets != s.Expected-s.Lost+s.Duplicates && s.Expected >= s.Lost {
				t.Errorf("invariant packets = unique + duplicates broken")
			}
			if s.Problems.NotValidated {
				t.Errorf("stream not validated")
			}
		})
	}
}

func TestRestartAndStray(t *testing.T) {
	feed := func(seqs ...uint16) Summary {
		var s Stream
		s.Init(nil, 1, 8000, LookupCodec([]byte("PCMA"), 0))
		for i, q := range seqs {
			s.Packet(int64(i)*20*ms, q, uint32(i)*160, false, Audio, nil)
		}
		return s.Summary()
	}
	t.Run("restart after big jump", func(t *testing.T) {
		s := feed(10, 11, 12, 30000, 30001, 30002)
		if s.Problems.Restarts != 1 || s.Lost != 0 || s.Expected != 6 || s.Problems.Strays != 0 {
			t.Errorf("restarts=%d lost=%d expected=%d strays=%d", s.Problems.Restarts, s.Lost, s.Expected, s.Problems.Strays)
		}
	})
	t.Run("restart wrapping to 0", func(t *testing.T) {
		s := feed(30000, 30001, 65535, 0, 1)
		if s.Problems.Restarts != 1 || s.Lost != 0 || s.Expected != 5 {
			t.Errorf("restarts=%d lost=%d expected=%d", s.Problems.Restarts, s.Lost, s.Expected)
		}
	})
	t.Run("single stray", func(t *testing.T) {
		s := feed(10, 11, 40000, 12, 13)
		if s.Problems.Restarts != 0 || s.Problems.Strays != 1 || s.Lost != 0 || s.Expected != 5 || s.Packets != 5 {
			t.Errorf("restarts=%d strays=%d lost=%d expected=%d", s.Problems.Restarts, s.Problems.Strays, s.Lost, s.Expected)
		}
	})
	t.Run("probation never passed", func(t *testing.T) {
		s := feed(10)
		if !s.Problems.NotValidated {
			t.Error("one packet must not validate the source (MIN_SEQUENTIAL=2)")
		}
	})
	t.Run("duplicate of first packet", func(t *testing.T) {
		s := feed(7, 7, 8)
		if s.Duplicates != 1 || s.Packets != 3 || s.Expected != 2 || s.Lost != 0 {
			t.Errorf("%+v", s)
		}
	})
}

// TestJitterHandComputed feeds arrivals whose A.8 jitter is worked out by hand.
func TestJitterHandComputed(t *testing.T) {
	// 20 ms packets (160 ticks at 8000 Hz); arrivals 0, 20, 45, 60, 80 ms.
	// D = 0, +5, -5, 0 ms → J = 0, 5/16, 5/16+(5-5/16)/16, then J·15/16.
	arr := []int64{0, 20, 45, 60, 80}
	j1 := 0.0
	j2 := j1 + (5-j1)/16
	j3 := j2 + (5-j2)/16
	j4 := j3 + (0-j3)/16
	for _, c := range []struct {
		name  string
		clock uint32
		codec string
	}{{"PCMU 8000", 8000, "PCMU"}, {"PCMA 8000", 8000, "PCMA"}, {"G722 8000", 8000, "G722"}, {"G729 8000", 8000, "G729"}, {"Opus 48000", 48000, "opus"}} {
		t.Run(c.name, func(t *testing.T) {
			var s Stream
			s.Init(nil, 1, 0, LookupCodec([]byte(c.codec), c.clock))
			step := c.clock / 50
			for i, a := range arr {
				s.Packet(a*ms, uint16(i), uint32(i)*step, false, Audio, nil)
			}
			sum := s.Summary()
			approx(t, "max", sum.JitterMaxMs, j3, 1e-9)
			approx(t, "mean", sum.JitterMeanMs, (j1+j2+j3+j4)/4, 1e-9)
			approx(t, "max delta", sum.MaxDeltaMs, 25, 1e-9)
		})
	}
}

func TestEventsAndCNStayOutOfJitter(t *testing.T) {
	g := gen{n: 100, clock: 8000, ptime: 20, kind: func(i int) PacketKind {
		switch {
		case i >= 20 && i < 30:
			return Event
		case i >= 50 && i < 60:
			return ComfortNoise
		}
		return Audio
	}, delay: func(i int) int64 {
		if i >= 20 && i < 30 || i >= 50 && i < 60 {
			return 37 * ms // would be huge jitter if counted
		}
		return 0
	}}
	s := run(nil, LookupCodec([]byte("PCMU"), 0), g.packets())
	if s.JitterMaxMs > 1e-9 {
		t.Errorf("jitter %.3f ms: events/CN entered jitter", s.JitterMaxMs)
	}
	if s.Packets != 100 || s.Events != 10 || s.CN != 10 || s.Audio != 80 {
		t.Errorf("counts %d %d %d %d", s.Packets, s.Events, s.CN, s.Audio)
	}
}

func TestEModelReference(t *testing.T) {
	r, mos := EModel(DefaultEModelInput())
	// G.107 §7.7: defaults give R = 93.2 (Ro 94.77, Is 1.41, Idle 0.15 → 93.206).
	approx(t, "R(defaults)", r, 93.206, 0.005)
	approx(t, "MOS(defaults)", mos, 4.409, 0.002)

	tests := []struct {
		name  string
		mod   func(*EModelInput)
		delta float64 // R(defaults) − R(modified), hand-computed
	}{
		// Ie,eff = 11 + (95−11)·2/(2/1 + 19) = 19
		{"G.729A Ppl=2 random", func(in *EModelInput) { in.Ie, in.Bpl, in.Ppl = 11, 19, 2 }, 19},
		// Ie,eff = 0 + 95·3/(3/2 + 4.3) = 49.1379
		{"G.711 no PLC Ppl=3 BurstR=2", func(in *EModelInput) { in.Bpl, in.Ppl, in.BurstR = 4.3, 3, 2 }, 95 * 3 / (1.5 + 4.3)},
		// Idd with Ta = 200 ms: X = 1, 25·(2^(1/6) − 3·(1+3^-6)^(1/6) + 2) = 3.0444
		{"Idd Ta=200", func(in *EModelInput) { in.Ta = 200 }, 25 * (math.Pow(2, 1.0/6) - 3*math.Pow(1+1.0/729, 1.0/6) + 2)},
		{"Ie=0 Ppl=0 is neutral", func(in *EModelInput) { in.Bpl = 25.1 }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := DefaultEModelInput()
			tc.mod(&in)
			r2, _ := EModel(in)
			approx(t, "R drop", r-r2, tc.delta, 1e-3)
		})
	}
}

func TestMOSFromR(t *testing.T) {
	for _, tc := range []struct{ r, mos float64 }{
		{-5, 1}, {0, 1}, {math.NaN(), 1}, {100, 4.5}, {120, 4.5},
		{50, 1 + 1.75 + 50*(-10)*50*7e-6}, // 2.575
		{80, 1 + 2.8 + 80*20*20*7e-6},     // 4.024
		{93.2, 1 + 0.035*93.2 + 93.2*33.2*6.8*7e-6},
	} {
		approx(t, "MOS", MOSFromR(tc.r), tc.mos, 1e-9)
	}
}

func TestEModelMonotone(t *testing.T) {
	base := func() EModelInput { in := DefaultEModelInput(); in.Bpl = 10; return in }
	prev := math.Inf(1)
	for ppl := 0.0; ppl <= 20; ppl += 0.5 {
		in := base()
		in.Ppl = ppl
		r, _ := EModel(in)
		if r >= prev && ppl > 0 {
			t.Fatalf("R not decreasing in Ppl at %.1f", ppl)
		}
		prev = r
	}
	prev = math.Inf(1)
	for b := 1.0; b <= 8; b += 0.25 {
		in := base()
		in.Ppl, in.BurstR = 5, b
		r, _ := EModel(in)
		if r >= prev && b > 1 {
			t.Fatalf("R not decreasing in BurstR at %.2f", b)
		}
		prev = r
	}
	prev = math.Inf(1)
	for d := 0.0; d <= 600; d += 10 {
		r, _ := voipR(0, 25.1, 0, 1, d)
		if r > prev+1e-9 {
			t.Fatalf("R increases with delay at %.0f ms", d)
		}
		prev = r
	}
}

// TestMOSScenarios: the stated bounds on whole synthetic streams.
func TestMOSScenarios(t *testing.T) {
	pcmu := LookupCodec([]byte("PCMU"), 8000)
	small := func(i int) int64 { return int64(i%3) * ms } // ≤2 ms jitter
	t.Run("clean G.711 ≥ 4.2", func(t *testing.T) {
		s := run(nil, pcmu, gen{n: 3000, clock: 8000, ptime: 20, delay: small}.packets())
		if !s.HasMOS || s.MOS < 4.2 || s.MOSMin < 4.2 {
			t.Errorf("MOS %.3f min %.3f", s.MOS, s.MOSMin)
		}
	})
	t.Run("3% bursty loss ≤ 4.0", func(t *testing.T) {
		drop := map[int]bool{}
		for b := 0; b < 30; b++ { // 30 bursts of 3 in 3000 packets = 3 %
			for k := 0; k < 3; k++ {
				drop[50+b*100+k] = true
			}
		}
		s := run(nil, pcmu, gen{n: 3000, clock: 8000, ptime: 20, drop: drop, delay: small}.packets())
		approx(t, "Ppl", s.Ppl, 3, 0.01)
		if s.BurstR <= 1.5 {
			t.Errorf("BurstR %.2f, want bursty (>1.5)", s.BurstR)
		}
		if s.MOS > 4.0 {
			t.Errorf("MOS %.3f > 4.0", s.MOS)
		}
	})
	t.Run("bursty worse than random at same loss", func(t *testing.T) {
		rnd, bur := map[int]bool{}, map[int]bool{}
		for i := 0; i < 30; i++ {
			rnd[40+i*97] = true
			bur[1000+i] = true
		}
		a := run(nil, pcmu, gen{n: 3000, clock: 8000, ptime: 20, drop: rnd}.packets())
		b := run(nil, pcmu, gen{n: 3000, clock: 8000, ptime: 20, drop: bur}.packets())
		approx(t, "random BurstR", a.BurstR, 1, 0.02)
		if b.MOS >= a.MOS || b.Lost != a.Lost {
			t.Errorf("bursty MOS %.3f vs random %.3f (lost %d/%d)", b.MOS, a.MOS, b.Lost, a.Lost)
		}
	})
	t.Run("codec order", func(t *testing.T) {
		g := gen{n: 500, clock: 8000, ptime: 20}.packets()
		p := run(nil, pcmu, g)
		z := run(nil, LookupCodec([]byte("G729"), 8000), g)
		if z.MOS >= p.MOS {
			t.Errorf("G.729 MOS %.3f ≥ G.711 %.3f", z.MOS, p.MOS)
		}
	})
	t.Run("late discards count as loss", func(t *testing.T) {
		late := func(i int) int64 {
			if i%50 == 25 {
				return 100 * ms // beyond the 60 ms buffer
			}
			return 0
		}
		s := run(nil, pcmu, gen{n: 1000, clock: 8000, ptime: 20, delay: late}.packets())
		if s.LateDiscards != 20 || s.Lost != 0 {
			t.Errorf("late %d lost %d", s.LateDiscards, s.Lost)
		}
		approx(t, "Ppl", s.Ppl, 2, 1e-9)
		c := run(nil, pcmu, gen{n: 1000, clock: 8000, ptime: 20}.packets())
		if s.MOS >= c.MOS {
			t.Errorf("late discards did not lower MOS")
		}
	})
}

func TestIntervals(t *testing.T) {
	cfg := DefaultConfig()
	start := int64(1_700_000_000) * 1e9 // multiple of 5 s
	drop := map[int]bool{}
	for i := 300; i < 330; i++ { // 30 lost packets at 6.0-6.6 s: second interval
		drop[i] = true
	}
	s := run(&cfg, LookupCodec([]byte("PCMA"), 0), gen{n: 600, clock: 8000, ptime: 20, drop: drop, start: start}.packets())
	if len(s.Intervals) != 3 {
		t.Fatalf("intervals %d, want 3", len(s.Intervals))
	}
	want := []struct{ packets, lost uint64 }{{250, 0}, {220, 30}, {100, 0}}
	for i, w := range want {
		iv := s.Intervals[i]
		if iv.Start != start+int64(i)*5e9 || iv.Packets != w.packets || iv.Lost != w.lost || !iv.HasMOS {
			t.Errorf("interval %d: %+v, want packets %d lost %d", i, iv, w.packets, w.lost)
		}
	}
	if s.MOSMin != s.Intervals[1].MOS || s.Intervals[1].MOS >= s.Intervals[0].MOS {
		t.Errorf("mos_min %.3f, intervals %.3f %.3f", s.MOSMin, s.Intervals[0].MOS, s.Intervals[1].MOS)
	}

	t.Run("cap merges pairwise", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Interval = 1e9
		cfg.MaxIntervals = 4
		s := run(&cfg, LookupCodec([]byte("PCMA"), 0), gen{n: 500, clock: 8000, ptime: 20, start: start}.packets()) // 10 s
		var n uint64
		for _, iv := range s.Intervals {
			n += iv.Packets
		}
		if n != 500 || len(s.Intervals) > 4 || s.Problems.IntervalMerges == 0 {
			t.Errorf("packets %d in %d intervals, merges %d", n, len(s.Intervals), s.Problems.IntervalMerges)
		}
		// Merged intervals keep aligned, increasing starts from the first packet's second.
		for i, iv := range s.Intervals {
			if (iv.Start-start)%1e9 != 0 || iv.Start < start || iv.Start >= start+10e9 || (i > 0 && iv.Start <= s.Intervals[i-1].Start) {
				t.Errorf("interval %d starts at %+.3f s", i, float64(iv.Start-start)/1e9)
			}
		}
		if len(s.Intervals) == 0 || s.Intervals[0].Start != start {
			t.Errorf("first interval %+v", s.Intervals)
		}
	})

	t.Run("starts align below the first packet", func(t *testing.T) {
		cfg := DefaultConfig()
		first := start + 3_300_000_000                                                                               // 3.3 s into a 5 s slot
		s := run(&cfg, LookupCodec([]byte("PCMA"), 0), gen{n: 1000, clock: 8000, ptime: 20, start: first}.packets()) // 20 s
		if len(s.Intervals) != 5 {
			t.Fatalf("%d intervals, want 5", len(s.Intervals))
		}
		var n uint64
		for i, iv := range s.Intervals {
			n += iv.Packets
			if iv.Start != start+int64(i)*5e9 {
				t.Errorf("interval %d starts at %+.3f s, want %d", i, float64(iv.Start-start)/1e9, 5*i)
			}
		}
		if n != 1000 || s.Intervals[0].Packets != 85 {
			t.Errorf("%d packets, first interval %d (want 1000, 85)", n, s.Intervals[0].Packets)
		}
	})
}

func TestDTMFRFC4733(t *testing.T) {
	var s Stream
	s.Init(nil, 1, 8000, LookupCodec([]byte("PCMU"), 0))
	seq := uint16(0)
	pkt := func(arr int64, ts uint32, ev, flags byte, dur uint16, marker bool) {
		s.Packet(arr, seq, ts, marker, Event, []byte{ev, flags, byte(dur >> 8), byte(dur)})
		seq++
	}
	// Digit 1: start, 2 updates, end ×3 (repeats). Digit #: start, end ×3. Event 16 (flash).
	pkt(0, 1000, 1, 10, 160, true)
	pkt(20*ms, 1000, 1, 10, 320, false)
	pkt(40*ms, 1000, 1, 10, 480, false)
	for i := 0; i < 3; i++ {
		pkt(int64(60+i*5)*ms, 1000, 1, 0x80|10, 800, false)
	}
	pkt(500*ms, 5000, 11, 20, 160, true)
	for i := 0; i < 3; i++ {
		pkt(int64(520+i*5)*ms, 5000, 11, 0x80|20, 640, false)
	}
	pkt(900*ms, 9000, 16, 0x80, 160, true)
	pkt(1000*ms, 9500, 1, 0x80, 1, true)
	sum := s.Summary()
	if sum.DTMF != "1#1" {
		t.Fatalf("DTMF %q, want \"1#1\"", sum.DTMF)
	}
	if len(sum.DTMFEvents) != 4 {
		t.Fatalf("events %d", len(sum.DTMFEvents))
	}
	e := sum.DTMFEvents[0]
	if e.Digit != '1' || e.DurationMs != 100 || !e.Ended || e.Volume != 10 || e.Start != 0 {
		t.Errorf("event 0 %+v", e)
	}
	if e := sum.DTMFEvents[1]; e.Digit != '#' || e.DurationMs != 80 || e.Start != 500*ms {
		t.Errorf("event 1 %+v", e)
	}
	if e := sum.DTMFEvents[2]; e.Digit != '?' || e.Event != 16 {
		t.Errorf("event 2 %+v", e)
	}
	if sum.JitterMaxMs != 0 || !sum.Problems.Silent || sum.HasMOS {
		t.Errorf("event-only stream: jitter %.3f silent %v hasMOS %v", sum.JitterMaxMs, sum.Problems.Silent, sum.HasMOS)
	}
}

func TestRTCP(t *testing.T) {
	var s Stream
	s.Init(nil, 0xabc, 8000, LookupCodec([]byte("PCMU"), 0))
	t0 := int64(1_700_000_000) * 1e9
	ntp := uint64(0xE1234567_89ABCDEF)
	s.SenderReport(t0, ntp-1<<32, 0)                                 // an older SR
	s.SenderReport(t0+5e9, ntp, 160000)                              // the one the RR refers to
	mid := uint32(ntp >> 16)                                         // 0x456789AB
	dlsr := uint32(13107)                                            // 200 ms (13107.2/65536 s) held by the receiver
	s.ReportBlock(t0+5e9+250*ms, 64, 0xFFFFFF, 70000, 80, mid, dlsr) // RTT = 250 − 200 = 50 ms
	sum := s.Summary()
	r := sum.RTCP
	if r == nil || !r.HasRTT || !r.HasReport {
		t.Fatalf("rtcp %+v", r)
	}
	approx(t, "rtt", r.RTTMs, 50, 0.01)
	approx(t, "fraction lost %", r.FractionLostPct, 25, 1e-9)
	approx(t, "jitter ms", r.JitterMs, 10, 1e-9)
	if r.CumulativeLost != -1 {
		t.Errorf("cumulative lost %d, want -1 (24-bit sign)", r.CumulativeLost)
	}
	// The RTT enters Ta: 50/2 + 60 + 20.
	approx(t, "one-way", sum.OneWayMs, 105, 0.01)

	t.Run("unknown LSR gives no RTT", func(t *testing.T) {
		var s Stream
		s.Init(nil, 1, 8000, Codec{})
		s.ReportBlock(t0, 0, 0, 0, 0, 0x1111, 0)
		if r := s.Summary().RTCP; r == nil || r.HasRTT {
			t.Errorf("%+v", r)
		}
	})
	t.Run("SR history on another stream", func(t *testing.T) {
		var a, b Stream
		a.Init(nil, 1, 8000, Codec{})
		b.Init(nil, 2, 8000, Codec{})
		a.SenderReport(t0, ntp, 0)
		b.ReportBlockFrom(t0+30*ms, 0, 0, 0, 0, mid, 0, &a)
		approx(t, "rtt", b.Summary().RTCP.RTTMs, 30, 1e-6)
	})
	t.Run("XR VoIP metrics", func(t *testing.T) {
		var s Stream
		s.Init(nil, 1, 8000, LookupCodec([]byte("PCMA"), 0))
		s.XRVoIPMetrics(XRVoIP{LossRate: 128, RoundTripDelay: 120, RFactor: 80, MOSLQ: 41, MOSCQ: 127})
		x := s.Summary().RTCP.XR
		if x == nil || x.LossRatePct != 50 || !x.HasRFactor || x.RFactor != 80 || x.MOSLQ != 4.1 || x.HasMOSCQ {
			t.Fatalf("%+v", x)
		}
		approx(t, "one-way from XR", s.Summary().OneWayMs, 60+60+20, 1e-9)
	})
	if s := new(Stream); s.Summary().RTCP != nil {
		t.Error("RTCP must be nil without RTCP")
	}
}

func TestParseDTMFInfo(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		digit          byte
		dur            int
		ok             bool
	}{
		{"relay", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160, true},
		{"relay star lower-case keys", "Application/DTMF-Relay; charset=x", "signal= *\nduration = 250", '*', 250, true},
		{"relay hash no duration", "application/dtmf-relay", "Signal=#", '#', 0, true},
		{"relay event number", "application/dtmf-relay", "Signal=11\r\nDuration=100", '#', 100, true},
		{"relay letter", "application/dtmf-relay", "Signal=d", 'D', 0, true},
		{"plain", "application/dtmf", "7", '7', 0, true},
		{"plain with CRLF", "application/dtmf", "  0\r\n", '0', 0, true},
		{"wrong type", "application/sdp", "Signal=5", 0, 0, false},
		{"no signal", "application/dtmf-relay", "Duration=160", 0, 0, false},
		{"bad signal", "application/dtmf-relay", "Signal=X", 0, 0, false},
		{"empty", "", "", 0, 0, false},
		{"huge duration", "application/dtmf-relay", "Signal=1\nDuration=99999999999999999999", '1', -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, dur, ok := ParseDTMFInfo([]byte(tc.ct), []byte(tc.body))
			if ok != tc.ok || d != tc.digit || (tc.dur >= 0 && dur != tc.dur) || dur < 0 {
				t.Errorf("got %q %d %v", d, dur, ok)
			}
		})
	}
}

func TestLookupCodec(t *testing.T) {
	for _, tc := range []struct {
		enc   string
		clock uint32
		name  string
		rate  uint32
		ie    float64
	}{
		{"pcmu", 0, "PCMU", 8000, 0}, {"PCMA", 8000, "PCMA", 8000, 0}, {"G722", 8000, "G722", 8000, 0},
		{"g729a", 0, "G729", 8000, 11}, {"G729b", 0, "G729", 8000, 11}, {"GSM", 0, "GSM", 8000, 20},
		{"iLBC", 0, "ILBC", 8000, 11}, {"opus", 48000, "OPUS", 48000, 0}, {"OPUS", 0, "OPUS", 48000, 0},
		{"G723", 0, "G723", 8000, 15}, {"L16", 16000, "L16", 16000, 0}, {"AMR", 0, "AMR", 8000, 5},
		{"AMR-WB", 0, "AMR-WB", 16000, 0}, {"speex", 16000, "SPEEX", 16000, 10},
		{"whatever", 0, "unknown", 0, 0}, {"", 8000, "unknown", 8000, 0},
	} {
		c := LookupCodec([]byte(tc.enc), tc.clock)
		if c.Name != tc.name || c.ClockRate != tc.rate || c.Ie != tc.ie {
			t.Errorf("%q/%d: %+v", tc.enc, tc.clock, c)
		}
	}
}

// TestOutOfBounds feeds malformed inputs that must not panic.
func TestOutOfBounds(t *testing.T) {
	for _, p := range [][]byte{nil, {}, {1}, {1, 2}, {1, 2, 3}, {255, 255, 255, 255, 255}} {
		var s Stream
		s.Init(nil, 1, 0, Codec{})
		s.Packet(0, 0, 0, true, Event, p)
		s.Packet(1, 1, 0, false, PacketKind(200), p)
		s.Finish(2)
		_ = s.Summary()
	}
	for _, body := range []string{"=", "Signal=", "Signal", "\n\n\n", "Duration=x", "Signal==5", "Signal=\xff"} {
		ParseDTMFInfo([]byte("application/dtmf-relay"), []byte(body))
		ParseDTMFInfo([]byte("application/dtmf"), []byte(body))
	}
	var s Stream // zero value, no Init
	s.Packet(5, 1, 2, false, Audio, nil)
	s.ReportBlock(0, 0, 0, 0, 0, 1, 0)
	s.SetClock(0, Codec{})
	_ = s.Summary()
}

func TestPacketAllocs(t *testing.T) {
	var s Stream
	s.Init(nil, 1, 8000, LookupCodec([]byte("PCMU"), 0))
	arr := int64(1_700_000_000) * 1e9
	seq, ts := uint16(0), uint32(0)
	s.Packet(arr, seq, ts, false, Audio, nil) // opens the first interval
	ev := []byte{5, 10, 0, 160}
	n := testing.AllocsPerRun(1000, func() {
		seq++
		ts += 160
		arr += 1000 // stay inside one interval
		s.Packet(arr, seq, ts, false, Audio, nil)
		s.Packet(arr, seq, ts, false, Audio, nil) // duplicate
		seq++
		s.Packet(arr, seq, ts, false, Event, ev)
	})
	if n != 0 {
		t.Fatalf("Packet allocates %.1f per run", n)
	}
}

func BenchmarkPacket(b *testing.B) {
	var s Stream
	cfg := DefaultConfig()
	s.Init(&cfg, 1, 8000, LookupCodec([]byte("PCMU"), 0))
	arr := int64(1_700_000_000) * 1e9
	b.ReportAllocs()
	b.SetBytes(172) // a 20 ms G.711 RTP packet
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		arr += 20*ms + int64(i&7)*1000
		s.Packet(arr, uint16(i), uint32(i)*160, false, Audio, nil)
	}
}
