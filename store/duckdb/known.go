package duckdb

// Replay check without a table scan. WriteCalls must replace a call already stored
// under the same id, but asking DuckDB which ids of a batch exist is a hash join over
// every stored id (the ART index is not used for a join or a long IN list): O(stored
// calls) per batch, about 10 ms at 300,000 calls and growing, whatever the batch size.
// known is a Bloom filter of every id the calls table may hold, loaded from the table by
// the first write of the process and kept by every write after it (one process owns the
// file). An id it does not know is certainly new and needs no check; the few it knows
// are looked up one by one through the id index, and only a batch with many known ids
// (a replay) pays the join. Ids deleted by retention stay in the filter: they only cost
// a lookup if the same id comes again. The filter is rebuilt from the table, twice as
// large, when it holds more ids than it was sized for, so its false positive rate stays
// below about 0.1%.

import (
	"context"
	"database/sql/driver"
	"errors"
	"hash/maphash"
	"io"
	"math/bits"
)

const (
	knownBitsPerID = 15 // with knownHashes 10: ~0.07% false positives at capacity
	knownHashes    = 10
	knownMinCap    = 1 << 20 // ids; 1.9 MB
	// knownLookups is the most known ids of a batch looked up one by one; more take the
	// join (deleteExisting).
	knownLookups = 16
)

// idFilter is a Bloom filter of call ids.
type idFilter struct {
	seed  maphash.Seed
	bits  []uint64
	m     uint64 // len(bits) * 64
	n     int    // ids added
	limit int    // ids it was sized for
}

func newIDFilter(capacity int) *idFilter {
	capacity = max(capacity, knownMinCap)
	words := (capacity*knownBitsPerID + 63) / 64
	return &idFilter{seed: maphash.MakeSeed(), bits: make([]uint64, words), m: uint64(words) * 64, limit: capacity}
}

// probes returns the double-hashing pair for id (Kirsch and Mitzenmacher).
func (f *idFilter) probes(id string) (h1, h2 uint64) {
	h := maphash.String(f.seed, id)
	return h, bits.RotateLeft64(h, 32) | 1
}

func (f *idFilter) add(id string) {
	h1, h2 := f.probes(id)
	for i := uint64(0); i < knownHashes; i++ {
		b := (h1 + i*h2) % f.m
		f.bits[b>>6] |= 1 << (b & 63)
	}
	f.n++
}

// has reports whether id may have been added (false: it certainly was not).
func (f *idFilter) has(id string) bool {
	h1, h2 := f.probes(id)
	for i := uint64(0); i < knownHashes; i++ {
		b := (h1 + i*h2) % f.m
		if f.bits[b>>6]&(1<<(b&63)) == 0 {
			return false
		}
	}
	return true
}

func (f *idFilter) full() bool { return f.n > f.limit }

// loadKnown (re)builds s.known from the calls table, sized for twice the ids stored.
// It runs on the write connection with s.mu held.
func (s *Store) loadKnown(ctx context.Context, dc driver.Conn) error {
	q, ok := dc.(driver.QueryerContext)
	if !ok {
		return errors.New("driver connection cannot query")
	}
	n, err := queryInt(ctx, q, "SELECT count(*) FROM calls")
	if err != nil {
		return err
	}
	f := newIDFilter(2 * int(n))
	rows, err := q.QueryContext(ctx, "SELECT id FROM calls", nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, 1)
	for {
		if err := rows.Next(vals); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		if id, ok := vals[0].(string); ok {
			f.add(id)
		}
	}
	s.known = f
	return nil
}

func queryInt(ctx context.Context, q driver.QueryerContext, query string, args ...driver.NamedValue) (int64, error) {
	rows, err := q.QueryContext(ctx, query, args)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]driver.Value, 1)
	if err := rows.Next(vals); err != nil {
		return 0, err
	}
	n, _ := vals[0].(int64)
	return n, nil
}
