package audio

import "time"

// Codec is a payload format this package decodes.
type Codec uint8

// Codecs.
const (
	CodecNone Codec = iota // not decodable here
	CodecPCMU              // G.711 µ-law, RTP static payload type 0
	CodecPCMA              // G.711 A-law, payload type 8
	CodecG722              // G.722 64 kbit/s, payload type 9
)

// CodecFor names the codec of an RTP stream from its SDP encoding name (any case) or,
// without one, its static payload type (RFC 3551 Table 4).
func CodecFor(name string, payloadType int) Codec {
	switch upper(name) {
	case "PCMU":
		return CodecPCMU
	case "PCMA":
		return CodecPCMA
	case "G722":
		return CodecG722
	case "":
		switch payloadType {
		case 0:
			return CodecPCMU
		case 8:
			return CodecPCMA
		case 9:
			return CodecG722
		}
	}
	return CodecNone
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// SampleRate is the decoded audio rate: 8000 for G.711, 16000 for G.722.
func (c Codec) SampleRate() int {
	if c == CodecG722 {
		return 16000
	}
	return 8000
}

// samplesPerTick is how many output samples one RTP timestamp unit covers: G.722's RTP
// clock is 8000 Hz although it samples at 16 kHz (RFC 3551 §4.5.2).
func (c Codec) samplesPerTick() int {
	if c == CodecG722 {
		return 2
	}
	return 1
}

// MaxDuration bounds one playout (and so one WAV): 10 minutes, 9.6 M samples (19 MB) of
// G.722. Longer calls are cut there (Stats.BeyondCap counts the packets left out).
const MaxDuration = 10 * time.Minute

// Packet is one RTP packet of a stream: its timestamp, sequence number, payload
// (without header and padding) and arrival time (Unix ns; 0 when unknown).
type Packet struct {
	Timestamp uint32
	Seq       uint16
	Payload   []byte
	Arrival   int64
}

// RebaseAfter is how far a packet's timestamp position may stray from its arrival
// position before the playout re-anchors on arrival time: a sender that re-bases its
// RTP clock mid-call (problem timestamp_jump) would otherwise push the rest of the call
// past the cap or before its start. Network jitter and stalls are far below it.
const RebaseAfter = 3 * time.Second

// Stats counts what a playout did with its packets.
type Stats struct {
	Packets    int // packets placed
	Duplicates int // packets whose first sample was already placed (copies, overlaps)
	Early      int // packets timestamped before the stream's first packet (reordered)
	BeyondCap  int // packets past MaxDuration
	Rebased    int // timestamp jumps re-anchored on arrival time (RebaseAfter)
	Samples    int // length of the result in samples
	Truncated  bool
}

// Playout places each packet's decoded samples at its RTP timestamp relative to the
// first packet (in arrival order) of the stream: gaps, where packets were lost, stay
// silent; a packet whose first sample position is already filled is a duplicate and
// ignored; timestamps wrap (RFC 3550 §5.1: differences taken mod 2^32 as signed).
// When arrival times are known and a packet's timestamp position is more than
// RebaseAfter from its arrival position, the timeline re-anchors there (the packet
// lands at its arrival position, later ones follow its timestamp). Packets are given
// in arrival order. maxDur (≤ 0: MaxDuration, and never more) bounds the result.
// Total on any input.
func Playout(codec Codec, pkts []Packet, maxDur time.Duration) ([]int16, Stats) {
	var st Stats
	if codec == CodecNone || len(pkts) == 0 {
		return nil, st
	}
	if maxDur <= 0 || maxDur > MaxDuration {
		maxDur = MaxDuration
	}
	rate := codec.SampleRate()
	limit := int(int64(maxDur) * int64(rate) / int64(time.Second))
	spt := codec.samplesPerTick()
	var (
		out    []int16
		filled []uint64 // a bit per sample position already written
		buf    []int16
		g722   *G722Decoder
	)
	if codec == CodecG722 {
		g722 = NewG722Decoder()
	}
	anchorTS, anchorPos := pkts[0].Timestamp, int64(0)
	arr0 := pkts[0].Arrival
	rebase := int64(RebaseAfter) * int64(rate) / int64(time.Second)
	for i := range pkts {
		p := &pkts[i]
		off := anchorPos + int64(int32(p.Timestamp-anchorTS))*int64(spt)
		if arr0 != 0 && p.Arrival != 0 {
			byArrival := (p.Arrival - arr0) / 1000 * int64(rate) / 1e6 // µs first: no overflow for any call
			if d := off - byArrival; d > rebase || d < -rebase {
				anchorTS, anchorPos, off = p.Timestamp, byArrival, byArrival
				st.Rebased++
			}
		}
		if off < 0 {
			st.Early++
			continue
		}
		if off >= int64(limit) {
			st.BeyondCap++
			st.Truncated = true
			continue
		}
		pos := int(off)
		if len(p.Payload) == 0 {
			continue
		}
		if pos < len(out) && filled[pos>>6]&(1<<(pos&63)) != 0 {
			st.Duplicates++
			continue
		}
		switch codec {
		case CodecPCMU:
			buf = DecodeULaw(buf[:0], p.Payload)
		case CodecPCMA:
			buf = DecodeALaw(buf[:0], p.Payload)
		case CodecG722:
			// G.722 state runs across packets; after a loss the reference decoder
			// simply continues with the next packet, as here.
			buf = g722.Decode(buf[:0], p.Payload)
		}
		end := pos + len(buf)
		if end > limit {
			end = limit
			st.Truncated = true
		}
		if end > len(out) {
			out = grow(out, end)
			for len(filled)*64 < end {
				filled = append(filled, 0)
			}
		}
		copy(out[pos:end], buf)
		for j := pos; j < end; j++ {
			filled[j>>6] |= 1 << (j & 63)
		}
		st.Packets++
	}
	st.Samples = len(out)
	return out, st
}

// grow extends s with zeros (silence) to length n, doubling capacity as it goes.
func grow(s []int16, n int) []int16 {
	if n <= cap(s) {
		return s[:n]
	}
	c := 2 * cap(s)
	if c < n {
		c = n
	}
	ns := make([]int16, n, c)
	copy(ns, s)
	return ns
}

// Track is one decoded direction: samples at Rate, the first starting at Start (the
// arrival time of the stream's first packet).
type Track struct {
	Samples []int16
	Rate    int
	Start   time.Time
}

// Mix adds two tracks into one, aligned by their Start times: the result starts at the
// earlier Start, runs at the higher rate (a lower-rate track is resampled by sample
// repetition, so an 8 kHz leg mixes with a 16 kHz one) and is at most MaxDuration long.
// Sums saturate at the int16 range.
func Mix(a, b Track) Track {
	if a.Rate == 0 || len(a.Samples) == 0 {
		return b
	}
	if b.Rate == 0 || len(b.Samples) == 0 {
		return a
	}
	rate := max(a.Rate, b.Rate)
	start := a.Start
	if b.Start.Before(start) {
		start = b.Start
	}
	limit := int(int64(MaxDuration) * int64(rate) / int64(time.Second))
	var out []int16
	for _, t := range []Track{a, b} {
		off := int64(t.Start.Sub(start)) * int64(rate) / int64(time.Second)
		if off >= int64(limit) {
			continue
		}
		rep := rate / t.Rate
		if rep < 1 {
			rep = 1
		}
		end := int(off) + len(t.Samples)*rep
		if end > limit {
			end = limit
		}
		if end > len(out) {
			out = grow(out, end)
		}
		for i := int(off); i < end; i++ {
			out[i] = int16(sat16(int32(out[i]) + int32(t.Samples[(i-int(off))/rep])))
		}
	}
	return Track{Samples: out, Rate: rate, Start: start}
}
