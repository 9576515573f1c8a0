//go:build !linux

package capture

import "errors"

// Live captures on network interfaces; only Linux (AF_PACKET) is supported.
type Live struct{}

// OpenLive fails outside Linux.
func OpenLive([]string, LiveConfig) (*Live, error) {
	return nil, errors.New("live capture needs Linux (AF_PACKET)")
}

func (*Live) Batches() <-chan *Batch     { return nil }
func (*Live) Release(*Batch)             {}
func (*Live) Stats() LiveStats           { return LiveStats{} }
func (*Live) Close()                     {}
func (*Live) WorkerStats() []WorkerStats { return nil }
