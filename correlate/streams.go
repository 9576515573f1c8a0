package correlate

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"unsafe"
)

// streamKey identifies an RTP stream: SSRC, source and destination. The addresses are
// kept as their 16-byte forms in integers, with the family alongside (48 bytes; the
// netip.AddrPort form takes 72), because every active stream holds one and every RTP
// packet builds one.
type streamKey struct {
	srcHi, srcLo, dstHi, dstLo uint64
	ssrc                       uint32
	srcPort, dstPort           uint16
	// fams is the source's family <<8 | the destination's, stored by set in one 16-bit
	// write: hash reads both in one 16-bit load, which the CPU forwards from a single
	// store but stalls on (about 12 cycles) when it spans two byte stores.
	fams uint16
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
	var sf, df uint8
	k.srcHi, k.srcLo, sf = splitAddr(src.Addr())
	k.dstHi, k.dstLo, df = splitAddr(dst.Addr())
	k.fams = uint16(sf)<<8 | uint16(df)
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

func (k *streamKey) src() netip.AddrPort {
	return joinAddr(k.srcHi, k.srcLo, uint8(k.fams>>8), k.srcPort)
}
func (k *streamKey) dst() netip.AddrPort { return joinAddr(k.dstHi, k.dstLo, uint8(k.fams), k.dstPort) }

// sameFlow reports whether k and o have the same source and destination.
func (k *streamKey) sameFlow(o *streamKey) bool {
	return k.srcLo == o.srcLo && k.dstLo == o.dstLo && k.srcPort == o.srcPort &&
		k.dstPort == o.dstPort && k.srcHi == o.srcHi && k.dstHi == o.dstHi &&
		k.fams == o.fams
}

// equal reports whether k and o are the same key. It compares field by field: == on the
// struct, whose 6 bytes of padding rule out one block compare, calls the generated
// equality function and memeqbody, about 60 instructions per RTP packet against 15.
func (k *streamKey) equal(o *streamKey) bool {
	return k.ssrc == o.ssrc && k.sameFlow(o)
}

// streamTable is the set of active streams: an open-addressing table of (hash, stream)
// slots with linear probing, indexed by a seeded 64-bit hash of the key. A lookup reads
// one 16-byte slot (more only on a collision) and then the stream it names; with tens of
// thousands of streams that is one cache miss for the slot where a Go map took two or
// three (directory, group control word, slot). Deletion shifts the following entries
// back (no tombstones), so probe lengths do not grow as calls come and go. Not safe for
// concurrent use (the Correlator's goroutine owns it).
type streamTable struct {
	slots []streamSlot // len is a power of two (or 0); at most 3/4 full
	seed  [4]uint64    // random per table: collisions cannot be chosen from outside
	mask  uint64       // all ones; tests clear bits to force collisions
	n     int
}

// streamSlot is one table entry; s == nil marks an empty slot.
type streamSlot struct {
	h uint64
	s *stream
}

const minStreamSlots = 64

func newStreamTable() streamTable {
	t := streamTable{mask: ^uint64(0)}
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	return t
}

// hash mixes the key's integers with the table's seed by 128-bit multiplication folds
// (the core of wyhash), a few nanoseconds per RTP packet. Collisions only lengthen a
// chain, and the random seed keeps senders from choosing keys that collide.
func (t *streamTable) hash(k *streamKey) uint64 { return hashKey(k, &t.seed, t.mask) }

func hashKey(k *streamKey, seed *[4]uint64, mask uint64) uint64 {
	ports := uint64(k.ssrc)<<32 | uint64(k.srcPort)<<16 | uint64(k.dstPort)
	fams := uint64(k.fams)
	h := fold(k.srcHi^seed[0], k.srcLo^seed[1])
	h ^= fold(k.dstHi^seed[2], k.dstLo^seed[3])
	h = fold(h^ports, fams^seed[0]^0x9E3779B97F4A7C15)
	return h & mask
}

// StreamHasher computes the stream table's hash of an RTP packet's key on another
// goroutine than the Correlator's: the two-stage pipeline's decode stage hashes each
// packet, and the correlation stage, its busier half, then prefetches and looks the
// stream up with that hash (PrefetchSlotHash, EventHashed) instead of hashing twice. It
// holds a copy of the table's seed, which is drawn in New and never changes, so it stays
// valid for the Correlator's life and is safe to use from any one goroutine.
type StreamHasher struct {
	seed [4]uint64
	mask uint64
}

// StreamHasher returns the hasher of c's stream table. Call it before handing the hasher
// to another goroutine (it reads the Correlator).
func (c *Correlator) StreamHasher() StreamHasher {
	return StreamHasher{seed: c.streams.seed, mask: c.streams.mask}
}

// Hash is the stream table's hash of the stream (ssrc, src, dst), as the Correlator
// computes it for an RTP event with those values.
func (s *StreamHasher) Hash(ssrc uint32, src, dst netip.AddrPort) uint64 {
	var k streamKey
	k.set(ssrc, src, dst)
	return hashKey(&k, &s.seed, s.mask)
}

func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// get returns the stream with key k, or nil.
func (t *streamTable) get(k *streamKey) *stream { return t.getHashed(k, t.hash(k)) }

// getHashed is get for h == t.hash(k).
func (t *streamTable) getHashed(k *streamKey, h uint64) *stream {
	if len(t.slots) == 0 {
		return nil
	}
	m := uint64(len(t.slots) - 1)
	for i := h & m; ; i = (i + 1) & m {
		e := &t.slots[i]
		if e.s == nil {
			return nil
		}
		if e.h == h && e.s.key.equal(k) {
			return e.s
		}
	}
}

// add inserts s, whose key must not be in the table.
func (t *streamTable) add(s *stream) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	t.put(t.hash(&s.key), s)
	t.n++
}

