//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/bpf"
)

// Live capture: AF_PACKET with a TPACKET_V3 ring (gopacket/afpacket, no libpcap). One
// reader goroutine per interface copies frames into batches (one arena per batch, no
// allocation per packet) and hands them over through a bounded queue; a batch the
// consumer cannot take is dropped and counted, like the packets the kernel drops when
// the ring is full. Both are capture loss at the probe, reported apart from network loss.
//
// Fanout (LiveConfig.Fanout > 1): each interface gets that many AF_PACKET sockets, each
// with its own ring and reader goroutine, joined in one PACKET_FANOUT group of type
// PACKET_FANOUT_HASH with PACKET_FANOUT_FLAG_DEFRAG: the kernel spreads frames over the
// rings by its symmetric flow hash (both directions of a 5-tuple on one ring, IP
// fragments reassembled before hashing), so the ring copy and the syscalls run on several
// cores. The hash is per 5-tuple, and a call's SIP and its RTP are different 5-tuples: so
// every reader still feeds the one Batches channel and its one consumer (one decoder, one
// correlator), and a call is never split between correlators. What fanout changes is
// the order across flows: frames of one flow keep their order (one ring, one reader),
// frames of different flows arrive interleaved batch by batch, up to a batch interval
// (20 ms) apart, the same order guarantee as capturing several interfaces. Kernel and
// queue drops are counted per reader (WorkerStats, metrics with an iface and worker
// label) and in total (Stats).
//
// Concurrency: Batches is read by one consumer, which gives each batch back with
// Release; Stats and WorkerStats may be called from any goroutine.

// Live captures on network interfaces.
type Live struct {
	out  chan *Batch
	free sync.Pool
	cfg  LiveConfig
	wg   sync.WaitGroup
	done chan struct{}
	once sync.Once
	taps []*tap
}

type tap struct {
	iface   string
	worker  int // index of this reader among the interface's fanout readers
	link    uint32
	tp      *afpacket.TPacket
	packets atomic.Uint64
	bytes   atomic.Uint64
	qdrops  atomic.Uint64
	kdrops  atomic.Uint64
}

// OpenLive starts capturing on each interface. Frames are Ethernet on Ethernet-like
// interfaces and loopback, raw IP on interfaces without a hardware address (tun).
func OpenLive(ifaces []string, cfg LiveConfig) (*Live, error) {
	if cfg.Snaplen <= 0 {
		cfg.Snaplen = 65535
	}
	if cfg.RingMB <= 0 {
		cfg.RingMB = 32
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 256 << 10
	}
	l := &Live{out: make(chan *Batch, cfg.Queue), cfg: cfg, done: make(chan struct{})}
	l.free.New = func() any { return &Batch{arena: make([]byte, 0, cfg.BatchBytes)} }
	if cfg.Fanout <= 0 {
		cfg.Fanout = 1
	}
	for i, name := range ifaces {
		// A fanout group id is per network namespace: derived from the pid so that two
		// callscope processes on one host do not share (and split) each other's frames.
		group := uint16(os.Getpid()*16 + i)
		for w := range cfg.Fanout {
			t, err := openTap(name, cfg)
			if err != nil {
				l.closeTaps()
				return nil, err
			}
			t.worker = w
			l.taps = append(l.taps, t)
			if cfg.Fanout > 1 {
				if err := t.tp.SetFanout(afpacket.FanoutHash|afpacket.FanoutHashWithDefrag, group); err != nil {
					l.closeTaps()
					return nil, fmt.Errorf("live capture %s: PACKET_FANOUT: %w", name, err)
				}
			}
		}
	}
	err := cfg.Metrics.registerLive(l)
	if err == nil {
		err = l.registerWorkers(cfg.Metrics)
	}
	if err != nil {
		l.closeTaps()
		return nil, fmt.Errorf("live capture metrics: %w", err)
	}
	for _, t := range l.taps {
		l.wg.Add(1)
		go l.read(t)
	}
	return l, nil
}

func openTap(name string, cfg LiveConfig) (*tap, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("live capture %s: %w", name, err)
	}
	link := uint32(LinkEthernet)
	if ifi.Flags&net.FlagLoopback == 0 && len(ifi.HardwareAddr) == 0 {
		link = LinkRaw
	}
	const frame = 1 << 16 // TPACKET_V3 packs frames into blocks; this bounds one frame
	block := 1 << 20
	n := max(cfg.RingMB<<20/block, 4)
	var prog []bpf.RawInstruction
	if cfg.Filter != "" {
		var err error
		if prog, err = CompileFilter(name, cfg.Filter); err != nil {
			return nil, err
		}
	}
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(name), afpacket.OptFrameSize(frame), afpacket.OptBlockSize(block),
		afpacket.OptNumBlocks(n), afpacket.OptBlockTimeout(10*time.Millisecond), afpacket.OptPollTimeout(100*time.Millisecond),
		afpacket.TPacketVersion3)
	if err != nil {
		return nil, fmt.Errorf("live capture %s (needs root or CAP_NET_RAW): %w", name, err)
	}
	if prog != nil {
		if err := tp.SetBPF(prog); err != nil {
			tp.Close()
			return nil, fmt.Errorf("live capture %s: filter %q: %w", name, cfg.Filter, err)
		}
	}
	_ = tp.InitSocketStats()
	return &tap{iface: name, link: link, tp: tp}, nil
}

