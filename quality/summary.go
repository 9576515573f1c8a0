package quality

// Summary returns the stream's final quality. It allocates (intervals, DTMF) and does
// not change s, so it may be called more than once; call Finish first to close the last
// interval (an open interval is included either way).
func (s *Stream) Summary() Summary {
	sum := Summary{
		SSRC: s.ssrc, First: s.first, Last: s.last,
		Packets: s.packets, Expected: s.expected, Duplicates: s.dups, OutOfOrder: s.ooo,
		Audio: s.audio, Events: s.events, CN: s.cn,
		MaxDeltaMs:   float64(s.maxDelta) / 1e6,
		JitterMaxMs:  s.jMax / 1e6,
		LateDiscards: s.late,
		Codec:        s.codec,
		Wireshark:    s.wiresharkStats(),
	}
	sum.Lost = sub0(s.expected, s.unique)
	if s.jN > 0 {
		sum.JitterMeanMs = s.jSum / float64(s.jN) / 1e6
	}
	sum.Problems = Problems{
		Silent:         s.audio == 0,
		NotValidated:   s.packets > 0 && !s.validated,
		Restarts:       s.restarts,
		Strays:         s.strays,
		TimestampJumps: s.tsJumps,
		IntervalMerges: s.merges,
		DTMFDropped:    s.dtmfDropped,
		ClockUnknown:   s.clock == 0,
	}
	sum.OneWayMs = s.oneWayMs()
	bpl := s.codec.bpl(s.conf().AssumePLC)
	if s.audio > 0 {
		sum.HasMOS = true
		sum.Ppl = pct(sum.Lost+s.late, s.expected)
		sum.BurstR = burstR(s.lossEvents, s.unique, sum.Lost)
		sum.RFactor, sum.MOS = voipR(s.codec.Ie, bpl, sum.Ppl, sum.BurstR, sum.OneWayMs)
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
		lost := sub0(r.expected, r.unique)
		iv := Interval{Start: r.start, Packets: r.packets, Lost: lost, Late: r.late}
		if r.jN > 0 {
			iv.JitterMs = r.jSum / float64(r.jN) / 1e6
		}
		if r.audio > 0 {
			iv.HasMOS = true
			iv.RFactor, iv.MOS = voipR(s.codec.Ie, bpl, pct(lost+r.late, r.expected), burstR(r.bursts, r.unique, lost), oneWay)
			if iv.MOS < sum.MOSMin {
				sum.MOSMin = iv.MOS
			}
		}
		sum.Intervals = append(sum.Intervals, iv)
	}
	for i := range s.intervals {
		add(&s.intervals[i], s.intervals[i].oneWayMs)
	}
	if open {
		add(&s.iv, sum.OneWayMs)
	}

	if len(s.dtmf) > 0 {
		sum.DTMFEvents = append([]DTMFEvent(nil), s.dtmf...)
		b := make([]byte, 0, len(s.dtmf))
		for _, e := range s.dtmf {
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
