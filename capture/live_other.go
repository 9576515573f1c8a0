//go:build !linux

package capture

import "errors"

// LiveConfig sizes a live capture (Linux only).
type LiveConfig struct {
	Snaplen, RingMB, Queue, BatchBytes int
	Filter                             string
}

// Batch is a run of captured frames from one interface.
type Batch struct {
	Iface    string
	LinkType uint32
	TS       []int64
	Frames   [][]byte
	OrigLen  []int
}

// LiveStats counts one capture.
type LiveStats struct{ Packets, Bytes, KernelDrops, QueueDrops uint64 }

// Live captures on network interfaces; only Linux (AF_PACKET) is supported.
type Live struct{}

// OpenLive fails outside Linux.
func OpenLive([]string, LiveConfig) (*Live, error) {
	return nil, errors.New("live capture needs Linux (AF_PACKET)")
}

func (*Live) Batches() <-chan *Batch { return nil }
func (*Live) Release(*Batch)         {}
func (*Live) Stats() LiveStats       { return LiveStats{} }
func (*Live) Close()                 {}
