//go:build !amd64

package correlate

import "unsafe"

func prefetch(unsafe.Pointer) {}

func prefetchStream(unsafe.Pointer) {}
