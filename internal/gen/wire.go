package gen

import (
	"encoding/binary"
	"hash/crc32"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

const (
	fragMTU      = 576
	hepPort      = 9060
	vxlanPort    = 4789
	gtpuPort     = 2152
	afInet       = 2
	afInet6BSD   = 24
	ethIPv4      = 0x0800
	ethIPv6      = 0x86DD
	ethERSPAN3   = 0x22EB
	linkSLLSize  = 16
	linkSLL2Size = 20
)

var (
	tunnelSrc  = netip.MustParseAddr("198.51.100.1")
	tunnelDst  = netip.MustParseAddr("198.51.100.2")
	hepAgent4  = netip.MustParseAddrPort("192.0.2.250:47000")
	hepColl4   = netip.MustParseAddrPort("192.0.2.251:9060")
	hepAgent6  = netip.MustParseAddrPort("[2001:db8::250]:47000")
	hepColl6   = netip.MustParseAddrPort("[2001:db8::251]:9060")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// framer turns events into link-layer frames: transport header, IP (maybe
// fragmented), encapsulation, link header. Headers come from gopacket's
// serializers where it has them, and are written by hand (encoding/binary)
// for ERSPAN III, Linux SLL/SLL2, BSD loopback, HEPv3 and WebSocket.
type framer struct {
	sc      *Scenario
	fw      fileWriter
	buf     gopacket.SerializeBuffer
	buf2    gopacket.SerializeBuffer
	opts    gopacket.SerializeOptions
	ipID    uint16
	fragID  uint32
	greSeq  uint32
	packets int
	ips     [][]byte
	frame   []byte
	scratch []byte
	hep     []byte
	tunN    int      // frames tunnelled so far (PPTP and GTP-U alternate header forms)
	dups    []dupRec // SpanDuplicates copies not yet written, in time order
}

// dupRec is a frame copy waiting for its time (SpanDuplicates).
type dupRec struct {
	ts    time.Time
	iface int
	data  []byte
}

func newFramer(sc *Scenario, fw fileWriter) *framer {
	return &framer{sc: sc, fw: fw, buf: gopacket.NewSerializeBuffer(), buf2: gopacket.NewSerializeBuffer(),
		opts: gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}}
}

func ipOf(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func macOf(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	return net.HardwareAddr{0x02, 0x00, b[12], b[13], b[14], b[15]}
}

func (f *framer) emit(ev *event) error {
	if f.sc.Transport == HEP && ev.hep != 0 && ev.l4 == l4UDP {
		f.hep = hep3(f.hep[:0], ev, f.sc.Start.Add(ev.t))
		agent, coll := hepAgent4, hepColl4
		if ev.src.Addr().Is6() {
			agent, coll = hepAgent6, hepColl6
		}
		ev = &event{t: ev.t, src: agent, dst: coll, l4: l4UDP, payload: f.hep}
	}
	if err := f.ipPackets(ev); err != nil {
		return err
	}
	ts := f.sc.Start.Add(ev.t)
	for i, ip := range f.ips {
		etype, l2, err := f.encap(ip, ev)
		if err != nil {
			return err
		}
		links := f.fw.links()
		iface := f.packets % len(links)
		frame, err := f.link(links[iface], etype, l2, ev)
		if err != nil {
			return err
		}
		f.frame = frame[:0]
		at := ts.Add(time.Duration(i) * time.Microsecond)
		if err := f.flushDups(at, false); err != nil {
			return err
		}
		if err := f.fw.write(at, iface, frame); err != nil {
			return err
		}
		f.packets++
		if f.sc.SpanDuplicates {
			f.dups = append(f.dups, dupRec{ts: at.Add(time.Millisecond), iface: iface, data: spanCopy(links[iface], frame)})
		}
	}
	return nil
}

// flushDups writes the pending SpanDuplicates copies due at or before t (all of them
// with all), keeping the file in time order.
func (f *framer) flushDups(t time.Time, all bool) error {
	n := 0
	for _, d := range f.dups {
		if !all && d.ts.After(t) {
			break
		}
		if err := f.fw.write(d.ts, d.iface, d.data); err != nil {
			return err
		}
		f.packets++
		n++
	}
	f.dups = append(f.dups[:0], f.dups[n:]...)
	return nil
}

// spanCopy returns the copy a SPAN session would deliver of frame: on Ethernet with an
// 802.1Q tag (VLAN 999) inserted after the MAC addresses, elsewhere byte for byte.
func spanCopy(l Link, frame []byte) []byte {
	if l != Ethernet || len(frame) < 14 {
		return append([]byte(nil), frame...)
	}
	c := make([]byte, 0, len(frame)+4)
	c = append(c, frame[:12]...)
	c = append(c, 0x81, 0x00, 0x03, 0xE7) // TPID, PCP 0 DEI 0 VID 999
	return append(c, frame[12:]...)
}

// serialize runs gopacket.SerializeLayers into b and returns a copy appended to dst.
func (f *framer) serialize(b gopacket.SerializeBuffer, dst []byte, ls ...gopacket.SerializableLayer) ([]byte, error) {
	if err := gopacket.SerializeLayers(b, f.opts, ls...); err != nil {
		return nil, err
	}
	return append(dst, b.Bytes()...), nil
}

func (f *framer) l3(src, dst netip.Addr, proto layers.IPProtocol) (gopacket.NetworkLayer, []gopacket.SerializableLayer) {
	if src.Is4() {
		f.ipID++
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: f.ipID, Protocol: proto, SrcIP: ipOf(src), DstIP: ipOf(dst)}
		return ip, []gopacket.SerializableLayer{ip}
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: ipOf(src), DstIP: ipOf(dst)}
	if f.sc.Encap != IPv6 {
		return ip, []gopacket.SerializableLayer{ip}
	}
	// RFC 8200 section 4.1 order: hop-by-hop (router alert, RFC 2711), then destination options.
	ip.NextHeader = layers.IPProtocolIPv6HopByHop
	hbh := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{
		{OptionType: 5, OptionLength: 2, OptionData: []byte{0, 0}, OptionAlignment: [2]uint8{2, 0}},
		{OptionType: 1, OptionLength: 0}, // PadN to the 8-octet boundary
	}}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	do := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionLength: 4, OptionData: []byte{0xca, 0x11, 0x5c, 0x0e}}}}
	do.NextHeader = proto
	return ip, []gopacket.SerializableLayer{ip, hbh, do}
}

