// Package duckdb is callscope's embedded default store: one DuckDB file holding calls,
// SIP messages (raw bytes and frames, for ladders and pcap export), RTP streams with
// their quality intervals, kept media frames and registrations. Media frames are not
// rows: each call's frames are one compressed segment in a file under frames/ beside the
// database, indexed by media_segments (frames.go).
//
// # Layout
//
// Every table carries the call's start time (ns since the Unix epoch) so a time range
// prunes row groups through DuckDB's min/max zone maps (rows arrive roughly in time
// order) and retention deletes whole days from every table with one predicate. calls has
// one column per searchable field of correlate.Call plus the whole object as JSON
// (obj), so GetCall returns exactly what was written; times are kept in ns columns
// because the JSON form carries only µs. calls.numbers holds the lower-cased URIs and
// user parts computed at insert, so a number search is one contains() over one column.
// ART indexes serve the lookups by call id and Call-ID.
//
// # Search
//
// SearchCalls runs in two phases inside one read transaction: the filter, sort and limit
// over narrow columns (id and the sort key) only, then the page's JSON fetched through
// the id index. The wide obj column is never scanned or sorted.
//
// # Writes and concurrency
//
// A Store is safe for concurrent use. Reads use the database/sql pool. Writes are
// serialised on one dedicated connection: each WriteCalls is one transaction that
// deletes the calls of the batch that already exist (idempotence by Call.ID) and then
// appends every row through DuckDB's Appender, so a batch is stored whole or not at all.
// Which ids exist is answered by an in-memory Bloom filter of the stored ids first
// (known.go): asking DuckDB is a join over every stored id, O(table) per batch.
//
// # Write cost
//
// BenchmarkInsertCalls (5,000 calls of 7 SIP messages and 2 streams per batch, -cpu 1)
// stores about 9,700 calls/s, 100 µs per call; BenchmarkInsertCallsSmall (50 per
// batch) about 3,500 calls/s: a batch costs about 5 ms whatever its size, mostly inside
// DuckDB (each appender flush plans an INSERT, about 0.4 ms per table; the commit sets
// up every column of every table written and writes the WAL by rescanning the rows), so
// few large batches are much cheaper than many small ones. Per row, most of the time is
// the commit's WAL and the cgo call per string value.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	duck "github.com/duckdb/duckdb-go/v2"
)

// checkpointThreshold is the WAL size that triggers an automatic checkpoint. DuckDB's
// 16 MiB default checkpointed after nearly every batch (a batch of 5,000 calls writes
// about 30 MB, mostly raw SIP), rewriting the id indexes each time; 256 MiB amortises
// that over several batches, bounds the WAL replayed after a crash and the memory
// held by not yet checkpointed rows.
const checkpointThreshold = "256MiB"

// Store is the DuckDB engine. See the package doc.
type Store struct {
	db   *sql.DB
	path string

	mu    sync.Mutex // serialises writes on wconn
	wconn *sql.Conn

	// Media frame segments (frames.go): frameDir is "" for an in-memory database.
	frameDir string
	codec    *store.FrameCodec
	segSeq   atomic.Uint64

	known *idFilter // ids the calls table may hold (known.go); nil until the first write
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.SegmentWriter = (*Store)(nil)
)

