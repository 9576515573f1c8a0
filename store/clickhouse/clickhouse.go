// Package clickhouse is the scale-out store engine: store.Store on ClickHouse through
// github.com/ClickHouse/clickhouse-go/v2 over the native protocol. The schema works on
// ClickHouse 18.16 (Debian's package) and on current releases: no DateTime64, TTL, Map
// or codecs; times are DateTime('UTC') plus a UInt32 column holding the nanoseconds
// within the second (X_ns), so every stored time comes back exactly as written (call ids
// hash the start time in ns); tables are partitioned by day and retention drops whole
// partitions. Inserts are columnar batches that name their columns (18.16 rejects
// column-less inserts). Every table is a ReplacingMergeTree and every read uses FINAL,
// so writing a call again (a replayed spool, a retried batch) never duplicates it.
//
// A Store is safe for concurrent use: it holds only the clickhouse-go connection pool
// (bounded by MaxOpenConns) and starts no goroutines of its own. ClusterDDL prints the
// replicated, distributed variant of the same schema for clusters (docs/deploy.md).
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/callscope/callscope/store"
)

// Store is a ClickHouse store.Store.
type Store struct {
	conn    driver.Conn
	db      string
	version string // server version, e.g. "18.16.1"
	codec   *store.FrameCodec
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.SegmentWriter = (*Store)(nil)
)

// Open connects to clickhouse://user:pass@host:9000/db (query parameters are passed to
// clickhouse-go: dial_timeout, read_timeout, compress, ...; without compress, blocks are
// LZ4-compressed unless the host is a loopback address). The database is created if
// it does not exist. Call Migrate before writing.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "clickhouse" {
		return nil, fmt.Errorf("clickhouse: bad store URL %q: want clickhouse://user:pass@host:9000/db", rawURL)
	}
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "callscope"
	}
	if strings.ContainsAny(db, "`/\\ ") {
		return nil, fmt.Errorf("clickhouse: bad database name %q", db)
	}
	opts, err := ch.ParseDSN(rawURL)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	opts.Protocol = ch.Native
	if opts.DialTimeout == 0 || !u.Query().Has("dial_timeout") {
		opts.DialTimeout = 5 * time.Second
	}
	if !u.Query().Has("compress") && !loopback(u.Hostname()) {
		// LZ4 on the wire pays off across a network; on loopback it only costs CPU
		// on both ends (a third of the client's insert work). compress=... decides.
		opts.Compression = &ch.Compression{Method: ch.CompressionLZ4}
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 8
	}
	// Create the database through "default" first: connecting to a missing database fails.
	bootOpts := *opts
	bootOpts.Auth.Database = "default"
	boot, err := ch.Open(&bootOpts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open: %w", err)
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(db))
	_ = boot.Close()
	if err != nil {
		return nil, fmt.Errorf("clickhouse: create database %s: %w", db, err)
	}
	opts.Auth.Database = db
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open: %w", err)
	}
	codec, err := store.NewFrameCodec()
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &Store{conn: conn, db: db, codec: codec}
	if v, err := conn.ServerVersion(); err == nil {
		s.version = fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch)
	} else {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse: server version: %w", err)
	}
	return s, nil
}

// loopback reports whether host is a loopback address or localhost.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Conn is the underlying connection pool (operations, tests).
func (s *Store) Conn() driver.Conn { return s.conn }

// Database is the database the store uses.
func (s *Store) Database() string { return s.db }

// ServerVersion is the server's version, e.g. "18.16.1".
func (s *Store) ServerVersion() string { return s.version }

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("clickhouse: ping: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.codec.Close()
	return s.conn.Close()
}

