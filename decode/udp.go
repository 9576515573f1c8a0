package decode

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

const vxlanPort = 4789 // RFC 7348 §5

// udp walks a UDP header (RFC 768) and classifies the payload by content.
func (d *Decoder) udp(src, dst netip.Addr, p []byte, depth int) {
	if len(p) < 8 {
		d.errs.Inc(ReasonTruncatedUDP)
		return
	}
	d.cnt.UDP++
	sport := binary.BigEndian.Uint16(p)
	dport := binary.BigEndian.Uint16(p[2:])
	payload := p[8:]
	// The length field trims link padding; zero (jumbogram, offload) or a length beyond
	// the captured bytes keeps what was captured.
	if ul := int(binary.BigEndian.Uint16(p[4:])); ul >= 8 && ul <= len(p) {
		payload = p[8:ul]
	}
	if dport == vxlanPort {
		// RFC 7348 §5: flags (I bit 0x08 must be set), reserved, VNI, reserved; then Ethernet.
		if len(payload) < 8 || payload[0]&0x08 == 0 {
			d.errs.Inc(ReasonBadVXLAN)
			return
		}
		if d.deeper(depth) {
			d.ethernet(payload[8:], depth+1)
		}
		return
	}
	if sport == gtpuPort || dport == gtpuPort {
		d.gtpu(payload, depth)
		return
	}
	switch dport {
	case 1701, 4790, 6081: // L2TP (RFC 2661 §8.1), VXLAN-GPE, Geneve (RFC 8926 §3.3): not opened
		d.errs.Inc(ReasonUnsupportedTunnel)
		return
	}
	s, t := netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	if hep.Looks(payload) {
		d.hep(payload)
		return
	}
	d.classify(s, t, TransportUDP, false, d.ts, payload)
}

// classify emits a datagram payload as SIP, RTCP or RTP, or counts it ignored.
func (d *Decoder) classify(src, dst netip.AddrPort, tr Transport, fromHEP bool, ts int64, payload []byte) {
	if sip.Looks(payload) {
		d.emitSIP(src, dst, tr, fromHEP, ts, payload)
		return
	}
	if !wellKnown(src.Port()) && !wellKnown(dst.Port()) && d.media(src, dst, tr, fromHEP, ts, payload) {
		return
	}
	d.cnt.Ignored++
}

// wellKnown reports ports whose datagrams can look like RTP by accident (DNS, DHCP, NTP,
// NetBIOS, SNMP, mDNS, LLMNR, SSDP, IKE).
func wellKnown(port uint16) bool {
	switch port {
	case 53, 67, 68, 123, 137, 138, 161, 162, 500, 1900, 4500, 5353, 5355:
		return true
	}
	return false
}

// emitSIP parses one SIP message and emits it. A message cut short (Content-Length beyond
// the datagram, e.g. by the snaplen) is still emitted with what is there.
func (d *Decoder) emitSIP(src, dst netip.AddrPort, tr Transport, fromHEP bool, ts int64, msg []byte) {
	m := &d.sipMsg
	if err := sip.Parse(msg, m); err != nil && !errors.Is(err, sip.ErrTruncated) {
		d.errs.Inc(ReasonBadSIP)
		return
	}
	d.cnt.SIP++
	ev := d.event(KindSIP, ts, src, dst, tr, fromHEP, msg)
	ev.SIP = m
	d.emit(ev)
}

// event fills the decoder's one Event in place and returns it; the caller sets the
// kind-specific fields (SIP, RTP, RTPPayloadLen) and emit sets Frame and LinkType, so
// every field is written. Assigning a composite literal instead built the 170-byte
// struct on the stack and copied it, about 80 instructions per RTP packet.
func (d *Decoder) event(k Kind, ts int64, src, dst netip.AddrPort, tr Transport, fromHEP bool, payload []byte) *Event {
	ev := &d.ev
	ev.Kind, ev.TS, ev.Src, ev.Dst, ev.Transport, ev.FromHEP, ev.Payload = k, ts, src, dst, tr, fromHEP, payload
	ev.SIP, ev.RTP, ev.RTPPayloadLen = nil, nil, 0
	return ev
}

