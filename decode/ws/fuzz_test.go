package ws

import (
	"errors"
	"testing"
)

// FuzzWSFrame walks data as a WebSocket byte stream: ParseFrame never
// panics, every frame it accepts is within the input and consistent, the
// Reassembler never panics and never returns more than MaxMessage.
func FuzzWSFrame(f *testing.F) {
	for _, s := range [][]byte{rfcHello, rfcMaskedHello, append(append([]byte{}, rfcFrag1...), rfcFrag2...), rfcPing, binFrame16(256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			fr Frame
			r  Reassembler
		)
		for len(data) > 0 {
			n, err := ParseFrame(data, &fr)
			if err != nil {
				if n != 0 || !(errors.Is(err, ErrNeedMore) || errors.Is(err, ErrMalformed)) {
					t.Fatalf("n=%d err=%v", n, err)
				}
				return
			}
			if n <= 0 || n > len(data) || n != fr.HeaderLen+fr.PayloadLen || len(fr.Payload) != fr.PayloadLen {
				t.Fatalf("inconsistent frame n=%d len=%d %+v", n, len(data), fr)
			}
			msg, complete, _ := r.Push(&fr)
			if complete && len(msg) > MaxMessage {
				t.Fatalf("message of %d bytes", len(msg))
			}
			if !complete && msg != nil {
				t.Fatalf("msg without complete")
			}
			data = data[n:]
		}
	})
}
