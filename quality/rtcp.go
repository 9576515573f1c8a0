package quality

// SenderReport records an RTCP SR sent BY this stream's source (RFC 3550 §6.4.1):
// the middle 32 bits of its NTP timestamp are what a receiver later echoes as LSR, and
// the probe's arrival time of the SR is kept (last srHistory SRs) to measure RTT.
func (s *Stream) SenderReport(arrival int64, ntp uint64, rtpTS uint32) {
	_ = rtpTS
	rc := s.rtcpState()
	rc.rtcp.SenderReports++
	rc.sr[rc.srN%srHistory] = srRec{mid: uint32(ntp >> 16), arrival: arrival}
	rc.srN++
}

// rtcpState returns the stream's out-of-line state, allocating it at the first RTCP
// packet (or network stall).
func (s *Stream) rtcpState() *rtcpState {
	if s.rc == nil {
		s.rc = new(rtcpState)
	}
	return s.rc
}

// ReportBlock records an RTCP report block ABOUT this stream, sent by its receiver
// (RFC 3550 §6.4.1). The LSR is matched against SRs recorded on s by SenderReport;
// see ReportBlockFrom.
func (s *Stream) ReportBlock(arrival int64, fractionLost uint8, cumulativeLost int32, extHighest uint32, jitter uint32, lsr, dlsr uint32) {
	s.ReportBlockFrom(arrival, fractionLost, cumulativeLost, extHighest, jitter, lsr, dlsr, nil)
}

// ReportBlockFrom is ReportBlock with the Stream whose SenderReport history holds the
// SRs this block's LSR refers to (the SRs of this stream's source). nil means s itself,
// which is right when the caller records the source's SRs on this Stream.
//
// Passive RTT (docs/quality.md): RTT = arrival(this block) − arrival(SR with NTP
// middle 32 bits == LSR) − DLSR/65536 s. Only probe arrival times are used, never an
// endpoint clock; the result is the round trip between the probe and the receiver of
// this stream (probe → receiver → probe, minus the receiver's holding time).
func (s *Stream) ReportBlockFrom(arrival int64, fractionLost uint8, cumulativeLost int32, extHighest uint32, jitter uint32, lsr, dlsr uint32, rttFrom *Stream) {
	rc := s.rtcpState()
	r := &rc.rtcp
	r.Reports++
	r.HasReport = true
	r.FractionLostPct = float64(fractionLost) * 100 / 256
	if r.FractionLostPct > r.FractionLostMax {
		r.FractionLostMax = r.FractionLostPct
	}
	// The field is a 24-bit signed integer; callers often pass it zero-extended.
	cl := int64(cumulativeLost)
	if cl >= 1<<23 && cl < 1<<24 {
		cl -= 1 << 24
	}
	r.CumulativeLost = cl
	r.ExtHighestSeq = extHighest
	if s.clock != 0 {
		r.JitterMs = float64(jitter) * 1000 / float64(s.clock)
		if r.JitterMs > r.JitterMaxMs {
			r.JitterMaxMs = r.JitterMs
		}
	}
	if lsr == 0 {
		return // no SR received yet by the reporter (§6.4.1)
	}
	src := rttFrom
	if src == nil {
		src = s
	}
	if src.rc == nil {
		return // no SR of the source seen
	}
	sh := src.rc
	n := sh.srN
	if n > srHistory {
		n = srHistory
	}
	for i := 0; i < n; i++ {
		rec := sh.sr[(sh.srN-1-i)%srHistory]
		if rec.mid != lsr {
			continue
		}
		rtt := float64(arrival-rec.arrival)/1e6 - float64(dlsr)*1000/65536
		if rtt < 0 {
			if rtt < -1 { // more than clock granularity off: not a usable sample
				return
			}
			rtt = 0
		}
		r.RTTMs = rtt
		if !r.HasRTT || rtt < r.RTTMinMs {
			r.RTTMinMs = rtt
		}
		if rtt > r.RTTMaxMs {
			r.RTTMaxMs = rtt
		}
		r.HasRTT = true
		r.RTTSamples++
		rc.rttSum += rtt
		r.RTTMeanMs = rc.rttSum / float64(r.RTTSamples)
		return
	}
}

