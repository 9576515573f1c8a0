package hep

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors returned by Parse. They are sentinels: compare with errors.Is.
var (
	// ErrNotHEP: the data does not start with a HEP header.
	ErrNotHEP = errors.New("hep: not a HEP packet")
	// ErrTruncated: the header or a chunk claims more bytes than present.
	ErrTruncated = errors.New("hep: truncated packet")
	// ErrMalformed: lengths or fixed-size chunks are inconsistent.
	ErrMalformed = errors.New("hep: malformed packet")
)

// IP family values used on the wire (Linux AF_INET / AF_INET6).
const (
	FamilyIPv4 = 2
	FamilyIPv6 = 10
)

// Protocol type values (chunk 11) that callscope cares about.
const (
	ProtoSIP    = 1
	ProtoH323   = 2
	ProtoSDP    = 3
	ProtoRTP    = 4
	ProtoRTCP   = 5
	ProtoMGCP   = 7
	ProtoMEGACO = 8
	ProtoM2UA   = 9
	ProtoM3UA   = 10
	ProtoIAX    = 11
	ProtoLog    = 100
	ProtoJSON   = 32 // rtpengine/Asterisk JSON RTP/RTCP statistics
)

// HEPv3 chunk types (vendor 0) from the HEP3 specification.
const (
	chunkIPFamily      = 1
	chunkIPProto       = 2
	chunkIPv4Src       = 3
	chunkIPv4Dst       = 4
	chunkIPv6Src       = 5
	chunkIPv6Dst       = 6
	chunkSrcPort       = 7
	chunkDstPort       = 8
	chunkTSSec         = 9
	chunkTSUsec        = 10
	chunkProtoType     = 11
	chunkCaptureID     = 12
	chunkKeepAlive     = 13
	chunkAuthKey       = 14
	chunkPayload       = 15
	chunkCompressed    = 16
	chunkCorrelationID = 17
	chunkVLAN          = 18
	chunkNodeName      = 19
)

const (
	hep3HeaderLen  = 6 // "HEP3" + uint16 total length
	chunkHeaderLen = 6 // vendor uint16, type uint16, length uint16 (incl. header)
	maxPacketLen   = 0xFFFF
)

// Packet is one decoded HEP packet. Byte slices are views into the input
// given to Parse (see the package doc for their lifetime).
type Packet struct {
	Version       int   // 3, or 1/2 for the legacy fixed header
	IPFamily      uint8 // 2 = IPv4, 10 = IPv6
	IPProto       uint8 // 17 UDP, 6 TCP, 132 SCTP
	Src, Dst      netip.AddrPort
	TSSec, TSUsec uint32
	ProtoType     uint8 // 1 SIP, 5 RTCP, 32 JSON stats, ... (0 when absent, e.g. HEPv1/v2)
	CaptureID     uint32
	NodeName      []byte // chunk 19 (node name / group id)
	CorrelationID []byte // chunk 17
	AuthKey       []byte // chunk 14
	Compressed    bool   // Payload came from chunk 16 (compressed payload)
	Payload       []byte // chunk 15 (or 16): the captured message
}

// Reset clears p for reuse. It keeps nothing that points into old input.
func (p *Packet) Reset() { *p = Packet{} }

// TS returns the capture timestamp in Unix nanoseconds.
func (p *Packet) TS() int64 {
	return int64(p.TSSec)*1_000_000_000 + int64(p.TSUsec)*1_000
}

// Looks reports whether data plausibly starts a HEP packet: the "HEP3"
// magic, or a HEPv1/v2 fixed header whose version, length, family and
// protocol fields are consistent. It is cheap and allocation-free, meant
// for classifying datagrams and TCP streams.
func Looks(data []byte) bool {
	// Inlined at every call: every HEP packet starts with 'H' (HEPv3) or its version
	// 1 or 2 (HEPv1/v2), so any other first byte (RTP's is 0x80 or more) fails without
	// a call.
	return len(data) >= 4 && (data[0] == 'H' || data[0]-1 <= 1) && looks(data)
}

func looks(data []byte) bool {
	if data[0] == 'H' && data[1] == 'E' && data[2] == 'P' && data[3] == '3' {
		return true
	}
	_, ok := legacyLayout(data)
	return ok
}

// FrameLen returns the total length of the HEPv3 packet that starts data,
// for framing HEP over a TCP stream. ok is false when fewer than 6 bytes are
// present or data does not start with "HEP3"; a length below the header
// size yields ok=true and n=0, which callers must treat as malformed.
func FrameLen(data []byte) (n int, ok bool) {
	if len(data) < hep3HeaderLen || string(data[:4]) != "HEP3" {
		return 0, false
	}
	n = int(binary.BigEndian.Uint16(data[4:6]))
	if n < hep3HeaderLen {
		return 0, true
	}
	return n, true
}

