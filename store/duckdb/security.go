package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
)

// securityEventsDDL is migration 6: security events (package security). The event ID
// is the primary key: the final write of an event (when it ends) replaces the one made
// when it was raised, and a replayed capture (same IDs) replaces, not duplicates.
const securityEventsDDL = `CREATE TABLE IF NOT EXISTS security_events (
	id VARCHAR PRIMARY KEY, first_ts BIGINT NOT NULL, last_ts BIGINT NOT NULL,
	type VARCHAR, rule VARCHAR, severity VARCHAR, source VARCHAR, target VARCHAR,
	hits UBIGINT, distinct_n BIGINT, user_agent VARCHAR, sample_call_ids VARCHAR)`

// WriteSecurityEvents stores security events, replacing stored ones of the same ID.
func (s *Store) WriteSecurityEvents(ctx context.Context, evs []security.Event) error {
	evs = store.LatestSecurityEvents(evs) // INSERT OR REPLACE cannot touch one key twice
	if len(evs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wconn == nil {
		return fmt.Errorf("duckdb: security events: closed")
	}
	var sb strings.Builder
	sb.WriteString(`INSERT OR REPLACE INTO security_events (id, first_ts, last_ts, type, rule, severity, source, target, hits, distinct_n, user_agent, sample_call_ids) VALUES `)
	args := make([]any, 0, 12*len(evs))
	for i, e := range evs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
		ids, err := json.Marshal(nonNilStrings(e.CallIDs))
		if err != nil {
			return fmt.Errorf("duckdb: security events: %w", err)
		}
		args = append(args, e.ID, int64(e.First), int64(e.Last), string(e.Type), string(e.Rule), string(e.Severity),
			e.Source, e.Target, e.Count, int64(e.Distinct), e.UserAgent, string(ids))
	}
	if _, err := s.wconn.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("duckdb: security events: %w", err)
	}
	return nil
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// securityWhere renders the filters shared by SecurityEvents and SecurityTop.
func securityWhere(q store.SecurityQuery) (string, []any) {
	var conds []string
	var args []any
	if !q.From.IsZero() {
		conds, args = append(conds, "last_ts >= ?"), append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		conds, args = append(conds, "first_ts < ?"), append(args, q.To.UnixNano())
	}
	if q.Type != "" {
		conds, args = append(conds, "type = ?"), append(args, q.Type)
	}
	if q.Source != "" {
		conds, args = append(conds, "source = ?"), append(args, q.Source)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// SecurityEvents returns stored security events, newest first time first.
func (s *Store) SecurityEvents(ctx context.Context, q store.SecurityQuery) ([]security.Event, error) {
	where, args := securityWhere(q)
	rows, err := s.db.QueryContext(ctx, `SELECT id, first_ts, last_ts, type, rule, severity, source, target, hits, distinct_n, user_agent, sample_call_ids
		FROM security_events`+where+fmt.Sprintf(" ORDER BY first_ts DESC, id LIMIT %d", q.SecurityLimit()), args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: security events: %w", err)
	}
	defer rows.Close()
	out := []security.Event{}
	for rows.Next() {
		var (
			e                     security.Event
			first, last, distinct int64
			typ, rule, sev, ids   string
		)
		if err := rows.Scan(&e.ID, &first, &last, &typ, &rule, &sev, &e.Source, &e.Target, &e.Count, &distinct,
			&e.UserAgent, &ids); err != nil {
			return nil, fmt.Errorf("duckdb: scan security event: %w", err)
		}
		if err := json.Unmarshal([]byte(ids), &e.CallIDs); err != nil {
			return nil, fmt.Errorf("duckdb: security event %s: sample_call_ids: %w", e.ID, err)
		}
		e.First, e.Last, e.Distinct = correlate.Time(first), correlate.Time(last), int(distinct)
		e.Type, e.Rule, e.Severity = security.Type(typ), security.Rule(rule), security.Severity(sev)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SecurityTop returns the sources with the most stored security events.
func (s *Store) SecurityTop(ctx context.Context, q store.SecurityTopQuery) ([]store.SecuritySource, error) {
	where, args := securityWhere(store.SecurityQuery{From: q.From, To: q.To})
	rows, err := s.db.QueryContext(ctx, `SELECT source, count(*), sum(hits)::UBIGINT, string_agg(DISTINCT type, ',')
		FROM security_events`+where+fmt.Sprintf(" GROUP BY source ORDER BY count(*) DESC, sum(hits) DESC, source LIMIT %d", q.TopN()), args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: security top: %w", err)
	}
	defer rows.Close()
	out := []store.SecuritySource{}
	for rows.Next() {
		var (
			r     store.SecuritySource
			n     int64
			types string
		)
		if err := rows.Scan(&r.Source, &n, &r.Count, &types); err != nil {
			return nil, fmt.Errorf("duckdb: scan security top: %w", err)
		}
		r.Events = int(n)
		r.Types = splitTypes(types)
		out = append(out, r)
	}
	return out, rows.Err()
}

func splitTypes(s string) []security.Type {
	out := []security.Type{}
	for _, t := range strings.Split(s, ",") {
		if t != "" {
			out = append(out, security.Type(t))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
