package duckdb_test

import (
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
		if n != 8 {
			t.Fatalf("open #%d: %d migrations recorded, want 8 (v8: media segments)", i+1, n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
