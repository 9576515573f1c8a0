package decode

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The tunnel headers below are written by hand from their specifications (gopacket has
// no PPTP-aware GRE or PPP-with-PFC serializer), each field named after its section.

// pppFrame builds a PPP frame (RFC 1661 §2): with acfc the 0xFF 0x03 address and control
// octets of RFC 1662 §3.1 are left out, with pfc a protocol below 0x100 takes one octet.
func pppFrame(acfc, pfc bool, proto uint16, payload []byte) []byte {
	var b []byte
	if !acfc {
		b = append(b, 0xFF, 0x03)
	}
	if pfc && proto < 0x100 {
		b = append(b, byte(proto))
	} else {
		b = binary.BigEndian.AppendUint16(b, proto)
	}
	return append(b, payload...)
}

// pptpGRE builds the enhanced GRE header of RFC 2637 §4.1 around a PPP frame: K set,
// S (sequence) and A (acknowledgement) as asked, version 1, protocol 0x880B, key =
// payload length and call ID.
func pptpGRE(seq, ack bool, ppp []byte) []byte {
	f0, f1 := byte(0x20), byte(0x01)
	if seq {
		f0 |= 0x10
	}
	if ack {
		f1 |= 0x80
	}
	b := []byte{f0, f1, 0x88, 0x0B}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ppp)))
	b = binary.BigEndian.AppendUint16(b, 0x4a21) // call ID
	if seq {
		b = binary.BigEndian.AppendUint32(b, 77)
	}
	if ack {
		b = binary.BigEndian.AppendUint32(b, 76)
	}
	return append(b, ppp...)
}

// gtpuHdr builds a GTP-U v1 header (3GPP TS 29.281 §5.1) of message type typ: flags
// version 1, PT 1; with seq the S flag and the 4 optional octets; with ext the E flag and
// one PDU Session Container extension header (type 0x85, §5.2.2.7: length 1 = 4 octets,
// PDU type 1 = UL, QFI 9, next type 0).
func gtpuHdr(typ byte, seq, ext bool, payload []byte) []byte {
	flags := byte(0x30)
	var opt []byte
	if seq || ext {
		opt = []byte{0, 0, 0, 0}
		if seq {
			flags |= 0x02
			binary.BigEndian.PutUint16(opt, 4711)
		}
		if ext {
			flags |= 0x04
			opt[3] = 0x85
			opt = append(opt, 1, 0x10, 9, 0)
		}
	}
	b := []byte{flags, typ}
	b = binary.BigEndian.AppendUint16(b, uint16(len(opt)+len(payload)))
	b = binary.BigEndian.AppendUint32(b, 0x0badf00d) // TEID
	return append(append(b, opt...), payload...)
}

// overIP4 wraps l4 (already a complete payload of protocol proto) in Ethernet/IPv4
// between the tunnel endpoints.
func overIP4(t testing.TB, proto layers.IPProtocol, l4 []byte) []byte {
	return serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(proto, tunA, tunB), gopacket.Payload(l4))
}

// gtpFrame wraps a GTP-U message in Ethernet/IPv4/UDP sport→dport.
func gtpFrame(t testing.TB, sport, dport uint16, gtp []byte) []byte {
	return ethIP4UDP(t, ap(tunA, sport), ap(tunB, dport), gtp)
}

