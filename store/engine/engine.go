// Package engine reads store URLs and opens a store.Store from one: "duckdb:PATH" (the
// default, an embedded file; an empty URL means duckdb:./callscope-data/callscope.duckdb)
// or "clickhouse://user:pass@host:9000/db". Parse is the one reader of a store URL:
// whatever needs the engine, the database file or the writer's spool directory asks it.
// The package only wires; each engine owns its connections and concurrency.
package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/clickhouse"
	"github.com/callscope/callscope/store/duckdb"
)

// DefaultPath is where the embedded store lives when no URL is given.
const DefaultPath = "callscope-data/callscope.duckdb"

// Engine names.
const (
	DuckDB     = "duckdb"
	ClickHouse = "clickhouse"
)

// URL is a parsed store URL.
type URL struct {
	Engine string // DuckDB or ClickHouse
	// Path is the DuckDB database file ("duckdb:PATH" and "duckdb://PATH" name the same
	// file; PATH may be relative).
	Path string
	// DSN is the ClickHouse URL as given (clickhouse.Open reads its parts).
	DSN string
}

// Parse reads a store URL. An error wraps store.ErrBadQuery.
func Parse(url string) (URL, error) {
	switch {
	case url == "":
		return URL{Engine: DuckDB, Path: DefaultPath}, nil
	case strings.HasPrefix(url, "duckdb:"):
		p := strings.TrimPrefix(strings.TrimPrefix(url, "duckdb:"), "//")
		if p == "" {
			p = DefaultPath
		}
		return URL{Engine: DuckDB, Path: p}, nil
	case strings.HasPrefix(url, "clickhouse://"):
		return URL{Engine: ClickHouse, DSN: url}, nil
	}
	return URL{}, fmt.Errorf("%w: unknown store URL %q (want duckdb:PATH or clickhouse://user:pass@host:9000/db)", store.ErrBadQuery, url)
}

// SpoolDir is where the store writer spools while the store is down: beside the DuckDB
// file, or callscope-data/spool (relative to the working directory) for ClickHouse.
func (u URL) SpoolDir() string {
	if u.Engine == DuckDB {
		return filepath.Join(filepath.Dir(u.Path), "spool")
	}
	return filepath.Join(filepath.Dir(DefaultPath), "spool")
}

// Open opens the store url names and migrates its schema (idempotent: versions already
// applied are skipped), so the store it returns is ready to write.
func Open(ctx context.Context, url string) (store.Store, error) {
	u, err := Parse(url)
	if err != nil {
		return nil, err
	}
	if u.Engine == DuckDB {
		return duckdb.Open(u.Path) // duckdb.Open migrates
	}
	s, err := clickhouse.Open(ctx, u.DSN)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store migrate: %w", err)
	}
	return s, nil
}
