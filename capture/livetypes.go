package capture

// Types of live capture (live.go on Linux, live_other.go elsewhere).

// LiveConfig sizes a live capture; zero values take the defaults.
type LiveConfig struct {
	Snaplen    int // bytes kept per frame (default 65535)
	RingMB     int // kernel ring size (default 32 MiB)
	Queue      int // batches waiting for the consumer (default 256)
	BatchBytes int // arena per batch (default 256 KiB)
	// Filter is a tcpdump filter expression run in the kernel on every interface
	// (CompileFilter); empty keeps every frame.
	Filter string
	// Fanout is readers per interface (default 1): more join a PACKET_FANOUT hash group,
	// each with its own ring of RingMB (see live.go).
	Fanout int
	// Metrics, when not nil, get the capture's callscope_capture_live_* and drop metrics.
	Metrics *Metrics
}

// Batch is a run of captured frames from one interface; frames alias its arena.
type Batch struct {
	Iface    string
	Worker   int // the interface's reader (ring) that captured it (LiveConfig.Fanout)
	LinkType uint32
	TS       []int64
	Frames   [][]byte
	OrigLen  []int
	arena    []byte
}

func (b *Batch) reset() {
	b.TS, b.Frames, b.OrigLen, b.arena = b.TS[:0], b.Frames[:0], b.OrigLen[:0], b.arena[:0]
}

// LiveStats counts one capture.
type LiveStats struct {
	Packets, Bytes uint64
	KernelDrops    uint64 // dropped by the kernel: the ring was full
	QueueDrops     uint64 // packets in batches dropped because the consumer fell behind
}

// WorkerStats counts one reader (one ring) of a live capture.
type WorkerStats struct {
	Iface  string
	Worker int // 0..LiveConfig.Fanout-1
	LiveStats
}