// ipPackets fills f.ips with the IP packet(s) carrying ev.
func (f *framer) ipPackets(ev *event) error {
	f.ips = f.ips[:0]
	f.scratch = f.scratch[:0]
	src, dst := ev.src.Addr(), ev.dst.Addr()
	var l4 gopacket.SerializableLayer
	var proto layers.IPProtocol
	payload := ev.payload
	switch ev.l4 {
	case l4TCP:
		proto = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(ev.src.Port()), DstPort: layers.TCPPort(ev.dst.Port()),
			Seq: ev.tcp.seq, Ack: ev.tcp.ack, SYN: ev.tcp.syn, ACK: ev.tcp.ack_, PSH: ev.tcp.psh, FIN: ev.tcp.fin, Window: 65535}
		if ev.tcp.syn {
			tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
		}
		l4 = tcp
	case l4SCTP:
		proto = layers.IPProtocolSCTP
		// RFC 9260 section 3: common header and one DATA chunk; the CRC32c
		// (appendix A) is computed here over the zeroed checksum field.
		data := layers.SCTPData{SCTPChunk: layers.SCTPChunk{Type: layers.SCTPChunkTypeData, Length: uint16(16 + len(payload))},
			BeginFragment: true, EndFragment: true, TSN: ev.sctp.tsn, StreamSequence: ev.sctp.ssn, Payload: payload}
		hdr := layers.SCTP{SrcPort: layers.SCTPPort(ev.src.Port()), DstPort: layers.SCTPPort(ev.dst.Port()), VerificationTag: ev.sctp.vtag}
		if err := gopacket.SerializeLayers(f.buf2, gopacket.SerializeOptions{}, &hdr, &data); err != nil {
			return err
		}
		b := f.buf2.Bytes()
		clear(b[8:12])
		binary.LittleEndian.PutUint32(b[8:12], crc32.Checksum(b, castagnoli))
		payload = append(f.scratch, b...)
		f.scratch = payload
	default:
		proto = layers.IPProtocolUDP
		l4 = &layers.UDP{SrcPort: layers.UDPPort(ev.src.Port()), DstPort: layers.UDPPort(ev.dst.Port())}
	}
	nl, ls := f.l3(src, dst, proto)
	if l4 != nil {
		if c, ok := l4.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(nl); err != nil {
				return err
			}
		}
		ls = append(ls, l4)
	}
	ls = append(ls, gopacket.Payload(payload))
	pktb, err := f.serialize(f.buf, nil, ls...)
	if err != nil {
		return err
	}
	if !ev.frag || len(pktb) <= fragMTU {
		f.ips = append(f.ips, pktb)
		return nil
	}
	return f.fragment(pktb, src, dst, proto)
}

