package audio

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzDecoders: any bytes decode, to exactly 1 (G.711) or 2 (G.722) samples each.
func FuzzDecoders(f *testing.F) {
	f.Add([]byte{0x00, 0xFF, 0x55, 0xD5})
	f.Add(make([]byte, 160))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := len(DecodeULaw(nil, b)); n != len(b) {
			t.Fatalf("µ-law %d samples from %d bytes", n, len(b))
		}
		if n := len(DecodeALaw(nil, b)); n != len(b) {
			t.Fatalf("A-law %d samples from %d bytes", n, len(b))
		}
		if n := len(NewG722Decoder().Decode(nil, b)); n != 2*len(b) {
			t.Fatalf("G.722 %d samples from %d bytes", n, len(b))
		}
	})
}

// FuzzPlayout reads b as packets (4-byte timestamp, 1-byte length, payload) for each
// codec: never panics, never exceeds the cap, counts every packet once.
func FuzzPlayout(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 4, 2, 9, 9})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xF0, 8, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkts []Packet
		for len(b) >= 5 {
			ts := binary.BigEndian.Uint32(b)
			n := min(int(b[4]), len(b)-5)
			// Arrival every 20 ms, some seconds late when the length byte's top bit is set
			// (so timestamp jumps and re-anchoring are explored too).
			arr := int64(1e9) + int64(len(pkts))*20e6 + int64(b[4]>>7)*int64(b[0]&7)*1e9
			pkts = append(pkts, Packet{Timestamp: ts, Payload: b[5 : 5+n], Arrival: arr})
			b = b[5+n:]
		}
		for _, c := range []Codec{CodecPCMU, CodecPCMA, CodecG722, CodecNone} {
			out, st := Playout(c, pkts, time.Second)
			if len(out) > c.SampleRate() {
				t.Fatalf("codec %d: %d samples beyond the 1 s cap", c, len(out))
			}
			if c != CodecNone && st.Packets+st.Duplicates+st.Early+st.BeyondCap > len(pkts) {
				t.Fatalf("stats %+v for %d packets", st, len(pkts))
			}
		}
	})
}
