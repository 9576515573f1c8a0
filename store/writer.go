package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
)

// WriterConfig configures a Writer. Zero fields take the defaults.
type WriterConfig struct {
	BatchSize     int           // entries per store write (default 5000)
	FlushInterval time.Duration // a partial batch is written after this long (default 1 s)
	QueueSize     int           // in-memory queue; beyond it Write spools (default 4 × BatchSize)
	Retries       int           // attempts per batch before it is spooled (default 3)
	RetryBackoff  time.Duration // first pause between attempts, doubled each time (default 100 ms)
	WriteTimeout  time.Duration // per store call (default 30 s)
	SpoolDir      string        // directory of the disk spool (required)
	SpoolMaxBytes int64         // spool size cap; oldest entries are evicted beyond it (default 1 GiB)
	ReplayBatches int           // spool batches replayed per flush interval (default 20)
	// MaxFrameBytes caps the kept media frame data (correlate.Record.Media) the writer
	// holds in memory, queue and batch together (default 256 MiB). A call that would go
	// past it is spooled to disk instead (callscope_store_frame_budget_spooled_total).
	MaxFrameBytes int64
	// BatchFrameBytes: a batch is written early once its calls' frames reach it, and a
	// spool replay reads at most this much at a time (default 32 MiB, at most half of
	// MaxFrameBytes). It bounds what a store builds per batch: ClickHouse holds a batch's
	// segments and SIP messages about twice over in its blocks; measured on serve -r of
	// 20,000 calls with --keep-rtp headers, peak RSS 897–1,018 → 855–876 MiB against a
	// cut at 128 MiB, in the same time (BENCHMARKS.md, session 7).
	BatchFrameBytes int64
	// Stored, when set, is called on the writer's goroutine with the calls of each batch
	// once the store has them (written directly or replayed from the spool): the
	// dashboard stops showing them as not yet stored (it must not block).
	Stored func(recs []*correlate.Record)
	// Held, when set, is called on the committer's goroutine for each call whose frames
	// are now durable in the WAL: held is a copy of rec whose frames are read from there
	// (correlate.FileMediaPack) while the writer holds the call, so a holder of rec (the
	// dashboard's unstored calls) can let go of rec's frame bytes. After Stored names
	// the call the WAL's file may go (it must not block).
	Held func(rec, held *correlate.Record)
	// WALMaxBytes caps the write-ahead log (wal.go) in SpoolDir/wal (default 1 GiB);
	// entries past it are spooled (callscope_store_wal_overflow_total{reason="bytes"}).
	WALMaxBytes int64
	// WALCommitDelay is how long the WAL's committer gathers entries after the first
	// before one fsync acknowledges them all (default 2 ms).
	WALCommitDelay time.Duration
	Logger         *slog.Logger
}