// fragment splits a whole UDP datagram into IP fragments (RFC 791 section 3.2;
// RFC 8200 section 4.5) of at most fragMTU bytes and queues them last first.
func (f *framer) fragment(pkt []byte, src, dst netip.Addr, proto layers.IPProtocol) error {
	hl, chunk := 20, (fragMTU-20)&^7
	if src.Is6() {
		hl, chunk = 40, (fragMTU-48)&^7
		if f.sc.Encap == IPv6 {
			hl += 16 // the hop-by-hop and destination headers; fragments are sent without them
		}
	}
	body := pkt[hl:]
	f.fragID++
	var frags [][]byte
	for off := 0; off < len(body); off += chunk {
		end := min(off+chunk, len(body))
		more := end < len(body)
		var ls []gopacket.SerializableLayer
		if src.Is4() {
			f.ipID++
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(f.fragID), Protocol: proto, SrcIP: ipOf(src), DstIP: ipOf(dst), FragOffset: uint16(off / 8)}
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
			ls = append(ls, ip)
		} else {
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: ipOf(src), DstIP: ipOf(dst)}
			fh := &layers.IPv6Fragment{NextHeader: proto, FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: f.fragID}
			ls = append(ls, ip, fh)
		}
		ls = append(ls, gopacket.Payload(body[off:end]))
		b, err := f.serialize(f.buf, nil, ls...)
		if err != nil {
			return err
		}
		frags = append(frags, b)
	}
	for i := len(frags) - 1; i >= 0; i-- {
		f.ips = append(f.ips, frags[i])
	}
	return nil
}

func ethType(ip []byte) uint16 {
	if len(ip) > 0 && ip[0]>>4 == 6 {
		return ethIPv6
	}
	return ethIPv4
}

func (f *framer) innerEth(ip []byte, ev *event) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: macOf(ev.src.Addr()), DstMAC: macOf(ev.dst.Addr()), EthernetType: layers.EthernetType(ethType(ip))},
		gopacket.Payload(ip),
	}
}

func (f *framer) outer(proto layers.IPProtocol, inner ...gopacket.SerializableLayer) ([]byte, error) {
	f.ipID++
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: f.ipID, Protocol: proto, SrcIP: ipOf(tunnelSrc), DstIP: ipOf(tunnelDst)}
	if u, ok := inner[0].(*layers.UDP); ok {
		_ = u.SetNetworkLayerForChecksum(ip)
	}
	return f.serialize(f.buf2, nil, append([]gopacket.SerializableLayer{ip}, inner...)...)
}

