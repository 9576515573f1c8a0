package decode

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers walked by transport.
const (
	protoHopByHop = 0
	protoIPIP     = 4
	protoTCP      = 6
	protoUDP      = 17
	protoIPv6     = 41
	protoRouting  = 43
	protoFragment = 44
	protoGRE      = 47
	protoEtherIP  = 97
	protoESP      = 50
	protoAH       = 51
	protoNoNext   = 59
	protoDstOpts  = 60
	protoMobility = 135
	protoHIP      = 139
	protoShim6    = 140
	protoSCTP     = 132
	protoL2TPv3   = 115
)

// ipByVersion dispatches raw IP on the version nibble.
func (d *Decoder) ipByVersion(b []byte, depth int) {
	if len(b) == 0 {
		d.errs.Inc(ReasonTruncatedL2)
		return
	}
	switch b[0] >> 4 {
	case 4:
		d.ipv4(b, depth)
	case 6:
		d.ipv6(b, depth)
	default:
		d.cnt.NonIP++
	}
}

// ipv4 walks an IPv4 header (RFC 791 §3.1). Options are skipped by IHL; the total length
// trims link padding; a zero total length (segmentation offload on the capturing host)
// means "the rest of the frame". A total length beyond the captured bytes (snaplen) is
// tolerated for unfragmented datagrams: what was captured is decoded.
func (d *Decoder) ipv4(b []byte, depth int) {
	if len(b) < 20 {
		d.errs.Inc(ReasonTruncatedIPv4)
		return
	}
	if b[0]>>4 != 4 {
		d.errs.Inc(ReasonBadIPv4Header)
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		d.errs.Inc(ReasonBadIPv4Header)
		return
	}
	if len(b) < ihl {
		d.errs.Inc(ReasonTruncatedIPv4)
		return
	}
	tot := int(binary.BigEndian.Uint16(b[2:]))
	truncated := false
	switch {
	case tot == 0:
		tot = len(b)
	case tot < ihl:
		d.errs.Inc(ReasonBadIPv4Header)
		return
	case tot > len(b):
		tot = len(b)
		truncated = true
	}
	b = b[:tot]
	if d.duplicate(b) {
		return
	}
	ff := binary.BigEndian.Uint16(b[6:])
	mf := ff&0x2000 != 0
	off := int(ff&0x1fff) * 8
	proto := b[9]
	src, dst := addr4(b[12:]), addr4(b[16:])
	payload := b[ihl:]
	if !mf && off == 0 {
		d.transport(proto, src, dst, payload, depth)
		return
	}
	d.cnt.IPFragments++
	if truncated {
		// A fragment cut by the snaplen cannot be reassembled correctly.
		d.errs.Inc(ReasonTruncatedIPv4)
		return
	}
	key := fragKey{src: src, dst: dst, id: uint32(binary.BigEndian.Uint16(b[4:])), proto: proto}
	e, data := d.frags.add(d, key, d.ts, off, mf, payload, proto)
	if e == nil {
		return
	}
	d.cnt.Reassembled++
	d.transport(proto, src, dst, data, depth)
	d.frags.release(e)
}