// XRVoIPMetrics records an RTCP-XR VoIP Metrics block (RFC 3611 §4.7) about this
// stream. Its round-trip delay, when non-zero, is preferred over the probe-side RTT for
// the E-model delay.
func (s *Stream) XRVoIPMetrics(x XRVoIP) {
	rc := s.rtcpState()
	n := rc.xr.Blocks + 1
	rc.xr = XRSummary{
		Raw:              x,
		LossRatePct:      float64(x.LossRate) * 100 / 256,
		DiscardRatePct:   float64(x.DiscardRate) * 100 / 256,
		BurstDensityPct:  float64(x.BurstDensity) * 100 / 256,
		GapDensityPct:    float64(x.GapDensity) * 100 / 256,
		RoundTripDelayMs: float64(x.RoundTripDelay),
		EndSystemDelayMs: float64(x.EndSystemDelay),
		Blocks:           n,
	}
	if x.RFactor != 127 && x.RFactor <= 120 {
		rc.xr.HasRFactor, rc.xr.RFactor = true, float64(x.RFactor)
	}
	if x.MOSLQ != 127 && x.MOSLQ >= 10 && x.MOSLQ <= 50 {
		rc.xr.HasMOSLQ, rc.xr.MOSLQ = true, float64(x.MOSLQ)/10
	}
	if x.MOSCQ != 127 && x.MOSCQ >= 10 && x.MOSCQ <= 50 {
		rc.xr.HasMOSCQ, rc.xr.MOSCQ = true, float64(x.MOSCQ)/10
	}
	rc.hasXR = true
}

// ProbeRTT is the mean of this stream's probe-side RTCP RTT samples (ReportBlockFrom),
// ms: the round trip between the probe and the stream's receiver only.
func (s *Stream) ProbeRTT() (ms float64, ok bool) {
	if s.rc == nil || !s.rc.rtcp.HasRTT {
		return 0, false
	}
	return s.rc.rtcp.RTTMeanMs, true
}

// EndToEndRTT is a call's round trip from its two directions' probe-side segments
// (docs/quality.md, "End-to-end RTT"). a is the stream A→B: its report blocks come from
// B, so its RTT is the probe↔B segment; b is B→A, the probe↔A segment. The probe sits
// between them, so RTT(A↔B) = RTT(probe↔A) + RTT(probe↔B) (RFC 3550 §6.4.1 computed
// per segment). Each segment is measured from LSR/DLSR against the probe's own arrival
// clock, so no endpoint clock is involved. ok is false unless both segments are known.
func EndToEndRTT(a, b *Stream) (ms float64, ok bool) {
	ra, oka := a.ProbeRTT()
	rb, okb := b.ProbeRTT()
	if !oka || !okb {
		return 0, false
	}
	return ra + rb, true
}

// SetEndToEndRTT sets the call's end-to-end round trip (EndToEndRTT) used for the
// E-model delay: Ta = ms/2 + jitter buffer + packetisation + look-ahead. It outranks the
// stream's own probe-side segment but not an RTCP-XR round-trip delay reported by the
// receiver. A negative or NaN ms clears it. Intervals closed before the call keep the
// Ta they were closed with, so call it whenever a new segment sample arrives (it is
// cheap and allocates only the first time the stream has no RTCP state).
func (s *Stream) SetEndToEndRTT(ms float64) {
	if !(ms >= 0) {
		if s.rc != nil {
			s.rc.hasE2E, s.rc.e2eRTT = false, 0
		}
		return
	}
	rc := s.rtcpState()
	rc.hasE2E, rc.e2eRTT = true, ms
}
