package quality

import (
	"math"
	"testing"
)

// a8 runs RFC 3550 A.8 over the transit differences D (ms) worked out from a stream's
// construction and returns the max and the mean of J (one sample per D).
func a8(ds []float64) (maxJ, meanJ float64) {
	j, sum := 0.0, 0.0
	for _, d := range ds {
		j += (math.Abs(d) - j) / 16
		sum += j
		maxJ = math.Max(maxJ, j)
	}
	return maxJ, sum / float64(len(ds))
}

// TestJitterAcrossStall feeds a G.711 stream (20 ms, 160 ticks) whose packets stop for
// 2 s and then arrive in a burst, sequence numbers and RTP timestamps contiguous (what
// Wi-Fi or a congested uplink does). RFC 3550 A.8 takes every packet, so the stall is
// jitter, not a timestamp jump.
func TestJitterAcrossStall(t *testing.T) {
	// Construction (ms; packet i is sampled at 20i):
	//   i = 0..49     arrive at 20i                  D = 0
	//   i = 50        arrives at 3000 (gap 2020)     D = 2020 − 20 = 2000
	//   i = 51..155   burst, 1 ms apart: 3000+(i−50) D = 1 − 20 = −19
	//                 (the queue drains until 20i ≥ 3000+(i−50), i.e. i ≥ 156)
	//   i = 156       arrives at 3120 (gap 15)       D = 15 − 20 = −5
	//   i = 157..249  arrive at 20i                  D = 0
	arr := func(i int) int64 {
		if i >= 50 && i <= 155 {
			return 3000 + int64(i-50)
		}
		return 20 * int64(i)
	}
	var ds []float64
	for i := 1; i < 250; i++ {
		switch {
		case i == 50:
			ds = append(ds, 2000)
		case i > 50 && i <= 155:
			ds = append(ds, -19)
		case i == 156:
			ds = append(ds, -5)
		default:
			ds = append(ds, 0)
		}
	}
	wantMax, wantMean := a8(ds)
	// J jumps to 2000/16 = 125 ms at packet 50 and only decays after it.
	approx(t, "hand max", wantMax, 125, 1e-9)

	var s Stream
	s.Init(nil, 1, 8000, LookupCodec([]byte("PCMU"), 0))
	t0 := int64(1_700_000_000) * 1e9
	for i := 0; i < 250; i++ {
		s.Packet(t0+arr(i)*ms, uint16(i), uint32(i)*160, false, Audio, nil)
	}
	s.Finish(0)
	sum := s.Summary()
	approx(t, "jitter max", sum.JitterMaxMs, wantMax, 1e-6)
	approx(t, "jitter mean", sum.JitterMeanMs, wantMean, 1e-6)
	if sum.Problems.TimestampJumps != 0 {
		t.Errorf("stall counted as %d timestamp jumps", sum.Problems.TimestampJumps)
	}
	if sum.Problems.NetworkStalls != 1 {
		t.Errorf("stalls %d, want 1", sum.Problems.NetworkStalls)
	}
	approx(t, "longest stall", sum.LongestStallMs, 2020, 1e-9)
	approx(t, "max delta", sum.MaxDeltaMs, 2020, 1e-9)
	// Jitter buffer (60 ms): transit of packet i in the burst is 2950 − 19i ms, over 60
	// for i = 50..152; the buffer re-anchors after 50 consecutive late packets (i = 99),
	// and the burst's falling transit stays under the new reference: 50 late discards.
	if sum.LateDiscards != 50 {
		t.Errorf("late discards %d, want 50", sum.LateDiscards)
	}
	// MOS through the discards: Ppl = 50/250 = 20 %, G.711 Bpl 4.3, BurstR 1 (no loss):
	// Ie,eff = 95·20/(20+4.3) = 78.19; R = 93.355 − Id(Ta = 80: 2.273) − 78.19 = 12.89;
	// MOS = 1 + 0.035R + R(R−60)(100−R)·7e−6 = 1.08.
	approx(t, "ppl", sum.Ppl, 20, 1e-9)
	approx(t, "R", sum.RFactor, 93.35525-2.27331-95*20/24.3, 0.01)
	if sum.MOS > 1.2 {
		t.Errorf("stalled stream MOS %.2f, want ≈1.08", sum.MOS)
	}
}

