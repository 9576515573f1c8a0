package decode

import "encoding/binary"

// Tunnels that carry a point-to-point payload rather than Ethernet or IP directly:
// PPTP's enhanced GRE with PPP inside, and GTP-U of the mobile core.

const (
	gtpuPort = 2152 // 3GPP TS 29.281 §4.4.2.3

	greProtoPPP = 0x880B // RFC 2637 §4.1

	pppIPv4 = 0x0021 // RFC 1332
	pppIPv6 = 0x0057 // RFC 5072

	gtpEchoRequest      = 1   // TS 29.281 §7.2.1
	gtpEchoResponse     = 2   // §7.2.2
	gtpErrorIndication  = 26  // §7.3.1
	gtpSupportedExtHdrs = 31  // §7.3.2
	gtpEndMarker        = 254 // §7.3.3
	gtpGPDU             = 255 // §6.1: a user-plane packet
)

// pptp walks the enhanced GRE header of RFC 2637 §4.1 (version 1): flags, protocol
// 0x880B, the key field split into payload length and call ID, an optional sequence
// number (S) and an optional acknowledgement number (A, in the second flags octet),
// then hands the PPP frame to ppp. p starts at the GRE header; depth already counts it.
func (d *Decoder) pptp(p []byte, depth int) {
	if len(p) < 8 {
		d.errs.Inc(ReasonBadGRE)
		return
	}
	// C and R must be clear (no checksum or routing in version 1), K must be set.
	if p[0]&0xC0 != 0 || p[0]&0x20 == 0 || binary.BigEndian.Uint16(p[2:]) != greProtoPPP {
		d.errs.Inc(ReasonBadGRE)
		return
	}
	plen := int(binary.BigEndian.Uint16(p[4:]))
	n := 8
	if p[0]&0x10 != 0 { // S: sequence number
		n += 4
	}
	if p[1]&0x80 != 0 { // A: acknowledgement number
		n += 4
	}
	if len(p) < n {
		d.errs.Inc(ReasonBadGRE)
		return
	}
	body := p[n:]
	if plen < len(body) {
		body = body[:plen] // a payload length beyond the capture (snaplen) keeps what is there
	}
	if plen == 0 {
		d.cnt.Ignored++ // an acknowledgement without payload: nothing to read
		return
	}
	d.ppp(body, depth)
}

// ppp walks a PPP frame (RFC 1661 §2) as carried in PPTP: the HDLC-like address and
// control octets 0xFF 0x03 (RFC 1662 §3.1) are absent when Address-and-Control-Field-
// Compression was negotiated (RFC 1661 §6.6), and the protocol is one octet when
// Protocol-Field-Compression was (§6.5; a protocol's low octet is odd, its high octet
// even, so an odd first octet is a compressed protocol). IPv4 and IPv6 are walked; the
// control protocols (0x8000 and up: LCP, IPCP, IPV6CP, CCP, PAP, CHAP, ...) count
// ReasonPPPControl; anything else (compressed or encrypted datagrams 0x00FD, Van
// Jacobson TCP/IP, multilink, ...) ReasonUnsupportedPPPProtocol.
func (d *Decoder) ppp(b []byte, depth int) {
	if len(b) >= 2 && b[0] == 0xFF && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) == 0 {
		d.errs.Inc(ReasonBadPPP)
		return
	}
	var proto uint16
	if b[0]&1 != 0 {
		proto, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 || b[1]&1 == 0 {
			d.errs.Inc(ReasonBadPPP)
			return
		}
		proto, b = binary.BigEndian.Uint16(b), b[2:]
	}
	switch {
	case proto == pppIPv4:
		d.ipv4(b, depth)
	case proto == pppIPv6:
		d.ipv6(b, depth)
	case proto >= 0x8000:
		d.errs.Inc(ReasonPPPControl)
	default:
		d.errs.Inc(ReasonUnsupportedPPPProtocol)
	}
}

// gtpu walks a GTP-U version 1 header (3GPP TS 29.281 §5.1): flags (version 1, PT 1,
// E, S, PN), message type, length of what follows the first 8 octets, TEID; when any of
// E, S or PN is set, 4 more octets (sequence number, N-PDU number, next extension header
// type), then the chain of extension headers of §5.2 (a length octet in 4-octet units
// including itself, contents, the next type; 0 ends the chain), e.g. the PDU Session
// Container (0x85) of 5G N3. A G-PDU's payload is IPv4 or IPv6 by its first nibble;
// the signalling messages (echo, error indication, end marker, supported extension
// headers) count ReasonGTPControl. depth counts the outer UDP's IP layer.
func (d *Decoder) gtpu(b []byte, depth int) {
	if len(b) < 8 || b[0]>>5 != 1 || b[0]&0x10 == 0 {
		d.errs.Inc(ReasonBadGTP)
		return
	}
	typ := b[1]
	p := b[8:]
	if l := int(binary.BigEndian.Uint16(b[2:])); l < len(p) {
		p = p[:l] // a length beyond the capture (snaplen) keeps what is there
	}
	if b[0]&0x07 != 0 {
		if len(p) < 4 {
			d.errs.Inc(ReasonBadGTP)
			return
		}
		next := p[3]
		p = p[4:]
		for i := 0; next != 0; i++ {
			if i == 16 { // bounded: a longer chain is hostile
				d.errs.Inc(ReasonBadGTP)
				return
			}
			if len(p) == 0 {
				d.errs.Inc(ReasonBadGTP)
				return
			}
			n := int(p[0]) * 4
			if n == 0 || len(p) < n {
				d.errs.Inc(ReasonBadGTP)
				return
			}
			next, p = p[n-1], p[n:]
		}
	}
	switch typ {
	case gtpGPDU:
	case gtpEchoRequest, gtpEchoResponse, gtpErrorIndication, gtpSupportedExtHdrs, gtpEndMarker:
		d.errs.Inc(ReasonGTPControl)
		return
	default:
		d.errs.Inc(ReasonBadGTP)
		return
	}
	if len(p) == 0 {
		d.errs.Inc(ReasonBadGTP)
		return
	}
	if !d.deeper(depth) {
		return
	}
	switch p[0] >> 4 {
	case 4:
		d.ipv4(p, depth+1)
	case 6:
		d.ipv6(p, depth+1)
	default: // Ethernet or unstructured PDU sessions (TS 29.281 §5.1 NOTE; TS 23.501 §5.6.10)
		d.errs.Inc(ReasonUnsupportedGTPPayload)
	}
}