// ipv6 walks an IPv6 header (RFC 8200 §3) and its extension headers. A zero payload
// length (jumbogram or offload) means "the rest of the frame".
func (d *Decoder) ipv6(b []byte, depth int) {
	if len(b) < 40 {
		d.errs.Inc(ReasonTruncatedIPv6)
		return
	}
	if b[0]>>4 != 6 {
		// No dedicated reason: a wrong version under an IPv6 EtherType is a bad header.
		d.errs.Inc(ReasonBadIPv6ExtHeader)
		return
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	p := b[40:]
	if plen != 0 && plen < len(p) {
		p = p[:plen]
	}
	if d.duplicate(b[:40+len(p)]) {
		return
	}
	d.ipv6Ext(b[6], addr16(b[8:]), addr16(b[24:]), p, depth, false)
}

// ipv6Ext walks IPv6 extension headers (RFC 8200 §4) starting with next, then hands the
// upper-layer payload to transport. reassembled is true when p is a reassembled
// fragmentable part (a second fragment header there is malformed).
func (d *Decoder) ipv6Ext(next uint8, src, dst netip.Addr, p []byte, depth int, reassembled bool) {
	for range 16 { // bounded: a chain longer than this is hostile
		switch next {
		case protoHopByHop, protoRouting, protoDstOpts, protoMobility, protoHIP, protoShim6:
			if len(p) < 2 {
				d.errs.Inc(ReasonBadIPv6ExtHeader)
				return
			}
			l := (int(p[1]) + 1) * 8
			if len(p) < l {
				d.errs.Inc(ReasonBadIPv6ExtHeader)
				return
			}
			next, p = p[0], p[l:]
		case protoAH: // RFC 4302 §2.2: length in 4-octet units minus 2
			if len(p) < 2 {
				d.errs.Inc(ReasonBadIPv6ExtHeader)
				return
			}
			l := (int(p[1]) + 2) * 4
			if len(p) < l {
				d.errs.Inc(ReasonBadIPv6ExtHeader)
				return
			}
			next, p = p[0], p[l:]
		case protoFragment: // RFC 8200 §4.5
			if len(p) < 8 || reassembled {
				d.errs.Inc(ReasonBadIPv6ExtHeader)
				return
			}
			fo := binary.BigEndian.Uint16(p[2:])
			off := int(fo &^ 7)
			mf := fo&1 != 0
			nh := p[0]
			if off == 0 && !mf { // atomic fragment (RFC 6946)
				next, p = nh, p[8:]
				continue
			}
			d.cnt.IPFragments++
			key := fragKey{src: src, dst: dst, id: binary.BigEndian.Uint32(p[4:]), v6: true}
			e, data := d.frags.add(d, key, d.ts, off, mf, p[8:], nh)
			if e == nil {
				return
			}
			d.cnt.Reassembled++
			d.ipv6Ext(e.proto, src, dst, data, depth, true)
			d.frags.release(e)
			return
		case protoESP:
			d.cnt.Ignored++ // encrypted: nothing to read
			return
		case protoNoNext:
			return
		default:
			d.transport(next, src, dst, p, depth)
			return
		}
	}
	d.errs.Inc(ReasonBadIPv6ExtHeader)
}

// deeper reports whether one more encapsulation may be walked below depth.
func (d *Decoder) deeper(depth int) bool {
	if depth >= d.cfg.MaxTunnelDepth {
		d.errs.Inc(ReasonTunnelTooDeep)
		return false
	}
	return true
}

// transport dispatches an IP payload on its protocol number.
func (d *Decoder) transport(proto uint8, src, dst netip.Addr, p []byte, depth int) {
	switch proto {
	case protoUDP:
		d.udp(src, dst, p, depth)
	case protoTCP:
		d.tcpSegment(src, dst, p)
	case protoSCTP:
		d.sctp(src, dst, p)
	case protoIPIP: // RFC 2003
		if d.deeper(depth) {
			d.ipv4(p, depth+1)
		}
	case protoIPv6: // RFC 4213 §3.5 (and IPv6-in-IPv6, RFC 2473)
		if d.deeper(depth) {
			d.ipv6(p, depth+1)
		}
	case protoGRE:
		if d.deeper(depth) {
			d.gre(p, depth+1)
		}
	case protoEtherIP, protoL2TPv3: // RFC 3378, RFC 3931 §4.1.1: tunnels we do not open
		d.errs.Inc(ReasonUnsupportedTunnel)
	default:
		d.cnt.Ignored++ // ICMP, OSPF, ...
	}
}

// gre walks a GRE header (RFC 2784 §2, key and sequence of RFC 2890 §2, the routing
// field of RFC 1701 §2.1) and its payload.
func (d *Decoder) gre(p []byte, depth int) {
	if len(p) < 4 {
		d.errs.Inc(ReasonBadGRE)
		return
	}
	flags := binary.BigEndian.Uint16(p)
	proto := binary.BigEndian.Uint16(p[2:])
	switch flags & 7 {
	case 0:
	case 1: // enhanced GRE of PPTP (RFC 2637 §4.1): PPP inside
		d.pptp(p, depth)
		return
	default:
		d.errs.Inc(ReasonBadGRE)
		return
	}
	n := 4
	if flags&0xC000 != 0 { // checksum and/or routing present: checksum + offset
		n += 4
	}
	if flags&0x2000 != 0 { // key
		n += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		n += 4
	}
	if len(p) < n {
		d.errs.Inc(ReasonBadGRE)
		return
	}
	if flags&0x4000 != 0 { // RFC 1701 source route entries, ended by a zero length
		for {
			if len(p) < n+4 {
				d.errs.Inc(ReasonBadGRE)
				return
			}
			l := int(p[n+3])
			n += 4 + l
			if l == 0 {
				break
			}
		}
		if len(p) < n {
			d.errs.Inc(ReasonBadGRE)
			return
		}
	}
	body := p[n:]
	switch proto {
	case 0x6558: // transparent Ethernet bridging
		d.ethernet(body, depth)
	case 0x88BE:
		if !seq { // ERSPAN type I: no ERSPAN header, Ethernet follows GRE
			d.ethernet(body, depth)
			return
		}
		// ERSPAN type II: 8-byte header (version, VLAN, CoS, session, index).
		if len(body) < 8 {
			d.errs.Inc(ReasonBadERSPAN)
			return
		}
		d.ethernet(body[8:], depth)
	case 0x22EB:
		// ERSPAN type III: 12-byte header; the O bit (last bit) announces an 8-byte
		// platform-specific subheader.
		if len(body) < 12 {
			d.errs.Inc(ReasonBadERSPAN)
			return
		}
		h := 12
		if body[11]&1 != 0 {
			h += 8
		}
		if len(body) < h {
			d.errs.Inc(ReasonBadERSPAN)
			return
		}
		d.ethernet(body[h:], depth)
	case 0x0800, 0x86DD, 0x8847, 0x8848, 0x8100, 0x88a8, 0x9100, 0x9200, 0x8864:
		// IP, MPLS (RFC 4023 §4), VLAN-tagged and PPPoE payloads: walked as EtherTypes.
		d.ethertype(proto, body, depth)
	default: // WCCP, NSH, PPP in version 0, keepalive formats, ...
		d.errs.Inc(ReasonUnsupportedGREProtocol)
	}
}
