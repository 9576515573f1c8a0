package clickhouse

import (
	"context"
	"fmt"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// alertEvents is the table of built-in alert state changes (migration 4). Times are
// DateTime plus nanoseconds like every table here (18.16 has no DateTime64); the
// ReplacingMergeTree key makes a replayed change replace, not duplicate.
var alertEvents = table{
	name: "alert_events",
	columns: `at DateTime('UTC'), at_ns UInt32, rule String, peer String, state String,
severity String, metric String, op String, value Float64, threshold Float64, calls UInt32,
since DateTime('UTC'), since_ns UInt32, window_start DateTime('UTC'), window_start_ns UInt32,
summary String, ver UInt64`,
	partition: "toYYYYMMDD(at)",
	order:     "at, rule, peer, state, at_ns",
	shardKey:  "cityHash64(rule, peer)",
}

// WriteAlertEvents stores alert state changes.
func (s *Store) WriteAlertEvents(ctx context.Context, evs []store.AlertEvent) error {
	n := len(evs)
	if n == 0 {
		return nil
	}
	var (
		at, since, ws                          = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		atNS, sinceNS, wsNS, calls             = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
		rule, peer, state, sev, metric, op, sm = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		value, th                              = make([]float64, 0, n), make([]float64, 0, n)
		vers                                   = make([]uint64, 0, n)
	)
	ver := nowVer()
	for i := range evs {
		e := &evs[i]
		t, tn := split(int64(e.At))
		at, atNS = append(at, t), append(atNS, tn)
		t, tn = split(int64(e.Since))
		since, sinceNS = append(since, t), append(sinceNS, tn)
		t, tn = split(int64(e.WindowStart))
		ws, wsNS = append(ws, t), append(wsNS, tn)
		rule, peer, state, sev = append(rule, e.Rule), append(peer, e.Peer), append(state, e.State), append(sev, e.Severity)
		metric, op, sm = append(metric, e.Metric), append(op, e.Op), append(sm, e.Summary)
		value, th, calls = append(value, e.Value), append(th, e.Threshold), append(calls, uint32(max(e.Calls, 0)))
		vers = append(vers, ver)
	}
	return s.insert(ctx, "alert_events", []string{"at", "at_ns", "rule", "peer", "state", "severity", "metric", "op",
		"value", "threshold", "calls", "since", "since_ns", "window_start", "window_start_ns", "summary", "ver"},
		at, atNS, rule, peer, state, sev, metric, op, value, th, calls, since, sinceNS, ws, wsNS, sm, vers)
}

// AlertEvents returns stored alert state changes, newest first.
func (s *Store) AlertEvents(ctx context.Context, q store.AlertQuery) ([]store.AlertEvent, error) {
	conds := timeRange(nil, "at", q.From, q.To)
	var args []any
	for _, f := range []struct{ col, v string }{{"rule", q.Rule}, {"peer", q.Peer}, {"state", q.State}} {
		if f.v != "" {
			conds, args = append(conds, f.col+" = ?"), append(args, f.v)
		}
	}
	rows, err := s.conn.Query(ctx, `SELECT toUInt32(at), at_ns, rule, peer, state, severity, metric, op, value, threshold, calls,
toUInt32(since), since_ns, toUInt32(window_start), window_start_ns, summary
FROM alert_events FINAL`+where(conds)+fmt.Sprintf(" ORDER BY at DESC, at_ns DESC, rule, peer LIMIT %d", q.AlertLimit()), args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: alert events: %w", err)
	}
	defer rows.Close()
	out := []store.AlertEvent{}
	for rows.Next() {
		var (
			e                               store.AlertEvent
			atS, atN, sS, sN, wS, wN, calls uint32
		)
		if err := rows.Scan(&atS, &atN, &e.Rule, &e.Peer, &e.State, &e.Severity, &e.Metric, &e.Op, &e.Value, &e.Threshold,
			&calls, &sS, &sN, &wS, &wN, &e.Summary); err != nil {
			return nil, fmt.Errorf("clickhouse: scan alert event: %w", err)
		}
		e.At, e.Since, e.WindowStart = correlate.Time(join(atS, atN)), correlate.Time(join(sS, sN)), correlate.Time(join(wS, wN))
		e.Calls = int(calls)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: alert events: %w", err)
	}
	return out, nil
}
