package capture

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the capture stage's Prometheus metrics, registered on the Registerer given
// to NewMetrics (none are global):
//
//	callscope_capture_packets_total, _bytes_total          files (-r), published by PublishFiles
//	callscope_capture_live_packets_total, _live_bytes_total live interfaces (LiveConfig.Metrics)
//	callscope_capture_kernel_drops_total, _queue_drops_total
//	callscope_capture_worker_packets_total, _worker_kernel_drops_total,
//	    _worker_queue_drops_total{iface, worker}   the same per reader (LiveConfig.Fanout)
//	callscope_hep_udp_packets_total, _tcp_packets_total, _bytes_total, _dropped_total,
//	    _bad_frames_total, _connections_rejected_total{reason}, _idle_closed_total,
//	    _rejected_total{reason}, _clock_clamped_total, _socket_drops_total;
//	    callscope_hep_connections (gauge) (HEPConfig.Metrics)
//
// The live and HEP metrics read the source's atomic counters at scrape time, so they are
// registered when the source opens (OpenLive, ListenHEP) and only then. A Merger is not
// safe for concurrent use, so its owner publishes its Stats with PublishFiles.
type Metrics struct {
	reg                    prometheus.Registerer
	filePackets, fileBytes atomic.Uint64
}

// NewMetrics registers the file replay's counters on reg and keeps reg for the live and
// HEP sources opened with these Metrics. A nil *Metrics registers nothing anywhere.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{reg: reg}
	err := m.register(
		counter("callscope_capture_packets_total", "Packets read from capture sources.", m.filePackets.Load),
		counter("callscope_capture_bytes_total", "Bytes of captured packets read.", m.fileBytes.Load),
	)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// PublishFiles makes a Merger's counters visible to scrapes. Called by the Merger's
// owner (its goroutine); nil-safe.
func (m *Metrics) PublishFiles(st Stats) {
	if m == nil {
		return
	}
	m.filePackets.Store(st.Packets)
	m.fileBytes.Store(st.Bytes)
}

// registerLive exports a live capture's counters (called by OpenLive).
func (m *Metrics) registerLive(l *Live) error {
	if m == nil {
		return nil
	}
	st := func(f func(LiveStats) uint64) func() uint64 { return func() uint64 { return f(l.Stats()) } }
	return m.register(
		counter("callscope_capture_live_packets_total", "Frames captured on the live interfaces.",
			st(func(s LiveStats) uint64 { return s.Packets })),
		counter("callscope_capture_live_bytes_total", "Bytes of frames captured on the live interfaces.",
			st(func(s LiveStats) uint64 { return s.Bytes })),
		counter("callscope_capture_kernel_drops_total", "Frames the kernel dropped because the capture ring was full (capture loss, not network loss).",
			st(func(s LiveStats) uint64 { return s.KernelDrops })),
		counter("callscope_capture_queue_drops_total", "Captured frames dropped because correlation fell behind (capture loss, not network loss).",
			st(func(s LiveStats) uint64 { return s.QueueDrops })),
	)
}

// registerHEP exports a HEP listener's counters (called by ListenHEP).

// Help texts of the labelled HEP counters (one series per reason).
const (
	helpConnsRejected = "TCP connections refused, by reason: total_cap (MaxConns), source_cap (per source address), not_allowed (outside the allow-list)."
	helpHEPRejected   = "HEP packets dropped at the trust boundary, by reason: not_allowed (source outside the allow-list, UDP), auth_missing, auth_wrong, unparsable (auth key required)."
)

func (m *Metrics) registerHEP(l *HEPListener) error {
	if m == nil {
		return nil
	}
	st := func(f func(HEPStats) uint64) func() uint64 { return func() uint64 { return f(l.Stats()) } }
	return m.register(
		counter("callscope_hep_udp_packets_total", "HEP packets received over UDP.", st(func(s HEPStats) uint64 { return s.UDPPackets })),
		counter("callscope_hep_tcp_packets_total", "HEP packets received over TCP.", st(func(s HEPStats) uint64 { return s.TCPPackets })),
		counter("callscope_hep_bytes_total", "Bytes of HEP packets received.", st(func(s HEPStats) uint64 { return s.Bytes })),
		counter("callscope_hep_dropped_total", "HEP packets dropped at the probe because correlation fell behind (not network loss).",
			st(func(s HEPStats) uint64 { return s.QueueDrops })),
		counter("callscope_hep_bad_frames_total", "TCP connections closed because their stream was not HEPv3.",
			st(func(s HEPStats) uint64 { return s.BadFrames })),
		labelled("callscope_hep_connections_rejected_total", helpConnsRejected,
			"reason", "total_cap", st(func(s HEPStats) uint64 { return s.ConnsRejected })),
		labelled("callscope_hep_connections_rejected_total", helpConnsRejected,
			"reason", "source_cap", st(func(s HEPStats) uint64 { return s.ConnsRejectedSource })),
		labelled("callscope_hep_connections_rejected_total", helpConnsRejected,
			"reason", "not_allowed", st(func(s HEPStats) uint64 { return s.ConnsDenied })),
		counter("callscope_hep_idle_closed_total", "HEP TCP connections closed after the idle timeout without a frame.",
			st(func(s HEPStats) uint64 { return s.IdleClosed })),
		labelled("callscope_hep_rejected_total", helpHEPRejected,
			"reason", "not_allowed", st(func(s HEPStats) uint64 { return s.SourceDenied })),
		labelled("callscope_hep_rejected_total", helpHEPRejected,
			"reason", "auth_missing", st(func(s HEPStats) uint64 { return s.AuthMissing })),
		labelled("callscope_hep_rejected_total", helpHEPRejected,
			"reason", "auth_wrong", st(func(s HEPStats) uint64 { return s.AuthWrong })),
		labelled("callscope_hep_rejected_total", helpHEPRejected,
			"reason", "unparsable", st(func(s HEPStats) uint64 { return s.Unparsable })),
		counter("callscope_hep_clock_clamped_total", "HEP packets whose agent capture time was more than the allowed skew from the probe's clock, set to the receive time.",
			st(func(s HEPStats) uint64 { return s.ClockClamped })),
		counter("callscope_hep_socket_drops_total", "HEP datagrams the kernel dropped on the UDP socket because its receive buffer was full (SO_RXQ_OVFL; capture loss).",
			st(func(s HEPStats) uint64 { return s.SocketDrops })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "callscope_hep_connections", Help: "HEP TCP connections open."},
			func() float64 { return float64(l.Stats().Conns) }),
	)
}

func (m *Metrics) register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// labelled is one series of a counter with a constant label (one per reason).
func labelled(name, help, label, value string, v func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{label: value}},
		func() float64 { return float64(v()) })
}

func counter(name, help string, v func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
}