// Open opens (creating it and its directory if needed) the DuckDB file at path and
// migrates its schema. An empty path or ":memory:" opens an in-memory database.
func Open(path string) (*Store, error) {
	dsn := path
	if path == ":memory:" {
		dsn = ""
	}
	if dsn != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("duckdb: %w", err)
		}
	}
	_, werr := os.Stat(path + ".wal")
	recovering := dsn != "" && werr == nil // DuckDB's own WAL, left by a crash
	db, err := sql.Open("duckdb", dsn)
	if err != nil {
		return nil, fmt.Errorf("duckdb: open %s: %w", path, err)
	}
	ctx := context.Background()
	wconn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: open %s: %w", path, err)
	}
	codec, err := store.NewFrameCodec()
	if err != nil {
		wconn.Close()
		db.Close()
		return nil, err
	}
	s := &Store{db: db, path: path, wconn: wconn, codec: codec}
	if dsn != "" {
		s.frameDir = filepath.Join(filepath.Dir(path), "frames")
	}
	if _, err := wconn.ExecContext(ctx, "SET checkpoint_threshold = '"+checkpointThreshold+"'"); err != nil {
		s.Close()
		return nil, fmt.Errorf("duckdb: open %s: %w", path, err)
	}
	if recovering {
		// The open above replayed a WAL left by a crash. Checkpoint it before anything
		// writes: otherwise (DuckDB 1.5.3) the first checkpoint after further writes can
		// leave the calls_id index without the replayed rows, so a SIGKILLed database
		// kept every row but GetCall and SearchCalls found none of them
		// (TestServeSIGKILLWAL, cmd/callscope; reproduced with `serve -r`, SIGKILL after
		// the ingest, `serve` again, SIGINT: `WHERE id = ?` matched 0 of 300 rows).
		if _, err := wconn.ExecContext(ctx, "CHECKPOINT"); err != nil {
			s.Close()
			return nil, fmt.Errorf("duckdb: checkpoint after recovery %s: %w", path, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DB exposes the database for tools and tests (read-only use, please).
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
		s.wconn = nil
	}
	errs = append(errs, s.db.Close())
	if s.codec != nil {
		s.codec.Close()
		s.codec = nil
	}
	return errors.Join(errs...)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.PingContext(ctx)
}

// --- writes -----------------------------------------------------------------------------

func nullF(p *float64) driver.Value {
	if p == nil {
		return nil
	}
	return *p
}

func nullI(p *int) driver.Value {
	if p == nil {
		return nil
	}
	return int64(*p)
}

func nullS(p *string) driver.Value {
	if p == nil {
		return nil
	}
	return *p
}

func nullT(t correlate.Time) driver.Value {
	if t == 0 {
		return nil
	}
	return int64(t)
}

// tx runs fn inside one transaction on the write connection.
func (s *Store) tx(ctx context.Context, fn func(dc driver.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wconn == nil {
		return fmt.Errorf("duckdb: %w", sql.ErrConnDone)
	}
	if _, err := s.wconn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("duckdb: begin: %w", err)
	}
	err := s.wconn.Raw(func(dc any) error { return fn(dc.(driver.Conn)) })
	if err == nil {
		if _, err = s.wconn.ExecContext(ctx, "COMMIT"); err == nil {
			return nil
		}
	}
	if _, rerr := s.wconn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return fmt.Errorf("duckdb: write: %w", err)
}

func execRaw(dc driver.Conn, q string) error {
	_, err := execCount(dc, q)
	return err
}

// execCount runs q and returns the number of rows it changed.
func execCount(dc driver.Conn, q string) (int64, error) {
	ex, ok := dc.(driver.ExecerContext)
	if !ok {
		return 0, errors.New("driver connection cannot exec")
	}
	res, err := ex.ExecContext(context.Background(), q, nil)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type appenders struct {
	list []*duck.Appender
}

func (a *appenders) open(dc driver.Conn, table string) (*duck.Appender, error) {
	ap, err := duck.NewAppender(dc, "", "", table)
	if err != nil {
		return nil, fmt.Errorf("appender %s: %w", table, err)
	}
	a.list = append(a.list, ap)
	return ap, nil
}

func (a *appenders) close() error {
	var errs []error
	for _, ap := range a.list {
		errs = append(errs, ap.Close())
	}
	a.list = nil
	return errors.Join(errs...)
}

// WriteCalls stores recs in one transaction, replacing calls already stored with the
// same id (the last of duplicate ids within recs wins).
func (s *Store) WriteCalls(ctx context.Context, recs []*correlate.Record) error {
	return s.WriteCallsSegments(ctx, recs, nil)
}

// WriteCallsSegments is WriteCalls with the media frames of recs[i] already encoded as
// segs[i] (store.FrameCodec; nil or a zero element: encoded here), as the writer's
// write-ahead log has them (store.SegmentWriter).
func (s *Store) WriteCallsSegments(ctx context.Context, recs []*correlate.Record, segs []store.Segment) error {
	if len(recs) == 0 {
		return nil
	}
	if len(segs) != len(recs) {
		segs = nil
	}
	// Dedupe within the batch, keeping the last.
	last := make(map[string]int, len(recs))
	for i, r := range recs {
		last[r.Call.ID] = i
	}
	uniq, useg := recs, segs
	if len(last) != len(recs) {
		uniq, useg = make([]*correlate.Record, 0, len(last)), nil
		for i, r := range recs {
			if last[r.Call.ID] == i {
				uniq = append(uniq, r)
				if segs != nil {
					useg = append(useg, segs[i])
				}
			}
		}
	}
	// Encode outside the lock.
	objs := make([][]byte, len(uniq)) // []byte: the driver copies a string once more
	for i, r := range uniq {
		c := r.Call
		c.Streams = nil
		b, err := json.Marshal(&c)
		if err != nil {
			return fmt.Errorf("duckdb: encode call %s: %w", c.ID, err)
		}
		objs[i] = b
	}
	sobjs := make([][][]byte, len(uniq))
	nstreams, nivs := 0, 0
	for i, r := range uniq {
		nstreams += len(r.Call.Streams)
		sobjs[i] = make([][]byte, len(r.Call.Streams))
		for j := range r.Call.Streams {
			st := r.Call.Streams[j]
			nivs += len(st.Intervals)
			st.Intervals = nil
			b, err := json.Marshal(&st)
			if err != nil {
				return fmt.Errorf("duckdb: encode stream: %w", err)
			}
			sobjs[i][j] = b
		}
	}
	segRows, err := s.encodeSegments(uniq, useg)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(dc driver.Conn) error {
		if err := s.deleteExisting(ctx, dc, uniq); err != nil {
			return err
		}
		var aps appenders
		defer aps.close()
		ac, err := aps.open(dc, "calls")
		if err != nil {
			return err
		}
		// An appender costs a table lookup to open and, flushed, an INSERT planned by
		// DuckDB (about 0.4 ms each): open only those with rows.
		var am, as, ai *duck.Appender
		nmsgs := 0
		for _, r := range uniq {
			nmsgs += len(r.Messages)
		}
		if nmsgs > 0 {
			if am, err = aps.open(dc, "sip_messages"); err != nil {
				return err
			}
		}
		if nstreams > 0 {
			if as, err = aps.open(dc, "rtp_streams"); err != nil {
				return err
			}
		}
		if nivs > 0 {
			if ai, err = aps.open(dc, "stream_intervals"); err != nil {
				return err
			}
		}
		for i, r := range uniq {
			c := &r.Call
			start := int64(c.Start)
			if err := ac.AppendRow(c.ID, c.CallID, start, nullT(c.Ringing), nullT(c.Answer), nullT(c.End),
				c.From, c.To, c.FromUser, c.ToUser, c.Caller, c.Callee, store.HostOf(c.Caller), store.HostOf(c.Callee),
				c.Transport, string(c.State), int64(c.FinalCode), c.FinalReason,
				nullF(c.PDDMs), nullF(c.SetupMs), nullF(c.DurationMs), nullS(c.EndedBy), string(c.EndReason),
				nullI(c.Q850Cause), c.Dropped, nullS((*string)(c.DropReason)), c.OneWayAudio,
				int64(c.SIPMessages), int64(c.Retrans), c.DTMF, nullF(c.MOSMin), int64(len(c.Streams)), objs[i],
				numbersOf(c), linkKeysOf(r.LinkKeys), c.Peer); err != nil {
				return fmt.Errorf("append call %s: %w", c.ID, err)
			}
			for j, m := range r.Messages {
				frame, inFrame := m.Frame, m.RawInFrame()
				if inFrame {
					frame = frame[:len(frame)-len(m.Raw)] // text_in_frame (schema.go, version 9)
				}
				if err := am.AppendRow(c.ID, c.CallID, start, int64(j), m.TS, m.Src.String(), m.Dst.String(), m.Transport,
					m.Request, m.Method, int64(m.Status), int64(m.CSeq), m.Retrans, nonNil(m.Raw), nonNil(frame), int64(m.LinkType),
					inFrame); err != nil {
					return fmt.Errorf("append message: %w", err)
				}
			}
			for j := range c.Streams {
				st := &c.Streams[j]
				if err := as.AppendRow(c.ID, start, int64(j), int64(st.First), int64(st.Last), st.SSRC, st.Src, st.Dst,
					store.HostOf(st.Src), store.HostOf(st.Dst), st.Codec, int64(st.Packets), int64(st.Lost),
					st.JitterMaxMs, nullF(st.MOS), sobjs[i][j]); err != nil {
					return fmt.Errorf("append stream: %w", err)
				}
				for k, iv := range st.Intervals {
					if err := ai.AppendRow(c.ID, start, int64(j), int64(k), int64(iv.Start), int64(iv.Packets),
						int64(iv.Lost), iv.JitterMs, nullF(iv.MOS)); err != nil {
						return fmt.Errorf("append interval: %w", err)
					}
				}
			}
		}
		if len(segRows) > 0 {
			af, err := aps.open(dc, "media_segments")
			if err != nil {
				return err
			}
			if err := appendSegments(af, segRows); err != nil {
				return err
			}
		}
		return aps.close()
	})
}

// linkKeysOf frames the link keys for the link_keys column (schema.go, version 4).
func linkKeysOf(keys []string) string {
	var b strings.Builder
	b.WriteByte(0)
	for _, k := range keys {
		if k == "" || strings.IndexByte(k, 0) >= 0 {
			continue
		}
		b.WriteString(k)
		b.WriteByte(0)
	}
	return b.String()
}

// numbersOf is what a number/URI search matches in c: its lower-cased URIs and user
// parts joined by NUL, leaving out a user part its URI already contains (a substring of
// it matches the URI too), so the column stays short.
func numbersOf(c *correlate.Call) string {
	from, to := strings.ToLower(c.From), strings.ToLower(c.To)
	fu, tu := strings.ToLower(c.FromUser), strings.ToLower(c.ToUser)
	var b strings.Builder
	b.Grow(len(from) + len(to) + len(fu) + len(tu) + 3)
	b.WriteString(from)
	b.WriteByte(0)
	b.WriteString(to)
	if !strings.Contains(from, fu) {
		b.WriteByte(0)
		b.WriteString(fu)
	}
	if !strings.Contains(to, tu) {
		b.WriteByte(0)
		b.WriteString(tu)
	}
	return b.String()
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// deleteExisting removes the rows of the batch's calls that are already stored, and
// records the batch's ids in s.known (known.go).
func (s *Store) deleteExisting(ctx context.Context, dc driver.Conn, recs []*correlate.Record) error {
	if s.known == nil || s.known.full() {
		if err := s.loadKnown(ctx, dc); err != nil {
			return fmt.Errorf("load ids: %w", err)
		}
	}
	var maybe []string
	for _, r := range recs {
		if s.known.has(r.Call.ID) {
			maybe = append(maybe, r.Call.ID)
		}
	}
	for _, r := range recs {
		s.known.add(r.Call.ID)
	}
	if len(maybe) == 0 {
		return nil
	}
	q, ok := dc.(driver.QueryerContext)
	if !ok {
		return errors.New("driver connection cannot query")
	}
	if len(maybe) <= knownLookups {
		// A few ids: one index lookup each, most of them false positives.
		found := maybe[:0]
		for _, id := range maybe {
			n, err := queryInt(ctx, q, "SELECT count(*) FROM calls WHERE id = "+quote(id))
			if err != nil {
				return err
			}
			if n > 0 {
				found = append(found, id)
			}
		}
		if maybe = found; len(maybe) == 0 {
			return nil
		}
	}
	if err := execRaw(dc, "DELETE FROM batch_ids"); err != nil {
		return err
	}
	ap, err := duck.NewAppender(dc, "", "", "batch_ids")
	if err != nil {
		return fmt.Errorf("appender batch_ids: %w", err)
	}
	for _, id := range maybe {
		if err := ap.AppendRow(id); err != nil {
			ap.Close()
			return err
		}
	}
	if err := ap.Close(); err != nil {
		return err
	}
	n, err := queryInt(ctx, q, "SELECT count(*) FROM calls WHERE id IN (SELECT id FROM batch_ids)")
	if err != nil || n == 0 {
		return err
	}
	if err := execRaw(dc, "DELETE FROM calls WHERE id IN (SELECT id FROM batch_ids)"); err != nil {
		return err
	}
	for _, t := range []string{"sip_messages", "rtp_streams", "stream_intervals", "media_frames", "media_segments"} {
		if err := execRaw(dc, "DELETE FROM "+t+" WHERE call_uid IN (SELECT id FROM batch_ids)"); err != nil {
			return err
		}
	}
	return nil
}

// WriteRegistrations stores regs, replacing rows with the same call_id and time.
func (s *Store) WriteRegistrations(ctx context.Context, regs []correlate.Registration) error {
	if len(regs) == 0 {
		return nil
	}
	return s.tx(ctx, func(dc driver.Conn) error {
		var sb strings.Builder
		sb.WriteString("DELETE FROM registrations WHERE (call_id, time) IN (")
		for i, r := range regs {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%s, %d)", quote(r.CallID), int64(r.Time))
		}
		sb.WriteByte(')')
		if err := execRaw(dc, sb.String()); err != nil {
			return err
		}
		var aps appenders
		defer aps.close()
		ap, err := aps.open(dc, "registrations")
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(regs))
		for i := len(regs) - 1; i >= 0; i-- { // the last duplicate wins
			r := &regs[i]
			k := fmt.Sprintf("%s\x00%d", r.CallID, r.Time)
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := ap.AppendRow(int64(r.Time), r.CallID, r.AOR, r.Contact, r.Source, nullI(r.Expires),
				r.Outcome, int64(r.FinalCode)); err != nil {
				return err
			}
		}
		return aps.close()
	})
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// DropBefore deletes every day wholly before t from every table, then, when that
// deleted any row, checkpoints so the file gives the space back to later writes. A pass
// that deletes nothing does not checkpoint: after `serve -r` of a fresh capture (the
// first pass runs once the files are in) that checkpoint wrote out every row the ingest
// had just added, for 1.4 s of CPU and a rise of RSS at 20,000 calls (BENCHMARKS.md,
// session 12); DuckDB checkpoints those on its own (checkpointThreshold).
func (s *Store) DropBefore(ctx context.Context, t time.Time) error {
	cut := store.DayFloor(t).UnixNano()
	var deleted int64
	del := func(dc driver.Conn, q string) error {
		n, err := execCount(dc, q)
		deleted += n
		return err
	}
	err := s.tx(ctx, func(dc driver.Conn) error {
		for _, tb := range []string{"calls", "sip_messages", "rtp_streams", "stream_intervals", "media_frames", "media_segments"} {
			col := "call_start"
			if tb == "calls" {
				col = "start"
			}
			if err := del(dc, fmt.Sprintf("DELETE FROM %s WHERE %s < %d", tb, col, cut)); err != nil {
				return err
			}
		}
		if err := del(dc, fmt.Sprintf("DELETE FROM alert_events WHERE ts < %d", cut)); err != nil {
			return err
		}
		if err := del(dc, fmt.Sprintf("DELETE FROM security_events WHERE first_ts < %d", cut)); err != nil {
			return err
		}
		return del(dc, fmt.Sprintf("DELETE FROM registrations WHERE time < %d", cut))
	})
	if err != nil {
		return err
	}
	if deleted > 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.wconn.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("duckdb: checkpoint: %w", err)
		}
	}
	return s.dropFrameDays(cut)
}
