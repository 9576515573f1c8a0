package quality

// Summary returns the stream's final quality. It allocates (intervals, DTMF) and does
// not change s, so it may be called more than once; call Finish first to close the last
// interval (an open interval is included either way).
func (s *Stream) Summary() Summary {
	codec := s.codecOrUnknown()
	sum := Summary{
		SSRC: s.ssrc, First: s.first, Last: s.last,
		Packets: uint64(s.packets), Expected: uint64(s.expected), Duplicates: uint64(s.dups), OutOfOrder: uint64(s.ooo),
		Audio: uint64(s.audio), Events: uint64(s.events), CN: uint64(s.packets - s.audio - s.events),
		MaxDeltaMs:   float64(s.maxDelta) / 1e6,
		JitterMaxMs:  s.jMax / 1e6,
		LateDiscards: uint64(s.late),
		Codec:        *codec,
		Wireshark:    s.wiresharkStats(),
	}
	sum.Codec.ClockRate = s.clock
	unique := uint64(s.packets - s.dups)
	sum.Lost = sub0(uint64(s.expected), unique)
	if s.jN > 0 {
		sum.JitterMeanMs = s.jSum / float64(s.jN) / 1e6
	}
	sum.Problems = Problems{
		Silent:         s.audio == 0,
		NotValidated:   s.packets > 0 && !s.validated,
		Restarts:       uint64(s.restarts),
		Strays:         uint64(s.strays),
		TimestampJumps: uint64(s.tsJumps),
		IntervalMerges: uint64(s.merges),
		ClockUnknown:   s.clock == 0,
	}
	if s.rc != nil {
		sum.Problems.NetworkStalls, sum.LongestStallMs = s.rc.stalls, s.rc.stallMaxMs
	}
	sum.MeasuredClockRate = s.measuredClock()
	sum.Problems.ClockDrift = s.clockDrift(sum.MeasuredClockRate)
	sum.RTTMs, sum.RTTSource = s.rtt()
	sum.OneWayMs = s.oneWayMs()
	if s.ev != nil {
		sum.Problems.DTMFDropped = uint64(s.ev.dropped)
	}
	bpl := codec.bpl(s.conf().AssumePLC)
	if s.audio > 0 {
		sum.HasMOS = true
		sum.Ppl = pct(sum.Lost+uint64(s.late), uint64(s.expected))
		sum.BurstR = burstR(uint64(s.lossEvents), unique, sum.Lost)
		sum.RFactor, sum.MOS = voipR(codec.Ie, bpl, sum.Ppl, sum.BurstR, sum.OneWayMs)
		sum.MOSMin = sum.MOS
	} else {
		sum.BurstR = 1
	}

	n := len(s.intervals)
	open := s.ivOpen && s.iv.packets > 0
	if open {
		n++
	}
	if n > 0 {
		sum.Intervals = make([]Interval, 0, n)
	}
	add := func(r *ivRec, oneWay float64) {
		lost := sub0(uint64(r.expected), uint64(r.unique))
		iv := Interval{Start: s.ivStart(r), Packets: uint64(r.packets), Lost: lost, Late: uint64(r.late)}
		if r.jN > 0 {
			iv.JitterMs = r.jSum / float64(r.jN) / 1e6
		}
		if r.audio > 0 {
			iv.HasMOS = true
			iv.RFactor, iv.MOS = voipR(codec.Ie, bpl, pct(lost+uint64(r.late), uint64(r.expected)), burstR(uint64(r.bursts), uint64(r.unique), lost), oneWay)
			if iv.MOS < sum.MOSMin {
				sum.MOSMin = iv.MOS
			}
		}
		sum.Intervals = append(sum.Intervals, iv)
	}
	for i := range s.intervals {
		add(&s.intervals[i], float64(s.intervals[i].oneWayMs))
	}
	if open {
		add(&s.iv, sum.OneWayMs)
	}

	if s.ev != nil && len(s.ev.dtmf) > 0 {
		sum.DTMFEvents = append([]DTMFEvent(nil), s.ev.dtmf...)
		b := make([]byte, 0, len(s.ev.dtmf))
		for _, e := range s.ev.dtmf {
			if e.Event <= 15 {
				b = append(b, e.Digit)
			}
		}
		sum.DTMF = string(b)
	}
	if s.rc != nil {
		r := s.rc.rtcp
		if s.rc.hasXR {
			xr := s.rc.xr
			r.XR = &xr
		}
		sum.RTCP = &r
	}
	return sum
}
