package decode

import (
	"encoding/binary"
	"testing"
)

// TestDupKeyHash: the duplicate table's hash keeps what tells two datagrams apart and
// ignores only what the UDP checksum vouches for. Built by hand: an IPv4/UDP/RTP packet
// of 200 bytes and an IPv6 one (RFC 791, 8200, 768, 3550 layouts); which bytes are in
// the key follows keyHash's doc (IP and UDP headers, 16 bytes of payload at each end).
func TestDupKeyHash(t *testing.T) {
	var tb dupTable
	tb.init(1024, 10e6)
	pkt4 := func(csum uint16) []byte {
		b := make([]byte, 200)
		b[0], b[8], b[9] = 0x45, 64, 17 // IPv4, IHL 5, TTL, UDP
		binary.BigEndian.PutUint16(b[2:], 200)
		binary.BigEndian.PutUint16(b[4:], 0x1234) // IP ID
		copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
		binary.BigEndian.PutUint16(b[20:], 40000)
		binary.BigEndian.PutUint16(b[22:], 40002)
		binary.BigEndian.PutUint16(b[24:], 180) // UDP length
		binary.BigEndian.PutUint16(b[26:], csum)
		b[28], b[29] = 0x80, 0 // RTP v2, PCMU
		binary.BigEndian.PutUint16(b[30:], 7)
		for i := 40; i < 200; i++ {
			b[i] = 0xFF
		}
		return b
	}
	pkt6 := func() []byte {
		b := make([]byte, 240)
		b[0], b[6], b[7] = 0x60, 17, 64
		binary.BigEndian.PutUint16(b[4:], 200)
		b[8], b[23], b[24], b[39] = 0x20, 1, 0x20, 2
		binary.BigEndian.PutUint16(b[40:], 40000)
		binary.BigEndian.PutUint16(b[42:], 40002)
		binary.BigEndian.PutUint16(b[44:], 200)
		binary.BigEndian.PutUint16(b[46:], 0xBEEF)
		b[48] = 0x80
		return b
	}
	check := func(name string, base []byte, keyed func(i int) bool) {
		t.Helper()
		h0 := tb.keyHash(base)
		if tb.keyHash(append([]byte(nil), base...)) != h0 {
			t.Fatalf("%s: identical packets hash apart", name)
		}
		for i := range base {
			c := append([]byte(nil), base...)
			c[i] ^= 0x01
			if got := tb.keyHash(c) != h0; got != keyed(i) {
				t.Errorf("%s: byte %d changed: hash differs %v, want %v", name, i, got, keyed(i))
			}
		}
	}
	// IPv4/UDP with a checksum: headers (28 bytes) and 16 payload bytes at each end.
	// Flipping a low bit of byte 0 makes IHL 21 words and byte 9 makes protocol 16: both
	// leave the fast path, and the hash still differs.
	check("IPv4 UDP", pkt4(0xBEEF), func(i int) bool { return i < 28+16 || i >= 200-16 })
	// Without a UDP checksum nothing vouches for the middle of the payload: all of it.
	check("IPv4 UDP no checksum", pkt4(0), func(int) bool { return true })
	f := pkt4(0xBEEF)
	binary.BigEndian.PutUint16(f[6:], 0x0010) // a non-first fragment has no UDP header
	check("IPv4 fragment", f, func(int) bool { return true })
	tcp := pkt4(0xBEEF)
	tcp[9] = 6
	check("IPv4 TCP", tcp, func(int) bool { return true })
	check("IPv6 UDP", pkt6(), func(i int) bool { return i < 48+16 || i >= 240-16 })
}
