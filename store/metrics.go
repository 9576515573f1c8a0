package store

import "github.com/prometheus/client_golang/prometheus"

// writerMetrics are the Writer's Prometheus metrics (see NewWriter).
type writerMetrics struct {
	batchSeconds   prometheus.Histogram
	writeFailures  prometheus.Counter
	callsWritten   prometheus.Counter
	regsWritten    prometheus.Counter
	spoolEvicted   prometheus.CounterFunc
	queueDepth     prometheus.GaugeFunc
	spoolBytes     prometheus.GaugeFunc
	spoolEntries   prometheus.GaugeFunc
	spoolCorrupt   prometheus.CounterFunc
	spoolAppendErr prometheus.Counter
	budgetSpooled  prometheus.Counter
	frameBytes     prometheus.GaugeFunc
	walSyncs       prometheus.Counter
	walLatency     prometheus.Histogram
	walAppended    prometheus.Counter
	walOverflow    *prometheus.CounterVec
	walReadErr     prometheus.Counter
	walRecovered   prometheus.Counter
	walBytes       prometheus.GaugeFunc
	walEntries     prometheus.GaugeFunc
}

func newWriterMetrics(w *Writer) *writerMetrics {
	m := &writerMetrics{
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callscope_store_batch_seconds",
			Help:    "Time to write one batch of calls or registrations to the store, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		writeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_write_failures_total",
			Help: "Store write attempts that failed (each retry counts).",
		}),
		callsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_calls_written_total",
			Help: "Calls the store accepted (replays from the spool included).",
		}),
		regsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_registrations_written_total",
			Help: "Registrations the store accepted.",
		}),
		spoolEvicted: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "callscope_store_spool_evicted_total",
			Help: "Spooled entries dropped unwritten because the spool reached its size cap (raise Config.SpoolMaxBytes).",
		}, func() float64 { return float64(w.spool.Evicted()) }),
		queueDepth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_store_queue_depth",
			Help: "Entries waiting in the writer's in-memory queue.",
		}, func() float64 { return float64(len(w.queue)) }),
		spoolBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_store_spool_bytes",
			Help: "Size of the on-disk spool of entries waiting for the store.",
		}, func() float64 { return float64(w.spool.Bytes()) }),
		spoolEntries: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_store_spool_entries",
			Help: "Entries waiting in the on-disk spool.",
		}, func() float64 { return float64(w.spool.Len()) }),
		spoolCorrupt: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "callscope_store_spool_corrupt_total",
			Help: "Damaged spool records skipped (torn tails after a crash, bad checksums).",
		}, func() float64 { return float64(w.spool.Corrupt()) }),
		spoolAppendErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_spool_append_failures_total",
			Help: "Entries lost because neither the store nor the spool accepted them (disk full or unwritable).",
		}),
		budgetSpooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_frame_budget_spooled_total",
			Help: "Calls spooled to disk because their media frames would have put the writer past WriterConfig.MaxFrameBytes.",
		}),
		frameBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_store_frame_bytes",
			Help: "Media frame data the store writer holds in memory (queue and batch; capped by WriterConfig.MaxFrameBytes).",
		}, func() float64 { return float64(w.frameBytes.Load()) }),
		walSyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_wal_syncs_total",
			Help: "Group commits of the store writer's write-ahead log (one fsync each).",
		}),
		walLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callscope_store_wal_commit_seconds",
			Help:    "Per group commit, the time from Write to durable (fsynced) of its oldest entry: how long a finished call can be lost to a kill.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		walAppended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_wal_appended_total",
			Help: "Calls and registrations accepted: appended to the write-ahead log and fsynced.",
		}),
		walOverflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_store_wal_overflow_total",
			Help: "Entries the write-ahead log did not take, spooled instead, by reason (bytes: WriterConfig.WALMaxBytes; queue: committer behind; error: disk).",
		}, []string{"reason"}),
		walReadErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_wal_read_failures_total",
			Help: "Batches whose media frames could not be read back from the write-ahead log; they stay in it and are replayed at the next start.",
		}),
		walRecovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_store_wal_recovered_total",
			Help: "Entries found in the write-ahead log at start (left by a crash) and moved to the spool for replay.",
		}),
		walBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_store_wal_bytes",
			Help: "Size of the write-ahead log's live segments.",
		}, func() float64 { return float64(w.wal.Bytes()) }),
		walEntries: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_store_wal_entries",
			Help: "Entries in the write-ahead log not yet committed by the store or taken by the spool.",
		}, func() float64 { return float64(w.wal.Pending()) }),
	}
	for _, r := range []string{"bytes", "queue", "error"} {
		m.walOverflow.WithLabelValues(r) // listed at 0 before the first overflow
	}
	return m
}

func (m *writerMetrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.batchSeconds, m.writeFailures, m.callsWritten, m.regsWritten,
		m.spoolEvicted, m.queueDepth, m.spoolBytes, m.spoolEntries, m.spoolCorrupt, m.spoolAppendErr,
		m.budgetSpooled, m.frameBytes, m.walSyncs, m.walLatency, m.walAppended, m.walOverflow, m.walReadErr, m.walRecovered, m.walBytes, m.walEntries} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