func TestStallsRebasesAndSilence(t *testing.T) {
	pcmu := LookupCodec([]byte("PCMU"), 0)
	t0 := int64(1_700_000_000) * 1e9
	feed := func(n int, at func(i int) (arrMs int64, ts uint32, marker bool)) Summary {
		var s Stream
		s.Init(nil, 1, 8000, pcmu)
		for i := 0; i < n; i++ {
			a, ts, m := at(i)
			s.Packet(t0+a*ms, uint16(i), ts, m, Audio, nil)
		}
		s.Finish(0)
		return s.Summary()
	}
	t.Run("re-based clock is a timestamp jump", func(t *testing.T) {
		// RTP timestamps jump by 5e6 ticks (625 s) at packet 50, arrival and sequence
		// regular: D = −625 s and the step disagrees with the sequence step (1 packet).
		sum := feed(100, func(i int) (int64, uint32, bool) {
			ts := uint32(i) * 160
			if i >= 50 {
				ts += 5_000_000
			}
			return 20 * int64(i), ts, false
		})
		if sum.Problems.TimestampJumps != 1 || sum.JitterMaxMs != 0 || sum.Problems.NetworkStalls != 0 {
			t.Errorf("jumps %d jitter %.3f stalls %d, want 1, 0, 0", sum.Problems.TimestampJumps, sum.JitterMaxMs, sum.Problems.NetworkStalls)
		}
	})
	t.Run("sequence and timestamp skip ahead together", func(t *testing.T) {
		// At packet 50 both jump by 500 packets (10 s) with no arrival gap: D = −10 s.
		// A network loss of 499 packets would leave a 10 s arrival gap (D = 0); only the
		// source can put its clock 10 s ahead of arrival: a timestamp jump, 499 lost.
		var s Stream
		s.Init(nil, 1, 8000, pcmu)
		for i := 0; i < 100; i++ {
			n := i
			if i >= 50 {
				n += 499
			}
			s.Packet(t0+20*int64(i)*ms, uint16(n), uint32(n)*160, false, Audio, nil)
		}
		sum := s.Summary()
		if sum.Problems.TimestampJumps != 1 || sum.JitterMaxMs != 0 || sum.Lost != 499 {
			t.Errorf("jumps %d jitter %.3f lost %d, want 1, 0, 499", sum.Problems.TimestampJumps, sum.JitterMaxMs, sum.Lost)
		}
	})
	t.Run("talkspurt after a delayed last packet is jitter", func(t *testing.T) {
		// Packet 49, the last before 3 s of DTX silence, is held 1.5 s; packet 50 (marker)
		// is on time: gap 1.52 s, timestamp step 3.02 s, D = −1.5 s. Packet 49's own
		// 1.5 s delay explains it (a stall of packet 49, then on-time media): A.8 jitter.
		sum := feed(100, func(i int) (int64, uint32, bool) {
			a := 20 * int64(i)
			if i >= 50 {
				a += 3000
			}
			if i == 49 {
				a += 1500
			}
			return a, uint32(20*int64(i)+map[bool]int64{true: 3000}[i >= 50]) * 8, i == 50
		})
		if sum.Problems.TimestampJumps != 0 {
			t.Errorf("jumps %d, want 0", sum.Problems.TimestampJumps)
		}
		// J after packet 49 (D = +1.5 s) is 93.75; packet 50 (|D| = 1.5 s) adds
		// (1500 − 93.75)/16 = 87.89: max 181.64 ms.
		approx(t, "jitter max", sum.JitterMaxMs, 93.75+(1500-93.75)/16, 1e-6)
	})
	t.Run("DTX silence is neither stall nor jump", func(t *testing.T) {
		// 3 s of silence between talkspurts: the timestamp advances with the arrival gap
		// (D = 0), the sequence number by one, the marker starts the new talkspurt.
		sum := feed(100, func(i int) (int64, uint32, bool) {
			a := 20 * int64(i)
			if i >= 50 {
				a += 3000
			}
			return a, uint32(a * 8), i == 50
		})
		if sum.Problems.TimestampJumps != 0 || sum.Problems.NetworkStalls != 0 || sum.JitterMaxMs != 0 {
			t.Errorf("jumps %d stalls %d jitter %.3f, want 0", sum.Problems.TimestampJumps, sum.Problems.NetworkStalls, sum.JitterMaxMs)
		}
	})
	t.Run("300 ms threshold", func(t *testing.T) {
		// Gaps of exactly 300 ms (packet 20) and 299 ms (packet 60) between contiguous
		// packets; the stream then keeps its 20 ms spacing.
		sum := feed(100, func(i int) (int64, uint32, bool) {
			a := 20 * int64(i)
			if i >= 20 {
				a += 280 // gap 300 before packet 20
			}
			if i >= 60 {
				a += 279 // gap 299 before packet 60
			}
			return a, uint32(i) * 160, false
		})
		if sum.Problems.NetworkStalls != 1 || sum.LongestStallMs != 300 {
			t.Errorf("stalls %d longest %.1f, want 1, 300", sum.Problems.NetworkStalls, sum.LongestStallMs)
		}
	})
	t.Run("loss across a gap is no stall", func(t *testing.T) {
		// Sequence numbers 50..99 lost: 1020 ms between packets 49 and 100, whose RTP
		// timestamps are 51 packets apart (D = 0): an outage with loss, not a stall.
		var s Stream
		s.Init(nil, 1, 8000, pcmu)
		for i := 0; i < 150; i++ {
			if i >= 50 && i < 100 {
				continue
			}
			s.Packet(t0+20*int64(i)*ms, uint16(i), uint32(i)*160, false, Audio, nil)
		}
		sum := s.Summary()
		if sum.Problems.NetworkStalls != 0 || sum.Lost != 50 || sum.JitterMaxMs != 0 {
			t.Errorf("stalls %d lost %d jitter %.3f, want 0, 50, 0", sum.Problems.NetworkStalls, sum.Lost, sum.JitterMaxMs)
		}
	})
}

