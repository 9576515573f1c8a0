package main

import (
	"sync/atomic"
	"time"
)

// oldestIngested is the earliest call or registration time the file replay handed to
// the store writer: what this process ingested from -r files, which retention must not
// delete however old it is (store.RetentionConfig.Floor). Written by the replay's
// goroutine before each write, read by the retention loop; nil-safe.
type oldestIngested struct{ ns atomic.Int64 }

func (o *oldestIngested) see(ns int64) {
	if o == nil || ns <= 0 {
		return
	}
	for {
		cur := o.ns.Load()
		if cur != 0 && cur <= ns {
			return
		}
		if o.ns.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// floor is the retention floor: the oldest time seen, zero when none.
func (o *oldestIngested) floor() time.Time {
	if ns := o.ns.Load(); ns > 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
