package audio

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// TestPlayout places hand-made A-law packets; expectations are worked from the
// timestamps: packet k of 160 samples lands at (ts_k − ts_0) samples.
func TestPlayout(t *testing.T) {
	const one = 0xD4 // A-law +24 (TestG711Values)
	const two = 0xC5 // A-law +264
	type span struct {
		from, to int
		v        int16
	}
	cases := []struct {
		name  string
		codec Codec
		pkts  []Packet
		max   time.Duration
		want  []span
		n     int
		stats Stats
	}{
		{"a lost packet is 160 samples of silence", CodecPCMA, []Packet{
			{Timestamp: 1000, Seq: 1, Payload: fill(160, one)},
			{Timestamp: 1160, Seq: 2, Payload: fill(160, one)},
			{Timestamp: 1480, Seq: 4, Payload: fill(160, two)}, // seq 3 (ts 1320) lost
		}, 0, []span{{0, 320, 24}, {320, 480, 0}, {480, 640, 264}}, 640, Stats{Packets: 3, Samples: 640}},
		{"a duplicate is ignored", CodecPCMA, []Packet{
			{Timestamp: 0, Seq: 1, Payload: fill(160, one)},
			{Timestamp: 0, Seq: 1, Payload: fill(160, two)},
		}, 0, []span{{0, 160, 24}}, 160, Stats{Packets: 1, Duplicates: 1, Samples: 160}},
		{"timestamps wrap at 2^32", CodecPCMA, []Packet{
			{Timestamp: 0xFFFFFF60, Payload: fill(160, one)}, // 2^32 − 160
			{Timestamp: 0, Payload: fill(160, two)},
		}, 0, []span{{0, 160, 24}, {160, 320, 264}}, 320, Stats{Packets: 2, Samples: 320}},
		{"reordered before the first packet is dropped, later reorder is placed", CodecPCMA, []Packet{
			{Timestamp: 160, Payload: fill(160, one)},
			{Timestamp: 0, Payload: fill(160, two)},
			{Timestamp: 480, Payload: fill(160, one)},
			{Timestamp: 320, Payload: fill(160, two)},
		}, 0, []span{{0, 160, 24}, {160, 320, 264}, {320, 480, 24}}, 480, Stats{Packets: 3, Early: 1, Samples: 480}},
		{"capped: 100 ms at 8 kHz is 800 samples", CodecPCMA, []Packet{
			{Timestamp: 0, Payload: fill(160, one)},
			{Timestamp: 720, Payload: fill(160, two)}, // cut at 800
			{Timestamp: 8000, Payload: fill(160, two)},
		}, 100 * time.Millisecond, []span{{0, 160, 24}, {160, 720, 0}, {720, 800, 264}}, 800,
			Stats{Packets: 2, BeyondCap: 1, Samples: 800, Truncated: true}},
		{"G.722: one RTP tick is two samples (RFC 3551 §4.5.2)", CodecG722, []Packet{
			{Timestamp: 0, Payload: fill(160, 0xFF)},
			{Timestamp: 320, Payload: fill(160, 0xFF)}, // ts 160 lost: samples 320..640 silent
		}, 0, []span{{320, 640, 0}}, 960, Stats{Packets: 2, Samples: 960}},
		{"a re-based RTP clock is re-anchored on arrival time", CodecPCMA, []Packet{
			{Timestamp: 5000, Payload: fill(160, one), Arrival: 1e9},
			{Timestamp: 5160, Payload: fill(160, one), Arrival: 1e9 + 20e6},
			// The sender jumps its clock by 10^6 ticks (125 s) but the packet arrives
			// 20 ms later: it lands at sample 320, and the next follows it.
			{Timestamp: 1005320, Payload: fill(160, two), Arrival: 1e9 + 40e6},
			{Timestamp: 1005480, Payload: fill(160, two), Arrival: 1e9 + 60e6},
		}, 0, []span{{0, 320, 24}, {320, 640, 264}}, 640, Stats{Packets: 4, Rebased: 1, Samples: 640}},
		{"a stall within RebaseAfter keeps timestamp placement", CodecPCMA, []Packet{
			{Timestamp: 0, Payload: fill(160, one), Arrival: 1e9},
			{Timestamp: 160, Payload: fill(160, two), Arrival: 1e9 + 2e9}, // held 2 s by the network
		}, 0, []span{{0, 160, 24}, {160, 320, 264}}, 320, Stats{Packets: 2, Samples: 320}},
		{"empty payloads and no packets", CodecPCMU, []Packet{{Timestamp: 5}}, 0, nil, 0, Stats{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, st := Playout(tc.codec, tc.pkts, tc.max)
			if len(got) != tc.n {
				t.Fatalf("%d samples, want %d", len(got), tc.n)
			}
			if st != tc.stats {
				t.Errorf("stats %+v, want %+v", st, tc.stats)
			}
			for _, sp := range tc.want {
				for i := sp.from; i < sp.to; i++ {
					if got[i] != sp.v {
						t.Fatalf("sample %d = %d, want %d", i, got[i], sp.v)
					}
				}
			}
		})
	}
}

