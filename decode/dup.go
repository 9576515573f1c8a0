package decode

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// dupTable remembers the last frames seen, from their first IP header on, to drop the
// copies a capture sees twice: a SPAN port mirroring both directions of a link, or two
// mirrored ports on one path, hands the probe the same IP packet twice within
// microseconds, possibly under a different Ethernet header or VLAN tag.
//
// It is a set-associative table of dupWays-entry sets indexed by a 64-bit maphash of the
// bytes (seeded per decoder), fixed in size at New: no allocation per packet. A frame is
// a duplicate when an entry in its set has the same hash and was seen at most window
// nanoseconds (packet time) before or after it. The bytes themselves are not kept, so
// equality is by a strong 64-bit hash (which covers the length): two different packets
// collide with probability about 2^-64 per pair compared (with 1024 entries, far below
// one in a trillion over a billion packets), in exchange for a table of 16 bytes per
// entry (16 KiB by default, one cache line per set) that never copies packet bytes. A
// random per-decoder seed means crafted traffic cannot aim for collisions; the price is
// that which pair collides, if any ever does, differs between runs. The cost is one
// hash of the whole IP packet per frame (about 20 ns for a 200-byte RTP packet with the
// AES-based runtime hash behind hash/maphash; hashing only a prefix would be cheaper,
// but two silent RTP packets in a deep tunnel can differ only past any short prefix).
//
// The window (10 ms by default) is far below the SIP retransmission interval T1 (500 ms,
// RFC 3261 §17.1.1.1), so retransmissions survive; RTP packets differ by sequence number
// and timestamp, so only true duplicates are removed. When a set is full the oldest entry
// is replaced; replacing one still inside the window counts an eviction (a duplicate
// arriving later than about DuplicateTable frames after its original is then missed).
type dupTable struct {
	seed    maphash.Seed
	window  int64
	sets    []dupSet
	mask    uint64     // len(sets)-1, len(sets) a power of two
	k       [10]uint64 // keyHash's secrets, drawn from seed
	evicted uint64
}

// dupSet is one cache line: dupWays (hash, time) pairs. A zero hash marks a free way
// (a real hash of zero only costs that frame its duplicate check). The length is not
// stored: maphash already hashes it (inputs of different lengths hash apart).
type dupSet [dupWays]dupEntry

type dupEntry struct {
	h  uint64
	ts int64
}

const dupWays = 4 // seen's unrolled lookup assumes 4

func (t *dupTable) init(entries int, window int64) {
	t.window = window
	if window < 0 {
		return
	}
	n := 1
	for n*dupWays < entries {
		n <<= 1
	}
	t.sets = make([]dupSet, n)
	t.mask = uint64(n - 1)
	t.seed = maphash.MakeSeed()
	for i := range t.k {
		t.k[i] = maphash.Comparable(t.seed, i)
	}
}

// seen records b, seen at ts, and reports whether it repeats a frame seen within the
// window.
func (t *dupTable) seen(b []byte, ts int64) bool {
	if t.window < 0 {
		return false
	}
	h := t.keyHash(b)
	set := &t.sets[h&t.mask]
	w := uint64(t.window)
	// The ways are compared unrolled (this runs for every frame). |ts-e.ts| <= window is
	// one unsigned compare: dt+window in [0, 2*window].
	e0, e1, e2, e3 := &set[0], &set[1], &set[2], &set[3]
	var v *dupEntry
	switch h {
	case e0.h:
		v = e0
	case e1.h:
		v = e1
	case e2.h:
		v = e2
	case e3.h:
		v = e3
	}
	if v != nil {
		if uint64(ts-v.ts)+w <= 2*w {
			return true
		}
		// The same bytes long ago (a retransmission): refresh this entry.
	} else {
		// The oldest way is replaced; a free way (h and ts zero) is older than any frame
		// with a packet time after 1970.
		v = e0
		if e1.ts < v.ts {
			v = e1
		}
		if e2.ts < v.ts {
			v = e2
		}
		if e3.ts < v.ts {
			v = e3
		}
		if v.h != 0 && uint64(ts-v.ts)+w <= 2*w {
			t.evicted++
		}
	}
	v.h, v.ts = h, ts
	return false
}

// keyHash returns the table's hash of the packet b (from its IP header on). Hashing a
// whole 200-byte RTP packet was most of the table's cost, and so was copying a key out of
// it for hash/maphash. A UDP datagram that carries a checksum is identified by its IP and
// UDP headers (addresses, ports, IP ID, TTL, lengths, and the UDP checksum, which covers
// every byte of the payload) plus the first and last 16 bytes of the payload (for RTP:
// version, payload type, sequence number, timestamp and SSRC); two different datagrams
// match only if, within the window, they share all of that and a 16-bit checksum over
// different contents. For the common shapes (IPv4 without options, IPv6 without
// extension headers) those bytes are read as 64-bit words straight from the packet and
// folded pairwise with seeded multiplies (the 128-bit product's halves xored, as wyhash
// does): a fifth of the instructions of maphash over a copied key, and the seed
// keeps crafted collisions out of reach of traffic that cannot see it. Without a UDP
// checksum (IPv4 may omit it; VXLAN often does), IPv4 options, IPv6 extension headers,
// non-first fragments and anything else but UDP, every byte is hashed with maphash.
func (t *dupTable) keyHash(b []byte) uint64 {
	var hl int
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		if b[9] != 17 || (b[6]&0x1f != 0 || b[7] != 0) { // not UDP, or not the first fragment
			return maphash.Bytes(t.seed, b)
		}
		hl = int(b[0]&0x0f) * 4
		if hl != 20 {
			return maphash.Bytes(t.seed, b)
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		if b[6] != 17 {
			return maphash.Bytes(t.seed, b)
		}
		hl = 40
	default:
		return maphash.Bytes(t.seed, b)
	}
	if len(b) < hl+8+32 || (b[hl+6] == 0 && b[hl+7] == 0) {
		return maphash.Bytes(t.seed, b)
	}
	// The words read cover the IP header, the UDP header and the payload's first and
	// last 16 bytes (IPv4: bytes 0-43; IPv6: 0-63; overlapping reads are harmless).
	// Pairs of words, each xored with its own secret, are multiplied and folded (wyhash's
	// construction) and the folds xored; the length goes into the tail's pair.
	le := binary.LittleEndian
	n := len(b)
	tail := (*[16]byte)(b[n-16:])
	h := fold(le.Uint64(tail[0:])^t.k[0], le.Uint64(tail[8:])^uint64(n)^t.k[1])
	if hl == 20 {
		k := (*[44]byte)(b[:44])
		return h ^ fold(le.Uint64(k[0:])^t.k[2], le.Uint64(k[8:])^t.k[3]) ^
			fold(le.Uint64(k[16:])^t.k[4], le.Uint64(k[24:])^t.k[5]) ^
			fold(le.Uint64(k[32:])^t.k[6], uint64(le.Uint32(k[40:]))^t.k[7])
	}
	k := (*[64]byte)(b[:64])
	return h ^ fold(le.Uint64(k[0:])^t.k[2], le.Uint64(k[8:])^t.k[3]) ^
		fold(le.Uint64(k[16:])^t.k[4], le.Uint64(k[24:])^t.k[5]) ^
		fold(le.Uint64(k[32:])^t.k[6], le.Uint64(k[40:])^t.k[7]) ^
		fold(le.Uint64(k[48:])^t.k[8], le.Uint64(k[56:])^t.k[9])
}

// fold multiplies a by b and xors the two halves of the 128-bit product.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
