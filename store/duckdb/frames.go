package duckdb

// Media frames: one compressed segment per call (store.FrameCodec) instead of one
// media_frames row per packet. For a database file the segments of one batch and one
// day are appended to one file, frames/YYYY-MM-DD/<ns>-<seq>.seg beside the DuckDB file
// (fsynced, with its directory, before the batch's transaction commits), and the row of
// media_segments records path, offset, length and frame count; an in-memory database
// keeps the segment inline in the row. A rewritten call gets a new row (the old one is
// deleted with the call); its old bytes stay unreferenced in their file until retention
// removes the day's directory. Calls stored before schema version 8 keep their
// media_frames rows, still read by Media.

import (
	"bufio"
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	duck "github.com/duckdb/duckdb-go/v2"
)

const mediaSegmentsDDL = `CREATE TABLE media_segments (
	call_uid VARCHAR NOT NULL, call_start BIGINT NOT NULL, path VARCHAR, off BIGINT, len BIGINT,
	frames BIGINT, data BLOB)`

// segRow is one media_segments row to append.
type segRow struct {
	uid        string
	start      int64
	path       string // relative to frameDir; "" when data is inline
	off, n     int64
	frames     int64
	inlineData []byte
}

// dayDir is the directory name of the day (UTC) of a call start.
func dayDir(start int64) string { return time.Unix(0, start).UTC().Format("2006-01-02") }

// encodeSegments compresses the frames of recs (those without a segment in pre) and, for
// a database file, writes the segments to one fsynced file per day: a segment in memory
// through a buffer, one in a file (the writer's write-ahead log) file to file, so a batch
// is never gathered into one array. It runs before the write transaction: a crash after
// it leaves only unreferenced bytes.
func (s *Store) encodeSegments(recs []*correlate.Record, pre []store.Segment) (rows []segRow, err error) {
	var (
		scratch []byte
		src     store.SegmentFiles
		days    = map[string]*segFile{}
		name    = strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.FormatUint(s.segSeq.Add(1), 10) + ".seg"
	)
	defer src.Close()
	defer func() {
		for _, d := range days {
			d.f.Close()
			if err != nil {
				os.Remove(d.f.Name())
			}
		}
	}()
	for i, r := range recs {
		if r.MediaCount() == 0 {
			continue
		}
		var seg store.Segment // already encoded by the writer's WAL
		if pre != nil {
			seg = pre[i]
		}
		row := segRow{uid: r.Call.ID, start: int64(r.Call.Start), frames: int64(r.MediaCount())}
		if s.frameDir == "" {
			var b []byte
			if seg.IsZero() {
				b, scratch = s.codec.EncodeRecord(nil, scratch, r)
			} else if b, err = src.Bytes(seg); err != nil {
				return nil, fmt.Errorf("duckdb: frame segment: %w", err)
			}
			row.inlineData, row.n = b, int64(len(b))
			rows = append(rows, row)
			continue
		}
		day := dayDir(row.start)
		d := days[day]
		if d == nil {
			if d, err = s.createSegFile(filepath.Join(day, name)); err != nil {
				return nil, fmt.Errorf("duckdb: frame segment: %w", err)
			}
			days[day] = d
		}
		row.path, row.off = d.rel, d.off
		switch {
		case seg.InFile():
			if err = d.bw.Flush(); err == nil {
				err = src.CopyTo(d.f, seg)
			}
			row.n = seg.Len
		case seg.IsZero():
			// nil: EncodeRecord may return the pack's own bytes, not to be appended to.
			var enc []byte
			enc, scratch = s.codec.EncodeRecord(nil, scratch, r)
			_, err = d.bw.Write(enc)
			row.n = int64(len(enc))
		default:
			_, err = d.bw.Write(seg.Data)
			row.n = int64(len(seg.Data))
		}
		if err != nil {
			return nil, fmt.Errorf("duckdb: frame segment %s: %w", d.rel, err)
		}
		d.off += row.n
		rows = append(rows, row)
	}
	for _, d := range days {
		if err = d.finish(); err != nil {
			return nil, fmt.Errorf("duckdb: frame segment %s: %w", d.rel, err)
		}
	}
	return rows, nil
}

// segFile is a batch's segment file of one day while encodeSegments writes it.
type segFile struct {
	rel string // relative to frameDir
	f   *os.File
	bw  *bufio.Writer
	off int64
}

