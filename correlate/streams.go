package correlate

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// streamKey identifies an RTP stream: SSRC, source and destination. The addresses are
// kept as their 16-byte forms in integers, with the family alongside (48 bytes; the
// netip.AddrPort form takes 72), because every active stream holds one and every RTP
// packet builds one.
type streamKey struct {
	srcHi, srcLo, dstHi, dstLo uint64
	ssrc                       uint32
	srcPort, dstPort           uint16
	srcFam, dstFam             uint8
}

const (
	famInvalid = 0 // the zero netip.AddrPort
	famV4      = 4
	famV6      = 6
)

func makeStreamKey(ssrc uint32, src, dst netip.AddrPort) (k streamKey) {
	k.set(ssrc, src, dst)
	return k
}

// set fills k in place: the per-packet path uses it, as returning the key by value
// costs a store-forwarding stall worth half the lookup.
func (k *streamKey) set(ssrc uint32, src, dst netip.AddrPort) {
	k.ssrc, k.srcPort, k.dstPort = ssrc, src.Port(), dst.Port()
	k.srcHi, k.srcLo, k.srcFam = splitAddr(src.Addr())
	k.dstHi, k.dstLo, k.dstFam = splitAddr(dst.Addr())
}

// splitAddr returns a's 16-byte form as two integers. IPv4 goes through As4, which is
// several times cheaper than As16 (this runs twice per RTP packet).
func splitAddr(a netip.Addr) (hi, lo uint64, fam uint8) {
	switch {
	case a.Is4():
		b := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:])), famV4
	case a.Is6():
		b := a.As16()
		return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), famV6
	}
	return 0, 0, famInvalid
}

func joinAddr(hi, lo uint64, fam uint8, port uint16) netip.AddrPort {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	switch fam {
	case famV4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:])), port)
	case famV6:
		return netip.AddrPortFrom(netip.AddrFrom16(b), port)
	}
	return netip.AddrPort{}
}

func (k *streamKey) src() netip.AddrPort { return joinAddr(k.srcHi, k.srcLo, k.srcFam, k.srcPort) }
func (k *streamKey) dst() netip.AddrPort { return joinAddr(k.dstHi, k.dstLo, k.dstFam, k.dstPort) }

// sameFlow reports whether k and o have the same source and destination.
func (k *streamKey) sameFlow(o *streamKey) bool {
	a, b := *k, *o
	a.ssrc, b.ssrc = 0, 0
	return a == b
}

// streamTable is the set of active streams, indexed by a seeded 64-bit hash of the key.
// A map keyed by the hash costs 16 bytes a slot where one keyed by streamKey would cost
// 56; the rare streams whose hashes collide are chained through stream.next. Not safe
// for concurrent use (the Correlator's goroutine owns it).
type streamTable struct {
	m    map[uint64]*stream
	seed [4]uint64 // random per table: chains cannot be grown from outside
	mask uint64    // all ones; tests clear bits to force collisions
	n    int
}

func newStreamTable() streamTable {
	t := streamTable{m: make(map[uint64]*stream), mask: ^uint64(0)}
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	return t
}

// hash mixes the key's integers with the table's seed by 128-bit multiplication folds
// (the core of wyhash), a few nanoseconds per RTP packet. Collisions only lengthen a
// chain, and the random seed keeps senders from choosing keys that collide.
func (t *streamTable) hash(k *streamKey) uint64 {
	ports := uint64(k.ssrc)<<32 | uint64(k.srcPort)<<16 | uint64(k.dstPort)
	fams := uint64(k.srcFam)<<8 | uint64(k.dstFam)
	h := fold(k.srcHi^t.seed[0], k.srcLo^t.seed[1])
	h ^= fold(k.dstHi^t.seed[2], k.dstLo^t.seed[3])
	h = fold(h^ports, fams^t.seed[0]^0x9E3779B97F4A7C15)
	return h & t.mask
}

func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

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
