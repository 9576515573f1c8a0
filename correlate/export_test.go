package correlate

import (
	"slices"
	"testing"
	"time"
)

// TestStreamProblems checks that each media problem is flagged on the stream it concerns
// and on no other.
func TestStreamProblems(t *testing.T) {
	cases := []struct {
		name  string
		media func(h *harness)
		want  map[uint32][]string // ssrc → problems
	}{
		{"clean call", func(h *harness) { h.both(2*sec, 6*sec) },
			map[uint32][]string{0xA: {}, 0xB: {}}},
		{"the caller changes SSRC mid-call", func(h *harness) {
			h.media(2*sec, 4*sec, aMedia, bMedia, 0xA)
			h.media(4*sec, 6*sec, aMedia, bMedia, 0xC)
			h.media(2*sec, 6*sec, bMedia, aMedia, 0xB)
		}, map[uint32][]string{0xA: {}, 0xC: {"ssrc_change"}, 0xB: {}}},
		{"comfort noise only is silent", func(h *harness) {
			for d := 2 * sec; d < 4*sec; d += 20 * time.Millisecond {
				h.rtpAt(d, aMedia, bMedia, 0xA, 13)
			}
			h.media(2*sec, 6*sec, bMedia, aMedia, 0xB)
		}, map[uint32][]string{0xA: {"silent"}, 0xB: {}}},
		{"timestamps jump by 10 s against arrival", func(h *harness) {
			for i := 0; i < 200; i++ {
				seq := uint16(i)
				if i >= 100 {
					h.seq[0xA] = seq // rtpSeq derives the RTP timestamp from seq: jump it
					h.rtpSeq(2*sec+time.Duration(i)*20*time.Millisecond, aMedia, bMedia, 0xA, 0, seq+500)
					continue
				}
				h.rtpSeq(2*sec+time.Duration(i)*20*time.Millisecond, aMedia, bMedia, 0xA, 0, seq)
			}
			h.media(2*sec, 6*sec, bMedia, aMedia, 0xB)
		}, map[uint32][]string{0xA: {"timestamp_jump"}, 0xB: {}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			d := newDialog("problems")
			h.answer(d, 0)
			tc.media(h)
			h.bye(d, 6*sec+500*time.Millisecond, false)
			h.finish()
			c := h.call("problems")
			if len(c.Streams) != len(tc.want) {
				t.Fatalf("%d streams, want %d", len(c.Streams), len(tc.want))
			}
			for _, s := range c.Streams {
				var ssrc uint32
				for k := range tc.want {
					if s.SSRC == "0x"+hex8(k) {
						ssrc = k
					}
				}
				want, ok := tc.want[ssrc]
				if !ok {
					t.Fatalf("unexpected stream %s", s.SSRC)
				}
				if !slices.Equal(s.Problems, want) {
					t.Errorf("stream %s problems %v, want %v", s.SSRC, s.Problems, want)
				}
			}
		})
	}
}

func hex8(v uint32) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b)
}