// createSegFile creates the new segment file rel (and its day directory).
func (s *Store) createSegFile(rel string) (*segFile, error) {
	path := filepath.Join(s.frameDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &segFile{rel: rel, f: f, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

// finish flushes and fsyncs the file and its directory.
func (d *segFile) finish() error {
	if err := d.bw.Flush(); err != nil {
		return err
	}
	if err := d.f.Sync(); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(d.f.Name()))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// appendSegments appends the media_segments rows of a batch.
func appendSegments(ap *duck.Appender, rows []segRow) error {
	for _, r := range rows {
		var data driver.Value
		if r.inlineData != nil {
			data = r.inlineData
		}
		if err := ap.AppendRow(r.uid, r.start, r.path, r.off, r.n, r.frames, data); err != nil {
			return fmt.Errorf("append segment: %w", err)
		}
	}
	return nil
}

// Media returns the kept RTP/RTCP frames of the calls, in time order (frames of equal
// time: by call id, then as kept). It reads only these calls' segments.
func (s *Store) Media(ctx context.Context, ids []string) ([]correlate.Frame, error) {
	out := []correlate.Frame{}
	if len(ids) == 0 {
		return out, nil
	}
	where, args, err := s.childWhere(ctx, ids)
	if err != nil || where == "" {
		return out, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT call_uid, path, off, len, data FROM media_segments`+where+` ORDER BY call_uid`, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: media: %w", err)
	}
	type seg struct {
		uid, path string
		off, n    int64
		data      []byte
	}
	var segs []seg
	for rows.Next() {
		var sg seg
		var path *string
		if err := rows.Scan(&sg.uid, &path, &sg.off, &sg.n, &sg.data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("duckdb: media: %w", err)
		}
		if path != nil {
			sg.path = *path
		}
		segs = append(segs, sg)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: media: %w", err)
	}
	for _, sg := range segs {
		b := sg.data
		if sg.path != "" {
			if b, err = s.readSegment(sg.path, sg.off, sg.n); err != nil {
				return nil, fmt.Errorf("duckdb: media of %s: %w", sg.uid, err)
			}
		}
		if out, err = s.codec.Decode(out, b); err != nil {
			return nil, fmt.Errorf("duckdb: media of %s: %w", sg.uid, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	legacy, err := s.legacyMedia(ctx, where, args)
	if err != nil {
		return nil, err
	}
	if len(legacy) > 0 {
		out = append(out, legacy...)
		sort.SliceStable(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	}
	return out, nil
}

// readSegment reads n bytes at off of a segment file (path relative to frameDir).
func (s *Store) readSegment(path string, off, n int64) ([]byte, error) {
	if n < 0 || n > store.MaxSegmentBytes || !filepath.IsLocal(path) {
		return nil, store.ErrBadSegment
	}
	f, err := os.Open(filepath.Join(s.frameDir, path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if m, err := f.ReadAt(b, off); m != len(b) {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: %s is short", store.ErrBadSegment, path)
		}
		return nil, err
	}
	return b, nil
}

// legacyMedia reads media_frames rows (calls stored before schema version 8).
func (s *Store) legacyMedia(ctx context.Context, where string, args []any) ([]correlate.Frame, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ts, link_type, orig_len, data FROM media_frames`+where+
		` ORDER BY ts, call_uid, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: media: %w", err)
	}
	defer rows.Close()
	var out []correlate.Frame
	for rows.Next() {
		var (
			f             correlate.Frame
			link, origLen int64
		)
		if err := rows.Scan(&f.TS, &link, &origLen, &f.Data); err != nil {
			return nil, fmt.Errorf("duckdb: media: %w", err)
		}
		f.LinkType, f.OrigLen = uint32(link), int(origLen)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: media: %w", err)
	}
	return out, nil
}

// dropFrameDays removes the segment directories of the days wholly before cut (ns).
func (s *Store) dropFrameDays(cut int64) error {
	if s.frameDir == "" {
		return nil
	}
	ents, err := os.ReadDir(s.frameDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("duckdb: frame retention: %w", err)
	}
	last := dayDir(cut)
	var errs []error
	for _, e := range ents {
		d, err := time.Parse("2006-01-02", e.Name())
		if err != nil || !e.IsDir() {
			continue // not ours
		}
		if name := d.Format("2006-01-02"); name < last {
			if err := os.RemoveAll(filepath.Join(s.frameDir, name)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("duckdb: frame retention: %w", errs[0])
	}
	return nil
}
