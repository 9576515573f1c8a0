package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/store"
)

func TestOpenDuckDB(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, url, file string }{
		{"explicit", "duckdb:" + filepath.Join(dir, "a", "b.duckdb"), filepath.Join(dir, "a", "b.duckdb")},
		{"default", "", filepath.Join(dir, DefaultPath)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(dir)
			s, err := Open(context.Background(), tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(tc.file); err != nil {
				t.Fatalf("no database file: %v", err)
			}
		})
	}
}

func TestOpenBadURL(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://x"); !errors.Is(err, store.ErrBadQuery) {
		t.Fatalf("err %v", err)
	}
}
