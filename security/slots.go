package security

// claimSlot returns the slot for a key not yet in idx, in a table (*vals) of at most max
// entries: while there is room it appends a zero entry; when full it reuses the slots
// round robin (*next), removing the old entry's key (keyOf) from idx, and reports that
// it evicted one. The caller fills the slot and indexes the new key. Every bounded table
// of the detector (sources, AORs, accounts, peers) claims its slots here.
func claimSlot[K comparable, V any](vals *[]V, idx map[K]int32, next *int32, max int, keyOf func(*V) K) (i int32, evicted bool) {
	if len(*vals) < max {
		if len(*vals) == cap(*vals) && cap(*vals) >= max/2 {
			// The last growth goes to max, not past it: append's 1.25× would leave up to
			// a quarter of the table allocated and never used (at the 16,384 sources of
			// 20,000 calls from as many hosts, 1.1 MB).
			grown := make([]V, len(*vals), max)
			copy(grown, *vals)
			*vals = grown
		}
		*vals = append(*vals, *new(V))
		return int32(len(*vals) - 1), false
	}
	i = *next
	*next = (*next + 1) % int32(len(*vals))
	delete(idx, keyOf(&(*vals)[i]))
	return i, true
}