// media emits a version-2 datagram as RTCP (RFC 5761 §4: second byte 192..223 and the
// first length field fits) or RTP (RFC 3550 §5.1). It reports false when the payload is
// not version 2 or too short to be either.
func (d *Decoder) media(src, dst netip.AddrPort, tr Transport, fromHEP bool, ts int64, b []byte) bool {
	if len(b) < 8 || b[0]>>6 != 2 {
		return false
	}
	if pt := b[1]; pt >= 192 && pt <= 223 {
		if l := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4; l <= len(b) {
			d.cnt.RTCP++
			d.emit(d.event(KindRTCP, ts, src, dst, tr, fromHEP, b))
			return true
		}
	}
	if len(b) < 12 {
		return false
	}
	n, ok := rtpHeaderLen(b)
	if !ok {
		d.errs.Inc(ReasonBadRTP)
		return true
	}
	if b[0]&0x1f == 0 {
		fixedRTPHeader(&d.rtpHdr, b) // n is 12
	} else if hn, err := d.rtpHdr.Unmarshal(b); err != nil || hn != n {
		d.errs.Inc(ReasonBadRTP)
		return true
	}
	plen := len(b) - n
	if b[0]&0x20 != 0 { // padding: the last byte counts padding bytes, itself included
		if plen < 1 || b[len(b)-1] == 0 || int(b[len(b)-1]) > plen {
			d.errs.Inc(ReasonBadRTP)
			return true
		}
		plen -= int(b[len(b)-1])
	}
	d.cnt.RTP++
	ev := d.event(KindRTP, ts, src, dst, tr, fromHEP, b)
	ev.RTP, ev.RTPPayloadLen = &d.rtpHdr, plen
	d.emit(ev)
	return true
}

// fixedRTPHeader is rtp.Header.Unmarshal for a header of the fixed 12 bytes alone (no
// CSRC, no extension: nearly every RTP packet): it sets every field Unmarshal sets, to
// the same values (TestFixedRTPHeader holds it to pion's), at a fifth of the
// instructions and without the call.
func fixedRTPHeader(h *rtp.Header, b []byte) {
	_ = b[11]
	h.Version = b[0] >> 6
	h.Padding = b[0]&0x20 != 0
	h.Extension = false
	h.CSRC = h.CSRC[:0]
	h.Marker = b[1]&0x80 != 0
	h.PayloadType = b[1] & 0x7f
	h.SequenceNumber = binary.BigEndian.Uint16(b[2:4])
	h.Timestamp = binary.BigEndian.Uint32(b[4:8])
	h.SSRC = binary.BigEndian.Uint32(b[8:12])
	h.Extensions = h.Extensions[:0]
}

// rtpHeaderLen computes the RTP header length (fixed header, CSRCs, extension) and checks
// it fits, so the parser's allocating error path is never taken on short input.
func rtpHeaderLen(b []byte) (int, bool) {
	n := 12 + 4*int(b[0]&0x0f)
	if len(b) < n {
		return 0, false
	}
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return 0, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
		if len(b) < n {
			return 0, false
		}
	}
	return n, true
}

// hep unwraps a HEP packet: its payload becomes an Event with the addressing and time HEP
// carries (FromHEP set).
func (d *Decoder) hep(b []byte) {
	p := &d.hepPkt
	if err := hep.Parse(b, p); err != nil {
		d.errs.Inc(ReasonBadHEP)
		return
	}
	d.cnt.HEP++
	if d.hepLive {
		d.frame, d.linkType = d.liveHEPFrame(p.Src, p.Dst, p.IPProto, p.Payload), linkTypeRaw
		if n := len(p.Payload); n <= len(d.frame) && n <= 0xffff-60 {
			// The events' payload is the frame's tail, as for a captured frame, so
			// whoever keeps both (correlate) keeps one copy.
			p.Payload = d.frame[len(d.frame)-n:]
		}
	}
	tr := TransportUDP
	switch p.IPProto {
	case protoTCP:
		tr = TransportTCP
	case protoSCTP:
		tr = TransportSCTP
	}
	ts := p.TS()
	if ts == 0 && d.hepLive {
		ts = d.ts // an agent that sends no capture time: the probe's receive time
	}
	switch p.ProtoType {
	case 1: // SIP
		d.emitSIP(p.Src, p.Dst, tr, true, ts, p.Payload)
	case 5: // RTCP
		b := p.Payload
		if len(b) < 8 || b[0]>>6 != 2 {
			d.errs.Inc(ReasonBadRTCP)
			return
		}
		d.cnt.RTCP++
		d.emit(d.event(KindRTCP, ts, p.Src, p.Dst, tr, true, b))
	default:
		if !d.media(p.Src, p.Dst, tr, true, ts, p.Payload) {
			d.cnt.Ignored++
		}
	}
}
