package store

import (
	"bytes"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// FuzzDecodeRaw: any uncompressed segment decodes or fails with ErrBadSegment, never
// panics; a segment we encoded decodes to the frames put in.
func FuzzDecodeRaw(f *testing.F) {
	c, err := NewFrameCodec()
	if err != nil {
		f.Fatal(err)
	}
	fr := []correlate.Frame{{TS: 1e18, LinkType: 1, OrigLen: 60, Data: bytes.Repeat([]byte{1}, 54)},
		{TS: 1e18 + 20e6, LinkType: 113, OrigLen: 70, Data: []byte{2, 3}}}
	seg, raw := c.Encode(nil, nil, fr)
	_ = seg
	f.Add(raw)
	f.Add(raw[:30])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := decodeRaw(nil, b)
		if err != nil {
			return
		}
		// Re-encoding what decoded gives it back (unless a record's seconds equal the
		// magic, the documented ambiguity of a time in 2055).
		for _, x := range out {
			if uint32(uint64(x.TS)/1e9) == segMagicNS {
				return
			}
		}
		_, raw2 := c.Encode(nil, nil, out)
		back, err := decodeRaw(nil, raw2)
		if err != nil || len(back) != len(out) {
			t.Fatalf("re-encoded segment: %d frames (%v), want %d", len(back), err, len(out))
		}
	})
}