// encap wraps an IP packet; it returns the ethertype of what it returns.
func (f *framer) encap(ip []byte, ev *event) (uint16, []byte, error) {
	et := ethType(ip)
	var b []byte
	var err error
	switch f.sc.Encap {
	case VLAN:
		b, err = f.serialize(f.buf2, nil, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetType(et)}, gopacket.Payload(ip))
		return 0x8100, b, err
	case QinQ:
		b, err = f.serialize(f.buf2, nil,
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Type: 0x9100},
			&layers.Dot1Q{VLANIdentifier: 30, Type: layers.EthernetType(et)}, gopacket.Payload(ip))
		return 0x88a8, b, err
	case MPLS:
		b, err = f.serialize(f.buf2, nil, &layers.MPLS{Label: 1000, TTL: 64}, &layers.MPLS{Label: 2000, StackBottom: true, TTL: 64}, gopacket.Payload(ip))
		return 0x8847, b, err
	case GRE:
		f.greSeq++
		b, err = f.outer(layers.IPProtocolGRE, &layers.GRE{KeyPresent: true, SeqPresent: true, Key: 42, Seq: f.greSeq, Protocol: layers.EthernetType(et)}, gopacket.Payload(ip))
		return ethIPv4, b, err
	case ERSPAN2:
		f.greSeq++
		ls := append([]gopacket.SerializableLayer{&layers.GRE{SeqPresent: true, Seq: f.greSeq, Protocol: layers.EthernetTypeERSPAN},
			&layers.ERSPANII{Version: layers.ERSPANIIVersion, SessionID: 7, Index: 1}}, f.innerEth(ip, ev)...)
		b, err = f.outer(layers.IPProtocolGRE, ls...)
		return ethIPv4, b, err
	case ERSPAN3:
		f.greSeq++
		inner, err := f.serialize(f.buf, nil, f.innerEth(ip, ev)...)
		if err != nil {
			return 0, nil, err
		}
		hdr := erspan3(ev.t)
		b, err = f.outer(layers.IPProtocolGRE, &layers.GRE{SeqPresent: true, Seq: f.greSeq, Protocol: ethERSPAN3}, gopacket.Payload(append(hdr[:], inner...)))
		return ethIPv4, b, err
	case VXLAN:
		inner, err := f.serialize(f.buf, nil, f.innerEth(ip, ev)...)
		if err != nil {
			return 0, nil, err
		}
		sport := 49152 + (ev.src.Port()^ev.dst.Port())%16384
		b, err = f.outer(layers.IPProtocolUDP, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: vxlanPort},
			&layers.VXLAN{ValidIDFlag: true, VNI: 4242}, gopacket.Payload(inner))
		return ethIPv4, b, err
	case IPIP:
		b, err = f.outer(layers.IPProtocolIPv4, gopacket.Payload(ip))
		return ethIPv4, b, err
	case IP6in4:
		b, err = f.outer(layers.IPProtocolIPv6, gopacket.Payload(ip))
		return ethIPv4, b, err
	case PPTP:
		f.tunN++
		f.greSeq++
		b, err = f.outer(layers.IPProtocolGRE, gopacket.Payload(pptpGRE(f.tunN%2 == 0, f.greSeq, ip)))
		return ethIPv4, b, err
	case GTPU:
		f.tunN++
		b, err = f.outer(layers.IPProtocolUDP, &layers.UDP{SrcPort: gtpuPort, DstPort: gtpuPort},
			gopacket.Payload(gtpuGPDU(f.tunN%2 == 0, uint16(f.tunN), ip)))
		return ethIPv4, b, err
	}
	return et, ip, nil
}

// pptpGRE builds the enhanced GRE packet of RFC 2637 section 4.1 around an IP
// packet: flags K and S (and A with full), version 1, protocol 0x880B, the key as
// payload length and call ID, sequence number (and acknowledgement number), then the
// PPP frame (RFC 1661 section 2). full writes the 0xFF 0x03 address and control
// octets (RFC 1662 section 3.1) and a two-octet protocol; otherwise both are
// compressed as after ACFC and PFC were negotiated (RFC 1661 sections 6.5, 6.6).
func pptpGRE(full bool, seq uint32, ip []byte) []byte {
	var ppp []byte
	proto := uint16(0x0021) // IPv4 (RFC 1332)
	if len(ip) > 0 && ip[0]>>4 == 6 {
		proto = 0x0057 // IPv6 (RFC 5072)
	}
	if full {
		ppp = binary.BigEndian.AppendUint16(append(ppp, 0xFF, 0x03), proto)
	} else {
		ppp = append(ppp, byte(proto))
	}
	flags0, flags1 := byte(0x30), byte(0x01) // K, S; version 1
	if full {
		flags1 |= 0x80 // A
	}
	b := []byte{flags0, flags1, 0x88, 0x0B}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ppp)+len(ip)))
	b = binary.BigEndian.AppendUint16(b, 0x1a2b) // call ID
	b = binary.BigEndian.AppendUint32(b, seq)
	if full {
		b = binary.BigEndian.AppendUint32(b, seq-1)
	}
	return append(append(b, ppp...), ip...)
}

