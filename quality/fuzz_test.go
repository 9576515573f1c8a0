package quality

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzStream decodes the fuzz input as a packet sequence (11 bytes per packet: arrival
// step µs (2), seq (2), ts (4), flags (1: marker, kind), 2 payload bytes used as an
// event) interleaved with RTCP calls, and checks the invariants of the summary.
func FuzzStream(f *testing.F) {
	// Seeds from valid streams: clean G.711, loss, wrap, duplicates, events, RTCP.
	f.Add(uint32(8000), seedStream(0, 50, 160, nil))
	f.Add(uint32(8000), seedStream(65500, 80, 160, map[int]int{10: 2, 20: -1}))
	f.Add(uint32(48000), seedStream(7, 40, 960, map[int]int{5: 0, 6: 0}))
	f.Add(uint32(0), []byte{0, 0, 0, 1, 0, 0, 0, 0, 0x81, 1, 10})
	f.Fuzz(func(t *testing.T, clock uint32, data []byte) {
		var s Stream
		cfg := DefaultConfig()
		cfg.Interval = 1e8
		cfg.MaxIntervals = 8
		cfg.MaxDTMFEvents = 4
		s.Init(&cfg, 1, clock, LookupCodec([]byte("PCMU"), clock))
		arr := int64(1_700_000_000) * 1e9
		var n uint64
		for len(data) >= 11 {
			p := data[:11]
			data = data[11:]
			arr += int64(int16(binary.BigEndian.Uint16(p))) * 1000
			seq := binary.BigEndian.Uint16(p[2:])
			ts := binary.BigEndian.Uint32(p[4:])
			fl := p[8]
			switch fl >> 5 {
			case 7:
				s.SenderReport(arr, uint64(ts)<<16, ts)
				continue
			case 6:
				s.ReportBlock(arr, p[9], int32(ts), uint32(seq), uint32(p[10]), ts, uint32(seq))
				continue
			case 5:
				s.XRVoIPMetrics(XRVoIP{LossRate: p[9], RoundTripDelay: seq, RFactor: p[10], MOSLQ: p[10]})
				continue
			}
			s.Packet(arr, seq, ts, fl&1 != 0, PacketKind(fl>>1&3), []byte{p[9], p[10], p[9], p[10]})
			n++
		}
		s.Finish(arr)
		sum := s.Summary()
		if sum.Packets != n {
			t.Fatalf("packets %d, fed %d", sum.Packets, n)
		}
		if sum.Lost > sum.Expected {
			t.Fatalf("lost %d > expected %d", sum.Lost, sum.Expected)
		}
		unique := sum.Packets - sum.Duplicates
		if sum.Duplicates > sum.Packets || (sum.Expected >= unique && sum.Lost != sum.Expected-unique) {
			t.Fatalf("packets %d dups %d expected %d lost %d", sum.Packets, sum.Duplicates, sum.Expected, sum.Lost)
		}
		var ivp uint64
		for _, iv := range sum.Intervals {
			ivp += iv.Packets
			if iv.HasMOS && (iv.MOS < 1 || iv.MOS > 4.5) {
				t.Fatalf("interval MOS %v", iv.MOS)
			}
		}
		if ivp != sum.Packets {
			t.Fatalf("interval packets %d != %d", ivp, sum.Packets)
		}
		if sum.HasMOS && (sum.MOS < 1 || sum.MOS > 4.5 || sum.MOSMin > sum.MOS+1e-9 || sum.Ppl < 0 || sum.Ppl > 100 || sum.BurstR < 1) {
			t.Fatalf("MOS %v min %v Ppl %v BurstR %v", sum.MOS, sum.MOSMin, sum.Ppl, sum.BurstR)
		}
		if sum.JitterMeanMs < 0 || sum.JitterMaxMs < sum.JitterMeanMs-1e-9 || sum.JitterMeanMs != sum.JitterMeanMs {
			t.Fatalf("jitter mean %v max %v", sum.JitterMeanMs, sum.JitterMaxMs)
		}
		if (sum.Problems.NetworkStalls > 0) != (sum.LongestStallMs >= 300) || sum.LongestStallMs > sum.MaxDeltaMs+1e-6 && sum.Duplicates == 0 && sum.Events == 0 && sum.CN == 0 {
			t.Fatalf("stalls %d longest %v max delta %v", sum.Problems.NetworkStalls, sum.LongestStallMs, sum.MaxDeltaMs)
		}
		if r := sum.MeasuredClockRate; r != r || math.IsInf(r, 0) || sum.Problems.ClockDrift && r == 0 {
			t.Fatalf("measured clock %v drift %v", r, sum.Problems.ClockDrift)
		}
		if len(sum.DTMFEvents) > cfg.MaxDTMFEvents {
			t.Fatalf("dtmf events %d over cap", len(sum.DTMFEvents))
		}
	})
}

// seedStream encodes n 20 ms packets; mods maps an index to a seq offset (0 = duplicate
// of previous seq, -1 = drop).
func seedStream(seq0 uint16, n int, step uint32, mods map[int]int) []byte {
	var b []byte
	seq := seq0
	for i := 0; i < n; i++ {
		if m, ok := mods[i]; ok {
			if m < 0 {
				seq++
				continue
			}
			seq += uint16(m) - 1
		}
		var p [11]byte
		binary.BigEndian.PutUint16(p[:], 20000)
		binary.BigEndian.PutUint16(p[2:], seq)
		binary.BigEndian.PutUint32(p[4:], uint32(seq-seq0)*step)
		b = append(b, p[:]...)
		seq++
	}
	return b
}

// FuzzParseDTMFInfo: never panics; a result is always a valid digit.
func FuzzParseDTMFInfo(f *testing.F) {
	f.Add([]byte("application/dtmf-relay"), []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add([]byte("application/dtmf"), []byte("#"))
	f.Add([]byte("application/dtmf-relay; x=y"), []byte("Signal=11\nDuration=99999"))
	f.Fuzz(func(t *testing.T, ct, body []byte) {
		d, dur, ok := ParseDTMFInfo(ct, body)
		if ok {
			if d == 0 || !((d >= '0' && d <= '9') || d == '*' || d == '#' || (d >= 'A' && d <= 'D')) || dur < 0 {
				t.Fatalf("digit %q dur %d", d, dur)
			}
		}
	})
}