// Parse decodes one HEP packet from data into p (which it resets first).
// Bytes after the length given in a HEPv3 header are ignored. Parse does
// not allocate and keeps views into data.
func Parse(data []byte, p *Packet) error {
	p.Reset()
	if len(data) >= 4 && string(data[:4]) == "HEP3" {
		return parse3(data, p)
	}
	if len(data) < 4 && len(data) > 0 && string(data) == "HEP3"[:len(data)] {
		return ErrTruncated
	}
	if len(data) > 0 && (data[0] == 1 || data[0] == 2) {
		return parse12(data, p)
	}
	return ErrNotHEP
}

func parse3(data []byte, p *Packet) error {
	if len(data) < hep3HeaderLen {
		return ErrTruncated
	}
	total := int(binary.BigEndian.Uint16(data[4:6]))
	if total < hep3HeaderLen {
		return ErrMalformed
	}
	if total > len(data) {
		return ErrTruncated
	}
	data = data[:total]
	p.Version = 3

	var (
		v4src, v4dst, v6src, v6dst netip.Addr
		sport, dport               uint16
	)
	for off := hep3HeaderLen; off < len(data); {
		if len(data)-off < chunkHeaderLen {
			return ErrMalformed // the total length cuts a chunk header
		}
		vendor := binary.BigEndian.Uint16(data[off:])
		typ := binary.BigEndian.Uint16(data[off+2:])
		clen := int(binary.BigEndian.Uint16(data[off+4:]))
		if clen < chunkHeaderLen {
			return ErrMalformed
		}
		if clen > len(data)-off {
			return ErrTruncated
		}
		body := data[off+chunkHeaderLen : off+clen]
		off += clen
		if vendor != 0 {
			continue
		}
		switch typ {
		case chunkIPFamily:
			if len(body) != 1 {
				return ErrMalformed
			}
			p.IPFamily = body[0]
		case chunkIPProto:
			if len(body) != 1 {
				return ErrMalformed
			}
			p.IPProto = body[0]
		case chunkIPv4Src, chunkIPv4Dst:
			if len(body) != 4 {
				return ErrMalformed
			}
			a := netip.AddrFrom4([4]byte(body))
			if typ == chunkIPv4Src {
				v4src = a
			} else {
				v4dst = a
			}
		case chunkIPv6Src, chunkIPv6Dst:
			if len(body) != 16 {
				return ErrMalformed
			}
			a := netip.AddrFrom16([16]byte(body))
			if typ == chunkIPv6Src {
				v6src = a
			} else {
				v6dst = a
			}
		case chunkSrcPort, chunkDstPort:
			if len(body) != 2 {
				return ErrMalformed
			}
			if typ == chunkSrcPort {
				sport = binary.BigEndian.Uint16(body)
			} else {
				dport = binary.BigEndian.Uint16(body)
			}
		case chunkTSSec, chunkTSUsec, chunkCaptureID:
			if len(body) != 4 {
				// Some old agents sent a 2-byte capture id; accept it.
				if typ == chunkCaptureID && len(body) == 2 {
					p.CaptureID = uint32(binary.BigEndian.Uint16(body))
					continue
				}
				return ErrMalformed
			}
			v := binary.BigEndian.Uint32(body)
			switch typ {
			case chunkTSSec:
				p.TSSec = v
			case chunkTSUsec:
				p.TSUsec = v
			default:
				p.CaptureID = v
			}
		case chunkProtoType:
			if len(body) != 1 {
				return ErrMalformed
			}
			p.ProtoType = body[0]
		case chunkAuthKey:
			p.AuthKey = body
		case chunkPayload:
			p.Payload = body
			p.Compressed = false
		case chunkCompressed:
			p.Payload = body
			p.Compressed = true
		case chunkCorrelationID:
			p.CorrelationID = body
		case chunkNodeName:
			p.NodeName = body
		}
	}

	// Prefer the addresses matching the declared family; fall back to
	// whichever pair is present.
	src, dst := v4src, v4dst
	if p.IPFamily == FamilyIPv6 || (!src.IsValid() && !dst.IsValid()) {
		if v6src.IsValid() || v6dst.IsValid() {
			src, dst = v6src, v6dst
		}
	}
	if src.IsValid() {
		p.Src = netip.AddrPortFrom(src, sport)
	}
	if dst.IsValid() {
		p.Dst = netip.AddrPortFrom(dst, dport)
	}
	return nil
}

