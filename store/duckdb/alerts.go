package duckdb

import (
	"context"
	"fmt"
	"strings"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// alertEventsDDL is migration 5: built-in alert state changes. The primary key makes a
// replayed change (same rule, peer, state and packet time) replace, not duplicate.
const alertEventsDDL = `CREATE TABLE IF NOT EXISTS alert_events (
	ts BIGINT NOT NULL, rule VARCHAR NOT NULL, peer VARCHAR NOT NULL, state VARCHAR NOT NULL,
	severity VARCHAR, metric VARCHAR, op VARCHAR, value DOUBLE, threshold DOUBLE, calls BIGINT,
	since BIGINT, window_start BIGINT, summary VARCHAR,
	PRIMARY KEY (ts, rule, peer, state))`

// WriteAlertEvents stores alert state changes (idempotent by packet time, rule, peer, state).
func (s *Store) WriteAlertEvents(ctx context.Context, evs []store.AlertEvent) error {
	if len(evs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wconn == nil {
		return fmt.Errorf("duckdb: alert events: closed")
	}
	var sb strings.Builder
	sb.WriteString(`INSERT OR REPLACE INTO alert_events (ts, rule, peer, state, severity, metric, op, value, threshold, calls, since, window_start, summary) VALUES `)
	args := make([]any, 0, 13*len(evs))
	for i, e := range evs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, int64(e.At), e.Rule, e.Peer, e.State, e.Severity, e.Metric, e.Op, e.Value, e.Threshold,
			int64(e.Calls), int64(e.Since), int64(e.WindowStart), e.Summary)
	}
	if _, err := s.wconn.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("duckdb: alert events: %w", err)
	}
	return nil
}

// AlertEvents returns stored alert state changes, newest first.
func (s *Store) AlertEvents(ctx context.Context, q store.AlertQuery) ([]store.AlertEvent, error) {
	var conds []string
	var args []any
	if !q.From.IsZero() {
		conds, args = append(conds, "ts >= ?"), append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		conds, args = append(conds, "ts < ?"), append(args, q.To.UnixNano())
	}
	for _, f := range []struct{ col, v string }{{"rule", q.Rule}, {"peer", q.Peer}, {"state", q.State}} {
		if f.v != "" {
			conds, args = append(conds, f.col+" = ?"), append(args, f.v)
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ts, rule, peer, state, severity, metric, op, value, threshold, calls, since, window_start, summary
		FROM alert_events`+where+fmt.Sprintf(" ORDER BY ts DESC, rule, peer LIMIT %d", q.AlertLimit()), args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: alert events: %w", err)
	}
	defer rows.Close()
	out := []store.AlertEvent{}
	for rows.Next() {
		var e store.AlertEvent
		var at, calls, since, ws int64
		if err := rows.Scan(&at, &e.Rule, &e.Peer, &e.State, &e.Severity, &e.Metric, &e.Op, &e.Value, &e.Threshold,
			&calls, &since, &ws, &e.Summary); err != nil {
			return nil, fmt.Errorf("duckdb: scan alert event: %w", err)
		}
		e.At, e.Calls, e.Since, e.WindowStart = correlate.Time(at), int(calls), correlate.Time(since), correlate.Time(ws)
		out = append(out, e)
	}
	return out, rows.Err()
}
