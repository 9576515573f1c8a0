package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// RFC 6455 §5.7 examples, byte for byte.
var (
	rfcHello       = []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}
	rfcMaskedHello = []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	rfcFrag1       = []byte{0x01, 0x03, 0x48, 0x65, 0x6c}
	rfcFrag2       = []byte{0x80, 0x02, 0x6c, 0x6f}
	rfcPing        = []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}
	rfcMaskedPong  = []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
)

func binFrame16(n int) []byte { // "256 bytes binary message in a single unmasked frame"
	b := []byte{0x82, 0x7E, byte(n >> 8), byte(n)}
	return append(b, bytes.Repeat([]byte{'z'}, n)...)
}

func binFrame64(n int) []byte { // "64KiB binary message in a single unmasked frame"
	b := []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(b[2:], uint64(n))
	return append(b, bytes.Repeat([]byte{'y'}, n)...)
}

// mask builds a masked frame by hand (RFC 6455 §5.3: out[i] = in[i] ^ key[i%4]).
func mask(b0 byte, key [4]byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name                string
		in                  []byte
		fin, masked         bool
		op                  uint8
		hlen, plen          int
		payloadUnmaskedWant string
	}{
		{"rfc unmasked hello", rfcHello, true, false, OpText, 2, 5, "Hello"},
		{"rfc masked hello", rfcMaskedHello, true, true, OpText, 6, 5, "Hello"},
		{"rfc fragment 1", rfcFrag1, false, false, OpText, 2, 3, "Hel"},
		{"rfc fragment 2", rfcFrag2, true, false, OpContinuation, 2, 2, "lo"},
		{"rfc ping", rfcPing, true, false, OpPing, 2, 5, "Hello"},
		{"rfc masked pong", rfcMaskedPong, true, true, OpPong, 6, 5, "Hello"},
		{"rfc 256 bytes 16-bit length", binFrame16(256), true, false, OpBinary, 4, 256, string(bytes.Repeat([]byte{'z'}, 256))},
		{"rfc 64KiB 64-bit length", binFrame64(65536), true, false, OpBinary, 10, 65536, string(bytes.Repeat([]byte{'y'}, 65536))},
		{"empty close", []byte{0x88, 0x00}, true, false, OpClose, 2, 0, ""},
		{"non-minimal 16-bit length accepted", []byte{0x81, 0x7E, 0, 2, 'h', 'i'}, true, false, OpText, 4, 2, "hi"},
		{"trailing next frame not consumed", append(append([]byte{}, rfcHello...), rfcPing...), true, false, OpText, 2, 5, "Hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			n, err := ParseFrame(tc.in, &f)
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			if n != tc.hlen+tc.plen || f.Fin != tc.fin || f.Masked != tc.masked || f.Opcode != tc.op ||
				f.HeaderLen != tc.hlen || f.PayloadLen != tc.plen || len(f.Payload) != tc.plen {
				t.Fatalf("n=%d frame=%+v", n, f)
			}
			got := f.Payload
			if f.Masked {
				got = Unmask(nil, f.Payload, f.MaskKey, 0)
			}
			if string(got) != tc.payloadUnmaskedWant {
				t.Fatalf("payload = %q, want %q", got, tc.payloadUnmaskedWant)
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	big := []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0, 1} // MaxPayload+1
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNeedMore},
		{"one byte", []byte{0x81}, ErrNeedMore},
		{"16-bit length cut", []byte{0x82, 0x7E, 0x01}, ErrNeedMore},
		{"64-bit length cut", []byte{0x82, 0x7F, 0, 0, 0}, ErrNeedMore},
		{"mask key cut", []byte{0x81, 0x85, 0x37, 0xfa}, ErrNeedMore},
		{"payload cut", rfcMaskedHello[:8], ErrNeedMore},
		{"rsv2 set", []byte{0xA1, 0x00}, ErrMalformed},
		{"rsv3 set", []byte{0x91, 0x00}, ErrMalformed},
		{"reserved opcode 3", []byte{0x83, 0x00}, ErrMalformed},
		{"reserved control opcode 0xB", []byte{0x8B, 0x00}, ErrMalformed},
		{"64-bit length msb set", []byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1}, ErrMalformed},
		{"payload above MaxPayload", big, ErrMalformed},
		{"fragmented ping", []byte{0x09, 0x00}, ErrMalformed},
		{"control frame over 125", []byte{0x89, 0x7E, 0, 126}, ErrMalformed},
		{"compressed control frame", []byte{0xC9, 0x00}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			n, err := ParseFrame(tc.in, &f)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("ParseFrame = %d, %v; want 0, %v", n, err, tc.want)
			}
		})
	}
}