func (t *streamTable) put(h uint64, s *stream) {
	m := uint64(len(t.slots) - 1)
	i := h & m
	for t.slots[i].s != nil {
		i = (i + 1) & m
	}
	t.slots[i] = streamSlot{h: h, s: s}
}

// grow doubles the slots and re-inserts every entry (by its stored hash).
func (t *streamTable) grow() {
	old := t.slots
	t.slots = make([]streamSlot, max(minStreamSlots, 2*len(old)))
	for _, e := range old {
		if e.s != nil {
			t.put(e.h, e.s)
		}
	}
}

// del removes s if it is in the table.
func (t *streamTable) del(s *stream) {
	if len(t.slots) == 0 {
		return
	}
	h := t.hash(&s.key)
	m := uint64(len(t.slots) - 1)
	i := h & m
	for ; t.slots[i].s != s; i = (i + 1) & m {
		if t.slots[i].s == nil {
			return
		}
	}
	// Backward-shift deletion: move each later entry of the run whose home slot is not
	// between the hole and itself into the hole.
	for j := (i + 1) & m; ; j = (j + 1) & m {
		e := t.slots[j]
		if e.s == nil {
			break
		}
		if home := e.h & m; (j-home)&m >= (j-i)&m {
			t.slots[i] = e
			i = j
		}
	}
	t.slots[i] = streamSlot{}
	t.n--
}

func (t *streamTable) len() int { return t.n }

// each calls f for every stream; f may del the stream it is given (and no other).
// The walk starts after an empty slot, so no run of entries wraps past its start, and a
// deletion only moves entries of the run the walk is in back to the slot being visited
// or beyond it: the slot is visited again when f changed it, and no entry is seen twice
// or missed.
func (t *streamTable) each(f func(*stream)) {
	m := len(t.slots) - 1
	start := 0
	for start <= m && t.slots[start].s != nil {
		start++
	}
	for k := 1; k <= m+1; k++ {
		i := (start + k) & m
		for s := t.slots[i].s; s != nil; {
			f(s)
			next := t.slots[i].s
			if next == s {
				break
			}
			s = next
		}
	}
}

// occupied counts the non-empty slots (tests: it must equal len()).
func (t *streamTable) occupied() int {
	n := 0
	for _, e := range t.slots {
		if e.s != nil {
			n++
		}
	}
	return n
}

