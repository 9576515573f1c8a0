package decode

import "net/netip"

// fragKey identifies one datagram under reassembly: (src, dst, protocol, id) for IPv4
// (RFC 791 §3.2), (src, dst, id) for IPv6 (RFC 8200 §4.5).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
	v6       bool
}

type span struct{ start, end int }

// fragEntry is one datagram under reassembly. buf holds the bytes received so far at
// their offsets; have lists the received ranges, sorted and merged.
type fragEntry struct {
	buf   []byte
	have  []span
	total int // length of the whole datagram once the last fragment arrived, else -1
	first int64
	proto uint8 // upper protocol (IPv6: next header of the fragmentable part)
	seen0 bool
}

// fragTable is the bounded reassembly table. Completed and expired entries go back to a
// small free list so their buffers are reused.
type fragTable struct {
	m       map[fragKey]*fragEntry
	free    []*fragEntry
	max     int
	maxSize int
	timeout int64
}

func (t *fragTable) init(cfg Config) {
	t.m = make(map[fragKey]*fragEntry)
	t.max = cfg.MaxFragments
	t.maxSize = cfg.MaxFragmentSize
	t.timeout = cfg.FragTimeout
}

func (t *fragTable) get() *fragEntry {
	if n := len(t.free); n > 0 {
		e := t.free[n-1]
		t.free = t.free[:n-1]
		return e
	}
	return &fragEntry{}
}

// release returns a finished entry (already removed from the map) for reuse.
func (t *fragTable) release(e *fragEntry) {
	if len(t.free) >= 32 || cap(e.buf) > 1<<17 {
		return
	}
	e.buf = e.buf[:0]
	e.have = e.have[:0]
	t.free = append(t.free, e)
}

// add stores one fragment: data at byte offset off, mf the more-fragments flag, proto the
// upper protocol this fragment announces. When the datagram is complete it is removed
// from the table and returned with its bytes; the caller releases it after use. Bytes
// already received win over overlapping new ones (counted ReasonFragOverlap).
func (t *fragTable) add(d *Decoder, key fragKey, ts int64, off int, mf bool, data []byte, proto uint8) (*fragEntry, []byte) {
	end := off + len(data)
	e := t.m[key]
	if end > t.maxSize {
		d.errs.Inc(ReasonFragTooLarge)
		if e != nil {
			delete(t.m, key)
			t.release(e)
		}
		return nil, nil
	}
	if e == nil {
		if len(t.m) >= t.max {
			d.errs.Inc(ReasonFragTableFull)
			return nil, nil
		}
		e = t.get()
		e.total = -1
		e.first = ts
		e.seen0 = false
		e.proto = proto
		t.m[key] = e
	}
	if !mf {
		if e.total >= 0 && e.total != end {
			d.errs.Inc(ReasonFragOverlap) // a second, different last fragment: keep the first
			return nil, nil
		}
		e.total = end
	}
	if off == 0 && !e.seen0 {
		e.proto, e.seen0 = proto, true
	}
	if len(e.buf) < end {
		if cap(e.buf) < end {
			nb := make([]byte, end, max(end, 2*cap(e.buf)))
			copy(nb, e.buf)
			e.buf = nb
		} else {
			e.buf = e.buf[:end]
		}
	}
	// Copy only the parts of [off,end) not yet received.
	overlap := false
	pos := off
	for _, s := range e.have {
		if s.end <= pos {
			continue
		}
		if s.start >= end {
			break
		}
		if s.start > pos {
			copy(e.buf[pos:s.start], data[pos-off:s.start-off])
		}
		overlap = true
		pos = max(pos, s.end)
		if pos >= end {
			break
		}
	}
	if pos < end {
		copy(e.buf[pos:end], data[pos-off:])
	}
	if overlap {
		d.errs.Inc(ReasonFragOverlap)
	}
	e.have = insertSpan(e.have, span{off, end})
	if e.total >= 0 && len(e.have) > 0 && e.have[0].start == 0 && e.have[0].end >= e.total {
		delete(t.m, key)
		return e, e.buf[:e.total]
	}
	return nil, nil
}

// insertSpan adds s to the sorted, merged list have.
func insertSpan(have []span, s span) []span {
	if s.end <= s.start {
		return have
	}
	i := 0
	for i < len(have) && have[i].end < s.start {
		i++
	}
	j := i
	for j < len(have) && have[j].start <= s.end {
		s.start = min(s.start, have[j].start)
		s.end = max(s.end, have[j].end)
		j++
	}
	if i == j {
		have = append(have, span{})
		copy(have[i+1:], have[i:])
		have[i] = s
		return have
	}
	have[i] = s
	return append(have[:i+1], have[j:]...)
}

// expire drops datagrams whose first fragment is older than the timeout; it returns how
// many were dropped.
func (t *fragTable) expire(now int64) int {
	n := 0
	for k, e := range t.m {
		if now-e.first > t.timeout {
			delete(t.m, k)
			t.release(e)
			n++
		}
	}
	return n
}

// dropAll drops every incomplete datagram (end of input) and returns how many.
func (t *fragTable) dropAll() int {
	n := 0
	for k, e := range t.m {
		delete(t.m, k)
		t.release(e)
		n++
	}
	return n
}