// tunnelCases are the walk cases of PPTP and GTP-U, appended to walkCases.
func tunnelCases(t testing.TB) []tcase {
	a, b := ap(ip4A, 5060), ap(ip4B, 5080)
	a6, b6 := ap(ip6A, 5060), ap(ip6B, 5062)
	ma, mb := ap(ip4A, 40000), ap(ip4B, 40002)
	inv := sipInvite("a84b4c76e66710@pc33.atlanta.example.com")
	const cid = "a84b4c76e66710@pc33.atlanta.example.com"
	rtpP := rtpPacket(t, 7, 160, 0)
	sipWant := []rec{sipRec(a, b, TransportUDP, inv, cid, "INVITE")}
	sip6Want := []rec{sipRec(a6, b6, TransportUDP, inv, cid, "INVITE")}
	rtpWant := []rec{rtpRec(ma, mb, rtpP, 7, 160)}
	var cs []tcase
	add := func(name string, want []rec, frames ...[]byte) {
		cs = append(cs, tcase{name: name, link: linkEthernet, frames: frames, want: want})
	}
	for _, v := range []struct {
		name           string
		acfc, pfc, seq bool
		ack            bool
	}{
		{"pptp ppp full header seq", false, false, true, false},
		{"pptp ppp acfc pfc seq ack", true, true, true, true},
		{"pptp ppp acfc only", true, false, true, false},
		{"pptp ppp pfc only ack", false, true, true, true},
	} {
		add(v.name+" sip", sipWant, overIP4(t, layers.IPProtocolGRE, pptpGRE(v.seq, v.ack, pppFrame(v.acfc, v.pfc, pppIPv4, ip4UDP(t, a, b, inv)))))
		add(v.name+" rtp", rtpWant, overIP4(t, layers.IPProtocolGRE, pptpGRE(v.seq, v.ack, pppFrame(v.acfc, v.pfc, pppIPv4, ip4UDP(t, ma, mb, rtpP)))))
	}
	add("pptp ppp ipv6", sip6Want, overIP4(t, layers.IPProtocolGRE, pptpGRE(true, false, pppFrame(false, true, pppIPv6, ip6UDP(t, a6, b6, inv)))))
	pppoe := func(ppp []byte) []byte { // RFC 2516 §4: ver/type 0x11, code 0, session, length
		h := binary.BigEndian.AppendUint16([]byte{0x11, 0x00, 0x12, 0x34}, uint16(len(ppp)))
		return cat(macB, macA, []byte{0x88, 0x64}, h, ppp)
	}
	add("pppoe ipv4 sip", sipWant, pppoe(pppFrame(true, false, pppIPv4, ip4UDP(t, a, b, inv))))
	add("pppoe ipv6 pfc sip", sip6Want, pppoe(pppFrame(true, true, pppIPv6, ip6UDP(t, a6, b6, inv))))
	add("gtpu plain ipv4 sip", sipWant, gtpFrame(t, 2152, 2152, gtpuHdr(255, false, false, ip4UDP(t, a, b, inv))))
	add("gtpu pdu session container rtp", rtpWant, gtpFrame(t, 2152, 2152, gtpuHdr(255, true, true, ip4UDP(t, ma, mb, rtpP))))
	add("gtpu seq only ipv6 sip", sip6Want, gtpFrame(t, 40000, 2152, gtpuHdr(255, true, false, ip6UDP(t, a6, b6, inv))))
	add("gtpu from port 2152", rtpWant, gtpFrame(t, 2152, 33333, gtpuHdr(255, false, true, ip4UDP(t, ma, mb, rtpP))))
	return cs
}

