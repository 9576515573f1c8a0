package quality

import "math"

// End of a stream and the inputs of its summary (delay, round trip, burst ratio).

// Finish closes the open interval at the end of the stream. It is idempotent; end is
// the caller's notion of the stream end (unused beyond closing, kept for the API).
func (s *Stream) Finish(end int64) {
	_ = end
	s.closeInterval()
}

// oneWayMs is Ta: half the round trip (see rtt) + jitter-buffer depth + packetisation
// + look-ahead.
func (s *Stream) oneWayMs() float64 {
	rtt, _ := s.rtt()
	codec := s.codecOrUnknown()
	return rtt/2 + s.conf().JitterBufferMs + codec.FrameMs + codec.LookaheadMs
}

// rtt is the round trip for Ta, best source first: the receiver's RTCP-XR round-trip
// delay, the end-to-end RTT set by SetEndToEndRTT, this stream's probe-side RTCP RTT
// (the probe↔receiver segment only), Config.DefaultRTTMs.
func (s *Stream) rtt() (float64, RTTSource) {
	switch {
	case s.rc != nil && s.rc.hasXR && s.rc.xr.RoundTripDelayMs > 0:
		return s.rc.xr.RoundTripDelayMs, RTTXR
	case s.rc != nil && s.rc.hasE2E:
		return s.rc.e2eRTT, RTTEndToEnd
	case s.rc != nil && s.rc.rtcp.HasRTT:
		return s.rc.rtcp.RTTMeanMs, RTTProbeSegment
	}
	return s.conf().DefaultRTTMs, RTTDefault
}

// burstR estimates G.107 BurstR = 1/(p+q) from a two-state Markov model of the loss
// pattern: bursts loss runs among received packets and lost packets.
func burstR(bursts, received, lost uint64) float64 {
	if lost == 0 || bursts == 0 || received == 0 {
		return 1
	}
	if bursts > lost {
		bursts = lost
	}
	p := float64(bursts) / float64(received) // P(loss | previous received)
	q := float64(bursts) / float64(lost)     // P(received | previous lost)
	r := 1 / (p + q)
	if r < 1 || math.IsNaN(r) {
		return 1
	}
	return r
}

func sub0(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func pct(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	v := float64(n) / float64(d) * 100
	if v > 100 {
		v = 100
	}
	return v
}
