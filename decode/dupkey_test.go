package decode

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestDupKey: the duplicate table's key keeps what tells two datagrams apart. Built by
// hand: an IPv4/UDP/RTP packet of 200 bytes (RFC 791, 768, 3550 layouts).
func TestDupKey(t *testing.T) {
	pkt := func(seq uint16, csum uint16, payloadByte byte) []byte {
		b := make([]byte, 200)
		b[0], b[9] = 0x45, 17 // IPv4, IHL 5, UDP
		binary.BigEndian.PutUint16(b[2:], 200)
		binary.BigEndian.PutUint16(b[4:], 0x1234) // IP ID
		binary.BigEndian.PutUint16(b[24:], 180)   // UDP length
		binary.BigEndian.PutUint16(b[26:], csum)
		b[28], b[29] = 0x80, 0 // RTP v2, PCMU
		binary.BigEndian.PutUint16(b[30:], seq)
		for i := 40; i < 200; i++ {
			b[i] = payloadByte
		}
		return b
	}
	var k1, k2 [112]byte
	a, b := dupKey(pkt(7, 0xBEEF, 0xFF), &k1), dupKey(pkt(8, 0xBEEE, 0xFF), &k2)
	if len(a) != 20+8+16+16 || bytes.Equal(a, b) {
		t.Errorf("RTP keys: %d bytes, equal %v: the sequence number must tell them apart", len(a), bytes.Equal(a, b))
	}
	if c := dupKey(pkt(7, 0xBEEF, 0xFF), &k2); !bytes.Equal(a, c) {
		t.Error("identical packets give different keys")
	}
	// Without a UDP checksum nothing vouches for the middle of the payload: hash it all.
	if z := pkt(7, 0, 0xFF); len(dupKey(z, &k1)) != len(z) {
		t.Error("a datagram without checksum must be hashed whole")
	}
	// A non-first fragment has no UDP header.
	f := pkt(7, 0xBEEF, 0xFF)
	binary.BigEndian.PutUint16(f[6:], 0x0010)
	if len(dupKey(f, &k1)) != len(f) {
		t.Error("a later fragment must be hashed whole")
	}
	// TCP is hashed whole.
	tcp := pkt(7, 0xBEEF, 0xFF)
	tcp[9] = 6
	if len(dupKey(tcp, &k1)) != len(tcp) {
		t.Error("TCP must be hashed whole")
	}
}
