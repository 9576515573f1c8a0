package tcpasm

import (
	"bytes"
	"testing"
)

// buildSegments cuts stream into (possibly overlapping) segments whose
// sizes come from cuts, then permutes and duplicates them as order says.
// Every byte of stream is covered by at least one segment.
func buildSegments(stream, cuts, order []byte) (offs []int, segs [][]byte) {
	for pos, i := 0, 0; pos < len(stream); i++ {
		c := byte(i*31 + 7)
		if len(cuts) > 0 {
			c = cuts[i%len(cuts)]
		}
		l := 1 + int(c%97)
		back := min(pos, int(c>>5)) // overlap the previous bytes a little
		end := min(pos+l, len(stream))
		offs = append(offs, pos-back)
		segs = append(segs, stream[pos-back:end])
		pos = end
	}
	n := len(segs)
	for i, o := range order {
		if n == 0 {
			break
		}
		x, y := i%n, int(o)%n
		offs[x], offs[y] = offs[y], offs[x]
		segs[x], segs[y] = segs[y], segs[x]
		if o&0x80 != 0 && len(segs) < 4*n { // retransmit one
			offs = append(offs, offs[y])
			segs = append(segs, segs[y])
		}
	}
	return offs, segs
}

// FuzzSegments feeds random segment sequences: never a panic; with no loss
// and roomy limits the consumer sees exactly the original stream; with
// tight limits and a consumer that leaves bytes behind, what it consumed
// is the original stream when no gap or overflow was reported.
func FuzzSegments(f *testing.F) {
	f.Add(uint32(1000), []byte{10, 20, 30}, []byte{}, []byte(msg(1)+msg(2)), uint8(0))
	f.Add(uint32(0xFFFFFFF0), []byte{3, 200, 77}, []byte{2, 0x81, 5}, []byte(msg(3)+msg(4)+msg(5)), uint8(7))
	f.Fuzz(func(t *testing.T, isn uint32, cuts, order, stream []byte, knob uint8) {
		if len(stream) > 1<<16 {
			return
		}
		offs, segs := buildSegments(stream, cuts, order)
		total := 0
		for _, s := range segs {
			total += len(s)
		}

		// Pass 1: roomy limits, consumer takes everything.
		var got []byte
		a := New(Config{MaxOOO: len(segs) + 1, MaxBuffer: total + len(stream) + 1},
			func(s *Stream, data []byte, ts int64) int {
				got = append(got, data...)
				return len(data)
			})
		a.Segment(0, cli, srv, isn, true, false, false, nil)
		for i, s := range segs {
			a.Segment(int64(i), cli, srv, isn+1+uint32(offs[i]), false, false, false, s)
		}
		a.FlushAll()
		if !bytes.Equal(got, stream) {
			t.Fatalf("reassembled %d bytes != original %d bytes", len(got), len(stream))
		}
		if c := a.Counters(); c.Gaps != 0 || c.Overflow != 0 || a.Len() != 0 {
			t.Fatalf("counters %+v len %d", c, a.Len())
		}

		// Pass 2: tight limits, partial consumer, FIN on the last segment.
		got = got[:0]
		step := 1 + int(knob%13)
		b := New(Config{MaxOOO: 1 + int(knob%5), MaxBuffer: 16 + int(knob)},
			func(s *Stream, data []byte, ts int64) int {
				n := min(len(data), step)
				if knob&0x80 != 0 {
					n = len(data) // sometimes take it all
				}
				got = append(got, data[:n]...)
				return n
			})
		b.Segment(0, cli, srv, isn, true, false, false, nil)
		for i, s := range segs {
			b.Segment(int64(i), cli, srv, isn+1+uint32(offs[i]), false, i == len(segs)-1, false, s)
		}
		b.Expire(1 << 62)
		if b.Len() != 0 {
			t.Fatalf("streams left after Expire: %d", b.Len())
		}
		c := b.Counters()
		if c.Gaps == 0 && c.Overflow == 0 && !bytes.HasPrefix(stream, got) {
			t.Fatalf("consumed bytes are not a prefix of the stream")
		}
		if len(got) > len(stream) {
			t.Fatalf("consumed %d bytes of a %d-byte stream", len(got), len(stream))
		}
	})
}