// gtpuGPDU builds a GTP-U G-PDU (3GPP TS 29.281 section 5.1): version 1, PT 1,
// message type 255, length, TEID, the IP packet. With ext the S and E flags are set:
// sequence number, N-PDU number 0, next type 0x85 and one PDU Session Container
// (section 5.2.2.7; TS 38.415: length 1, UL PDU session information, QFI 9, next 0)
// as on a 5G N3 interface.
func gtpuGPDU(ext bool, seq uint16, ip []byte) []byte {
	flags := byte(0x30)
	var opt []byte
	if ext {
		flags |= 0x06
		opt = binary.BigEndian.AppendUint16(opt, seq)
		opt = append(opt, 0, 0x85, 1, 0x10, 9, 0)
	}
	b := []byte{flags, 255}
	b = binary.BigEndian.AppendUint16(b, uint16(len(opt)+len(ip)))
	b = binary.BigEndian.AppendUint32(b, 0x00c0ffee) // TEID
	return append(append(b, opt...), ip...)
}

// erspan3 builds the 12-byte ERSPAN type III header (draft-foschiano-erspan
// section 4.3): version 2, VLAN 0, session 7, 100 µs timestamp granularity,
// frame type 0 (Ethernet), no platform-specific subheader.
func erspan3(since time.Duration) [12]byte {
	var h [12]byte
	binary.BigEndian.PutUint16(h[0:], 2<<12)
	binary.BigEndian.PutUint16(h[2:], 7)
	binary.BigEndian.PutUint32(h[4:], uint32(since/(100*time.Microsecond)))
	// SGT 0; P=0, FT=0, HW ID=1, D=0, Gra=00 (100 µs), O=0
	binary.BigEndian.PutUint16(h[10:], 1<<4)
	return h
}

func (f *framer) link(l Link, etype uint16, l2 []byte, ev *event) ([]byte, error) {
	switch l {
	case Ethernet:
		return f.serialize(f.buf, f.frame[:0], &layers.Ethernet{SrcMAC: macOf(ev.src.Addr()), DstMAC: macOf(ev.dst.Addr()), EthernetType: layers.EthernetType(etype)}, gopacket.Payload(l2))
	case LinuxSLL:
		var h [linkSLLSize]byte
		binary.BigEndian.PutUint16(h[0:], 0) // packet sent to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:14], macOf(ev.src.Addr()))
		binary.BigEndian.PutUint16(h[14:], etype)
		return append(append(f.frame[:0], h[:]...), l2...), nil
	case LinuxSLL2:
		var h [linkSLL2Size]byte
		binary.BigEndian.PutUint16(h[0:], etype)
		binary.BigEndian.PutUint32(h[4:], 2) // interface index
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10] = 0                            // PACKET_HOST
		h[11] = 6
		copy(h[12:18], macOf(ev.src.Addr()))
		return append(append(f.frame[:0], h[:]...), l2...), nil
	case RawIP:
		return append(f.frame[:0], l2...), nil
	case Null, Loop:
		fam := uint32(afInet)
		if etype == ethIPv6 {
			fam = afInet6BSD
		}
		var h [4]byte
		if l == Loop || f.sc.Format == PcapBigEndian {
			binary.BigEndian.PutUint32(h[:], fam)
		} else {
			binary.LittleEndian.PutUint32(h[:], fam)
		}
		return append(append(f.frame[:0], h[:]...), l2...), nil
	}
	return nil, ErrInvalid
}

// hep3 builds a HEPv3 packet: "HEP3", total length, then chunks of vendor
// 0, type, length (including the 6-byte chunk header).
func hep3(b []byte, ev *event, ts time.Time) []byte {
	chunk := func(b []byte, typ uint16, val []byte) []byte {
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(val)))
		return append(b, val...)
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	b = append(b, "HEP3\x00\x00"...)
	if ev.src.Addr().Is4() {
		b = chunk(b, 1, []byte{afInet})
	} else {
		b = chunk(b, 1, []byte{10})
	}
	b = chunk(b, 2, []byte{17})
	if ev.src.Addr().Is4() {
		b = chunk(b, 3, ev.src.Addr().AsSlice())
		b = chunk(b, 4, ev.dst.Addr().AsSlice())
	} else {
		b = chunk(b, 5, ev.src.Addr().AsSlice())
		b = chunk(b, 6, ev.dst.Addr().AsSlice())
	}
	b = chunk(b, 7, u16(ev.src.Port()))
	b = chunk(b, 8, u16(ev.dst.Port()))
	b = chunk(b, 9, u32(uint32(ts.Unix())))
	b = chunk(b, 10, u32(uint32(ts.Nanosecond()/1000)))
	b = chunk(b, 11, []byte{ev.hep})
	b = chunk(b, 12, u32(2001))
	b = chunk(b, 15, ev.payload)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	return b
}