// Legacy HEPv1/v2 layout (Kamailio/OpenSIPS sipcapture "struct hep_hdr"):
//
//	0  version  uint8 (1 or 2)
//	1  length   uint8 (fixed header + addresses: 16 for IPv4, 40 for IPv6)
//	2  family   uint8 (2 / 10)
//	3  proto    uint8
//	4  sport    uint16, network order
//	6  dport    uint16, network order
//	8  src, dst addresses (4+4 or 16+16)
//	v2 only: tv_sec uint32, tv_usec uint32, captid uint16, 2 bytes padding,
//	   in the sender's host byte order (little-endian on every agent in
//	   practice: x86 and arm64).
//
// then the payload.
const (
	legacyFixed   = 8
	legacyTimeLen = 12
)

// legacyLayout checks the HEPv1/v2 header fields. plausible reports that
// the version, length, family and protocol fields are consistent; ok that
// the data also holds the whole header, payloadOff being where it ends.
func legacyLayout(data []byte) (payloadOff int, ok bool) {
	off, plausible := legacyHeader(data)
	if !plausible || len(data) < off {
		return 0, false
	}
	return off, true
}

func legacyHeader(data []byte) (payloadOff int, plausible bool) {
	if len(data) < 4 {
		return 0, false
	}
	var ipLen int
	switch data[2] {
	case FamilyIPv4:
		ipLen = 8
	case FamilyIPv6:
		ipLen = 32
	default:
		return 0, false
	}
	switch data[3] {
	case 6, 17, 132:
	default:
		return 0, false
	}
	if int(data[1]) != legacyFixed+ipLen {
		return 0, false
	}
	off := legacyFixed + ipLen
	switch data[0] {
	case 1:
	case 2:
		off += legacyTimeLen
	default:
		return 0, false
	}
	return off, true
}

func parse12(data []byte, p *Packet) error {
	off, plausible := legacyHeader(data)
	if !plausible {
		return ErrNotHEP
	}
	if len(data) < off {
		return ErrTruncated
	}
	p.Version = int(data[0])
	p.IPFamily = data[2]
	p.IPProto = data[3]
	sport := binary.BigEndian.Uint16(data[4:6])
	dport := binary.BigEndian.Uint16(data[6:8])
	var src, dst netip.Addr
	if p.IPFamily == FamilyIPv4 {
		src = netip.AddrFrom4([4]byte(data[8:12]))
		dst = netip.AddrFrom4([4]byte(data[12:16]))
	} else {
		src = netip.AddrFrom16([16]byte(data[8:24]))
		dst = netip.AddrFrom16([16]byte(data[24:40]))
	}
	p.Src = netip.AddrPortFrom(src, sport)
	p.Dst = netip.AddrPortFrom(dst, dport)
	if p.Version == 2 {
		t := data[off-legacyTimeLen : off]
		p.TSSec = binary.LittleEndian.Uint32(t[0:4])
		p.TSUsec = binary.LittleEndian.Uint32(t[4:8])
		p.CaptureID = uint32(binary.LittleEndian.Uint16(t[8:10]))
	}
	p.Payload = data[off:]
	return nil
}

// SetTS overwrites the capture timestamp of the HEP packet in data, in place, with ts
// (Unix ns): the HEPv3 time chunks (types 9 and 10) or the HEPv2 header's time fields.
// It reports whether data held a timestamp to overwrite (HEPv1 and a HEPv3 packet
// without time chunks do not). data must have parsed with Parse; SetTS does not
// allocate. A collector uses it to clamp an agent's clock before decoding.
func SetTS(data []byte, ts int64) bool {
	if ts < 0 {
		ts = 0
	}
	sec, usec := uint32(ts/1_000_000_000), uint32(ts%1_000_000_000/1_000)
	if len(data) >= hep3HeaderLen && string(data[:4]) == "HEP3" {
		total := min(int(binary.BigEndian.Uint16(data[4:6])), len(data))
		found := false
		for off := hep3HeaderLen; total-off >= chunkHeaderLen; {
			vendor := binary.BigEndian.Uint16(data[off:])
			typ := binary.BigEndian.Uint16(data[off+2:])
			clen := int(binary.BigEndian.Uint16(data[off+4:]))
			if clen < chunkHeaderLen || clen > total-off {
				return found
			}
			if vendor == 0 && clen == chunkHeaderLen+4 {
				switch typ {
				case chunkTSSec:
					binary.BigEndian.PutUint32(data[off+chunkHeaderLen:], sec)
					found = true
				case chunkTSUsec:
					binary.BigEndian.PutUint32(data[off+chunkHeaderLen:], usec)
					found = true
				}
			}
			off += clen
		}
		return found
	}
	if len(data) > 0 && data[0] == 2 {
		off, ok := legacyLayout(data)
		if !ok {
			return false
		}
		t := data[off-legacyTimeLen : off]
		binary.LittleEndian.PutUint32(t[0:4], sec)
		binary.LittleEndian.PutUint32(t[4:8], usec)
		return true
	}
	return false
}
