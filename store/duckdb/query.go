package duckdb

// Read phase: one call with its streams, and the messages and media of calls, by id.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

const callCols = `obj, start, coalesce(ringing, 0), coalesce(answer, 0), coalesce("end", 0)`

func scanCall(sc interface{ Scan(...any) error }, extra ...any) (correlate.Call, error) {
	var (
		obj                       string
		start, ring, answer, endT int64
	)
	dst := append([]any{&obj, &start, &ring, &answer, &endT}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return correlate.Call{}, err
	}
	var c correlate.Call
	if err := json.Unmarshal([]byte(obj), &c); err != nil {
		return c, fmt.Errorf("decode call: %w", err)
	}
	c.Start, c.Ringing, c.Answer, c.End = correlate.Time(start), correlate.Time(ring), correlate.Time(answer), correlate.Time(endT)
	c.Streams = []correlate.Stream{}
	return c, nil
}

// GetCall returns one call with its streams and intervals.
func (s *Store) GetCall(ctx context.Context, id string) (*correlate.Call, error) {
	c, err := scanCall(s.db.QueryRowContext(ctx, "SELECT "+callCols+" FROM calls WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("duckdb: get call: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT obj, first, last FROM rtp_streams WHERE call_start = ? AND call_uid = ? ORDER BY idx",
		int64(c.Start), id)
	if err != nil {
		return nil, fmt.Errorf("duckdb: get streams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			obj         string
			first, last int64
			st          correlate.Stream
		)
		if err := rows.Scan(&obj, &first, &last); err != nil {
			return nil, fmt.Errorf("duckdb: get streams: %w", err)
		}
		if err := json.Unmarshal([]byte(obj), &st); err != nil {
			return nil, fmt.Errorf("duckdb: decode stream: %w", err)
		}
		st.First, st.Last = correlate.Time(first), correlate.Time(last)
		st.Intervals = []correlate.Interval{}
		c.Streams = append(c.Streams, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: get streams: %w", err)
	}
	rows.Close()
	irows, err := s.db.QueryContext(ctx, `SELECT stream_idx, start, packets, lost, jitter_ms, mos FROM stream_intervals
		WHERE call_start = ? AND call_uid = ? ORDER BY stream_idx, idx`, int64(c.Start), id)
	if err != nil {
		return nil, fmt.Errorf("duckdb: get intervals: %w", err)
	}
	defer irows.Close()
	for irows.Next() {
		var (
			si, start, packets, lost int64
			jit                      float64
			mos                      sql.NullFloat64
		)
		if err := irows.Scan(&si, &start, &packets, &lost, &jit, &mos); err != nil {
			return nil, fmt.Errorf("duckdb: get intervals: %w", err)
		}
		if si < 0 || int(si) >= len(c.Streams) {
			continue
		}
		iv := correlate.Interval{Start: correlate.Time(start), Packets: uint64(packets), Lost: uint64(lost), JitterMs: jit}
		if mos.Valid {
			v := mos.Float64
			iv.MOS = &v
		}
		c.Streams[si].Intervals = append(c.Streams[si].Intervals, iv)
	}
	if err := irows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: get intervals: %w", err)
	}
	return &c, nil
}

// childWhere selects the child-table rows of calls ids. The child tables have no index:
// the calls' start times (looked up through the calls id index) let DuckDB's zone maps
// skip every row group outside them.
func (s *Store) childWhere(ctx context.Context, ids []string) (string, []any, error) {
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = "?", id
	}
	in := "(" + strings.Join(ph, ",") + ")"
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT start FROM calls WHERE id IN "+in, args...)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	var starts []string
	for rows.Next() {
		var st int64
		if err := rows.Scan(&st); err != nil {
			return "", nil, err
		}
		starts = append(starts, fmt.Sprint(st))
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	if len(starts) == 0 {
		return "", nil, nil
	}
	return " WHERE call_start IN (" + strings.Join(starts, ",") + ") AND call_uid IN " + in, args, nil
}

// Messages returns the SIP messages of the calls, in time order.
func (s *Store) Messages(ctx context.Context, ids []string) ([]store.Message, error) {
	out := []store.Message{}
	if len(ids) == 0 {
		return out, nil
	}
	where, args, err := s.childWhere(ctx, ids)
	if err != nil || where == "" {
		return out, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT call_uid, call_id, ts, src, dst, transport, request, method, status, cseq,
		retrans, raw, frame, link_type, coalesce(text_in_frame, false) FROM sip_messages`+where+` ORDER BY ts, call_uid, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m                      store.Message
			ts, status, cseq, link int64
			inFrame                bool
		)
		if err := rows.Scan(&m.CallUID, &m.CallID, &ts, &m.Src, &m.Dst, &m.Transport, &m.Request, &m.Method, &status,
			&cseq, &m.Retrans, &m.Raw, &m.Frame, &link, &inFrame); err != nil {
			return nil, fmt.Errorf("duckdb: messages: %w", err)
		}
		if inFrame { // the frame column is the frame's head (schema.go, version 9)
			m.Frame = append(m.Frame[:len(m.Frame):len(m.Frame)], m.Raw...)
		}
		m.TS, m.Status, m.CSeq, m.LinkType = correlate.Time(ts), int(status), uint32(cseq), uint32(link)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: messages: %w", err)
	}
	return out, nil
}
