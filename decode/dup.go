package decode

import "hash/maphash"

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
	mask    uint64 // len(sets)-1, len(sets) a power of two
	evicted uint64
}

// dupSet is one cache line: dupWays (hash, time) pairs. A zero hash marks a free way
// (a real hash of zero only costs that frame its duplicate check). The length is not
// stored: maphash already hashes it (inputs of different lengths hash apart).
type dupSet [dupWays]struct {
	h  uint64
	ts int64
}

const dupWays = 4

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
}

// seen records b, seen at ts, and reports whether it repeats a frame seen within the
// window.
func (t *dupTable) seen(b []byte, ts int64) bool {
	if t.window < 0 {
		return false
	}
	h := maphash.Bytes(t.seed, b)
	set := &t.sets[h&t.mask]
	victim := 0
	for i := range set {
		e := &set[i]
		if e.h == h {
			if dt := ts - e.ts; dt <= t.window && dt >= -t.window {
				return true
			}
			victim = i // the same bytes long ago (a retransmission): refresh this entry
			break
		}
		if e.h == 0 {
			victim = i
			break
		}
		if e.ts < set[victim].ts {
			victim = i
		}
	}
	v := &set[victim]
	if v.h != 0 && v.h != h {
		if dt := ts - v.ts; dt <= t.window && dt >= -t.window {
			t.evicted++
		}
	}
	v.h, v.ts = h, ts
	return false
}
