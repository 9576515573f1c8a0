package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store/duckdb"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServeRetentionKeepsIngestedFiles replays the bundled demo capture, recorded on
// 2026-11-21 (capinfos -a), into a real DuckDB store with --retention 1h while
// retention passes run every 50 ms, and checks that its 4 calls (SIPp's 4 INVITEs,
// tshark -Y sip.Method==INVITE) are all still there after several passes. In the
// second case the store already holds a call started now, as after a live session:
// counted from that newest call the cutoff is now-1h, so a pass after the ingest would
// delete the demo's day; the floor (the oldest call this process ingested) forbids it.
// The pre-seeded call proves passes ran against real data: it must survive too.
func TestServeRetentionKeepsIngestedFiles(t *testing.T) {
	for _, seed := range []bool{false, true} {
		name := "fresh store"
		if seed {
			name = "store with a call from now"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "cs.duckdb")
			want := 4
			if seed {
				s, err := duckdb.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				r := &correlate.Record{Call: correlate.Call{ID: "seed", CallID: "seed@x", Start: correlate.Time(time.Now().UnixNano())}}
				if err := s.WriteCalls(context.Background(), []*correlate.Record{r}); err != nil {
					t.Fatal(err)
				}
				s.Close()
				want++
			}
			cfg, err := parseServeConfig([]string{"--listen", "127.0.0.1:0", "--retention", "1h", "--store", "duckdb:" + path, "-r", demoFile(t)}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg.retentionEvery = 50 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, logs syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- serve(ctx, cfg, &out, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			}()
			// Wait for the ingest and then for 5 passes after it.
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && strings.Count(logs.String(), "store: retention pass") < 5 {
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(out.String(), "ingested 4 calls") {
				t.Fatalf("ingest: %q", out.String())
			}
			if n := strings.Count(logs.String(), "store: retention pass"); n < 5 {
				t.Fatalf("%d retention passes logged, want 5:\n%s", n, logs.String())
			}
			base := ""
			for _, l := range strings.Split(out.String(), "\n") {
				if u, ok := strings.CutPrefix(l, "callscope: serving "); ok {
					base = strings.TrimSuffix(strings.Fields(u)[0], "/")
				}
			}
			var page struct{ Calls []json.RawMessage }
			if err := getJSON(t, base+"/api/v1/calls?limit=100", &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Calls) != want {
				t.Fatalf("%d calls after retention passes, want %d; log:\n%s", len(page.Calls), want, logs.String())
			}
			if strings.Contains(logs.String(), "retention deleted") {
				t.Errorf("retention deleted calls:\n%s", logs.String())
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
