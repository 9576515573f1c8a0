package clickhouse_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/chtest"
	"github.com/callscope/callscope/store"
)

// ClickHouse is killed (SIGKILL) while a store.Writer streams calls into it, and
// restarted; every call must arrive exactly once (FINAL deduplicates what a retried or
// replayed batch wrote twice), with all its messages and streams.
func TestFaultKillRestart(t *testing.T) {
	srv := chtest.Launch(t) // its own server: the shared one must not die
	st := openURL(t, srv.URL("fault"))
	w, err := store.NewWriter(st, store.WriterConfig{
		BatchSize: 100, FlushInterval: 100 * time.Millisecond, QueueSize: 400,
		Retries: 2, RetryBackoff: 50 * time.Millisecond, WriteTimeout: 3 * time.Second,
		SpoolDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const phase = 1000
	base := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	n := 0
	stream := func(count int) {
		for i := 0; i < count; i++ {
			w.Write(synthCall(n, base, 20*time.Hour))
			n++
			if n%50 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	stream(phase)
	srv.Kill()
	stream(phase) // store down: retries fail, batches go to the spool
	if w.Spool().Len() == 0 {
		t.Error("nothing was spooled while ClickHouse was down")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	stream(phase)
	for i := 0; i < 200; i++ { // a replayed spool: the same calls again
		w.Write(synthCall(i, base, 20*time.Hour))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for w.Spool().Len() > 0 && ctx.Err() == nil {
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Spool().Len() != 0 {
		t.Fatalf("%d entries left in the spool", w.Spool().Len())
	}
	c := st.Conn()
	var rows, distinct uint64
	if err := c.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM calls FINAL").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != uint64(n) || distinct != uint64(n) {
		t.Fatalf("calls FINAL: %d rows, %d distinct ids; want %d of each", rows, distinct, n)
	}
	var msgs, streams, raw uint64
	if err := c.QueryRow(ctx, "SELECT count() FROM sip_messages FINAL").Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT count() FROM rtp_streams FINAL").Scan(&streams); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT count() FROM calls").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if msgs != 7*uint64(n) || streams != 2*uint64(n) {
		t.Fatalf("%d messages, %d streams; want %d, %d", msgs, streams, 7*n, 2*n)
	}
	t.Logf("%d calls stored exactly once (%d rows before deduplication)", n, raw)
	// Reads through the store agree.
	p, err := st.SearchCalls(ctx, store.CallQuery{Limit: 1000})
	if err != nil || len(p.Calls) != 1000 || p.Next == "" {
		t.Fatalf("search after restart: %d calls, next %q, %v", len(p.Calls), p.Next, err)
	}
}
