package main

import (
	"context"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
)

const killChildEnv = "CALLSCOPE_KILL_CHILD_ARGS"

// TestServeSIGKILLKeepsFrames kills `serve -r` (SIGKILL) at random points while it
// ingests a generated load capture into DuckDB with --keep-rtp headers, reopens the
// database and checks that (1) every call whose record is stored has its media frames:
// as many as its media_segments row says were kept, and at least one (every generated
// call carries RTP both ways), and (2) no call the writer acknowledged as stored
// (callscope_store_calls_written_total, scraped just before the kill) was lost.
func TestServeSIGKILLKeepsFrames(t *testing.T) {
	if args := os.Getenv(killChildEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	if testing.Short() {
		t.Skip("kills a child serve several times")
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "load.pcap")
	if rc := run([]string{"gen", "-load-calls", "300", "-call-seconds", "4", "-w", pcap}, io.Discard, os.Stderr); rc != 0 {
		t.Fatalf("gen exited %d", rc)
	}
	// Batches of 10 calls, so a kill lands between and inside many store writes.
	conf := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(conf, []byte("store_batch_size: 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serveArgs := func(db string) []string {
		return []string{"serve", "--config", conf, "-r", pcap, "--store", "duckdb:" + db, "--keep-rtp", "headers", "--listen", "127.0.0.1:0"}
	}
	// One run to the end measures how long an ingest takes here; kills land in [0.2, 1.1] of it.
	full := time.Now()
	if n := killServe(t, serveArgs(filepath.Join(dir, "full", "cs.duckdb")), 0); n != 300 {
		t.Fatalf("uninterrupted run stored %d calls, the capture has 300", n)
	}
	took := time.Since(full)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d, an ingest takes %v", seed, took)
	for round := 0; round < 6; round++ {
		db := filepath.Join(dir, strconv.Itoa(round), "cs.duckdb")
		delay := time.Duration((0.2 + 0.9*rng.Float64()) * float64(took))
		acked := killServe(t, serveArgs(db), delay)
		stored, framed := checkFrames(t, db)
		t.Logf("round %d: killed after %v: %d calls acknowledged, %d stored, all %d with their frames", round, delay, acked, stored, framed)
		if stored < acked {
			t.Fatalf("round %d: %d calls stored after SIGKILL, %d were acknowledged", round, stored, acked)
		}
	}
}

// killServe runs args in a child process, scrapes its calls-written counter until
// delay has passed (0: until it reports the ingest done), SIGKILLs it and returns the
// last value scraped.
func killServe(t *testing.T, args []string, delay time.Duration) int {
	t.Helper()
	cmd, url, done := startKillable(t, args) // wal_kill_test.go
	defer cmd.Wait()                         //nolint:errcheck // killed: the exit error is expected
	written := func() (int, bool) {
		m, ok := scrapeAll(url)
		return int(m["callscope_store_calls_written_total"]), ok
	}
	if delay == 0 {
		<-done
		n, _ := written()
		cmd.Process.Signal(syscall.SIGKILL)
		return n
	}
	acked := 0
	for deadline := time.Now().Add(delay); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n, ok := written(); ok {
			acked = n
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return acked
}

// checkFrames opens the killed database and checks every stored call's frames.
func checkFrames(t *testing.T, path string) (stored, framed int) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return 0, 0 // killed before the store was created
	}
	s, err := duckdb.Open(path)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	kept := map[string]int{}
	rows, err := s.DB().QueryContext(ctx, "SELECT call_uid, frames FROM media_segments")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		kept[id] = n
	}
	rows.Close()
	q := store.CallQuery{Limit: 1000}
	for {
		p, err := s.SearchCalls(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Calls {
			stored++
			fr, err := s.Media(ctx, []string{c.ID})
			if err != nil {
				t.Fatalf("call %s: frames unreadable after SIGKILL: %v", c.ID, err)
			}
			if len(fr) == 0 || len(fr) != kept[c.ID] {
				t.Fatalf("call %s: %d frames readable, its record says %d were kept", c.ID, len(fr), kept[c.ID])
			}
			framed++
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	return stored, framed
}
