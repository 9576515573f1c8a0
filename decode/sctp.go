package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode/sip"
)

// SCTP chunk types read (RFC 4960 §3.2, RFC 8260 §2.1).
const (
	sctpData  = 0
	sctpIData = 64
)

// sctp walks an SCTP packet (RFC 4960 §3): the 12-byte common header, then chunks of
// type, flags and length, each padded to 4 bytes. The user data of each unfragmented
// DATA or I-DATA chunk (B and E flags set) that looks like SIP is emitted; fragmented
// user messages are reassembled when their fragments arrive in TSN order.
func (d *Decoder) sctp(src, dst netip.Addr, p []byte) {
	if len(p) < 12 {
		d.errs.Inc(ReasonBadSCTP)
		return
	}
	d.cnt.SCTP++
	s := netip.AddrPortFrom(src, binary.BigEndian.Uint16(p))
	t := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2:]))
	off := 12
	for len(p)-off >= 4 {
		typ, flags := p[off], p[off+1]
		l := int(binary.BigEndian.Uint16(p[off+2:]))
		if l < 4 || off+l > len(p) {
			d.errs.Inc(ReasonBadSCTP)
			return
		}
		chunk := p[off+4 : off+l]
		off += (l + 3) &^ 3
		var hdr int
		switch typ {
		case sctpData: // TSN, stream id, stream sequence number, PPID
			hdr = 12
		case sctpIData: // TSN, stream id, reserved, MID, PPID or FSN
			hdr = 16
		default:
			continue
		}
		if len(chunk) < hdr {
			d.errs.Inc(ReasonBadSCTP)
			return
		}
		user := chunk[hdr:]
		if flags&0x03 != 0x03 { // not both B (0x02) and E (0x01): a fragment
			tsn := binary.BigEndian.Uint32(chunk)
			sid := binary.BigEndian.Uint16(chunk[4:])
			var ok bool
			if user, ok = d.sctpR.push(sctpKey{s, t, sid}, tsn, flags, user); !ok {
				continue
			}
		}
		if sip.Looks(user) {
			d.emitSIP(s, t, TransportSCTP, false, d.ts, user)
		} else {
			d.cnt.Ignored++
		}
	}
}

// sctpKey identifies one SCTP stream direction for fragment reassembly.
type sctpKey struct {
	src, dst netip.AddrPort
	sid      uint16
}

type sctpFrag struct {
	buf     []byte
	nextTSN uint32
}

// sctpTable reassembles fragmented user messages (RFC 4960 §6.9) that arrive in TSN
// order: B starts a message, following TSNs append, E completes it. A missing or
// reordered fragment drops the message (counted ignored). Bounded in entries and bytes.
type sctpTable struct {
	m        map[sctpKey]*sctpFrag
	max, cap int
}

func (t *sctpTable) init(maxEntries, maxBytes int) {
	t.m = make(map[sctpKey]*sctpFrag)
	t.max, t.cap = maxEntries, maxBytes
}

// push adds one fragment; it returns the whole message (valid until the next push) when
// flags has E and every fragment since B arrived in order.
func (t *sctpTable) push(k sctpKey, tsn uint32, flags uint8, data []byte) ([]byte, bool) {
	f := t.m[k]
	if flags&0x02 != 0 { // B: first fragment
		if f == nil {
			if len(t.m) >= t.max {
				for old := range t.m {
					delete(t.m, old)
					break
				}
			}
			f = &sctpFrag{}
			t.m[k] = f
		}
		f.buf = append(f.buf[:0], data...)
		f.nextTSN = tsn + 1
		return nil, false
	}
	if f == nil || f.nextTSN != tsn || len(f.buf)+len(data) > t.cap {
		if f != nil {
			delete(t.m, k)
		}
		return nil, false
	}
	f.buf = append(f.buf, data...)
	f.nextTSN++
	if flags&0x01 == 0 {
		return nil, false
	}
	delete(t.m, k)
	return f.buf, true
}
