package hep

import (
	"bytes"
	"testing"
)

// FuzzHEP: Parse never panics; a parsed packet re-encodes, and the encoding
// is a fixed point (Append(Parse(Append(p))) == Append(p)).
func FuzzHEP(f *testing.F) {
	f.Add(golden4())
	f.Add(Append(nil, sample6()))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		if err := Parse(data, &p); err != nil {
			return
		}
		if len(p.Payload) > len(data) {
			t.Fatalf("payload longer than input")
		}
		enc := Append(nil, &p)
		if len(enc) == 0 {
			return // too large for HEPv3 (legacy input)
		}
		var q Packet
		if err := Parse(enc, &q); err != nil {
			t.Fatalf("re-parse of Append output: %v", err)
		}
		if !bytes.Equal(q.Payload, p.Payload) || q.Src.Port() != p.Src.Port() || q.TSSec != p.TSSec ||
			q.CaptureID != p.CaptureID || q.Compressed != p.Compressed || !bytes.Equal(q.NodeName, p.NodeName) {
			t.Fatalf("round trip changed packet:\n%+v\n%+v", p, q)
		}
		if enc2 := Append(nil, &q); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point")
		}
	})
}
