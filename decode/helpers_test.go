package decode

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// rec is a copy of the parts of an Event a test asserts on.
type rec struct {
	Kind      Kind
	TS        int64
	Src, Dst  netip.AddrPort
	Transport Transport
	FromHEP   bool
	Payload   string
	CallID    string
	Method    string
	RTPSeq    uint16
	RTPSSRC   uint32
	RTPPT     uint8
	RTPLen    int
	SameFrame bool // Event.Frame is the frame given to Decode
	LinkType  uint32
}

func record(ev *Event, frame []byte) rec {
	r := rec{
		Kind: ev.Kind, TS: ev.TS, Src: ev.Src, Dst: ev.Dst, Transport: ev.Transport,
		FromHEP: ev.FromHEP, Payload: string(ev.Payload), LinkType: ev.LinkType,
	}
	r.SameFrame = len(frame) > 0 && len(ev.Frame) == len(frame) && &ev.Frame[0] == &frame[0]
	if ev.SIP != nil {
		r.CallID = string(ev.SIP.CallID)
		r.Method = string(ev.SIP.Method)
	}
	if ev.RTP != nil {
		r.RTPSeq, r.RTPSSRC, r.RTPPT = ev.RTP.SequenceNumber, ev.RTP.SSRC, ev.RTP.PayloadType
		r.RTPLen = ev.RTPPayloadLen
	}
	return r
}

// run decodes frames in order with one decoder and records every event.
func run(d *Decoder, link uint32, ts int64, frames ...[]byte) []rec {
	var out []rec
	for _, f := range frames {
		d.Decode(link, ts, f, func(ev *Event) { out = append(out, record(ev, f)) })
	}
	return out
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}

	ip4A = netip.MustParseAddr("192.0.2.10")
	ip4B = netip.MustParseAddr("198.51.100.20")
	ip6A = netip.MustParseAddr("2001:db8::10")
	ip6B = netip.MustParseAddr("2001:db8::20")
	// Outer tunnel endpoints.
	tunA = netip.MustParseAddr("203.0.113.1")
	tunB = netip.MustParseAddr("203.0.113.2")
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// sipInvite returns a realistic INVITE with an SDP body and a correct Content-Length.
func sipInvite(callID string) []byte {
	body := "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n" +
		"c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
	var b strings.Builder
	b.WriteString("INVITE sip:bob@biloxi.example.com SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("To: Bob <sip:bob@biloxi.example.com>\r\n")
	b.WriteString("From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n")
	b.WriteString("Call-ID: " + callID + "\r\n")
	b.WriteString("CSeq: 314159 INVITE\r\n")
	b.WriteString("Contact: <sip:alice@192.0.2.10:5060>\r\n")
	b.WriteString("User-Agent: callscope-test/1.0\r\n")
	b.WriteString("Content-Type: application/sdp\r\n")
	b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

// sipOK returns a 200 OK without body.
func sipOK(callID string) []byte {
	return []byte("SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n" +
		"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n" +
		"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"Content-Length: 0\r\n\r\n")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// rtpPacket marshals an RTP packet with pion/rtp (an encoder independent of our walker).
func rtpPacket(t testing.TB, seq uint16, payloadLen int, padding byte) []byte {
	p := rtp.Packet{
		Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: 160 * uint32(seq), SSRC: 0x11223344,
			Padding: padding > 0, PaddingSize: padding},
		Payload: bytes.Repeat([]byte{0xd5}, payloadLen),
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rtcpSR(t testing.TB) []byte {
	pkts := []rtcp.Packet{
		&rtcp.SenderReport{SSRC: 0x11223344, NTPTime: 1 << 40, RTPTime: 8000, PacketCount: 50, OctetCount: 8000},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0x11223344,
			Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "alice@example"}}}}},
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ethL(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func ip4L(proto layers.IPProtocol, src, dst netip.Addr) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ip6L(next layers.IPProtocol, src, dst netip.Addr) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// udpOver returns the UDP layer with its pseudo-header set from the network layer.
func udpOver(nl gopacket.NetworkLayer, sp, dp uint16) *layers.UDP {
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	_ = u.SetNetworkLayerForChecksum(nl)
	return u
}

func tcpOver(nl gopacket.NetworkLayer, sp, dp uint16, seq uint32, syn, fin bool) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, ACK: !syn, SYN: syn, FIN: fin, PSH: !syn, Window: 65535, DataOffset: 5}
	_ = t.SetNetworkLayerForChecksum(nl)
	return t
}

// ethIP4UDP builds Ethernet/IPv4/UDP around payload.
func ethIP4UDP(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	ip := ip4L(layers.IPProtocolUDP, src.Addr(), dst.Addr())
	return serialize(t, ethL(layers.EthernetTypeIPv4), ip, udpOver(ip, src.Port(), dst.Port()), gopacket.Payload(payload))
}

// ip4UDP builds IPv4/UDP (no link layer) around payload.
func ip4UDP(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	ip := ip4L(layers.IPProtocolUDP, src.Addr(), dst.Addr())
	return serialize(t, ip, udpOver(ip, src.Port(), dst.Port()), gopacket.Payload(payload))
}

func ip6UDP(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	ip := ip6L(layers.IPProtocolUDP, src.Addr(), dst.Addr())
	return serialize(t, ip, udpOver(ip, src.Port(), dst.Port()), gopacket.Payload(payload))
}

// sllHeader builds a Linux cooked (SLL) header for protocol et (see pcap-linktype(7)).
func sllHeader(et uint16) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:], 0) // to us
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], et)
	return h
}

// sll2Header builds a Linux cooked v2 (SLL2) header for protocol et.
func sll2Header(et uint16) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], et)
	binary.BigEndian.PutUint32(h[4:], 3) // ifindex
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = 0
	h[11] = 6
	copy(h[12:], macA)
	return h
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