// TestTunnelReasons checks that tunnel traffic we do not open, and damaged tunnel
// headers, are counted by the reason named for them (the out-of-bounds table of the
// tunnel walkers; each expectation follows from the header as built).
func TestTunnelReasons(t *testing.T) {
	ipPkt := ip4UDP(t, ap(ip4A, 5060), ap(ip4B, 5080), sipInvite("tun@x"))
	gre := func(b []byte) []byte { return overIP4(t, layers.IPProtocolGRE, b) }
	good := pptpGRE(true, true, pppFrame(false, false, pppIPv4, ipPkt))
	tests := []struct {
		name   string
		frame  []byte
		reason Reason
	}{
		{"gre key truncated", gre(good[:6]), ReasonBadGRE},
		{"gre seq truncated", gre(good[:10]), ReasonBadGRE},
		{"gre ack truncated", gre(good[:14]), ReasonBadGRE},
		{"pptp without key", gre([]byte{0x10, 0x01, 0x88, 0x0B, 0, 4, 0, 1, 0, 0, 0, 1}), ReasonBadGRE},
		{"pptp wrong protocol", gre([]byte{0x20, 0x01, 0x08, 0x00, 0, 4, 0, 1, 0xff, 0x03, 0, 0x21}), ReasonBadGRE},
		{"pptp checksum bit", gre([]byte{0xA0, 0x01, 0x88, 0x0B, 0, 4, 0, 1, 0xff, 0x03, 0, 0x21}), ReasonBadGRE},
		{"ppp empty after address", gre(pptpGRE(false, false, []byte{0xFF, 0x03})), ReasonBadPPP},
		{"ppp even low protocol octet", gre(pptpGRE(false, false, []byte{0xFF, 0x03, 0x00, 0x20, 1})), ReasonBadPPP},
		{"ppp one even octet", gre(pptpGRE(false, false, []byte{0x00})), ReasonBadPPP},
		{"ppp lcp", gre(pptpGRE(true, false, pppFrame(false, false, 0xC021, []byte{1, 1, 0, 4}))), ReasonPPPControl},
		{"ppp ipcp", gre(pptpGRE(true, false, pppFrame(true, false, 0x8021, []byte{1, 1, 0, 4}))), ReasonPPPControl},
		{"ppp ccp", gre(pptpGRE(true, false, pppFrame(false, false, 0x80FD, []byte{1, 1, 0, 4}))), ReasonPPPControl},
		{"ppp compressed datagram", gre(pptpGRE(true, false, pppFrame(true, true, 0x00FD, []byte{0x90, 0, 1, 2}))), ReasonUnsupportedPPPProtocol},
		{"pppoe lcp", cat(macB, macA, []byte{0x88, 0x64, 0x11, 0, 0x12, 0x34, 0, 6, 0xC0, 0x21, 9, 1, 0, 4}), ReasonPPPControl},
		{"pppoe short", cat(macB, macA, []byte{0x88, 0x64, 0x11, 0}), ReasonTruncatedL2},
		{"gre v0 wccp", gre([]byte{0, 0, 0x88, 0x3E, 0, 0, 0, 0}), ReasonUnsupportedGREProtocol},
		{"gre v0 ppp", gre(append([]byte{0, 0, 0x88, 0x0B}, pppFrame(false, false, pppIPv4, ipPkt)...)), ReasonUnsupportedGREProtocol},
		{"gtp short", gtpFrame(t, 2152, 2152, []byte{0x30, 0xff, 0, 0}), ReasonBadGTP},
		{"gtp version 2", gtpFrame(t, 2152, 2152, []byte{0x48, 0xff, 0, 0, 0, 0, 0, 1, 0x45}), ReasonBadGTP},
		{"gtp prime (PT 0)", gtpFrame(t, 2152, 2152, []byte{0x20, 0xff, 0, 0, 0, 0, 0, 1, 0x45}), ReasonBadGTP},
		{"gtp optional fields truncated", gtpFrame(t, 2152, 2152, gtpuHdr(255, true, false, nil)[:10]), ReasonBadGTP},
		{"gtp ext header truncated", gtpFrame(t, 2152, 2152, gtpuHdr(255, false, true, nil)[:14]), ReasonBadGTP},
		{"gtp ext header length 0", gtpFrame(t, 2152, 2152, []byte{0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0, 0, 0}), ReasonBadGTP},
		{"gtp ext chain endless", gtpFrame(t, 2152, 2152, func() []byte {
			b := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85}
			for range 20 {
				b = append(b, 1, 0, 0, 0x85) // every header names another
			}
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)-8))
			return b
		}()), ReasonBadGTP},
		{"gtp gpdu empty", gtpFrame(t, 2152, 2152, gtpuHdr(255, false, false, nil)), ReasonBadGTP},
		{"gtp unknown message type", gtpFrame(t, 2152, 2152, gtpuHdr(100, false, false, nil)), ReasonBadGTP},
		{"gtp echo request", gtpFrame(t, 2152, 2152, gtpuHdr(1, true, false, nil)), ReasonGTPControl},
		{"gtp echo response", gtpFrame(t, 2152, 2152, gtpuHdr(2, true, false, []byte{14, 0})), ReasonGTPControl},
		{"gtp error indication", gtpFrame(t, 2152, 2152, gtpuHdr(26, true, false, []byte{16, 0, 0, 0, 1})), ReasonGTPControl},
		{"gtp end marker", gtpFrame(t, 2152, 2152, gtpuHdr(254, false, false, nil)), ReasonGTPControl},
		{"gtp ethernet pdu", gtpFrame(t, 2152, 2152, gtpuHdr(255, false, true, ethIP4UDP(t, ap(ip4A, 1), ap(ip4B, 2), []byte{1}))), ReasonUnsupportedGTPPayload},
		{"l2tp", ethIP4UDP(t, ap(tunA, 1701), ap(tunB, 1701), []byte{0xc8, 0x02, 0, 20, 0, 1, 0, 0}), ReasonUnsupportedTunnel},
		{"geneve", ethIP4UDP(t, ap(tunA, 50000), ap(tunB, 6081), []byte{0, 0, 0x65, 0x58, 0, 0, 1, 0}), ReasonUnsupportedTunnel},
		{"l2tpv3 over ip", overIP4(t, layers.IPProtocol(115), []byte{0, 0, 0, 1, 0, 0}), ReasonUnsupportedTunnel},
		{"gtp too deep", func() []byte {
			f := ipPkt
			for range 5 {
				f = ip4UDP(t, ap(tunA, 2152), ap(tunB, 2152), gtpuHdr(255, false, false, f))
			}
			return cat(macB, macA, []byte{8, 0}, f)
		}(), ReasonTunnelTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(DefaultConfig())
			n := 0
			d.Decode(linkEthernet, testTS, tc.frame, func(*Event) { n++ })
			errs := d.Errors()
			if errs[tc.reason] != 1 {
				t.Errorf("%s = %d, want 1 (all: %v)", ReasonName(tc.reason), errs[tc.reason], errs.Map())
			}
			var total uint64
			for _, v := range errs {
				total += v
			}
			if total != 1 || n != 0 {
				t.Errorf("%d reasons counted and %d events, want exactly the one reason: %v", total, n, errs.Map())
			}
			// Every prefix of the frame decodes without panic.
			for i := range tc.frame {
				New(DefaultConfig()).Decode(linkEthernet, testTS, tc.frame[:i], func(*Event) {})
			}
		})
	}
}

