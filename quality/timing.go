package quality

import "math"

// Arrival timing: RFC 3550 A.8 jitter, timestamp jumps, network stalls and clock drift.

// timing updates the RFC 3550 A.8 jitter, the stall and clock-drift detectors and the
// jitter-buffer model for an audio packet.
func (s *Stream) timing(arrival int64, seq uint16, ts uint32, marker bool) {
	if s.nsPerTick == 0 {
		return
	}
	rel := arrival - s.first
	if !s.jInit {
		s.jInit = true
		s.jPrevRel, s.jPrevTS, s.jPrevSeq = rel, ts, seq
		s.anchor(rel)
		return
	}
	gap := rel - s.jPrevRel
	dts := int32(ts - s.jPrevTS)
	media := float64(dts) * s.nsPerTick
	d := float64(gap) - media // D(i-1,i), eq. A.8
	prevSeq := s.jPrevSeq
	s.jPrevRel, s.jPrevTS, s.jPrevSeq = rel, ts, seq
	// One test for both rare cases: a stall has D > gap/2 ≥ stallNs/2, a jump |D| > 1 s.
	if d > stallNs/2 || d < -tsJumpNs {
		dseq := int16(seq - prevSeq)
		if d > tsJumpNs && s.rebased(media, dseq) || d < -tsJumpNs && -d > s.jbTransit-s.jbRef+jumpSlackNs {
			// The source re-based its RTP clock, or skipped ahead: not network jitter;
			// re-anchor the models.
			if s.tsJumps < math.MaxUint16 {
				s.tsJumps++
			}
			s.anchor(rel)
			return
		}
		if gap >= stallNs && dseq == 1 && media < float64(gap)/2 {
			s.stall(gap)
		}
	}
	transit := s.jbTransit + d // T_i = T_{i-1} + D(i-1,i)
	s.jbTransit = transit
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) * (1.0 / 16) // J(i) = J(i-1) + (|D(i-1,i)| - J(i-1))/16
	j := s.jitter
	s.jSum += j
	s.jN++
	if j > s.jMax {
		s.jMax = j
	}
	s.iv.jSum += j
	s.iv.jN++

	// Fixed jitter buffer: playout reference = lowest transit of the talkspurt.
	switch {
	case marker:
		s.jbRef, s.jbLateRun = transit, 0
	case transit < s.jbRef:
		s.jbRef, s.jbLateRun = transit, 0
	case transit-s.jbRef > s.cfg.JitterBufferMs*1e6:
		s.late++
		s.iv.late++
		s.jbLateRun++
		if s.jbLateRun >= lateResync {
			s.jbRef, s.jbLateRun = transit, 0
		}
	default:
		s.jbLateRun = 0
	}

	// Clock drift: track the delay floor (the lowest transit) of the interval.
	if tr := float32(transit); tr <= s.iv.floor {
		s.driftFloor(rel, transit, tr)
	}
}

// anchor (re)starts the jitter-buffer model and the drift anchors at the audio packet
// arriving at rel (first audio packet, new clock, or re-based timestamps).
func (s *Stream) anchor(rel int64) {
	s.jbOrigin, s.jbTransit, s.jbRef, s.jbLateRun = rel, 0, 0, 0
	s.driftT, s.driftTr, s.iv.floor = 0, 0, 0
}

// rebased reports whether an RTP timestamp step of media ns disagrees with a sequence
// step of dseq packets (of the codec's packet time) by more than tsJumpNs.
func (s *Stream) rebased(media float64, dseq int16) bool {
	frame := s.codecOrUnknown().FrameMs
	if frame <= 0 {
		frame = 20
	}
	off := media - float64(dseq)*frame*1e6
	return off > tsJumpNs || off < -tsJumpNs
}

// stall records a network stall of gap ns.
func (s *Stream) stall(gap int64) {
	rc := s.rtcpState() // rare: kept out of line
	rc.stalls++
	if ms := float64(gap) / 1e6; ms > rc.stallMaxMs {
		rc.stallMaxMs = ms
	}
}

// driftFloor records a new lowest transit of the current block. In the first 2 s of
// a stream whose clock was never re-based, a transit below the origin's (0) means the
// first packet was delayed: the origin (the start anchor) moves to this packet. Every
// transit shifts by the same amount, so the jitter-buffer reference follows.
func (s *Stream) driftFloor(rel int64, transit float64, tr float32) {
	if tr < 0 && rel < driftOriginNs && s.tsJumps == 0 {
		s.jbRef -= transit
		s.jbOrigin, s.jbTransit = rel, 0
		s.driftT, s.driftTr, s.iv.floor = 0, 0, 0
		return
	}
	if u := (rel - s.jbOrigin) >> driftUnitShift; uint64(u) <= math.MaxUint32 { // else backwards, or 52 days
		s.driftT, s.driftTr, s.iv.floor = uint32(u), tr, tr
	}
}

// measuredClock is the sender's RTP clock rate measured from the delay floor, Hz, or 0
// when the anchors are less than 10 s apart.
func (s *Stream) measuredClock() float64 {
	if s.driftT < driftMinUnits || s.clock == 0 {
		return 0
	}
	// transit(t) = t − ts(t)/nominal = t·(1 − actual/nominal): the slope σ of the floor
	// gives actual = nominal·(1 − σ).
	slope := float64(s.driftTr) / (float64(s.driftT) * driftUnitNs)
	return float64(s.clock) * (1 - slope)
}

// clockDrift reports whether the measured clock rate is off nominal by more than
// driftLimit and the delay floor moved that way in at least 3/4 of the intervals since
// the origin, each move more than half a 1 % drift over the interval: a drifting clock
// moves the floor in every interval, while a delay step (a queue that builds up and
// stays, a sender that holds its clock during a DTMF event) moves it in a few, and is
// not drift.
func (s *Stream) clockDrift(rate float64) bool {
	if rate == 0 {
		return false
	}
	dev := rate/float64(s.clock) - 1
	if dev <= driftLimit && dev >= -driftLimit {
		return false
	}
	origin := s.first + s.jbOrigin
	var prev float32
	var prevStart int64
	have := false
	blocks, moved := 0, 0
	visit := func(r *ivRec) {
		start := s.ivStart(r)
		if math.IsInf(float64(r.floor), 1) || start+s.ivLen() <= origin {
			return // no audio, or before a re-base
		}
		if have {
			step := float64(r.floor - prev)
			limit := driftLimit * float64(start-prevStart) / 2
			blocks++
			if dev < 0 && step > limit || dev > 0 && step < -limit { // slow clock: transit rises
				moved++
			}
		}
		prev, prevStart, have = r.floor, start, true
	}
	for i := range s.intervals {
		visit(&s.intervals[i])
	}
	if s.ivOpen {
		visit(&s.iv)
	}
	return blocks > 0 && 4*moved >= 3*blocks
}
