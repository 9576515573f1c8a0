package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
	"github.com/prometheus/client_golang/prometheus"
	ptu "github.com/prometheus/client_golang/prometheus/testutil"
)

const walChildEnv = "CALLSCOPE_WAL_CHILD_DIR"

// stalling is a real DuckDB store that takes its first `pass` batches and then waits
// (a store that stopped answering) until ctx ends.
type stalling struct {
	store.Store
	pass atomic.Int64
}

func (s *stalling) WriteCalls(ctx context.Context, recs []*correlate.Record) error {
	if s.pass.Add(-1) < 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Store.WriteCalls(ctx, recs)
}

func walTestConfig(dir string) store.WriterConfig {
	return store.WriterConfig{BatchSize: 10, QueueSize: 200, FlushInterval: 20 * time.Millisecond, Retries: 1,
		RetryBackoff: time.Millisecond, WriteTimeout: time.Hour, SpoolDir: filepath.Join(dir, "spool")}
}

const walN = 120

// TestWriterWALSIGKILL: a child process hands walN calls (each with 20 media frames) to
// a Writer whose store takes two batches of 10 and then stalls, waits until the writer
// reports all walN accepted (callscope_store_wal_appended_total) and is SIGKILLed. So
// at the kill 20 calls are in the database and 100 only in the writer's memory and its
// WAL. A new Writer on the same directory must bring all walN into the store exactly once,
// every one with its walN frames. Expected values come from what the child was given.
// Without the WAL (main before it) the 100 held in memory are lost.
func TestWriterWALSIGKILL(t *testing.T) {
	if dir := os.Getenv(walChildEnv); dir != "" {
		walChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterWALSIGKILL$")
	cmd.Env = append(os.Environ(), walChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	accepted := -1
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "accepted "); ok {
			accepted, _ = strconv.Atoi(n)
			break
		}
		if strings.HasPrefix(line, "error") {
			cmd.Process.Kill()
			t.Fatal(line)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // killed
	if accepted != walN {
		t.Fatalf("child reported %d accepted, want %d", accepted, walN)
	}
	st, err := duckdb.Open(filepath.Join(dir, "db", "c.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	w, err := store.NewWriter(st, walTestConfig(dir), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recovered := ptu.ToFloat64(reg2c(t, reg, "callscope_store_wal_recovered_total"))
	want := map[string]*correlate.Record{}
	for i := 0; i < walN; i++ {
		r := mediaRec(i, 20, 100)
		want[r.Call.ID] = r
	}
	checkStored(t, st, want) // each exactly once, intact
	for id, r := range want {
		fr, err := st.Media(ctx, []string{id})
		if err != nil || len(fr) != len(r.Media) {
			t.Fatalf("call %s: %d frames after SIGKILL and replay, want %d (%v)", id, len(fr), len(r.Media), err)
		}
	}
	t.Logf("%v entries recovered from the WAL", recovered)
}

func walChild(dir string) {
	fail := func(err error) { fmt.Println("error", err); os.Exit(1) }
	db, err := duckdb.Open(filepath.Join(dir, "db", "c.duckdb"))
	if err != nil {
		fail(err)
	}
	st := &stalling{Store: db}
	st.pass.Store(2)
	reg := prometheus.NewRegistry()
	w, err := store.NewWriter(st, walTestConfig(dir), reg)
	if err != nil {
		fail(err)
	}
	for i := 0; i < walN; i++ {
		w.Write(mediaRec(i, 20, 100))
	}
	c, ok := collectorByName(reg, "callscope_store_wal_appended_total")
	if !ok {
		fail(fmt.Errorf("callscope_store_wal_appended_total not registered"))
	}
	for ptu.ToFloat64(c) < walN {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("accepted %d\n", int(ptu.ToFloat64(c)))
	select {} // wait for the SIGKILL
}

// collectorByName wraps the gathered value of a counter as a collector for ToFloat64.
func collectorByName(reg *prometheus.Registry, name string) (prometheus.Collector, bool) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, false
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
				mfs, _ := reg.Gather()
				for _, mf := range mfs {
					if mf.GetName() == name {
						v := 0.0
						for _, m := range mf.GetMetric() {
							v += m.GetCounter().GetValue()
						}
						ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, v)
					}
				}
			}), true
		}
	}
	return nil, false
}

