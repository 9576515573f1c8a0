package quality

// wireshark updates WiresharkStats the way Wireshark 4.0's ui/tap-rtp-analysis.c
// (rtppacket_analyse) does, so the tshark -z rtp,streams numbers can be reproduced:
//   - every packet (duplicates, events and CN too) enters its jitter, in arrival order;
//   - D is computed (here in ns, reported in ms) from the capture-relative arrival time and the extended RTP
//     timestamp: |arrival − (prev arrival + (nominal − prev nominal))|;
//   - max jitter, mean jitter and max delta skip the first packet, packets with the
//     marker bit, CN packets and the packet that follows a CN packet;
//   - the mean is mean = (mean·n + J)/(n+1) with n all packets so far (so the first
//     packet counts as a zero), and lost = (highest ext seq − first seq + 1) − packets.
func (s *Stream) wireshark(arrival int64, seq uint16, ts uint32, marker bool, kind PacketKind) {
	if s.ws == nil {
		s.ws = new(wsState)
	}
	w := s.ws
	rel := float64(arrival - s.first) // ns; Wireshark works in ms, converted in wiresharkStats
	if w.total == 0 {
		w.lastSeq, w.lastTS = seq, ts
		w.extSeq, w.maxExt, w.extTS = 0, 0, 0
		w.time, w.lastNominal = rel, 0
		w.total = 1
		w.prevCN = kind == ComfortNoise
		return
	}
	w.extSeq += int64(int16(seq - w.lastSeq))
	w.lastSeq = seq
	if w.extSeq > w.maxExt {
		w.maxExt = w.extSeq
	}
	w.extTS += int64(int32(ts - w.lastTS))
	w.lastTS = ts
	delta := rel - w.time
	inSeq := w.extTS > w.seqTS
	if inSeq {
		w.seqTS = w.extTS
	}
	if s.nsPerTick != 0 && inSeq {
		nominal := float64(w.extTS) * s.nsPerTick
		diff := rel - (w.time + nominal - w.lastNominal)
		if diff < 0 {
			diff = -diff
		}
		w.jitter = (15*w.jitter + diff) * (1.0 / 16)
		w.lastNominal = nominal
	}
	if inSeq && !marker && kind != ComfortNoise && !w.prevCN {
		if delta > w.maxDelta {
			w.maxDelta = delta
		}
		if s.nsPerTick != 0 && inSeq {
			if w.jitter > w.max {
				w.max = w.jitter
			}
			w.sum += w.jitter // Wireshark's running mean (m·n + J)/(n+1) is sum/n
			w.samples++
		}
	}
	w.time = rel
	w.total++
	w.prevCN = kind == ComfortNoise
}

func (s *Stream) wiresharkStats() WiresharkStats {
	if s.ws == nil {
		return WiresharkStats{}
	}
	w := s.ws
	lost := int64(0)
	if w.total > 0 {
		lost = w.maxExt + 1 - int64(w.total)
	}
	mean := 0.0
	if w.samples > 0 {
		mean = w.sum / float64(w.samples)
	}
	return WiresharkStats{Lost: lost, JitterMeanMs: mean / 1e6, JitterMaxMs: w.max / 1e6, MaxDeltaMs: w.maxDelta / 1e6}
}
