// Package engine opens a store.Store from a store URL: "duckdb:PATH" (the default, an
// embedded file; an empty URL means duckdb:./callscope-data/callscope.duckdb) or
// "clickhouse://user:pass@host:9000/db". It only wires; each engine owns its
// connections and concurrency.
package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/clickhouse"
	"github.com/callscope/callscope/store/duckdb"
)

// DefaultPath is where the embedded store lives when no URL is given.
const DefaultPath = "callscope-data/callscope.duckdb"

// Open opens and migrates the store url names.
func Open(ctx context.Context, url string) (store.Store, error) {
	switch {
	case url == "":
		return duckdb.Open(DefaultPath)
	case strings.HasPrefix(url, "duckdb:"):
		p := strings.TrimPrefix(strings.TrimPrefix(url, "duckdb:"), "//")
		if p == "" {
			p = DefaultPath
		}
		return duckdb.Open(p)
	case strings.HasPrefix(url, "clickhouse://"):
		s, err := clickhouse.Open(ctx, url)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown store URL %q (want duckdb:PATH or clickhouse://user:pass@host:9000/db)", store.ErrBadQuery, url)
}