// The WAL on its own: entries appended and never marked done survive a crash (no
// Close; the directory is reopened) and come back through Spool.Adopt; segments whose
// entries were all done are gone.
func TestWALReopenAfterCrash(t *testing.T) {
	dir := t.TempDir()
	wal, left, err := store.OpenWAL(filepath.Join(dir, "wal"), 1<<20) // 16 KiB segments
	if err != nil || len(left) != 0 {
		t.Fatalf("fresh WAL: %v, %d leftovers", err, len(left))
	}
	const n = 200
	var seqs []uint64
	for i := 0; i < n; i += 10 {
		var es []store.SpoolEntry
		for j := i; j < i+10; j++ {
			es = append(es, fakeRec(j))
		}
		first, k, err := wal.Append(es, nil, nil, nil)
		if err != nil || k != len(es) {
			t.Fatalf("append: %d of %d (%v)", k, len(es), err)
		}
		for j := range es {
			seqs = append(seqs, first+uint64(j))
		}
	}
	// The store "committed" the first 150 and entry 170.
	wal.Done(seqs[:150]...)
	wal.Done(seqs[170])
	if p := wal.Pending(); p != n-151 {
		t.Fatalf("pending %d, want %d", p, n-151)
	}
	// Crash: no Close. Reopen the directory.
	_, left, err = store.OpenWAL(filepath.Join(dir, "wal"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := store.OpenSpool(filepath.Join(dir, "spool"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for _, p := range left {
		if _, err := sp.Adopt(p); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for _, e := range readAll(t, sp) {
		got[e.Rec.Call.ID]++
	}
	for i := 150; i < n; i++ {
		if id := fakeRec(i).Rec.Call.ID; i != 170 && got[id] != 1 {
			t.Fatalf("entry %d (not done) found %d times after the crash", i, got[id])
		}
	}
	// Whole segments of done entries were deleted: far fewer than the 150 done come back
	// (an entry is ~1.5 KiB, a segment 16 KiB: at most one partly done segment's worth).
	if len(got) > n-150+20 {
		t.Fatalf("%d entries came back, done segments were not truncated", len(got))
	}
}

// With the store stalled, what does not fit under WALMaxBytes is spooled and counted
// by reason, and every call still arrives exactly once.
func TestWriterWALCap(t *testing.T) {
	g := &gated{Store: openDuck(t), open: make(chan struct{})}
	cfg := walTestConfig(t.TempDir())
	cfg.WALMaxBytes = 16 << 10
	cfg.QueueSize, cfg.BatchSize = 1000, 1000
	reg := prometheus.NewRegistry()
	w, err := store.NewWriter(g, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*correlate.Record
	for i := 0; i < 100; i++ {
		r := mediaRec(i, 2, 100)
		recs = append(recs, r)
		w.Write(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	over, _ := collectorByName(reg, "callscope_store_wal_overflow_total")
	app, _ := collectorByName(reg, "callscope_store_wal_appended_total")
	for deadline := time.Now().Add(10 * time.Second); ptu.ToFloat64(over)+ptu.ToFloat64(app) < 100; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("committer took %v of 100 entries in 10 s", ptu.ToFloat64(over)+ptu.ToFloat64(app))
		}
	}
	// 100 entries of ~1.5 KiB against a 16 KiB cap: most cannot be in the WAL.
	if n := ptu.ToFloat64(over); n < 50 {
		t.Fatalf("%v entries counted as overflow, want ≥ 50 of 100 with a 16 KiB cap", n)
	}
	if b := w.WAL().Bytes(); b > cfg.WALMaxBytes {
		t.Fatalf("WAL holds %d bytes, cap %d", b, cfg.WALMaxBytes)
	}
	close(g.open)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, g.Store, distinct(recs))
}

// The frame segment the WAL encoded is what DuckDB stores (store.SegmentWriter): every
// call's frames come back as they were written, byte for byte.
func TestWriterSegmentReuse(t *testing.T) {
	st := openDuck(t)
	if _, ok := store.Store(st).(store.SegmentWriter); !ok {
		t.Fatal("duckdb.Store does not take encoded segments")
	}
	w, err := store.NewWriter(st, walTestConfig(t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*correlate.Record
	for i := 0; i < 35; i++ {
		r := mediaRec(i, 30, 90)
		recs = append(recs, r)
		w.Write(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, st, distinct(recs))
	for _, r := range recs {
		fr, err := st.Media(ctx, []string{r.Call.ID})
		if err != nil || len(fr) != len(r.Media) {
			t.Fatalf("call %s: %d frames, want %d (%v)", r.Call.ID, len(fr), len(r.Media), err)
		}
		for j := range fr {
			if fr[j].TS != r.Media[j].TS || !bytes.Equal(fr[j].Data, r.Media[j].Data) {
				t.Fatalf("call %s frame %d differs", r.Call.ID, j)
			}
		}
	}
}
