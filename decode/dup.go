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
	var kb [112]byte
	h := maphash.Bytes(t.seed, dupKey(b, &kb))
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

// dupKey returns the bytes the table hashes for the packet b (from its IP header on).
// Hashing a whole 200-byte RTP packet was most of the table's cost. A UDP datagram that
// carries a checksum is identified by its IP and UDP headers (addresses, ports, IP ID,
// lengths, and the checksum, which covers every byte of the payload) plus the first and
// last 16 bytes of the payload (for RTP: version, payload type, sequence number,
// timestamp and SSRC), so only those are hashed: two different datagrams match only
// if, within the window, they share all of that and a 16-bit checksum over different
// contents. Without a UDP checksum (IPv4 may omit it; VXLAN often does), IPv4 options
// past 40 bytes, IPv6 extension headers, non-first fragments and anything else but UDP,
// every byte is hashed as before.
func dupKey(b []byte, buf *[112]byte) []byte {
	var hl int
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		if b[9] != 17 || (b[6]&0x1f != 0 || b[7] != 0) { // not UDP, or not the first fragment
			return b
		}
		hl = int(b[0]&0x0f) * 4
	case len(b) >= 40 && b[0]>>4 == 6:
		if b[6] != 17 {
			return b
		}
		hl = 40
	default:
		return b
	}
	if hl < 20 || hl > 60 || len(b) < hl+8+32 || (b[hl+6] == 0 && b[hl+7] == 0) {
		return b
	}
	n := copy(buf[:], b[:hl+8+16])
	n += copy(buf[n:], b[len(b)-16:])
	return buf[:n]
}
