package hep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// chunk builds one vendor-0 HEPv3 chunk by hand (independent of Append).
func chunk(typ uint16, body ...byte) []byte {
	b := []byte{0, 0, byte(typ >> 8), byte(typ), 0, 0}
	binary.BigEndian.PutUint16(b[4:], uint16(6+len(body)))
	return append(b, body...)
}

func vchunk(vendor, typ uint16, body ...byte) []byte {
	b := chunk(typ, body...)
	binary.BigEndian.PutUint16(b[0:], vendor)
	return b
}

func hep3(chunks ...[]byte) []byte {
	b := []byte("HEP3\x00\x00")
	for _, c := range chunks {
		b = append(b, c...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

const sipMsg = "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"

// golden4 is a HEPv3 packet written byte by byte from the HEP3 spec.
func golden4() []byte {
	return hep3(
		chunk(1, 2),                       // IPv4
		chunk(2, 17),                      // UDP
		chunk(3, 192, 168, 1, 10),         // src
		chunk(4, 10, 0, 0, 1),             // dst
		chunk(7, 0x13, 0xc4),              // 5060
		chunk(8, 0x16, 0x2e),              // 5678
		chunk(9, 0x5f, 0x5e, 0x10, 0x00),  // 0x5f5e1000 = 1600000000
		chunk(10, 0x00, 0x01, 0xe2, 0x40), // 123456 us
		chunk(11, 1),                      // SIP
		chunk(12, 0, 0, 0x07, 0xd1),       // 2001
		chunk(14, []byte("myHep")...),
		chunk(17, []byte("corr-1")...),
		chunk(19, []byte("node-a")...),
		chunk(15, []byte(sipMsg)...),
	)
}

func TestParse(t *testing.T) {
	v6s := netip.MustParseAddr("2001:db8::1")
	v6d := netip.MustParseAddr("2001:db8::2")
	s16, d16 := v6s.As16(), v6d.As16()
	tests := []struct {
		name string
		in   []byte
		want Packet
	}{
		{
			name: "ipv4 all chunks",
			in:   golden4(),
			want: Packet{
				Version: 3, IPFamily: 2, IPProto: 17,
				Src:   netip.MustParseAddrPort("192.168.1.10:5060"),
				Dst:   netip.MustParseAddrPort("10.0.0.1:5678"),
				TSSec: 1600000000, TSUsec: 123456, ProtoType: 1, CaptureID: 2001,
				AuthKey: []byte("myHep"), CorrelationID: []byte("corr-1"), NodeName: []byte("node-a"),
				Payload: []byte(sipMsg),
			},
		},
		{
			name: "ipv6 tcp",
			in: hep3(chunk(1, 10), chunk(2, 6), chunk(5, s16[:]...), chunk(6, d16[:]...),
				chunk(7, 0x13, 0xc5), chunk(8, 0x13, 0xc4), chunk(11, 5), chunk(15, 'x')),
			want: Packet{Version: 3, IPFamily: 10, IPProto: 6,
				Src: netip.AddrPortFrom(v6s, 5061), Dst: netip.AddrPortFrom(v6d, 5060),
				ProtoType: 5, Payload: []byte("x")},
		},
		{
			name: "unknown and vendor chunks skipped",
			in: hep3(vchunk(0x0025, 1, 99), chunk(200, 1, 2, 3), chunk(1, 2), vchunk(7, 15, 'n', 'o'),
				chunk(13, 0, 5), chunk(15, 'o', 'k')),
			want: Packet{Version: 3, IPFamily: 2, Payload: []byte("ok")},
		},
		{
			name: "compressed payload",
			in:   hep3(chunk(1, 2), chunk(16, 0x1f, 0x8b)),
			want: Packet{Version: 3, IPFamily: 2, Compressed: true, Payload: []byte{0x1f, 0x8b}},
		},
		{
			name: "two-byte capture id from old agents",
			in:   hep3(chunk(12, 0x01, 0x02)),
			want: Packet{Version: 3, CaptureID: 0x0102},
		},
		{
			name: "trailing bytes after total length ignored",
			in:   append(hep3(chunk(11, 1), chunk(15, 'a')), "HEP3garbage"...),
			want: Packet{Version: 3, ProtoType: 1, Payload: []byte("a")},
		},
		{
			name: "keepalive without payload",
			in:   hep3(chunk(1, 2), chunk(12, 0, 0, 0, 9)),
			want: Packet{Version: 3, IPFamily: 2, CaptureID: 9},
		},
		{
			name: "ipv4 family but only v6 addresses",
			in:   hep3(chunk(1, 2), chunk(5, s16[:]...), chunk(7, 0, 1)),
			want: Packet{Version: 3, IPFamily: 2, Src: netip.AddrPortFrom(v6s, 1)},
		},
		{
			name: "hepv2 ipv4",
			in: append([]byte{2, 16, 2, 17, 0x13, 0xc4, 0x13, 0xc5, 1, 2, 3, 4, 5, 6, 7, 8,
				0x00, 0x10, 0x5e, 0x5f, // tv_sec little-endian 0x5f5e1000
				0x40, 0xe2, 0x01, 0x00, // tv_usec 123456
				0xd1, 0x07, 0, 0}, // captid 2001 + padding
				sipMsg...),
			want: Packet{Version: 2, IPFamily: 2, IPProto: 17,
				Src: netip.MustParseAddrPort("1.2.3.4:5060"), Dst: netip.MustParseAddrPort("5.6.7.8:5061"),
				TSSec: 1600000000, TSUsec: 123456, CaptureID: 2001, Payload: []byte(sipMsg)},
		},
		{
			name: "hepv1 ipv6",
			in: append(append(append([]byte{1, 40, 10, 6, 0x13, 0xc4, 0x13, 0xc4}, s16[:]...), d16[:]...),
				"REGISTER"...),
			want: Packet{Version: 1, IPFamily: 10, IPProto: 6,
				Src: netip.AddrPortFrom(v6s, 5060), Dst: netip.AddrPortFrom(v6d, 5060),
				Payload: []byte("REGISTER")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !Looks(tc.in) {
				t.Errorf("Looks = false")
			}
			var p Packet
			p.NodeName = []byte("stale") // Parse must reset
			if err := Parse(tc.in, &p); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			assertPacket(t, &p, &tc.want)
		})
	}
}

func assertPacket(t *testing.T, got, want *Packet) {
	t.Helper()
	if got.Version != want.Version || got.IPFamily != want.IPFamily || got.IPProto != want.IPProto ||
		got.Src != want.Src || got.Dst != want.Dst || got.TSSec != want.TSSec || got.TSUsec != want.TSUsec ||
		got.ProtoType != want.ProtoType || got.CaptureID != want.CaptureID || got.Compressed != want.Compressed {
		t.Errorf("header fields:\n got %+v\nwant %+v", *got, *want)
	}
	for _, f := range []struct {
		name      string
		got, want []byte
	}{
		{"Payload", got.Payload, want.Payload},
		{"NodeName", got.NodeName, want.NodeName},
		{"CorrelationID", got.CorrelationID, want.CorrelationID},
		{"AuthKey", got.AuthKey, want.AuthKey},
	} {
		if !bytes.Equal(f.got, f.want) {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
}

func TestTS(t *testing.T) {
	p := Packet{TSSec: 1600000000, TSUsec: 123456}
	if got, want := p.TS(), int64(1600000000_123456000); got != want {
		t.Fatalf("TS = %d, want %d", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrNotHEP},
		{"sip text", []byte(sipMsg), ErrNotHEP},
		{"partial magic", []byte("HE"), ErrTruncated},
		{"magic only", []byte("HEP3"), ErrTruncated},
		{"total below header", []byte("HEP3\x00\x05"), ErrMalformed},
		{"total beyond data", []byte("HEP3\x00\x20\x00\x00"), ErrTruncated},
		{"chunk header cut by total", hep3([]byte{0, 0, 0, 1}), ErrMalformed},
		{"chunk length below 6", hep3([]byte{0, 0, 0, 15, 0, 5}), ErrMalformed},
		{"chunk beyond total", hep3([]byte{0, 0, 0, 15, 0, 9, 'a'}), ErrTruncated},
		{"family wrong size", hep3(chunk(1, 2, 2)), ErrMalformed},
		{"proto wrong size", hep3(chunk(2)), ErrMalformed},
		{"ipv4 wrong size", hep3(chunk(3, 1, 2, 3)), ErrMalformed},
		{"ipv6 wrong size", hep3(chunk(6, 1, 2, 3, 4)), ErrMalformed},
		{"port wrong size", hep3(chunk(7, 1)), ErrMalformed},
		{"ts wrong size", hep3(chunk(9, 1, 2, 3)), ErrMalformed},
		{"proto type wrong size", hep3(chunk(11, 1, 2)), ErrMalformed},
		{"hepv2 bad length field", []byte{2, 17, 2, 17, 0, 0, 0, 0}, ErrNotHEP},
		{"hepv2 bad family", []byte{2, 16, 7, 17, 0, 0, 0, 0}, ErrNotHEP},
		{"hepv2 bad proto", []byte{2, 16, 2, 1, 0, 0, 0, 0}, ErrNotHEP},
		{"hepv2 header cut", []byte{2, 16, 2, 17, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, ErrTruncated},
		{"hepv1 ipv6 cut", []byte{1, 40, 10, 17, 0, 0, 0, 0, 1}, ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			err := Parse(tc.in, &p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseTruncations cuts valid packets at every length: never a panic,
// always an error for HEPv3 cuts (the total length no longer fits).
func TestParseTruncations(t *testing.T) {
	for _, full := range [][]byte{golden4(), Append(nil, sample6())} {
		for n := 0; n < len(full); n++ {
			var p Packet
			err := Parse(full[:n], &p)
			if err == nil {
				t.Fatalf("Parse(%d of %d bytes) = nil error", n, len(full))
			}
			if n >= 4 && !errors.Is(err, ErrTruncated) {
				t.Fatalf("Parse(%d bytes) = %v, want ErrTruncated", n, err)
			}
		}
	}
}

func sample6() *Packet {
	return &Packet{
		Version: 3, IPFamily: 10, IPProto: 132,
		Src:   netip.MustParseAddrPort("[2001:db8::10]:5060"),
		Dst:   netip.MustParseAddrPort("[2001:db8::20]:5080"),
		TSSec: 1700000000, TSUsec: 999999, ProtoType: 1, CaptureID: 0xfffffffe,
		NodeName: []byte("kamailio-1"), CorrelationID: []byte("abc@host"),
		Payload: []byte(sipMsg),
	}
}

func TestAppendRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *Packet
		want *Packet // nil: same as in
	}{
		{name: "ipv4 sip", in: &Packet{Version: 3, IPFamily: 2, IPProto: 17,
			Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("192.0.2.2:5060"),
			TSSec: 1, TSUsec: 2, ProtoType: 1, CaptureID: 3, AuthKey: []byte("k"), Payload: []byte(sipMsg)}},
		{name: "ipv6 sctp optional chunks", in: sample6()},
		{name: "rtcp compressed", in: &Packet{Version: 3, IPFamily: 2, IPProto: 17, ProtoType: 5,
			Src: netip.MustParseAddrPort("192.0.2.1:10001"), Dst: netip.MustParseAddrPort("192.0.2.2:20001"),
			Compressed: true, Payload: []byte{0x78, 0x9c, 1, 2, 3}}},
		{name: "family derived from v6 address", in: &Packet{IPProto: 17,
			Src: netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::2]:2")},
			want: &Packet{Version: 3, IPFamily: 10, IPProto: 17,
				Src: netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::2]:2")}},
		{name: "v4-mapped address written as ipv4", in: &Packet{IPFamily: 2,
			Src: netip.MustParseAddrPort("[::ffff:192.0.2.9]:7")},
			want: &Packet{Version: 3, IPFamily: 2, Src: netip.MustParseAddrPort("192.0.2.9:7"),
				Dst: netip.MustParseAddrPort("0.0.0.0:0")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := Append([]byte("prefix"), tc.in)
			if !bytes.HasPrefix(enc, []byte("prefix")) {
				t.Fatalf("Append clobbered dst")
			}
			enc = enc[len("prefix"):]
			if len(enc) != EncodedLen(tc.in) {
				t.Fatalf("len = %d, EncodedLen = %d", len(enc), EncodedLen(tc.in))
			}
			if int(binary.BigEndian.Uint16(enc[4:])) != len(enc) {
				t.Fatalf("total length field %d != %d", binary.BigEndian.Uint16(enc[4:]), len(enc))
			}
			var p Packet
			if err := Parse(enc, &p); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			assertPacket(t, &p, want)
		})
	}
}

func TestAppendTooLarge(t *testing.T) {
	p := &Packet{Payload: make([]byte, 70000)}
	if got := Append([]byte("x"), p); string(got) != "x" {
		t.Fatalf("Append of oversized packet wrote %d bytes", len(got)-1)
	}
}

func TestFrameLen(t *testing.T) {
	g := golden4()
	if n, ok := FrameLen(g); !ok || n != len(g) {
		t.Fatalf("FrameLen = %d,%v want %d,true", n, ok, len(g))
	}
	if _, ok := FrameLen(g[:5]); ok {
		t.Fatal("FrameLen on 5 bytes ok")
	}
	if n, ok := FrameLen([]byte("HEP3\x00\x01")); !ok || n != 0 {
		t.Fatalf("FrameLen bad length = %d,%v", n, ok)
	}
}

func TestLooksNegative(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("HEP"), []byte(sipMsg), {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {2, 16, 2, 17}} {
		if Looks(in) {
			t.Errorf("Looks(%q) = true", in)
		}
	}
}

func TestParseZeroAlloc(t *testing.T) {
	in4, in6 := golden4(), Append(nil, sample6())
	var p Packet
	allocs := testing.AllocsPerRun(200, func() {
		_ = Parse(in4, &p)
		_ = Parse(in6, &p)
	})
	if allocs != 0 {
		t.Fatalf("Parse allocs = %v, want 0", allocs)
	}
	buf := make([]byte, 0, 1024)
	allocs = testing.AllocsPerRun(200, func() { buf = Append(buf[:0], sample6Static) })
	if allocs != 0 {
		t.Fatalf("Append allocs = %v, want 0", allocs)
	}
}

var sample6Static = sample6()

func BenchmarkParse(b *testing.B) {
	in := golden4()
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := Parse(in, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	p := sample6()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(EncodedLen(p)))
	for b.Loop() {
		buf = Append(buf[:0], p)
	}
}
