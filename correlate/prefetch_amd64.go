package correlate

import "unsafe"

// prefetch and prefetchStream issue PREFETCHT0 hints (prefetch_amd64.s): for p's cache
// line, and for the lines of a stream struct at p. A hint never faults and changes no
// memory, so any address is safe.
//
//go:noescape
func prefetch(p unsafe.Pointer)

//go:noescape
func prefetchStream(p unsafe.Pointer)
