package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
	"github.com/callscope/callscope/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
	ptu "github.com/prometheus/client_golang/prometheus/testutil"
)

// segStore is a real DuckDB store (a store.SegmentWriter, like the one serve uses)
// whose writes fail while down is set and wait while gate is not nil.
type segStore struct {
	*duckdb.Store
	down atomic.Bool
	gate atomic.Pointer[chan struct{}]
}

func (s *segStore) WriteCallsSegments(ctx context.Context, recs []*correlate.Record, segs []store.Segment) error {
	if g := s.gate.Load(); g != nil {
		<-*g
	}
	if s.down.Load() {
		return errDown
	}
	return s.Store.WriteCallsSegments(ctx, recs, segs)
}

func (s *segStore) WriteCalls(ctx context.Context, recs []*correlate.Record) error {
	return s.WriteCallsSegments(ctx, recs, nil) // spool replays
}

// TestWriterFramesFromWAL: with a SegmentWriter store the writer keeps no frames once the
// WAL has them (issue 17: the writer's queue of ended calls was the largest item of
// serve's peak RSS), not even for the batch being written: the store copies each call's
// segment from the WAL's file. A batch the store refuses reaches the spool from the WAL
// records, frames included.
func TestWriterFramesFromWAL(t *testing.T) {
	data := storetest.Data(t)
	var total int64
	for _, r := range data.Records {
		total += r.MediaSize()
	}
	half := len(data.Records) / 2
	ss := &segStore{Store: openDuck(t)}
	gate := make(chan struct{})
	ss.gate.Store(&gate)
	reg := prometheus.NewRegistry()
	cfg := testConfig(t.TempDir())
	cfg.QueueSize = 4 * len(data.Records) // room for every call: nothing spools for lack of it
	var (
		heldMu sync.Mutex
		copies = map[*correlate.Record]*correlate.Record{} // Held: a call's record → the writer's copy
	)
	cfg.Held = func(rec, h *correlate.Record) {
		heldMu.Lock()
		defer heldMu.Unlock()
		copies[rec] = h
	}
	w, err := store.NewWriter(ss, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range data.Records[:half] {
		w.Write(r)
	}
	// The first batch waits in the store; the rest are accepted (in the WAL) and queued.
	deadline := time.Now().Add(10 * time.Second)
	for ptu.ToFloat64(reg2c(t, reg, "callscope_store_wal_appended_total")) < float64(half) {
		if time.Now().After(deadline) {
			t.Fatal("the WAL did not take the calls")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Nothing is held, not even the batch the store is writing: before session 6 the
	// queue held every call's frames, in session 6 the batch read its back from the WAL.
	// (The committer counts a group appended before it releases the group's frames onto
	// the queue, so the count can lead by one group: wait for the release, with the store
	// still blocked.)
	held := w.FrameBytesHeld()
	for held != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		held = w.FrameBytesHeld()
	}
	t.Logf("frames: %d calls hold %d B; writer holds %d B", half, total, held)
	if held != 0 {
		t.Fatalf("writer holds %d B of frames with %d calls in the WAL (all %d B)", held, half, total)
	}
	// Held hands over, for every queued call with frames, a copy that holds none of
	// their bytes and reads the same frames back from the WAL (the dashboard's waiting
	// calls swap theirs for it).
	heldMu.Lock()
	withMedia, withMsgs := 0, 0
	for _, r := range data.Records[:half] {
		if r.MediaCount() == 0 {
			continue
		}
		withMedia++
		h := copies[r]
		if h == nil {
			t.Errorf("call %s: no Held copy", r.Call.ID)
			continue
		}
		if h.MediaSize() != 0 || h.MediaCount() != r.MediaCount() {
			t.Errorf("call %s: Held copy holds %d B, %d frames (the record: %d frames)", r.Call.ID, h.MediaSize(), h.MediaCount(), r.MediaCount())
		}
		// Its messages wait packed and read back as the record has them (the store
		// gets them unpacked: checkStored below compares every stored message).
		if len(r.Messages) > 0 {
			withMsgs++
		}
		if len(r.Messages) > 0 && len(h.Messages) != 0 {
			t.Errorf("call %s: Held copy holds %d messages unpacked", r.Call.ID, len(h.Messages))
		}
		if msgs, err := h.AllMessages(); err != nil || !equalMessages(msgs, r.Messages) {
			t.Errorf("call %s: Held copy's messages (%d, %v) differ from the record's %d", r.Call.ID, len(msgs), err, len(r.Messages))
		}
		want, err := r.AppendMedia(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.AppendMedia(nil)
		if err != nil {
			t.Errorf("call %s: frames of the Held copy: %v", r.Call.ID, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("call %s: Held copy reads %d frames, the record has %d", r.Call.ID, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i].TS != want[i].TS || got[i].LinkType != want[i].LinkType || got[i].OrigLen != want[i].OrigLen || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Errorf("call %s: frame %d of the Held copy differs", r.Call.ID, i)
				break
			}
		}
	}
	if withMsgs == 0 {
		t.Error("no queued call with frames had messages: packing was not exercised")
	}
	if withMedia == 0 || len(copies) != withMedia {
		t.Errorf("Held gave %d copies for %d queued calls with frames", len(copies), withMedia)
	}
	heldMu.Unlock()
	ss.gate.Store(nil)
	close(gate)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if held := w.FrameBytesHeld(); held != 0 {
		t.Fatalf("writer holds %d B of frames after the flush", held)
	}
	// Outage: the batches are refused and spooled from their WAL records.
	ss.down.Store(true)
	for _, r := range data.Records[half:] {
		w.Write(r)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.Spool().Len(); n != len(data.Records)-half {
		t.Fatalf("spool holds %d entries, want %d", n, len(data.Records)-half)
	}
	ss.down.Store(false)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ptu.ToFloat64(reg2c(t, reg, "callscope_store_wal_read_failures_total")); got != 0 {
		t.Fatalf("wal read failures %v", got)
	}
	want := distinct(data.Records)
	checkStored(t, ss.Store, want)
	n := 0
	for id, r := range want {
		n += storetest.CheckMedia(t, ss.Store, id, r)
	}
	if n == 0 {
		t.Fatal("no frames stored")
	}
}

// BenchmarkSpoolReplay replays a spool of the storetest calls (frames kept as serve's
// headers mode) into DuckDB: segments=kept hands each call's spooled frame segment to
// the store as read (Spool.KeepSegments, what the writer does for a SegmentWriter);
// segments=decoded is the path before it, decompressing the frames and compressing them
// again in the store. One op is one replay of every call.
func BenchmarkSpoolReplay(b *testing.B) {
	data := storetest.Data(b)
	for _, keep := range []bool{true, false} {
		name := "segments=kept"
		if !keep {
			name = "segments=decoded"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st, err := duckdb.Open(b.TempDir() + "/c.duckdb")
				if err != nil {
					b.Fatal(err)
				}
				ss := &segStore{Store: st}
				ss.down.Store(true)
				cfg := testConfig(b.TempDir())
				cfg.BatchSize, cfg.QueueSize = 5000, 4*len(data.Records) // serve's batches
				cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
				w, err := store.NewWriter(ss, cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				w.Spool().KeepSegments(keep)
				for _, r := range data.Records {
					w.Write(r)
				}
				if err := w.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if w.Spool().Len() != len(data.Records) {
					b.Fatalf("spool holds %d entries, want %d", w.Spool().Len(), len(data.Records))
				}
				ss.down.Store(false)
				b.StartTimer()
				if err := w.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if w.Spool().Len() != 0 {
					b.Fatal("spool not replayed")
				}
				w.Close(ctx)
				st.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(data.Records)), "ns/call")
		})
	}
}

// TestWALGroupCap: a burst of calls is committed to the WAL in groups of at most 1,024
// (one fsync each), not all at once: the WAL encodes a whole group before writing it, so
// the group is that much heap (issue 17). 3,000 calls handed over well within one commit
// delay (500 ms) would otherwise be one group.
func TestWALGroupCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(t.TempDir())
	cfg.QueueSize, cfg.BatchSize, cfg.WALCommitDelay = 8192, 5000, 500*time.Millisecond
	w, err := store.NewWriter(openDuck(t), cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	start := time.Unix(1_700_000_000, 0).UnixNano()
	for i := range n {
		w.Write(&correlate.Record{Call: correlate.Call{ID: fmt.Sprintf("burst-%d", i), CallID: fmt.Sprintf("c%d", i), Start: correlate.Time(start + int64(i))}})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	appended := ptu.ToFloat64(reg2c(t, reg, "callscope_store_wal_appended_total"))
	syncs := ptu.ToFloat64(reg2c(t, reg, "callscope_store_wal_syncs_total"))
	t.Logf("%v calls appended in %v group commits", appended, syncs)
	if appended != n || syncs < n/1024+1 {
		t.Fatalf("%v calls appended in %v group commits, want %d in at least %d", appended, syncs, n, n/1024+1)
	}
}

// equalMessages compares two message lists field by field and byte by byte.
func equalMessages(a, b []correlate.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.TS != y.TS || x.Src != y.Src || x.Dst != y.Dst || x.Transport != y.Transport || x.Request != y.Request ||
			x.Method != y.Method || x.Status != y.Status || x.CSeq != y.CSeq || x.Retrans != y.Retrans ||
			x.LinkType != y.LinkType || !bytes.Equal(x.Raw, y.Raw) || !bytes.Equal(x.Frame, y.Frame) {
			return false
		}
	}
	return true
}

// TestWriteWait: WriteWait (serve -r) stores what it is given like Write, blocks while
// WALWaitMax entries wait for the write-ahead log and goes on as soon as the committer
// takes one, gives its token back when an entry is spooled instead (the frame budget),
// and never blocks once its context has ended.
func TestWriteWait(t *testing.T) {
	data := storetest.Data(t)
	want := distinct(data.Records)
	st := openDuck(t)
	cfg := testConfig(t.TempDir())
	w, err := store.NewWriter(st, cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range data.Records {
		w.WriteWait(ctx, r)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, st, want)
	if n := len(w.WALSlots()); n != 0 {
		t.Fatalf("%d WriteWait tokens held after Flush, want 0", n)
	}

	// WALWaitMax entries waiting (their tokens taken here): the next WriteWait waits
	// until one is given back.
	slots := w.WALSlots()
	for range store.WALWaitMax {
		slots <- struct{}{}
	}
	done := make(chan struct{})
	go func() { w.WriteWait(ctx, data.Records[0]); close(done) }()
	select {
	case <-done:
		t.Fatal("WriteWait returned with WALWaitMax entries waiting")
	case <-time.After(100 * time.Millisecond):
	}
	<-slots // one of ours back: WriteWait's entry takes its place
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteWait still blocked after a token came back")
	}
	// Tokens are counted, not named: once the committer has the entry (Flush), ours are
	// the WALWaitMax-1 left.
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(slots); n != store.WALWaitMax-1 {
		t.Fatalf("%d tokens held after the committer took WriteWait's entry, want %d", n, store.WALWaitMax-1)
	}
	// Full again, but the context has ended: it writes at once, without a token.
	slots <- struct{}{}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	stop := make(chan struct{})
	go func() { w.WriteWait(cctx, data.Records[1]); close(stop) }()
	select {
	case <-stop:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteWait blocked with its context ended")
	}
	for range store.WALWaitMax {
		<-slots
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A writer whose frame budget spools every call with frames: WriteWait's token comes
	// back although the committer never sees the entry.
	cfg = testConfig(t.TempDir())
	cfg.MaxFrameBytes = 1
	w2, err := store.NewWriter(openDuck(t), cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close(ctx)
	framed := 0
	for _, r := range data.Records {
		if r.MediaCount() > 0 {
			w2.WriteWait(ctx, r)
			framed++
		}
	}
	if framed == 0 {
		t.Fatal("no record with frames in the test data")
	}
	if err := w2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w2.WALSlots()); n != 0 {
		t.Fatalf("%d tokens held after %d spooled entries, want 0", n, framed)
	}
}