// TestDuplicates checks the capture-duplicate table: a copy of a frame within 10 ms is
// dropped and counted, even under another Ethernet header (a VLAN tag added by the SPAN
// session); later copies (a SIP retransmission at T1 = 500 ms, RFC 3261 §17.1.1.1) and
// frames that differ in any IP byte are kept.
func TestDuplicates(t *testing.T) {
	inv := sipInvite("dup@x")
	plain := ethIP4UDP(t, ap(ip4A, 5060), ap(ip4B, 5080), inv)
	ip := ip4L(layers.IPProtocolUDP, ip4A, ip4B)
	tagged := serialize(t, ethL(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeIPv4},
		ip, udpOver(ip, 5060, 5080), gopacket.Payload(inv))
	otherID := clone(plain)
	otherID[14+5]++ // IPv4 identification: a new datagram with the same payload
	raw := plain[14:]
	type fr struct {
		link  uint32
		dt    int64
		frame []byte
	}
	tests := []struct {
		name   string
		cfg    func(*Config)
		frames []fr
		events int
		dups   uint64
	}{
		{"copy 1 ms later", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 1e6, plain}}, 1, 1},
		{"copy with vlan tag", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 5e3, tagged}}, 1, 1},
		{"copy on another link type", nil, []fr{{linkEthernet, 0, plain}, {linkRaw, 2e6, raw}}, 1, 1},
		{"copy at the window edge", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 10e6, plain}}, 1, 1},
		{"copy just past the window", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 10e6 + 1, plain}}, 2, 0},
		{"retransmission at T1", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 500e6, plain}, {linkEthernet, 1500e6, plain}}, 3, 0},
		{"three copies", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 1e6, plain}, {linkEthernet, 2e6, tagged}}, 1, 2},
		{"other IP id", nil, []fr{{linkEthernet, 0, plain}, {linkEthernet, 1e6, otherID}}, 2, 0},
		{"disabled", func(c *Config) { c.DuplicateWindow = -1 }, []fr{{linkEthernet, 0, plain}, {linkEthernet, 1e6, plain}}, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			d := New(cfg)
			n := 0
			for _, f := range tc.frames {
				d.Decode(f.link, testTS+f.dt, f.frame, func(*Event) { n++ })
			}
			if c := d.Counters(); n != tc.events || c.DuplicateFrames != tc.dups {
				t.Errorf("events %d duplicates %d, want %d and %d", n, c.DuplicateFrames, tc.events, tc.dups)
			}
		})
	}
	t.Run("bounded table counts evictions", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.DuplicateTable = 4 // one set of 4 ways
		d := New(cfg)
		var frames [][]byte
		for i := range 6 {
			frames = append(frames, ethIP4UDP(t, ap(ip4A, 40000), ap(ip4B, 40002), rtpPacket(t, uint16(i), 160, 0)))
		}
		for i, f := range frames { // 6 distinct frames 1 ms apart: 2 live entries replaced
			d.Decode(linkEthernet, testTS+int64(i)*1e6, f, func(*Event) {})
		}
		// The first frame's entry was replaced: its copy is no longer recognised.
		d.Decode(linkEthernet, testTS+6e6, frames[0], func(*Event) {})
		// The last one's is still there.
		d.Decode(linkEthernet, testTS+6e6, frames[5], func(*Event) {})
		c := d.Counters()
		if c.DuplicateEvictions != 3 || c.DuplicateFrames != 1 || c.RTP != 7 {
			t.Errorf("evictions %d duplicates %d rtp %d, want 3, 1, 7", c.DuplicateEvictions, c.DuplicateFrames, c.RTP)
		}
	})
}
