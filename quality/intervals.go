package quality

import "math"

// Fixed-length quality intervals of a stream.

// rollInterval closes the open interval (if any) and opens the one holding arrival.
func (s *Stream) rollInterval(arrival int64) {
	prevEnd := s.ivEnd
	wasOpen := s.ivOpen
	if s.ivOpen {
		s.closeInterval()
	}
	ivLen := s.ivLen()
	start := arrival - arrival%ivLen
	if arrival%ivLen < 0 {
		start -= ivLen
	}
	if wasOpen && start < prevEnd {
		start = prevEnd
	}
	s.iv = ivRec{slot: s.slotOf(start), floor: float32(math.Inf(1))}
	s.ivEnd = start + ivLen
	s.ivOpen = true
}

func (s *Stream) closeInterval() {
	if !s.ivOpen {
		return
	}
	s.ivOpen = false
	if s.iv.packets == 0 {
		return
	}
	if len(s.intervals) >= s.conf().MaxIntervals {
		s.mergeIntervals()
	}
	s.iv.oneWayMs = float32(s.oneWayMs())
	if len(s.intervals) == cap(s.intervals) {
		// Grow by a quarter, not append's doubling: the history of a long call is most
		// of its stream's memory, and a doubled slice is half empty on average.
		// (append, and slices.Grow, double a small slice whatever they are asked for.)
		grown := make([]ivRec, len(s.intervals), len(s.intervals)+max(4, len(s.intervals)/4))
		copy(grown, s.intervals)
		s.intervals = grown
	}
	s.intervals = append(s.intervals, s.iv)
}

// mergeIntervals halves the interval list by merging neighbours pairwise and doubles
// the interval length for what follows.
func (s *Stream) mergeIntervals() {
	n := len(s.intervals)
	for i := 0; i < n/2; i++ {
		a, b := s.intervals[2*i], s.intervals[2*i+1]
		a.packets += b.packets
		a.unique += b.unique
		a.expected += b.expected
		a.audio += b.audio
		a.late += b.late
		a.bursts += b.bursts
		a.jSum += b.jSum
		a.jN += b.jN
		a.oneWayMs = max(a.oneWayMs, b.oneWayMs)
		a.floor = min(a.floor, b.floor)
		s.intervals[i] = a
	}
	if n%2 == 1 {
		s.intervals[n/2] = s.intervals[n-1]
	}
	s.intervals = s.intervals[:(n+1)/2]
	if s.merges < math.MaxUint8 {
		s.merges++
	}
}
