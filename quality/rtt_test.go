package quality

import "testing"

// TestEndToEndRTT: the probe sits between A and B. Stream a (A→B) is reported on by B,
// so its LSR/DLSR RTT is the probe↔B segment; stream b (B→A) gives probe↔A. The call's
// RTT is their sum, and it sets the E-model delay of both directions.
func TestEndToEndRTT(t *testing.T) {
	pcmu := LookupCodec([]byte("PCMU"), 0)
	t0 := int64(1_700_000_000) * 1e9
	var a, b Stream
	a.Init(nil, 0xA, 8000, pcmu)
	b.Init(nil, 0xB, 8000, pcmu)
	for i := 0; i < 100; i++ {
		at := t0 + int64(i)*20*ms
		a.Packet(at, uint16(i), uint32(i)*160, false, Audio, nil)
		b.Packet(at+3*ms, uint16(1000+i), uint32(i)*160, false, Audio, nil)
	}
	const dlsr = 65536 / 8 // 125 ms held by the reporter
	ntpA, ntpB := uint64(0xE0000001_00010000), uint64(0xE0000002_00020000)
	// probe→B→probe: the RR about a arrives 150 ms + DLSR after A's SR passed the probe.
	a.SenderReport(t0+500*ms, ntpA, 4000)
	a.ReportBlock(t0+775*ms, 0, 0, 99, 0, uint32(ntpA>>16), dlsr)
	if _, ok := EndToEndRTT(&a, &b); ok {
		t.Fatal("end-to-end RTT with one segment")
	}
	// One segment only: Ta uses it (a lower bound), source probe_segment.
	if s := a.Summary(); s.RTTSource != RTTProbeSegment || s.RTTMs != 150 {
		t.Errorf("one segment: rtt %.3f from %v, want 150 from probe_segment", s.RTTMs, s.RTTSource)
	}
	// probe→A→probe: 250 ms + DLSR.
	b.SenderReport(t0+600*ms, ntpB, 4800)
	b.ReportBlock(t0+975*ms, 0, 0, 1099, 0, uint32(ntpB>>16), dlsr)
	rtt, ok := EndToEndRTT(&a, &b)
	if !ok {
		t.Fatal("no end-to-end RTT")
	}
	approx(t, "e2e rtt", rtt, 400, 1e-3)
	a.SetEndToEndRTT(rtt)
	b.SetEndToEndRTT(rtt)

	// Ta = 400/2 + 60 (jitter buffer) + 20 (G.711 frame) = 280 ms, T = Ta, Tr = 2Ta.
	// G.107 (06/2015) by hand with the Table 3 defaults (No = −61.179 dBm0p, Ro =
	// 94.769, Is = 1.414, so Ro − Is = 93.355):
	//   eq. 7-22  TERV = 65 − 40·lg((1+28)/(1+280/150)) + 6e^(−0.3·280²) = 48.20
	//   eq. 7-21  Re = 80 + 2.5(TERV − 14) = 165.5; eq. 7-20 Roe = −1.5(No − RLR) = 94.77
	//   eq. 7-19  Idte = ((Roe−Re)/2 + √((Roe−Re)²/4 + 100) − 1)(1 − e^(−T)) = 4.6067
	//   eq. 7-26  Rle = 10.5(110+7)(560+1)^(−1/4) = 252.70; eq. 7-25 Idle = 1.0648
	//   eq. 7-28  X = log2(280/100) = 1.4854; Idd = 25{(1+X⁶)^(1/6) − 3(1+(X/3)⁶)^(1/6) + 2} = 12.5076
	//   Id = 18.179; R = 93.355 − 18.179 = 75.176; MOS (B-4) = 3.829.
	for _, s := range []*Stream{&a, &b} {
		sum := s.Summary()
		if sum.RTTSource != RTTEndToEnd {
			t.Errorf("ssrc %x: rtt source %v", sum.SSRC, sum.RTTSource)
		}
		approx(t, "Ta", sum.OneWayMs, 280, 1e-3)
		approx(t, "R", sum.RFactor, 75.1762, 1e-3)
		approx(t, "MOS", sum.MOS, 3.8294, 1e-3)
	}

	// Ta = 120 ms (RTT 80): Idte 2.3137, Idle 0.7759, Idd 0.0014 → R = 90.264, MOS 4.345.
	a.SetEndToEndRTT(80)
	sum := a.Summary()
	approx(t, "Ta", sum.OneWayMs, 120, 1e-9)
	approx(t, "R", sum.RFactor, 90.2643, 1e-3)
	approx(t, "MOS", sum.MOS, 4.3454, 1e-3)

	// RTCP-XR's round trip, the receiver's own measurement, outranks the probe's.
	a.XRVoIPMetrics(XRVoIP{RoundTripDelay: 120, RFactor: 127, MOSLQ: 127, MOSCQ: 127})
	if s := a.Summary(); s.RTTSource != RTTXR || s.OneWayMs != 140 {
		t.Errorf("with XR: %v Ta %.3f, want rtcp_xr 140", s.RTTSource, s.OneWayMs)
	}
	// A negative value clears the end-to-end RTT; b falls back to its segment.
	b.SetEndToEndRTT(-1)
	if s := b.Summary(); s.RTTSource != RTTProbeSegment || s.RTTMs != 250 {
		t.Errorf("cleared: rtt %.3f from %v", s.RTTMs, s.RTTSource)
	}
	var fresh Stream
	fresh.Init(nil, 3, 8000, pcmu)
	if s := fresh.Summary(); s.RTTSource != RTTDefault || s.RTTMs != 0 || s.OneWayMs != 80 {
		t.Errorf("nothing measured: rtt %.3f from %v Ta %.3f", s.RTTMs, s.RTTSource, s.OneWayMs)
	}
}
