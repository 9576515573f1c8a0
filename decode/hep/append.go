package hep

import (
	"encoding/binary"
	"net/netip"
)

// EncodedLen returns the size of the HEPv3 packet Append would write for p.
func EncodedLen(p *Packet) int {
	n := hep3HeaderLen
	n += 2 * (chunkHeaderLen + 1) // family, proto
	if family(p) == FamilyIPv6 {
		n += 2 * (chunkHeaderLen + 16)
	} else {
		n += 2 * (chunkHeaderLen + 4)
	}
	n += 2 * (chunkHeaderLen + 2) // ports
	n += 3 * (chunkHeaderLen + 4) // ts sec, ts usec, capture id
	n += chunkHeaderLen + 1       // proto type
	for _, b := range [][]byte{p.AuthKey, p.CorrelationID, p.NodeName} {
		if len(b) > 0 {
			n += chunkHeaderLen + len(b)
		}
	}
	n += chunkHeaderLen + len(p.Payload)
	return n
}

func family(p *Packet) uint8 {
	switch p.IPFamily {
	case FamilyIPv4, FamilyIPv6:
		return p.IPFamily
	}
	a := p.Src.Addr()
	if !a.IsValid() {
		a = p.Dst.Addr()
	}
	if a.Is6() && !a.Is4In6() {
		return FamilyIPv6
	}
	return FamilyIPv4
}

// Append encodes p as a HEPv3 packet (vendor 0 chunks) and appends it to
// dst. The family is p.IPFamily, or derived from Src when it is zero.
// Addresses of the other family are converted (IPv4-mapped IPv6) or written
// as zeros. Optional chunks (auth key 14, correlation id 17, node name 19)
// are written only when non-empty; the payload goes in chunk 15, or chunk
// 16 when p.Compressed. A packet longer than the 65535 bytes HEPv3 can
// describe is not written: Append returns dst unchanged (check with
// EncodedLen). Append allocates only when dst lacks capacity.
func Append(dst []byte, p *Packet) []byte {
	total := EncodedLen(p)
	if total > maxPacketLen {
		return dst
	}
	fam := family(p)
	dst = append(dst, 'H', 'E', 'P', '3')
	dst = binary.BigEndian.AppendUint16(dst, uint16(total))
	dst = appendU8(dst, chunkIPFamily, fam)
	dst = appendU8(dst, chunkIPProto, p.IPProto)
	if fam == FamilyIPv6 {
		s, d := as16(p.Src.Addr()), as16(p.Dst.Addr())
		dst = appendBytes(dst, chunkIPv6Src, s[:])
		dst = appendBytes(dst, chunkIPv6Dst, d[:])
	} else {
		s, d := as4(p.Src.Addr()), as4(p.Dst.Addr())
		dst = appendBytes(dst, chunkIPv4Src, s[:])
		dst = appendBytes(dst, chunkIPv4Dst, d[:])
	}
	dst = appendU16(dst, chunkSrcPort, p.Src.Port())
	dst = appendU16(dst, chunkDstPort, p.Dst.Port())
	dst = appendU32(dst, chunkTSSec, p.TSSec)
	dst = appendU32(dst, chunkTSUsec, p.TSUsec)
	dst = appendU8(dst, chunkProtoType, p.ProtoType)
	dst = appendU32(dst, chunkCaptureID, p.CaptureID)
	if len(p.AuthKey) > 0 {
		dst = appendBytes(dst, chunkAuthKey, p.AuthKey)
	}
	if len(p.CorrelationID) > 0 {
		dst = appendBytes(dst, chunkCorrelationID, p.CorrelationID)
	}
	if len(p.NodeName) > 0 {
		dst = appendBytes(dst, chunkNodeName, p.NodeName)
	}
	if p.Compressed {
		dst = appendBytes(dst, chunkCompressed, p.Payload)
	} else {
		dst = appendBytes(dst, chunkPayload, p.Payload)
	}
	return dst
}

func as4(a netip.Addr) [4]byte {
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		return a.As4()
	}
	return [4]byte{}
}

func as16(a netip.Addr) [16]byte {
	if !a.IsValid() {
		return [16]byte{}
	}
	return a.As16()
}

func appendChunkHeader(dst []byte, typ uint16, bodyLen int) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, typ)
	return binary.BigEndian.AppendUint16(dst, uint16(chunkHeaderLen+bodyLen))
}

func appendU8(dst []byte, typ uint16, v uint8) []byte {
	return append(appendChunkHeader(dst, typ, 1), v)
}

func appendU16(dst []byte, typ uint16, v uint16) []byte {
	return binary.BigEndian.AppendUint16(appendChunkHeader(dst, typ, 2), v)
}

func appendU32(dst []byte, typ uint16, v uint32) []byte {
	return binary.BigEndian.AppendUint32(appendChunkHeader(dst, typ, 4), v)
}

func appendBytes(dst []byte, typ uint16, b []byte) []byte {
	return append(appendChunkHeader(dst, typ, len(b)), b...)
}