func (c *WriterConfig) defaults() error {
	if c.SpoolDir == "" {
		return errors.New("store: writer needs a SpoolDir")
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 4 * c.BatchSize
	}
	if c.Retries <= 0 {
		c.Retries = 3
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.ReplayBatches <= 0 {
		c.ReplayBatches = 20
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 256 << 20
	}
	if c.BatchFrameBytes <= 0 {
		c.BatchFrameBytes = 32 << 20
	}
	c.BatchFrameBytes = min(c.BatchFrameBytes, c.MaxFrameBytes/2)
	if c.WALCommitDelay <= 0 {
		c.WALCommitDelay = 2 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Writer moves finished calls and registrations into a Store without ever making the
// capture path wait on it. Write hands an entry to the committer goroutine, which
// appends what arrives within WALCommitDelay to the write-ahead log (wal.go) with one
// fsync and only then accepts the entries onto a bounded queue; an entry stays in the
// WAL until the store has committed it or the spool has taken it, so a SIGKILL loses
// nothing accepted (the next NewWriter moves the WAL into the spool and replays it).
// The loop goroutine (owned by the Writer, started by NewWriter, joined by Close) batches the queue into store
// writes of BatchSize entries or FlushInterval, whichever comes first, with a bounded
// retry. A batch the store refuses goes to the disk spool, and so does every entry Write
// cannot queue; while the spool holds entries new batches are appended behind them, and
// the spool is replayed oldest first whenever the store accepts writes again (and at
// start, for a spool a crash left behind). Inserts are idempotent by call id, so an entry
// replayed twice after a crash is stored once. Close flushes everything to the store, or
// to the spool when the store does not answer before Close's context ends.
type Writer struct {
	cfg   WriterConfig
	st    Store
	spool *Spool
	m     *writerMetrics
	log   *slog.Logger

	wal     *WAL
	walIn   chan walItem
	walStop chan struct{}
	walDone chan struct{}
	// walSlots: one token per entry WriteWait handed the committer and it has not yet
	// committed (walWaitMax at most).
	walSlots chan struct{}

	queue    chan queued
	flushReq chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // store calls; cancelled when Close gives up waiting
	cancel   context.CancelFunc

	// frameBytes is the frame data of the entries in queue and batch (MaxFrameBytes).
	frameBytes  atomic.Int64
	batchMem    int64                   // of them, in the loop's batch (loop goroutine only)
	batchFrames int64                   // frame bytes of the batch, in memory or in the WAL (cuts batches)
	batchSeqs   []uint64                // WAL sequence numbers of the batch's entries (loop goroutine only)
	batchSegs   []Segment               // frame segments of the batch's calls, in memory or in the WAL (loop goroutine only)
	batchRefs   []walRef                // where each of the batch's calls lies in the WAL (loop goroutine only)
	batchRead   bool                    // a call of the batch left its frames in the WAL (queued.inWAL)
	msgPacker   correlate.MessagePacker // packs queued copies' messages (commit goroutine only)
	segWriter   bool                    // the store takes encoded segments (SegmentWriter)

	closeOnce sync.Once
	mu        sync.RWMutex // closed (Write holds it shared while it hands an entry on)
	closed    bool
	logMu     sync.Mutex
	lastLog   time.Time
}

// walItem is what Write hands to the committer: an entry, or a flush barrier.
type walItem struct {
	e     SpoolEntry
	at    time.Time // when Write handed it over
	flush chan struct{}
	slot  bool // WriteWait took a walSlots token for it: the committer gives it back
}

// queued is an accepted entry with its WAL sequence number (0: not in the WAL), the
// frame segment the WAL encoded for it (in memory, or with inWAL its range of the WAL
// file) and where its record lies there. With inWAL the
// entry's Record is a copy without its frames' bytes (Pack keeps only the count): the
// store copies the segment from the WAL's file when the loop writes the batch (flush),
// so neither the queue nor the batch holds those frames in memory.
type queued struct {
	e     SpoolEntry
	seq   uint64
	seg   Segment
	ref   walRef
	inWAL bool
}

// NewWriter opens the spool in cfg.SpoolDir, registers the metrics on reg (may be nil)
// and starts the writer goroutine.
func NewWriter(st Store, cfg WriterConfig, reg prometheus.Registerer) (*Writer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	sp, err := OpenSpool(cfg.SpoolDir, cfg.SpoolMaxBytes)
	if err != nil {
		return nil, err
	}
	wal, left, err := OpenWAL(filepath.Join(cfg.SpoolDir, "wal"), cfg.WALMaxBytes)
	if err != nil {
		sp.Close()
		return nil, err
	}
	// Entries a crash left in the WAL were accepted: the spool replays them (idempotent
	// by call id, so those the store had already committed are not duplicated).
	adopted := 0
	for _, p := range left {
		n, err := sp.Adopt(p)
		if err != nil {
			sp.Close()
			wal.Close()
			return nil, err
		}
		adopted += n
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		cfg: cfg, st: st, spool: sp, wal: wal, log: cfg.Logger,
		walIn:    make(chan walItem, max(cfg.QueueSize, 4096)), // frames: bounded by MaxFrameBytes
		walStop:  make(chan struct{}),
		walDone:  make(chan struct{}),
		walSlots: make(chan struct{}, walWaitMax),
		queue:    make(chan queued, cfg.QueueSize),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		ctx:      ctx, cancel: cancel,
	}
	_, w.segWriter = st.(SegmentWriter)
	sp.KeepSegments(w.segWriter)
	w.m = newWriterMetrics(w)
	if err := w.m.register(reg); err != nil {
		cancel()
		sp.Close()
		wal.Close()
		return nil, fmt.Errorf("store: writer metrics: %w", err)
	}
	w.m.walRecovered.Add(float64(adopted))
	if adopted > 0 {
		w.log.Info("store: write-ahead log left by a crash moved to the spool", "entries", adopted, "dir", cfg.SpoolDir)
	}
	if n := sp.Len(); n > 0 {
		w.log.Info("store: replaying spool left from a previous run", "entries", n, "dir", cfg.SpoolDir)
	}
	go w.commitLoop()
	go w.loop()
	return w, nil
}

// Write hands a finished call to the writer. It never waits on the store: when the
// queue is full the call is appended to the disk spool instead.
func (w *Writer) Write(rec *correlate.Record) { w.enqueue(SpoolEntry{Rec: rec}, false) }

// WriteWait is Write for a source that can wait (serve -r replaying a capture file):
// while walWaitMax of its entries wait for the write-ahead log it blocks until the
// committer has taken one, so that the calls a file ends all at once (every call still
// open at its end) wait in the file, not in memory with their messages and frames. It
// writes at once, without waiting, once ctx ends or the writer closes. Live input never
// waits (Write): capture does not wait on the store.
func (w *Writer) WriteWait(ctx context.Context, rec *correlate.Record) {
	select {
	case w.walSlots <- struct{}{}:
	case <-ctx.Done():
		w.Write(rec)
		return
	case <-w.walDone:
		w.Write(rec)
		return
	}
	if !w.enqueue(SpoolEntry{Rec: rec}, true) {
		<-w.walSlots // not handed to the committer: nothing will give the token back
	}
}

// walWaitMax is how many entries WriteWait lets wait for the write-ahead log: two
// group commits' worth, so that the committer finds the next group ready while it
// writes one.
const walWaitMax = 2 * walGroupMax

// WriteRegistration hands a REGISTER flow to the writer, like Write.
func (w *Writer) WriteRegistration(r correlate.Registration) {
	w.enqueue(SpoolEntry{Reg: &r}, false)
}

// enqueue hands e to the committer, or spools it; it reports whether the committer got
// it. slot: WriteWait holds a walSlots token for it.
func (w *Writer) enqueue(e SpoolEntry, slot bool) bool {
	// Shared: Close takes mu exclusively before it stops the committer, so no entry is
	// handed to a committer that has drained its channel for the last time.
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		n := entryFrameBytes(&e)
		if n > 0 && w.frameBytes.Add(n) > w.cfg.MaxFrameBytes {
			w.frameBytes.Add(-n)
			w.m.budgetSpooled.Inc()
			w.toSpool([]SpoolEntry{e})
			return false
		}
		select {
		case w.walIn <- walItem{e: e, at: time.Now(), slot: slot}:
			return true
		default:
			w.frameBytes.Add(-n)
			w.m.walOverflow.WithLabelValues("queue").Inc()
			w.logf("store: write-ahead log committer behind; entry spooled (callscope_store_wal_overflow_total)", "reason", "queue")
		}
	}
	w.toSpool([]SpoolEntry{e})
	return false
}

// commitLoop is the committer: it gathers what Write hands over for WALCommitDelay
// after the first entry (at most walGroupMax entries), appends it to the WAL with one
// fsync and accepts it onto the queue. It stops (after a last drain) when walStop is
// closed.
func (w *Writer) commitLoop() {
	defer close(w.walDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	var (
		group   []SpoolEntry
		flushes []chan struct{}
		oldest  time.Time
		slots   int // tokens of WriteWait's entries in group
	)
	add := func(it walItem) {
		if it.flush != nil {
			flushes = append(flushes, it.flush)
			return
		}
		if it.slot {
			slots++
		}
		if len(group) == 0 {
			oldest = it.at
		}
		group = append(group, it.e)
	}
	for {
		stopping := false
		select {
		case it := <-w.walIn:
			add(it)
		case <-w.walStop:
			stopping = true
		}
		if !stopping && len(flushes) == 0 {
			t.Reset(w.cfg.WALCommitDelay)
		gather:
			for len(group) < walGroupMax {
				select {
				case it := <-w.walIn:
					add(it)
					if it.flush != nil {
						break gather
					}
				case <-t.C:
					break gather
				case <-w.walStop:
					stopping = true
					break gather
				}
			}
			t.Stop()
		}
		if stopping {
			for drained := false; !drained; {
				select {
				case it := <-w.walIn:
					add(it)
				default:
					drained = true
				}
			}
		}
		for rest := group; ; { // the last drain may hold more than one group
			n := min(len(rest), walGroupMax)
			w.commit(rest[:n])
			if rest = rest[n:]; len(rest) == 0 {
				break
			}
		}
		if len(group) > 0 {
			w.m.walLatency.Observe(time.Since(oldest).Seconds())
		}
		for ; slots > 0; slots-- {
			<-w.walSlots
		}
		for _, f := range flushes {
			close(f)
		}
		clear(group)
		group, flushes = group[:0], flushes[:0]
		if stopping {
			return
		}
	}
}

// walGroupMax caps a group commit. The WAL encodes a whole group before it writes it, so
// a group is that much memory at once: when 20,000 calls end together the committer,
// behind, used to take up to a queue's worth (20,000 records, ~60 MB of encoded heads in
// the heap profile); 1,024 costs 20 fsyncs for those calls instead of a handful.
const walGroupMax = 1024

// commit appends group to the WAL (one fsync) and accepts it onto the queue; what the
// WAL refuses, and what the queue has no room for, goes to the spool.
func (w *Writer) commit(group []SpoolEntry) {
	if len(group) == 0 {
		return
	}
	segs, raw, refs := make([][]byte, len(group)), make([]rawRecord, len(group)), make([]walRef, len(group))
	first, n, err := w.wal.Append(group, segs, raw, refs)
	if n > 0 {
		w.m.walSyncs.Inc()
		w.m.walAppended.Add(float64(n))
	}
	var (
		spill     []SpoolEntry // refused by the WAL: encoded for the spool
		spillRaw  []rawRecord  // in the WAL, no room in the queue: its record copied
		spillSeqs []uint64
	)
	for i := range group {
		if i < n {
			seq := first + uint64(i)
			q := queued{e: group[i], seq: seq, seg: Segment{Data: segs[i]}, ref: refs[i]}
			if w.segWriter && len(segs[i]) > 0 {
				// The frames are durable in the WAL: the queue keeps a copy of the record
				// whose frames are read from there (the loop reads them back: flush), and
				// once it is queued, Held lets other holders of the record (the
				// dashboard's unstored calls) take that copy instead.
				rec := *q.e.Rec
				seg := refs[i].segment()
				rec.Pack, rec.Media = correlate.FileMediaPack(rec.MediaCount(), seg.File, seg.Off, seg.Len), nil
				// Its SIP messages wait packed (about 3:1): when 20,000 calls end together
				// the queue held them whole, 4.4 KB a call. write unpacks them.
				w.msgPacker.Pack(&rec)
				q.e.Rec, q.seg, q.inWAL = &rec, seg, true
			}
			select {
			case w.queue <- q:
				if q.inWAL {
					w.frameBytes.Add(-entryFrameBytes(&group[i]))
					if w.cfg.Held != nil {
						w.cfg.Held(group[i].Rec, q.e.Rec) // the call's record, the queue's copy
					}
				}
				continue
			default: // queue full: the spool takes it, as before the WAL
			}
			spillRaw = append(spillRaw, raw[i])
			spillSeqs = append(spillSeqs, seq)
		} else {
			spill = append(spill, group[i])
		}
		w.frameBytes.Add(-entryFrameBytes(&group[i]))
	}
	if len(spillRaw) > 0 {
		if err := w.spool.AppendRaw(spillRaw); err != nil {
			// Still in the WAL: the next start replays them.
			w.m.spoolAppendErr.Add(float64(len(spillRaw)))
			w.logf("store: spool append failed; entries wait in the write-ahead log for the next start (callscope_store_spool_append_failures_total)", "err", err, "entries", len(spillRaw))
		} else {
			w.wal.Done(spillSeqs...)
		}
	}
	if n < len(group) {
		reason := "error"
		if errors.Is(err, ErrWALFull) {
			reason = "bytes"
		}
		w.m.walOverflow.WithLabelValues(reason).Add(float64(len(group) - n))
		w.logf("store: write-ahead log refused entries; they were spooled (callscope_store_wal_overflow_total, WriterConfig.WALMaxBytes)",
			"reason", reason, "entries", len(group)-n, "err", err)
	}
	if len(spill) > 0 {
		w.toSpool(spill)
	}
}

func entryFrameBytes(e *SpoolEntry) int64 {
	if e.Rec == nil {
		return 0
	}
	return e.Rec.MediaSize()
}

// FrameBytesHeld is the frame data the writer holds in memory now (MaxFrameBytes).
func (w *Writer) FrameBytesHeld() int64 { return w.frameBytes.Load() }

// Spool exposes the writer's spool (metrics, tests).
func (w *Writer) Spool() *Spool { return w.spool }

// WAL exposes the writer's write-ahead log (metrics, tests).
func (w *Writer) WAL() *WAL { return w.wal }

// Flush writes everything queued and replays the spool, returning when done or when the
// store refused (the entries then wait in the spool).
func (w *Writer) Flush(ctx context.Context) error {
	// First a barrier through the committer: everything handed over before is accepted.
	fl := make(chan struct{})
	select {
	case w.walIn <- walItem{flush: fl}:
	case <-w.walDone:
		return errors.New("store: writer closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-fl:
	case <-ctx.Done():
		return ctx.Err()
	}
	req := make(chan struct{})
	select {
	case w.flushReq <- req:
	case <-w.done:
		return errors.New("store: writer closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the writer: the queue is drained and written to the store, or to the
// spool if the store does not take it before ctx ends. Nothing acknowledged is lost.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.walStop) // the committer accepts what was handed over, then the loop drains
		<-w.walDone
		close(w.stop)
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel() // store calls fail fast; what remains goes to the spool
		<-w.done
	}
	w.cancel()
	return errors.Join(w.wal.Close(), w.spool.Close())
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	batch := make([]SpoolEntry, 0, w.cfg.BatchSize)
	w.replay()
	for {
		select {
		case q := <-w.queue:
			batch = w.add(batch, q)
			if w.full(batch) {
				batch = w.flush(batch)
			}
		case <-t.C:
			batch = w.flush(batch)
			w.replay()
		case req := <-w.flushReq:
			batch = w.drain(batch)
			w.replayAll()
			close(req)
		case <-w.stop:
			batch = w.drain(batch)
			w.replayAll()
			// Entries Write spooled while we drained are replayed by the next run.
			return
		}
	}
}

// drain flushes the queue and the batch.
func (w *Writer) drain(batch []SpoolEntry) []SpoolEntry {
	for {
		select {
		case q := <-w.queue:
			batch = w.add(batch, q)
			if w.full(batch) {
				batch = w.flush(batch)
			}
		default:
			return w.flush(batch)
		}
	}
}

// full reports whether batch is to be written now: BatchSize entries, or BatchFrameBytes
// of frames (in memory or in the WAL).
func (w *Writer) full(batch []SpoolEntry) bool {
	return len(batch) >= w.cfg.BatchSize || w.batchFrames >= w.cfg.BatchFrameBytes
}

// add appends an accepted entry to batch, remembers its WAL sequence number and place,
// and accounts its frames: those it holds, or those flush will read back from the WAL
// (counted in frameBytes from now on, as they will be in memory while the batch is
// written).
func (w *Writer) add(batch []SpoolEntry, q queued) []SpoolEntry {
	if q.seq != 0 {
		w.batchSeqs = append(w.batchSeqs, q.seq)
	}
	if q.e.Rec != nil {
		w.batchSegs = append(w.batchSegs, q.seg) // one per call, in order
		w.batchRefs = append(w.batchRefs, q.ref)
	}
	if q.inWAL {
		w.batchRead = true
		w.batchFrames += int64(q.ref.segLen)
	} else {
		n := entryFrameBytes(&q.e)
		w.batchFrames += n
		w.batchMem += n
	}
	return append(batch, q.e)
}

// spoolBatch appends batch to the spool when the store refused it or the spool holds
// older entries: a call in the WAL is copied from its record there (which holds its
// frames even when the queue's copy does not), the rest is encoded.
func (w *Writer) spoolBatch(batch []SpoolEntry) bool {
	if !w.batchRead {
		return w.toSpool(batch)
	}
	recs, err := w.wal.ReadRefs(w.batchRefs)
	if err != nil {
		w.m.walReadErr.Inc()
		w.logf("store: records could not be read back from the write-ahead log; the batch stays there for the next start (callscope_store_wal_read_failures_total)", "err", err)
		return false
	}
	raw := make([]rawRecord, 0, len(batch))
	j := 0 // index of the batch's calls (recs)
	for i := range batch {
		if batch[i].Rec != nil {
			b := recs[j]
			j++
			if b != nil {
				raw = append(raw, rawRecord{head: b})
				continue
			}
		}
		r, err := encodeEntryRaw(w.spool.codec, &batch[i], nil)
		if err != nil {
			w.m.spoolAppendErr.Add(float64(len(batch)))
			w.logf("store: spool encode failed; entries wait in the write-ahead log for the next start", "err", err)
			return false
		}
		raw = append(raw, r)
	}
	if err := w.spool.AppendRaw(raw); err != nil {
		w.m.spoolAppendErr.Add(float64(len(batch)))
		w.logf("store: spool append failed; entries wait in the write-ahead log for the next start (callscope_store_spool_append_failures_total)", "err", err, "entries", len(batch))
		return false
	}
	return true
}

// flush writes batch (to the store, or behind the spool) and returns it emptied. Its
// entries leave the WAL once the store or the spool holds them.
func (w *Writer) flush(batch []SpoolEntry) []SpoolEntry {
	if len(batch) == 0 {
		return batch
	}
	if w.spool.Len() > 0 {
		w.replay() // keep order: older entries first
	}
	// Behind the spool, spoolBatch copies the calls' whole records from the WAL.
	stored := w.spool.Len() == 0 && w.write(batch, w.batchSegs, w.cfg.Retries) == nil
	if stored || w.spoolBatch(batch) {
		w.wal.Done(w.batchSeqs...)
	} // else neither took them: they stay in the WAL for the next start
	w.batchSeqs = w.batchSeqs[:0]
	clear(w.batchSegs)
	w.batchSegs = w.batchSegs[:0]
	w.batchRefs = w.batchRefs[:0]
	w.batchRead = false
	w.frameBytes.Add(-w.batchMem)
	w.batchFrames, w.batchMem = 0, 0
	clear(batch)
	return batch[:0]
}

// toSpool appends es to the spool; false (counted, logged) when the spool refused them.
func (w *Writer) toSpool(es []SpoolEntry) bool {
	if err := w.spool.Append(es...); err != nil {
		w.m.spoolAppendErr.Add(float64(len(es)))
		w.logf("store: spool append failed; entries lost (callscope_store_spool_append_failures_total)", "err", err, "entries", len(es))
		return false
	}
	return true
}

// replayBatch writes the oldest spooled batch; false when the spool is empty or the
// store refused it.
func (w *Writer) replayBatch() bool {
	if w.spool.Len() == 0 {
		return false
	}
	es, err := w.spool.PeekLimit(w.cfg.BatchSize, w.cfg.BatchFrameBytes)
	if err != nil {
		w.logf("store: spool read failed", "err", err)
	}
	if len(es) == 0 {
		return false
	}
	var segs []Segment // with KeepSegments, the calls' segments as spooled
	if w.segWriter {
		for i := range es {
			if es[i].Rec != nil {
				segs = append(segs, Segment{Data: es[i].Segment()})
			}
		}
	}
	if w.write(es, segs, 1) != nil {
		return false
	}
	w.spool.Commit(len(es))
	return true
}

// replay replays up to ReplayBatches batches from the spool.
func (w *Writer) replay() {
	for i := 0; i < w.cfg.ReplayBatches && w.replayBatch(); i++ {
	}
}

// replayAll replays until the spool is empty or the store refuses.
func (w *Writer) replayAll() {
	for w.ctx.Err() == nil && w.replayBatch() {
	}
}

// write sends es to the store with up to attempts tries; segs (nil, or one per call of
// es in order) are their frame segments, already encoded.
func (w *Writer) write(es []SpoolEntry, segs []Segment, attempts int) error {
	var (
		recs []*correlate.Record
		regs []correlate.Registration
	)
	for _, e := range es {
		if e.Rec != nil {
			// A queued copy's messages are packed (commit): the store gets them whole. The
			// bytes are the writer's own; a pack that did not decode loses its messages,
			// never the call.
			r, _ := e.Rec.Unpacked()
			recs = append(recs, r)
		}
		if e.Reg != nil {
			regs = append(regs, *e.Reg)
		}
	}
	backoff := w.cfg.RetryBackoff
	var err error
	for a := 0; a < attempts; a++ {
		if a > 0 {
			select {
			case <-time.After(backoff):
			case <-w.ctx.Done():
				return w.ctx.Err()
			}
			backoff *= 2
		}
		start := time.Now()
		err = w.writeOnce(recs, segs, regs)
		w.m.batchSeconds.Observe(time.Since(start).Seconds())
		if err == nil {
			w.m.callsWritten.Add(float64(len(recs)))
			w.m.regsWritten.Add(float64(len(regs)))
			if w.cfg.Stored != nil && len(recs) > 0 {
				w.cfg.Stored(recs)
			}
			return nil
		}
		w.m.writeFailures.Inc()
		if w.ctx.Err() != nil {
			break
		}
	}
	w.logf("store: write failed; entries wait in the spool (callscope_store_write_failures_total, callscope_store_spool_bytes)",
		"err", err, "entries", len(es))
	return err
}

func (w *Writer) writeOnce(recs []*correlate.Record, segs []Segment, regs []correlate.Registration) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WriteTimeout)
	defer cancel()
	if len(recs) > 0 {
		var err error
		if sw, ok := w.st.(SegmentWriter); ok && len(segs) == len(recs) {
			err = sw.WriteCallsSegments(ctx, recs, segs)
		} else {
			err = w.st.WriteCalls(ctx, recs)
		}
		if err != nil {
			return err
		}
	}
	if len(regs) > 0 {
		if err := w.st.WriteRegistrations(ctx, regs); err != nil {
			return err
		}
	}
	return nil
}

// logf logs at most once every 30 s.
func (w *Writer) logf(msg string, args ...any) {
	w.logMu.Lock()
	now := time.Now()
	ok := now.Sub(w.lastLog) >= 30*time.Second
	if ok {
		w.lastLog = now
	}
	w.logMu.Unlock()
	if ok {
		w.log.Warn(msg, args...)
	}
}
