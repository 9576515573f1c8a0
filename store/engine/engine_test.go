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

func TestParse(t *testing.T) {
	// Expectations follow the URL forms the README documents: duckdb:PATH (PATH as the
	// file system reads it, relative or absolute; "duckdb://" adds nothing) and the
	// clickhouse:// DSN, kept whole for clickhouse.Open. The spool sits beside the
	// database file, in the directory of that same PATH.
	for _, tc := range []struct {
		name, url    string
		engine, path string
		spool        string
	}{
		{"empty is the default file", "", DuckDB, DefaultPath, filepath.Join("callscope-data", "spool")},
		{"duckdb: alone is the default file", "duckdb:", DuckDB, DefaultPath, filepath.Join("callscope-data", "spool")},
		{"relative", "duckdb:./x/c.duckdb", DuckDB, "./x/c.duckdb", filepath.Join("x", "spool")},
		{"absolute", "duckdb:/var/lib/cs/c.duckdb", DuckDB, "/var/lib/cs/c.duckdb", "/var/lib/cs/spool"},
		// The bug this parser fixed: the spool went to /data/spool, the database to data/.
		{"slashes then relative", "duckdb://data/c.duckdb", DuckDB, "data/c.duckdb", filepath.Join("data", "spool")},
		{"slashes then absolute", "duckdb:///srv/c.duckdb", DuckDB, "/srv/c.duckdb", "/srv/spool"},
		{"clickhouse", "clickhouse://u:p@h:9000/db", ClickHouse, "", filepath.Join("callscope-data", "spool")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if u.Engine != tc.engine || u.Path != tc.path || u.SpoolDir() != tc.spool {
				t.Fatalf("Parse(%q) = %+v spool %q; want %s %q spool %q", tc.url, u, u.SpoolDir(), tc.engine, tc.path, tc.spool)
			}
			if tc.engine == ClickHouse && u.DSN != tc.url {
				t.Fatalf("DSN %q", u.DSN)
			}
		})
	}
	for _, bad := range []string{"mysql://x", "duck:x", "clickhouse:x", "/path/only"} {
		if _, err := Parse(bad); !errors.Is(err, store.ErrBadQuery) {
			t.Errorf("Parse(%q) err %v, want ErrBadQuery", bad, err)
		}
	}
}
