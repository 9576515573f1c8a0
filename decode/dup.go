package decode

import "hash/maphash"

// dupTable remembers the last frames seen, from their first IP header on, to drop the
// copies a capture sees twice: a SPAN port mirroring both directions of a link, or two
// mirrored ports on one path, hands the probe the same IP packet twice within
// microseconds, possibly under a different Ethernet header or VLAN tag.
//
// It is a set-associative table of dupWays-entry sets indexed by a 64-bit maphash of the
// bytes (seeded per decoder), fixed in size at New: no allocation per packet. A frame is
// a duplicate when an entry in its set has the same length and the same hash and was
// seen at most window nanoseconds (packet time) before or after it. The bytes themselves
// are not kept, so equality is by length plus a strong 64-bit hash: two different
// packets of one length collide with probability about 2^-64 per pair compared (with
// 1024 entries, far below one in a trillion over a billion packets), in exchange for a
// table of 24 bytes per entry that never copies packet bytes. A random per-decoder seed
// means crafted traffic cannot aim for collisions.
//
// The window (10 ms by default) is far below the SIP retransmission interval T1 (500 ms,
// RFC 3261 §17.1.1.1), so retransmissions survive; RTP packets differ by sequence number
// and timestamp, so only true duplicates are removed. When a set is full the oldest entry
// is replaced; replacing one still inside the window counts an eviction (a duplicate
// arriving later than about DuplicateTable frames after its original is then missed).
type dupTable struct {
	seed    maphash.Seed
	window  int64
	ents    []dupEntry
	sets    uint64 // number of sets, a power of two
	evicted uint64
}

type dupEntry struct {
	h    uint64
	ts   int64
	n    uint32
	used bool
}

const dupWays = 4

func (t *dupTable) init(entries int, window int64) {
	t.window = window
	if window < 0 {
		return
	}
	sets := uint64(1)
	for sets*dupWays < uint64(entries) {
		sets <<= 1
	}
	t.sets = sets
	t.ents = make([]dupEntry, sets*dupWays)
	t.seed = maphash.MakeSeed()
}

// seen records b, seen at ts, and reports whether it repeats a frame seen within the
// window.
func (t *dupTable) seen(b []byte, ts int64) bool {
	if t.window < 0 {
		return false
	}
	h := maphash.Bytes(t.seed, b)
	set := t.ents[(h&(t.sets-1))*dupWays:][:dupWays]
	n := uint32(len(b))
	victim := 0
	for i := range set {
		e := &set[i]
		if !e.used {
			victim = i
			break
		}
		if e.h == h && e.n == n {
			if dt := ts - e.ts; dt <= t.window && dt >= -t.window {
				return true
			}
			victim = i // the same bytes long ago (a retransmission): refresh this entry
			break
		}
		if e.ts < set[victim].ts {
			victim = i
		}
	}
	v := &set[victim]
	if v.used && (v.h != h || v.n != n) {
		if dt := ts - v.ts; dt <= t.window && dt >= -t.window {
			t.evicted++
		}
	}
	*v = dupEntry{h: h, ts: ts, n: n, used: true}
	return false
}