// PrefetchSlot and PrefetchStream ask the CPU to bring into cache what the lookup of an
// RTP packet will read, without waiting for it. A caller holding a batch of events calls
// PrefetchSlot some events ahead of Event (it returns the key's hash, 0 for an empty
// table), then PrefetchStream with that hash a few events later (the slot is in cache
// by then; it fetches the stream). With tens of thousands of streams neither is in
// cache, and each packet would otherwise wait for two memory loads in turn (BENCHMARKS.md,
// issue 16). Neither changes any state; without a prefetch instruction (other than
// amd64) they only compute the hash.
func (c *Correlator) PrefetchSlot(ssrc uint32, src, dst netip.AddrPort) uint64 {
	t := &c.streams
	if len(t.slots) == 0 {
		return 0
	}
	var k streamKey
	k.set(ssrc, src, dst)
	h := t.hash(&k)
	c.PrefetchSlotHash(h)
	return h
}

// PrefetchSlotHash is PrefetchSlot for the hash h a StreamHasher of c computed.
func (c *Correlator) PrefetchSlotHash(h uint64) {
	if t := &c.streams; len(t.slots) > 0 {
		prefetch(unsafe.Pointer(&t.slots[h&uint64(len(t.slots)-1)]))
	}
}

// PrefetchStream: see PrefetchSlot. The table may have grown in between: then the slot
// read is another one, and the hint is merely useless.
func (c *Correlator) PrefetchStream(h uint64) {
	t := &c.streams
	if len(t.slots) == 0 {
		return
	}
	if e := &t.slots[h&uint64(len(t.slots)-1)]; e.h == h && e.s != nil {
		prefetchStream(unsafe.Pointer(e.s))
	}
}

// PrefetchFrames carries PrefetchStream's hints on to what keeping the packet's frame
// (Config.KeepRTP) reads: the stream's call, the call's mediaKeep, and the open chunk
// where the frame goes. Each load waits for the one before it, and with tens of
// thousands of calls none is in cache: perf of serve -r with --keep-rtp headers at
// 20,000 calls put most of appendFrame's time on the first read of the mediaKeep
// (BENCHMARKS.md, issue 17, session 6). Each step needs what the step before brought in,
// so a caller gives the same hash steps 0, 1 and 2 on successive events, after
// PrefetchStream: 0 hints the call's keep field, 1 the mediaKeep, 2 the open chunk's
// tail. Like the others it changes no state and is merely useless when the table
// changed in between; without frames kept (KeepsFrames) it returns at once.
func (c *Correlator) PrefetchFrames(h uint64, step int) {
	t := &c.streams
	if c.keepMode == keepNone || len(t.slots) == 0 {
		return
	}
	e := &t.slots[h&uint64(len(t.slots)-1)]
	if e.h != h || e.s == nil || e.s.call == nil {
		return
	}
	cl := e.s.call
	switch step {
	case 0:
		prefetch(unsafe.Pointer(&cl.keep))
	case 1:
		if k := cl.keep; k != nil {
			prefetch(unsafe.Pointer(k))
			prefetch(unsafe.Pointer(&k.link)) // the struct's last field: its second line
		}
	case 2:
		if k := cl.keep; k != nil && len(k.open) < cap(k.open) {
			o := k.open[:cap(k.open)]
			prefetch(unsafe.Pointer(&o[len(k.open)]))
			prefetch(unsafe.Pointer(&o[min(len(k.open)+64, len(o)-1)]))
		}
	}
}

// KeepsFrames reports whether the correlator keeps media frames (Config.KeepRTP with
// KeepMessages), the case PrefetchFrames serves. When it does not, an RTP event's frame
// is never read, and of its payload only the RTP header and the first 4 payload bytes
// (an RFC 4733 event, quality/dtmf.go): the two-goroutine pipeline copies no more
// (cmd/callscope, pipeBatch.add).
func (c *Correlator) KeepsFrames() bool { return c.keepMode != keepNone }