// TestMix aligns two tracks by start time: b starts 250 µs (2 samples at 8 kHz) after a.
func TestMix(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := Track{Samples: []int16{100, 100, 100, 100}, Rate: 8000, Start: t0}
	b := Track{Samples: []int16{32700, 32700}, Rate: 8000, Start: t0.Add(250 * time.Microsecond)} // 2 samples later
	m := Mix(a, b)
	want := []int16{100, 100, 32767, 32767} // 100+32700 saturates at 32767
	if m.Rate != 8000 || !m.Start.Equal(t0) || len(m.Samples) != 4 {
		t.Fatalf("mix %+v", m)
	}
	for i := range want {
		if m.Samples[i] != want[i] {
			t.Errorf("sample %d = %d, want %d", i, m.Samples[i], want[i])
		}
	}
	// An 8 kHz leg in a 16 kHz mix repeats each sample twice.
	c := Track{Samples: []int16{7, 9}, Rate: 8000, Start: t0}
	d := Track{Samples: []int16{1, 1, 1, 1, 1}, Rate: 16000, Start: t0}
	m = Mix(d, c)
	if want := []int16{8, 8, 10, 10, 1}; m.Rate != 16000 || len(m.Samples) != 5 || m.Samples[0] != want[0] || m.Samples[2] != want[2] || m.Samples[4] != want[4] {
		t.Errorf("16 kHz mix %+v, want %v", m, want)
	}
	if m := Mix(Track{}, c); len(m.Samples) != 2 {
		t.Errorf("mix with an empty track: %+v", m)
	}
}

// TestWAV checks the header fields against the RIFF WAVE layout (Microsoft "Multimedia
// Programming Interface and Data Specifications 1.0", canonical PCM header).
func TestWAV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteWAV(&b, []int16{1, -2, 32767}, 16000); err != nil {
		t.Fatal(err)
	}
	w := b.Bytes()
	if len(w) != WAVSize(3) || string(w[0:4]) != "RIFF" || string(w[8:16]) != "WAVEfmt " || string(w[36:40]) != "data" {
		t.Fatalf("layout % x", w)
	}
	le := binary.LittleEndian
	for _, f := range []struct {
		name      string
		got, want uint32
	}{
		{"riff size", le.Uint32(w[4:]), 36 + 6}, {"fmt size", le.Uint32(w[16:]), 16},
		{"format", uint32(le.Uint16(w[20:])), 1}, {"channels", uint32(le.Uint16(w[22:])), 1},
		{"rate", le.Uint32(w[24:]), 16000}, {"byte rate", le.Uint32(w[28:]), 32000},
		{"block align", uint32(le.Uint16(w[32:])), 2}, {"bits", uint32(le.Uint16(w[34:])), 16},
		{"data size", le.Uint32(w[40:]), 6},
		{"sample 1", uint32(le.Uint16(w[46:])), 0xFFFE},
	} {
		if f.got != f.want {
			t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
		}
	}
}

func TestCodecFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		pt   int
		want Codec
	}{{"PCMU", 0, CodecPCMU}, {"pcma", 8, CodecPCMA}, {"G722", 9, CodecG722}, {"", 8, CodecPCMA},
		{"", 9, CodecG722}, {"opus", 111, CodecNone}, {"", 18, CodecNone}} {
		if got := CodecFor(tc.name, tc.pt); got != tc.want {
			t.Errorf("CodecFor(%q, %d) = %d, want %d", tc.name, tc.pt, got, tc.want)
		}
	}
}
