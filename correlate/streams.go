package correlate

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
)

// streamKey identifies an RTP stream: SSRC, source and destination. It is packed into
// 42 bytes (the netip.AddrPort form takes 72) because every active stream holds one:
//
//	[0:4]   SSRC, big-endian
//	[4:23]  source: 16-byte address, 2-byte port, 1 family byte
//	[23:42] destination, the same way
type streamKey [keyLen]byte

const (
	apLen  = 19
	keyLen = 4 + 2*apLen

	famInvalid = 0 // the zero netip.AddrPort
	famV4      = 4
	famV6      = 6
)

func makeStreamKey(ssrc uint32, src, dst netip.AddrPort) (k streamKey) {
	binary.BigEndian.PutUint32(k[:4], ssrc)
	putAP(k[4:4+apLen], src)
	putAP(k[4+apLen:], dst)
	return k
}

func putAP(b []byte, ap netip.AddrPort) {
	a := ap.Addr()
	ip := a.As16()
	copy(b[:16], ip[:])
	binary.BigEndian.PutUint16(b[16:18], ap.Port())
	switch {
	case a.Is4():
		b[18] = famV4
	case a.Is6():
		b[18] = famV6
	default:
		b[18] = famInvalid
	}
}

func getAP(b []byte) netip.AddrPort {
	var a netip.Addr
	switch b[18] {
	case famV4:
		a = netip.AddrFrom4([4]byte(b[12:16]))
	case famV6:
		a = netip.AddrFrom16([16]byte(b[:16]))
	default:
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(b[16:18]))
}

func (k *streamKey) ssrc() uint32        { return binary.BigEndian.Uint32(k[:4]) }
func (k *streamKey) src() netip.AddrPort { return getAP(k[4 : 4+apLen]) }
func (k *streamKey) dst() netip.AddrPort { return getAP(k[4+apLen:]) }
func (k *streamKey) sameFlow(o *streamKey) bool {
	return [2 * apLen]byte(k[4:]) == [2 * apLen]byte(o[4:])
}

// streamTable is the set of active streams, indexed by a seeded 64-bit hash of the key.
// A map keyed by the hash costs 16 bytes a slot where one keyed by streamKey would cost
// 56; the rare streams whose hashes collide are chained through stream.next. Not safe
// for concurrent use (the Correlator's goroutine owns it).
type streamTable struct {
	m    map[uint64]*stream
	seed maphash.Seed
	mask uint64 // all ones; tests clear bits to force collisions
	n    int
}

func newStreamTable() streamTable {
	return streamTable{m: make(map[uint64]*stream), seed: maphash.MakeSeed(), mask: ^uint64(0)}
}

func (t *streamTable) hash(k *streamKey) uint64 { return maphash.Bytes(t.seed, k[:]) & t.mask }

// get returns the stream with key k, or nil.
func (t *streamTable) get(k *streamKey) *stream {
	for s := t.m[t.hash(k)]; s != nil; s = s.next {
		if s.key == *k {
			return s
		}
	}
	return nil
}

// add inserts s, whose key must not be in the table.
func (t *streamTable) add(s *stream) {
	h := t.hash(&s.key)
	s.next = t.m[h]
	t.m[h] = s
	t.n++
}

// del removes s if it is in the table.
func (t *streamTable) del(s *stream) {
	h := t.hash(&s.key)
	var prev *stream
	for x := t.m[h]; x != nil; prev, x = x, x.next {
		if x != s {
			continue
		}
		switch {
		case prev != nil:
			prev.next = x.next
		case x.next != nil:
			t.m[h] = x.next
		default:
			delete(t.m, h)
		}
		x.next = nil
		t.n--
		return
	}
}

func (t *streamTable) len() int { return t.n }

// each calls f for every stream; f may del the stream it is given (and no other).
func (t *streamTable) each(f func(*stream)) {
	for _, head := range t.m {
		for s := head; s != nil; {
			next := s.next
			f(s)
			s = next
		}
	}
}
