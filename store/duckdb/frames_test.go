package duckdb_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store/duckdb"
)

// frameRec is a call starting at start with n frames whose bytes derive from id.
func frameRec(id string, start time.Time, n int) *correlate.Record {
	r := &correlate.Record{Call: correlate.Call{ID: id, CallID: id + "@x", Start: correlate.Time(start.UnixNano())}}
	for j := 0; j < n; j++ {
		r.Media = append(r.Media, correlate.Frame{TS: start.UnixNano() + int64(j)*20e6, LinkType: 1, OrigLen: 214,
			Data: bytes.Repeat([]byte(id[:1]), 54+j%3)})
	}
	return r
}

// Frames live in one file per batch and day under frames/ beside the database; a call
// reads back exactly its own frames; retention removes the directories of dropped
// days and nothing else; an in-memory database keeps segments inline.
func TestFrameSegmentsFilesAndRetention(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := duckdb.Open(filepath.Join(dir, "callscope.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day1 := time.Date(2024, 5, 1, 23, 59, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Minute) // 2024-05-02
	a, b, c := frameRec("a1", day1, 30), frameRec("b2", day2, 40), frameRec("c3", day2, 5)
	if err := s.WriteCalls(ctx, []*correlate.Record{a, b, c}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"2024-05-01", "2024-05-02"} {
		ents, err := os.ReadDir(filepath.Join(dir, "frames", d))
		if err != nil || len(ents) != 1 {
			t.Fatalf("frames/%s: %d files (%v), want one per batch", d, len(ents), err)
		}
	}
	for _, r := range []*correlate.Record{a, b, c} {
		fr, err := s.Media(ctx, []string{r.Call.ID})
		if err != nil || len(fr) != len(r.Media) {
			t.Fatalf("%s: %d frames (%v), want %d", r.Call.ID, len(fr), err, len(r.Media))
		}
		for i := range fr {
			if !bytes.Equal(fr[i].Data, r.Media[i].Data) || fr[i].TS != r.Media[i].TS {
				t.Fatalf("%s frame %d is not the one written", r.Call.ID, i)
			}
		}
	}
	if err := s.DropBefore(ctx, day2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "frames", "2024-05-01")); !os.IsNotExist(err) {
		t.Fatalf("the dropped day's frame segments are still there: %v", err)
	}
	if fr, err := s.Media(ctx, []string{"b2"}); err != nil || len(fr) != 40 {
		t.Fatalf("kept day: %d frames (%v), want 40", len(fr), err)
	}

	// A damaged segment file is an error, not wrong frames.
	ents, _ := os.ReadDir(filepath.Join(dir, "frames", "2024-05-02"))
	if err := os.Truncate(filepath.Join(dir, "frames", "2024-05-02", ents[0].Name()), 10); err != nil {
		t.Fatal(err)
	}
	if fr, err := s.Media(ctx, []string{"b2"}); err == nil {
		t.Fatalf("truncated segment file: %d frames and no error", len(fr))
	}

	mem, err := duckdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if err := mem.WriteCalls(ctx, []*correlate.Record{a}); err != nil {
		t.Fatal(err)
	}
	if fr, err := mem.Media(ctx, []string{"a1"}); err != nil || len(fr) != 30 {
		t.Fatalf("in-memory: %d frames (%v), want 30", len(fr), err)
	}
}

// TestDropBeforeCheckpointsWhenItDeletes: a retention pass that deletes nothing leaves
// DuckDB's own WAL as it was (no checkpoint: after `serve -r` that checkpoint wrote out
// the whole ingest at once); one that deletes rows checkpoints, which empties that WAL
// (DuckDB's documented CHECKPOINT: the WAL is merged into the database file).
func TestDropBeforeCheckpointsWhenItDeletes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "callscope.duckdb")
	s, err := duckdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day1 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	if err := s.WriteCalls(ctx, []*correlate.Record{frameRec("a1", day1, 3), frameRec("b2", day2, 3)}); err != nil {
		t.Fatal(err)
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + ".wal")
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := walSize()
	if before == 0 {
		t.Fatal("no DuckDB WAL after a write: the test cannot tell a checkpoint")
	}
	if err := s.DropBefore(ctx, day1.Add(-48*time.Hour)); err != nil { // older than every call
		t.Fatal(err)
	}
	if n := walSize(); n < before {
		t.Fatalf("a pass that deleted nothing checkpointed: WAL %d → %d bytes", before, n)
	}
	if err := s.DropBefore(ctx, day2); err != nil { // day1 goes
		t.Fatal(err)
	}
	if n := walSize(); n != 0 {
		t.Fatalf("a pass that deleted rows did not checkpoint: WAL %d bytes", n)
	}
	if _, err := s.GetCall(ctx, "a1"); err == nil {
		t.Fatal("the dropped day's call is still there")
	}
	if _, err := s.GetCall(ctx, "b2"); err != nil {
		t.Fatalf("the kept day's call: %v", err)
	}
}