// TestClockDrift feeds senders whose RTP clock runs at a known rate while the SDP says
// 8000 Hz, with network delay, a 1.5 s stall in the middle and one near the end.
func TestClockDrift(t *testing.T) {
	pcmu := LookupCodec([]byte("PCMU"), 0)
	t0 := int64(1_700_000_000) * 1e9
	// delay is a deterministic 0..29 ms pseudo-random network delay, 0 for every 7th
	// packet (so each 2 s block holds packets at the delay floor) but the first, which
	// is 25 ms late (the start anchor must not be the first packet).
	delay := func(i int) int64 {
		if i == 0 {
			return 25 * ms
		}
		if i%7 == 0 {
			return 0
		}
		return int64((i*7919)%30) * ms
	}
	feed := func(rate float64, seconds int, stalls ...int) Summary {
		var s Stream
		s.Init(nil, 1, 8000, pcmu)
		n := seconds * 50
		arrs := make([]int64, n)
		for i := range arrs {
			arrs[i] = int64(i)*20*ms + delay(i)
		}
		for _, at := range stalls { // packets at..at+74 held, released in a 1 ms burst
			for i := at; i < at+75 && i < n; i++ {
				arrs[i] = max(arrs[i], int64(at)*20*ms+1500*ms+int64(i-at)*ms)
			}
		}
		last := int64(0)
		for i, a := range arrs {
			a = max(a, last) // FIFO path: no reordering
			last = a
			ts := uint32(math.Round(float64(i) * 0.02 * rate)) // the sender's own clock
			s.Packet(t0+a, uint16(i), ts, false, Audio, nil)
		}
		s.Finish(0)
		return s.Summary()
	}
	for _, c := range []struct {
		name    string
		rate    float64
		seconds int
		stalls  []int
		drift   bool
	}{
		{"1.25 % fast", 8100, 30, []int{500, 1300}, true},
		{"1.25 % slow", 7900, 30, []int{500, 1300}, true},
		{"0.5 % fast", 8040, 30, []int{500}, false},
		{"nominal", 8000, 60, []int{700, 2800}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sum := feed(c.rate, c.seconds, c.stalls...)
			// The delay floor is exact (every 7th packet has no delay), so the measured
			// rate is the sender's, within the 1 ms / 1 µs anchor resolution.
			approx(t, "measured clock", sum.MeasuredClockRate, c.rate, 1)
			if sum.Problems.ClockDrift != c.drift {
				t.Errorf("clock drift %v, want %v", sum.Problems.ClockDrift, c.drift)
			}
			if sum.Problems.NetworkStalls != uint64(len(c.stalls)) {
				t.Errorf("stalls %d, want %d", sum.Problems.NetworkStalls, len(c.stalls))
			}
		})
	}
	t.Run("delay steps are not drift", func(t *testing.T) {
		// Nominal clock; the delay floor steps up by 600 ms at 5, 12 and 20 s and stays
		// (a queue that builds up). The floor's end-to-end slope reads as a slow clock:
		// the last packets arrive 1.8 s late, at up to 29.98 + 1.8 s, so the end anchor
		// lies in the last 5 s interval ([30 s, 35 s) of arrival; the origin is packet 7 at
		// 140 ms), at 29.86 ≤ t ≤ 31.64 s: 8000·(1 − 1.8/t) ∈ [7517, 7545] Hz. The floor
		// moved in 3 of 6 blocks only (a drift moves it in every one), so no clock_drift.
		var s Stream
		s.Init(nil, 1, 8000, pcmu)
		last := int64(0)
		for i := 0; i < 1500; i++ {
			a := int64(i)*20*ms + delay(i)
			for _, at := range []int{250, 600, 1000} {
				if i >= at {
					a += 600 * ms
				}
			}
			a = max(a, last)
			last = a
			s.Packet(t0+a, uint16(i), uint32(i)*160, false, Audio, nil)
		}
		sum := s.Summary()
		if sum.MeasuredClockRate < 7517 || sum.MeasuredClockRate > 7545 || sum.Problems.ClockDrift {
			t.Errorf("measured %.1f Hz drift %v, want 7517..7545 and no clock_drift", sum.MeasuredClockRate, sum.Problems.ClockDrift)
		}
	})
	t.Run("under 10 s measures nothing", func(t *testing.T) {
		sum := feed(8100, 9)
		if sum.MeasuredClockRate != 0 || sum.Problems.ClockDrift {
			t.Errorf("measured %.1f drift %v on 9 s", sum.MeasuredClockRate, sum.Problems.ClockDrift)
		}
	})
}