// TestParseFrameTruncations: every proper prefix of a valid frame needs more.
func TestParseFrameTruncations(t *testing.T) {
	for _, full := range [][]byte{rfcHello, rfcMaskedHello, binFrame16(300), binFrame64(70000), mask(0x82, [4]byte{1, 2, 3, 4}, make([]byte, 70000))} {
		for n := 0; n < len(full); n++ {
			var f Frame
			if _, err := ParseFrame(full[:n], &f); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("prefix %d/%d: err = %v, want ErrNeedMore", n, len(full), err)
			}
		}
	}
}

func TestUnmask(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	masked := rfcMaskedHello[6:]
	tests := []struct {
		name string
		run  func() []byte
		want string
	}{
		{"whole", func() []byte { return Unmask(nil, masked, key, 0) }, "Hello"},
		{"appends to dst", func() []byte { return Unmask([]byte("x:"), masked, key, 0) }, "x:Hello"},
		{"in pieces with offset", func() []byte {
			out := Unmask(nil, masked[:1], key, 0)
			out = Unmask(out, masked[1:3], key, 1)
			return Unmask(out, masked[3:], key, 3)
		}, "Hello"},
		{"empty", func() []byte { return Unmask(nil, nil, key, 0) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.run()); got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
	// Long payload, all offsets: compare the word-at-a-time path with the
	// definition.
	src := make([]byte, 1000)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for off := 0; off < 8; off++ {
		got := Unmask(nil, src, key, off)
		for i := range src {
			if got[i] != src[i]^key[(off+i)%4] {
				t.Fatalf("offset %d byte %d wrong", off, i)
			}
		}
	}
}

func TestHTTP(t *testing.T) {
	req := "GET /ws HTTP/1.1\r\nHost: sip.example.com\r\nConnection: Upgrade\r\nUPGRADE: WebSocket\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n"
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
	tests := []struct {
		name          string
		in            string
		isReq, isResp bool
		hlen          int
		hok           bool
	}{
		{"rfc 7118 request", req, true, false, len(req), true},
		{"request with frame after", req + "\x81\x05Hello", true, false, len(req), true},
		{"rfc 7118 response", resp, false, true, len(resp), true},
		{"upgrade token list", "GET / HTTP/1.1\r\nUpgrade: h2c, websocket\r\n\r\n", true, false, 43, true},
		{"upgrade after blank line ignored", "GET / HTTP/1.1\r\nHost: a\r\n\r\nUpgrade: websocket\r\n", false, false, 27, true},
		{"plain http get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, false, 27, true},
		{"http/1.0", "GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n", false, false, 38, true},
		{"sip request", "INVITE sip:a@b SIP/2.0\r\n\r\n", false, false, 26, true},
		{"incomplete headers", "GET / HTTP/1.1\r\nUpgrade: websocket\r\n", true, false, 0, false},
		{"no request line end", "GET / HTTP/1.1", false, false, 0, false},
		{"200 response", "HTTP/1.1 200 OK\r\n\r\n", false, false, 19, true},
		{"1010 is not 101", "HTTP/1.1 1010 X\r\n", false, false, 0, false},
		{"empty", "", false, false, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			if got := IsUpgradeRequest(in); got != tc.isReq {
				t.Errorf("IsUpgradeRequest = %v", got)
			}
			if got := IsUpgradeResponse(in); got != tc.isResp {
				t.Errorf("IsUpgradeResponse = %v", got)
			}
			n, ok := HTTPHeaderLength(in)
			if n != tc.hlen || ok != tc.hok {
				t.Errorf("HTTPHeaderLength = %d,%v want %d,%v", n, ok, tc.hlen, tc.hok)
			}
		})
	}
}

func TestReassembler(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	sip := "MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n"
	type step struct {
		frame    []byte
		complete bool
		msg      string
		err      error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"single unmasked", []step{{rfcHello, true, "Hello", nil}}},
		{"single masked", []step{{rfcMaskedHello, true, "Hello", nil}}},
		{"rfc fragments", []step{{rfcFrag1, false, "", nil}, {rfcFrag2, true, "Hello", nil}}},
		{"masked fragments each with own key", []step{
			{mask(0x01, key, []byte(sip[:10])), false, "", nil},
			{mask(0x00, [4]byte{1, 2, 3, 4}, []byte(sip[10:21])), false, "", nil},
			{mask(0x80, [4]byte{0xff, 0, 0xff, 0}, []byte(sip[21:])), true, sip, nil},
		}},
		{"ping between fragments ignored", []step{
			{rfcFrag1, false, "", nil}, {rfcPing, false, "", nil}, {rfcMaskedPong, false, "", nil}, {rfcFrag2, true, "Hello", nil},
		}},
		{"continuation without start", []step{{rfcFrag2, false, "", ErrMalformed}}},
		{"new message abandons open one", []step{{rfcFrag1, false, "", nil}, {rfcHello, true, "Hello", nil}, {rfcFrag2, false, "", ErrMalformed}}},
		{"compressed single", []step{{[]byte{0xC1, 0x01, 0x00}, false, "", ErrCompressed}, {rfcHello, true, "Hello", nil}}},
		{"compressed fragments skipped", []step{
			{[]byte{0x41, 0x01, 0x00}, false, "", ErrCompressed}, {[]byte{0x00, 0x01, 0x00}, false, "", nil},
			{[]byte{0x80, 0x01, 0x00}, false, "", nil}, {rfcHello, true, "Hello", nil},
		}},
		{"too large skipped then recovers", []step{
			{binFrameOp(0x02, MaxMessage-10), false, "", nil},
			{binFrameOp(0x00, 11), false, "", ErrTooLarge},
			{binFrameOp(0x80, 5), false, "", nil},
			{rfcMaskedHello, true, "Hello", nil},
		}},
		{"exactly MaxMessage ok", []step{
			{binFrameOp(0x02, MaxMessage-10), false, "", nil},
			{binFrameOp(0x80, 10), true, string(bytes.Repeat([]byte{'q'}, MaxMessage)), nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Reassembler
			for i, s := range tc.steps {
				var f Frame
				if _, err := ParseFrame(s.frame, &f); err != nil {
					t.Fatalf("step %d: ParseFrame: %v", i, err)
				}
				msg, complete, err := r.Push(&f)
				if complete != s.complete || !errors.Is(err, s.err) || string(msg) != s.msg {
					t.Fatalf("step %d: Push = %q,%v,%v want %q,%v,%v", i, msg, complete, err, s.msg, s.complete, s.err)
				}
			}
		})
	}
}

func binFrameOp(b0 byte, n int) []byte {
	b := []byte{b0, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(b[2:], uint64(n))
	return append(b, bytes.Repeat([]byte{'q'}, n)...)
}

func TestReassemblerReset(t *testing.T) {
	var r Reassembler
	var f Frame
	ParseFrame(rfcFrag1, &f)
	r.Push(&f)
	r.Reset()
	ParseFrame(rfcFrag2, &f)
	if _, _, err := r.Push(&f); !errors.Is(err, ErrMalformed) {
		t.Fatalf("continuation after Reset: err = %v, want ErrMalformed", err)
	}
}

func TestZeroAlloc(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	frames := [][]byte{mask(0x01, key, bytes.Repeat([]byte("a"), 500)), mask(0x80, key, bytes.Repeat([]byte("b"), 500)), rfcHello}
	var r Reassembler
	var f Frame
	run := func() {
		for _, fr := range frames {
			if _, err := ParseFrame(fr, &f); err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.Push(&f); err != nil {
				t.Fatal(err)
			}
		}
		IsUpgradeRequest([]byte("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"))
	}
	run() // grow the buffer once
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Fatalf("allocs = %v, want 0", a)
	}
}

func BenchmarkParseAndReassemble(b *testing.B) {
	sip := bytes.Repeat([]byte("INVITE sip:x SIP/2.0\r\n"), 40)
	fr := mask(0x81, [4]byte{0xde, 0xad, 0xbe, 0xef}, sip)
	var r Reassembler
	var f Frame
	b.ReportAllocs()
	b.SetBytes(int64(len(fr)))
	for b.Loop() {
		if _, err := ParseFrame(fr, &f); err != nil {
			b.Fatal(err)
		}
		if _, ok, _ := r.Push(&f); !ok {
			b.Fatal("incomplete")
		}
	}
}

func BenchmarkUnmask(b *testing.B) {
	p := make([]byte, 1400)
	dst := make([]byte, 0, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		dst = Unmask(dst[:0], p, [4]byte{1, 2, 3, 4}, 1)
	}
}