// Migrate creates the schema_migrations table and applies every migration not yet
// recorded there. Statements are idempotent, so concurrent or interrupted migrations
// are harmless.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, migrationsDDL()); err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	applied := map[uint32]bool{}
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM "+migrationsTable)
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	for _, m := range migrations() {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.stmts {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("clickhouse: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		for _, add := range m.adds {
			if err := s.addColumn(ctx, add[0], add[1]); err != nil {
				return fmt.Errorf("clickhouse: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		if err := s.insert(ctx, migrationsTable, []string{"version", "name", "applied"},
			[]uint32{m.version}, []string{m.name}, []time.Time{time.Now().UTC().Truncate(time.Second)}); err != nil {
			return fmt.Errorf("clickhouse: record migration %d: %w", m.version, err)
		}
	}
	return nil
}

// addColumn adds the column def (name first) to tbl unless tbl has a column of that name.
func (s *Store) addColumn(ctx context.Context, tbl, def string) error {
	name := strings.Fields(def)[0]
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		s.db, tbl, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return s.conn.Exec(ctx, "ALTER TABLE "+tbl+" ADD COLUMN "+def)
}

// AppliedMigrations lists the recorded migration versions, ascending.
func (s *Store) AppliedMigrations(ctx context.Context) ([]uint32, error) {
	rows, err := s.conn.Query(ctx, "SELECT version FROM "+migrationsTable+" FINAL ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("clickhouse: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// insert sends one columnar batch: data[i] is a slice holding column cols[i] of every row.
func (s *Store) insert(ctx context.Context, tbl string, cols []string, data ...any) error {
	b, err := s.prepare(ctx, tbl, cols, data...)
	if err != nil {
		return err
	}
	return s.send(tbl, b)
}

// prepare starts an insert and appends its columns, without sending them. The caller
// must Send or Abort the batch (it holds a connection).
func (s *Store) prepare(ctx context.Context, tbl string, cols []string, data ...any) (driver.Batch, error) {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+tbl+" ("+strings.Join(cols, ", ")+")")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: insert %s: %w", tbl, err)
	}
	for i, d := range data {
		if err := b.Column(i).Append(d); err != nil {
			_ = b.Abort()
			return nil, fmt.Errorf("clickhouse: insert %s column %s: %w", tbl, cols[i], err)
		}
	}
	return b, nil
}

// send sends a prepared batch and releases it.
func (s *Store) send(tbl string, b driver.Batch) error {
	defer b.Close()
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert %s: %w", tbl, err)
	}
	return nil
}

// split turns a timestamp (Unix ns) into DateTime seconds (an int64, which the driver
// appends without the time.Time round trip) and the nanoseconds within
// the second. Unknown (zero) and pre-1970 times become (0, 0); times past 2106 are
// clamped.
func split(ns int64) (int64, uint32) {
	if ns <= 0 {
		return 0, 0
	}
	sec := ns / 1e9
	if sec > 1<<32-1 {
		sec = 1<<32 - 1
	}
	return sec, uint32(ns % 1e9)
}

// join is the inverse of split, from seconds read with toUInt32.
func join(sec, ns uint32) int64 {
	return int64(sec)*1e9 + int64(ns)
}

// view returns b as a string without copying. The strings only live until the batch
// holding them is sent (the driver copies them into its column buffers), and the
// records are not modified during WriteCalls.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func nullInt32(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DropBefore drops every daily partition wholly before t (UTC days), in every table.
// With the cluster schema it drops the NAME_local partitions of the node it is connected
// to; run it against every node (docs/deploy.md).
func (s *Store) DropBefore(ctx context.Context, t time.Time) error {
	cut, _ := strconv.Atoi(store.DayFloor(t).Format("20060102"))
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT table, partition FROM system.parts WHERE database = ? AND active", s.db)
	if err != nil {
		return fmt.Errorf("clickhouse: retention: %w", err)
	}
	type part struct{ table, partition string }
	var drop []part
	known := map[string]bool{}
	for _, tb := range tables {
		known[tb.name] = true
		known[tb.name+"_local"] = true // cluster schema: this node's shard (ClusterDDL)
	}
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.table, &p.partition); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: retention: %w", err)
		}
		day, err := strconv.Atoi(strings.Trim(p.partition, "'"))
		if err != nil || !known[p.table] || day >= cut {
			continue
		}
		drop = append(drop, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: retention: %w", err)
	}
	sort.Slice(drop, func(i, j int) bool {
		if drop[i].table != drop[j].table {
			return drop[i].table < drop[j].table
		}
		return drop[i].partition < drop[j].partition
	})
	var errs []error
	for _, p := range drop {
		if err := s.conn.Exec(ctx, "ALTER TABLE "+p.table+" DROP PARTITION "+strings.Trim(p.partition, "'")); err != nil {
			errs = append(errs, fmt.Errorf("clickhouse: drop %s partition %s: %w", p.table, p.partition, err))
		}
	}
	return errors.Join(errs...)
}
