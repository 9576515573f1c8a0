package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/callscope/callscope/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
	ptu "github.com/prometheus/client_golang/prometheus/testutil"
)

// flaky is a real DuckDB store whose writes fail while down is set (fault injection).
type flaky struct {
	store.Store
	down  atomic.Bool
	calls atomic.Int64 // write attempts
}

var errDown = errors.New("injected: store down")

func (f *flaky) WriteCalls(ctx context.Context, recs []*correlate.Record) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return f.Store.WriteCalls(ctx, recs)
}

func (f *flaky) WriteRegistrations(ctx context.Context, regs []correlate.Registration) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.WriteRegistrations(ctx, regs)
}

func openDuck(t *testing.T) *duckdb.Store {
	t.Helper()
	s, err := duckdb.Open(filepath.Join(t.TempDir(), "db", "c.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testConfig(dir string) store.WriterConfig {
	return store.WriterConfig{BatchSize: 8, FlushInterval: 20 * time.Millisecond, QueueSize: 4, Retries: 2,
		RetryBackoff: time.Millisecond, SpoolDir: dir}
}

func distinct(recs []*correlate.Record) map[string]*correlate.Record {
	m := map[string]*correlate.Record{}
	for _, r := range recs {
		m[r.Call.ID] = r
	}
	return m
}

// checkStored asserts every call is stored exactly once and intact.
func checkStored(t *testing.T, s store.Store, want map[string]*correlate.Record) {
	t.Helper()
	ctx := context.Background()
	n := 0
	q := store.CallQuery{Limit: 1000}
	for {
		p, err := s.SearchCalls(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Calls)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if n != len(want) {
		t.Fatalf("store holds %d calls, want %d exactly once", n, len(want))
	}
	for id, r := range want {
		c, err := s.GetCall(ctx, id)
		if err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
		a, _ := json.Marshal(c)
		b, _ := json.Marshal(&r.Call)
		if !bytes.Equal(a, b) {
			t.Fatalf("call %s changed on its way through the spool:\n%s\n%s", id, a, b)
		}
		ms, err := s.Messages(ctx, []string{id})
		if err != nil || len(ms) != len(r.Messages) {
			t.Fatalf("call %s: %d messages, want %d (%v)", id, len(ms), len(r.Messages), err)
		}
	}
}

func TestWriterOutageSpoolReplay(t *testing.T) {
	data := storetest.Data(t)
	want := distinct(data.Records)
	fs := &flaky{Store: openDuck(t)}
	reg := prometheus.NewRegistry()
	w, err := store.NewWriter(fs, testConfig(t.TempDir()), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Healthy: the first third goes straight in.
	third := len(data.Records) / 3
	for _, r := range data.Records[:third] {
		w.Write(r)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Spool().Len() != 0 {
		t.Fatalf("spool holds %d entries while the store is up", w.Spool().Len())
	}
	// Outage: everything else queues, overflows and spools.
	fs.down.Store(true)
	for _, r := range data.Records[third:] {
		w.Write(r)
	}
	for _, r := range data.Registrations {
		w.WriteRegistration(r)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	spooled := w.Spool().Len()
	if spooled != len(data.Records)-third+len(data.Registrations) {
		t.Fatalf("spool holds %d entries, want %d", spooled, len(data.Records)-third+len(data.Registrations))
	}
	if ptu.ToFloat64(reg2c(t, reg, "callscope_store_spool_bytes")) <= 0 || ptu.ToFloat64(reg2c(t, reg, "callscope_store_write_failures_total")) == 0 {
		t.Fatal("metrics do not show the outage")
	}
	// Recovery: replayed in order, exactly once.
	fs.down.Store(false)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.Spool().Len(); n != 0 {
		t.Fatalf("spool still holds %d entries after recovery", n)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, fs.Store, want)
	regs, err := fs.Registrations(ctx, store.RegQuery{Limit: 1000})
	if err != nil || len(regs) == 0 {
		t.Fatalf("registrations after replay: %d, %v", len(regs), err)
	}
	if got := ptu.ToFloat64(reg2c(t, reg, "callscope_store_calls_written_total")); got < float64(len(want)) {
		t.Fatalf("calls_written_total %v, want ≥ %d", got, len(want))
	}
}

// reg2c finds a registered metric by name and returns it as a collector for ToFloat64.
func reg2c(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			v := 0.0
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			}
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
			g.Set(v)
			return g
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

func TestWriterCrashRecovery(t *testing.T) {
	data := storetest.Data(t)
	want := distinct(data.Records)
	dir := t.TempDir()
	fs := &flaky{Store: openDuck(t)}
	fs.down.Store(true)
	w, err := store.NewWriter(fs, testConfig(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range data.Records {
		w.Write(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil { // the SIGTERM path with the store down: all to the spool
		t.Fatal(err)
	}
	sp, err := store.OpenSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Len() != len(data.Records) {
		t.Fatalf("spool after close holds %d, want %d", sp.Len(), len(data.Records))
	}
	sp.Close()
	// Next start, store up: the spool is replayed at start.
	fs.down.Store(false)
	w2, err := store.NewWriter(fs, testConfig(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStored(t, fs.Store, want)
	if n := w2.Spool().Len(); n != 0 {
		t.Fatalf("spool holds %d after replay", n)
	}
}

func fakeRec(i int) store.SpoolEntry {
	return store.SpoolEntry{Rec: &correlate.Record{
		Call:     correlate.Call{ID: fmt.Sprintf("c%06d", i), CallID: fmt.Sprintf("%d@x", i), Start: correlate.Time(1700000000123456789 + int64(i))},
		Messages: []correlate.Message{{TS: int64(i), Raw: bytes.Repeat([]byte{byte(i)}, 300), Method: "INVITE"}},
	}}
}

func readAll(t *testing.T, sp *store.Spool) []store.SpoolEntry {
	t.Helper()
	var out []store.SpoolEntry
	for sp.Len() > 0 {
		es, err := sp.Peek(50)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
		sp.Commit(len(es))
	}
	return out
}

func TestSpoolTornTailAndEviction(t *testing.T) {
	dir := t.TempDir()
	sp, err := store.OpenSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := sp.Append(fakeRec(i)); err != nil {
			t.Fatal(err)
		}
	}
	sp.Close()
	// A crash mid-write leaves half a record.
	segs, _ := filepath.Glob(filepath.Join(dir, "spool-*.log"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3})
	f.Close()
	sp, err = store.OpenSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Len() != 10 || sp.Corrupt() != 1 {
		t.Fatalf("reopened: %d entries, %d corrupt; want 10, 1", sp.Len(), sp.Corrupt())
	}
	if err := sp.Append(fakeRec(10)); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, sp)
	if len(got) != 11 {
		t.Fatalf("read %d entries, want 11", len(got))
	}
	for i, e := range got {
		w := fakeRec(i)
		if e.Rec.Call.ID != w.Rec.Call.ID || e.Rec.Call.Start != w.Rec.Call.Start || !bytes.Equal(e.Rec.Messages[0].Raw, w.Rec.Messages[0].Raw) {
			t.Fatalf("entry %d differs", i)
		}
	}
	sp.Close()

	// Size cap: the oldest entries go, are counted, and the newest stay readable.
	sp, err = store.OpenSpool(t.TempDir(), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := 0; i < 400; i++ {
		if err := sp.Append(fakeRec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if sp.Evicted() == 0 || sp.Bytes() > 64<<10 {
		t.Fatalf("evicted %d, %d bytes (cap 64 KiB)", sp.Evicted(), sp.Bytes())
	}
	left := sp.Len()
	if uint64(left)+sp.Evicted() != 400 {
		t.Fatalf("%d left + %d evicted != 400", left, sp.Evicted())
	}
	got = readAll(t, sp)
	if len(got) != left || got[len(got)-1].Rec.Call.ID != "c000399" {
		t.Fatalf("after eviction read %d (want %d), last %s", len(got), left, got[len(got)-1].Rec.Call.ID)
	}
}

const childEnv = "CALLSCOPE_SPOOL_CHILD_DIR"

// TestSpoolSIGKILL: a child process appends entries and reports each acknowledgement;
// it is killed with SIGKILL mid-run, and every acknowledged entry must be intact.
func TestSpoolSIGKILL(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		sp, err := store.OpenSpool(dir, 0)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			if err := sp.Append(fakeRec(i)); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Printf("acked %d\n", i+1)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolSIGKILL$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := 0
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "acked "); ok {
			acked, _ = strconv.Atoi(n)
			if acked >= 300 {
				break
			}
		} else if strings.HasPrefix(line, "error") {
			t.Fatal(line)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // killed: its exit error is expected
	if acked < 300 {
		t.Fatalf("child acknowledged only %d entries", acked)
	}
	sp, err := store.OpenSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	got := readAll(t, sp)
	if len(got) < acked {
		t.Fatalf("after SIGKILL the spool holds %d entries, %d were acknowledged", len(got), acked)
	}
	for i := 0; i < acked; i++ {
		w := fakeRec(i)
		if got[i].Rec == nil || got[i].Rec.Call.ID != w.Rec.Call.ID || !bytes.Equal(got[i].Rec.Messages[0].Raw, w.Rec.Messages[0].Raw) {
			t.Fatalf("acknowledged entry %d damaged", i)
		}
	}
	t.Logf("acked %d, found %d intact (%d torn tails)", acked, len(got), sp.Corrupt())
}
