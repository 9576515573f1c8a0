package decode

import (
	"encoding/binary"
	"net/netip"
)

// linkTypeRaw is LINKTYPE_RAW: the frame starts with an IPv4 or IPv6 header.
const linkTypeRaw = 101

// liveHEPFrame builds the frame kept for pcap export of a packet that reached a HEP
// listener: no capture frame exists, so the payload is wrapped in the IP and UDP (or TCP)
// headers of the addresses HEP reports, as the agent saw it. The TCP header carries
// PSH|ACK and zero sequence numbers; checksums other than IPv4's are zero. The result
// lives in d.synth until the next packet.
func (d *Decoder) liveHEPFrame(src, dst netip.AddrPort, proto uint8, payload []byte) []byte {
	l4 := 8
	if proto == protoTCP {
		l4 = 20
	} else {
		proto = protoUDP // SCTP and others are exported as UDP: the payload is what matters
	}
	v4 := src.Addr().Is4() && dst.Addr().Is4()
	ipLen := 40
	if v4 {
		ipLen = 20
	}
	if max := 0xffff - ipLen - l4; len(payload) > max { // the IP length fields are 16 bits
		payload = payload[:max]
	}
	n := ipLen + l4 + len(payload)
	b := d.synth[:0]
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	b = b[:n]
	clear(b[:ipLen+l4])
	if v4 {
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		b[8], b[9] = 64, proto
		s, t := src.Addr().As4(), dst.Addr().As4()
		copy(b[12:16], s[:])
		copy(b[16:20], t[:])
		binary.BigEndian.PutUint16(b[10:], ipv4Checksum(b[:20]))
	} else {
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], uint16(l4+len(payload)))
		b[6], b[7] = proto, 64
		s, t := src.Addr().As16(), dst.Addr().As16()
		copy(b[8:24], s[:])
		copy(b[24:40], t[:])
	}
	h := b[ipLen:]
	binary.BigEndian.PutUint16(h[0:], src.Port())
	binary.BigEndian.PutUint16(h[2:], dst.Port())
	if proto == protoTCP {
		h[12] = 5 << 4
		h[13] = 0x18 // PSH, ACK
		binary.BigEndian.PutUint16(h[14:], 0xffff)
	} else {
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	}
	copy(b[ipLen+l4:], payload)
	d.synth = b
	return b
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
