package duckdb_test

import (
	"context"
	"math/rand/v2"

	"github.com/callscope/callscope/correlate"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
	"github.com/callscope/callscope/store/storetest"
)

func openTemp(t *testing.T) *duckdb.Store {
	t.Helper()
	s, err := duckdb.Open(filepath.Join(t.TempDir(), "data", "callscope.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// A file reopened keeps its data and its migrations are not reapplied.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")
	for i := 0; i < 2; i++ {
		s, err := duckdb.Open(path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		var n int
		if err := s.DB().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 9 {
			t.Fatalf("open #%d: %d migrations recorded, want 9 (v9: message text once)", i+1, n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// counts returns the rows of calls and sip_messages holding id.
func counts(t *testing.T, s *duckdb.Store, id string) (calls, msgs int) {
	t.Helper()
	if err := s.DB().QueryRow("SELECT count(*) FROM calls WHERE id = ?", id).Scan(&calls); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().QueryRow("SELECT count(*) FROM sip_messages WHERE call_uid = ?", id).Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	return calls, msgs
}

// A call written again is stored once with its last content, whichever way the replay
// check goes (known.go): a few known ids looked up one by one, a whole replayed batch
// joined, and ids stored by an earlier process, which the new process's filter loads.
func TestRewriteReplaces(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.duckdb")
	s, err := duckdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	recs := synthBatch(0, 40, rng)
	check := func(s *duckdb.Store, state correlate.State) {
		t.Helper()
		var n int
		if err := s.DB().QueryRow("SELECT count(*) FROM calls").Scan(&n); err != nil || n != len(recs) {
			t.Fatalf("calls: %d (%v), want %d", n, err, len(recs))
		}
		for _, r := range recs {
			if c, m := counts(t, s, r.Call.ID); c != 1 || m != len(r.Messages) {
				t.Fatalf("call %s: %d rows, %d messages; want 1, %d", r.Call.ID, c, m, len(r.Messages))
			}
		}
		got, err := s.GetCall(ctx, recs[0].Call.ID)
		if err != nil || got == nil || got.State != state {
			t.Fatalf("GetCall: %+v, %v; want state %s", got, err, state)
		}
	}
	if err := s.WriteCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Three known ids and new ones: looked up one by one.
	recs[0].Call.State = "rewritten-1"
	more := synthBatch(100, 5, rng)
	if err := s.WriteCalls(ctx, append(append([]*correlate.Record{}, recs[:3]...), more...)); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, more...)
	check(s, "rewritten-1")
	// All of them again: joined.
	recs[0].Call.State = "rewritten-2"
	if err := s.WriteCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	check(s, "rewritten-2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Another process: its filter starts from the table.
	if s, err = duckdb.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs[0].Call.State = "rewritten-3"
	if err := s.WriteCalls(ctx, recs[:1]); err != nil {
		t.Fatal(err)
	}
	check(s, "rewritten-3")
}