// Batches delivers captured frames; it is closed after Close once every reader stopped.
func (l *Live) Batches() <-chan *Batch { return l.out }

// Release gives a consumed batch back for reuse.
func (l *Live) Release(b *Batch) {
	b.reset()
	l.free.Put(b)
}

// Stats sums the counters of every interface.
func (l *Live) Stats() LiveStats {
	var s LiveStats
	for _, t := range l.taps {
		ts := t.stats()
		s.Packets += ts.Packets
		s.Bytes += ts.Bytes
		s.QueueDrops += ts.QueueDrops
		s.KernelDrops += ts.KernelDrops
	}
	return s
}

// registerWorkers exports each reader's counters, labelled by interface and worker.
func (l *Live) registerWorkers(m *Metrics) error {
	if m == nil {
		return nil
	}
	for _, t := range l.taps {
		labels := prometheus.Labels{"iface": t.iface, "worker": strconv.Itoa(t.worker)}
		if err := m.register(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callscope_capture_worker_kernel_drops_total", ConstLabels: labels,
				Help: "Frames the kernel dropped because this reader's ring was full."}, func() float64 { return float64(t.kdrops.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callscope_capture_worker_queue_drops_total", ConstLabels: labels,
				Help: "Frames of this reader dropped because correlation fell behind."}, func() float64 { return float64(t.qdrops.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callscope_capture_worker_packets_total", ConstLabels: labels,
				Help: "Frames captured by this reader."}, func() float64 { return float64(t.packets.Load()) }),
		); err != nil {
			return err
		}
	}
	return nil
}

// WorkerStats returns the counters of every reader: one per interface, or LiveConfig.Fanout
// per interface.
func (l *Live) WorkerStats() []WorkerStats {
	ws := make([]WorkerStats, len(l.taps))
	for i, t := range l.taps {
		ws[i] = WorkerStats{Iface: t.iface, Worker: t.worker, LiveStats: t.stats()}
	}
	return ws
}

func (t *tap) stats() LiveStats {
	return LiveStats{Packets: t.packets.Load(), Bytes: t.bytes.Load(), QueueDrops: t.qdrops.Load(), KernelDrops: t.kdrops.Load()}
}

// Close stops every capture and closes Batches.
func (l *Live) Close() {
	l.once.Do(func() {
		close(l.done)
		l.wg.Wait()
		l.closeTaps()
		close(l.out)
	})
}

func (l *Live) closeTaps() {
	for _, t := range l.taps {
		t.tp.Close()
	}
}

func (l *Live) read(t *tap) {
	defer l.wg.Done()
	b := l.free.Get().(*Batch)
	b.Iface, b.Worker, b.LinkType = t.iface, t.worker, t.link
	// Batches leave every 20 ms or 1024 frames; the clock is the frames' own capture
	// time (no clock read per frame), and the wall clock when the ring is idle.
	var flushAt, statsAt time.Time
	flush := func(now time.Time) {
		if len(b.Frames) > 0 {
			select {
			case l.out <- b:
				b = l.free.Get().(*Batch)
			default:
				t.qdrops.Add(uint64(len(b.Frames)))
				b.reset()
			}
			b.Iface, b.Worker, b.LinkType = t.iface, t.worker, t.link
		}
		flushAt = now.Add(20 * time.Millisecond)
		if now.After(statsAt) { // a getsockopt: once a second is enough
			t.kernelStats()
			statsAt = now.Add(time.Second)
		}
	}
	flush(time.Now())
	for {
		select {
		case <-l.done:
			flush(time.Now())
			return
		default:
		}
		data, ci, err := t.tp.ZeroCopyReadPacketData()
		switch {
		case errors.Is(err, afpacket.ErrTimeout):
			flush(time.Now())
			continue
		case err != nil:
			// The socket failed (the interface went away): stop this tap, keep the rest.
			flush(time.Now())
			return
		}
		if len(data) > l.cfg.Snaplen {
			data = data[:l.cfg.Snaplen]
		}
		if len(b.arena)+len(data) > cap(b.arena) {
			flush(ci.Timestamp)
			if len(data) > cap(b.arena) {
				b.arena = make([]byte, 0, len(data))
			}
		}
		off := len(b.arena)
		b.arena = append(b.arena, data...)
		b.Frames = append(b.Frames, b.arena[off:len(b.arena):len(b.arena)])
		b.TS = append(b.TS, ci.Timestamp.UnixNano())
		b.OrigLen = append(b.OrigLen, ci.Length)
		t.packets.Add(1)
		t.bytes.Add(uint64(ci.Length))
		if len(b.Frames) >= 1024 || ci.Timestamp.After(flushAt) {
			flush(ci.Timestamp)
		}
	}
}

// kernelStats reads the kernel's drop counter (reading it clears it in the kernel;
// afpacket keeps the running sum).
func (t *tap) kernelStats() {
	_, v3, err := t.tp.SocketStats()
	if err != nil {
		return // keep the last count; the socket is failing and read will stop
	}
	t.kdrops.Store(uint64(v3.Drops()))
}
