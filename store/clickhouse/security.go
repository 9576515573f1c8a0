package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
)

// securityEvents is the table of security events (package security; migration 5).
// Times are DateTime plus nanoseconds like every table here (18.16 has no DateTime64).
// An event keeps its ID and first time from raise to end, so ordering by (first_at, id)
// makes the final write (higher ver) replace the one made when it was raised, and a
// replayed capture replace, not duplicate.
var securityEvents = table{
	name: "security_events",
	columns: `first_at DateTime('UTC'), first_at_ns UInt32, id String, last_at DateTime('UTC'), last_at_ns UInt32,
type String, rule String, severity String, source String, target String,
hits UInt64, distinct_n UInt32, user_agent String, sample_call_ids Array(String), ver UInt64`,
	partition: "toYYYYMMDD(first_at)",
	order:     "first_at, id",
	shardKey:  "cityHash64(id)",
}

// WriteSecurityEvents stores security events, replacing stored ones of the same ID.
func (s *Store) WriteSecurityEvents(ctx context.Context, evs []security.Event) error {
	evs = store.LatestSecurityEvents(evs)
	n := len(evs)
	if n == 0 {
		return nil
	}
	var (
		first, last                         = make([]int64, 0, n), make([]int64, 0, n)
		firstNS, lastNS, distinct           = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
		id, typ, rule, sev, src, target, ua = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		hits, vers                          = make([]uint64, 0, n), make([]uint64, 0, n)
		callIDs                             = make([][]string, 0, n)
	)
	ver := nowVer()
	for i := range evs {
		e := &evs[i]
		t, tn := split(int64(e.First))
		first, firstNS = append(first, t), append(firstNS, tn)
		t, tn = split(int64(e.Last))
		last, lastNS = append(last, t), append(lastNS, tn)
		id, typ, rule, sev = append(id, e.ID), append(typ, string(e.Type)), append(rule, string(e.Rule)), append(sev, string(e.Severity))
		src, target, ua = append(src, e.Source), append(target, e.Target), append(ua, e.UserAgent)
		hits, distinct = append(hits, e.Count), append(distinct, uint32(max(e.Distinct, 0)))
		callIDs, vers = append(callIDs, strs(e.CallIDs)), append(vers, ver)
	}
	return s.insert(ctx, "security_events", []string{"first_at", "first_at_ns", "id", "last_at", "last_at_ns", "type", "rule",
		"severity", "source", "target", "hits", "distinct_n", "user_agent", "sample_call_ids", "ver"},
		first, firstNS, id, last, lastNS, typ, rule, sev, src, target, hits, distinct, ua, callIDs, vers)
}

// securityConds renders the filters shared by SecurityEvents and SecurityTop: events
// active in [From, To) (last_at >= From, first_at < To), of a type, from a source.
func securityConds(q store.SecurityQuery) ([]string, []any) {
	var conds []string
	var args []any
	if !q.From.IsZero() {
		conds = timeRange(conds, "last_at", q.From, time.Time{})
	}
	if !q.To.IsZero() {
		conds = timeRange(conds, "first_at", time.Time{}, q.To)
	}
	if q.Type != "" {
		conds, args = append(conds, "type = ?"), append(args, q.Type)
	}
	if q.Source != "" {
		conds, args = append(conds, "source = ?"), append(args, q.Source)
	}
	return conds, args
}

// SecurityEvents returns stored security events, newest first time first.
func (s *Store) SecurityEvents(ctx context.Context, q store.SecurityQuery) ([]security.Event, error) {
	conds, args := securityConds(q)
	rows, err := s.conn.Query(ctx, `SELECT toUInt32(first_at), first_at_ns, id, toUInt32(last_at), last_at_ns, type, rule, severity,
source, target, hits, distinct_n, user_agent, sample_call_ids
FROM security_events FINAL`+where(conds)+fmt.Sprintf(" ORDER BY first_at DESC, first_at_ns DESC, id LIMIT %d", q.SecurityLimit()), args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: security events: %w", err)
	}
	defer rows.Close()
	out := []security.Event{}
	for rows.Next() {
		var (
			e                        security.Event
			fS, fN, lS, lN, distinct uint32
			typ, rule, sev           string
		)
		if err := rows.Scan(&fS, &fN, &e.ID, &lS, &lN, &typ, &rule, &sev, &e.Source, &e.Target, &e.Count, &distinct,
			&e.UserAgent, &e.CallIDs); err != nil {
			return nil, fmt.Errorf("clickhouse: scan security event: %w", err)
		}
		e.First, e.Last, e.Distinct = correlate.Time(join(fS, fN)), correlate.Time(join(lS, lN)), int(distinct)
		e.Type, e.Rule, e.Severity = security.Type(typ), security.Rule(rule), security.Severity(sev)
		if e.CallIDs == nil {
			e.CallIDs = []string{}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: security events: %w", err)
	}
	return out, nil
}

// SecurityTop returns the sources with the most stored security events.
func (s *Store) SecurityTop(ctx context.Context, q store.SecurityTopQuery) ([]store.SecuritySource, error) {
	conds, args := securityConds(store.SecurityQuery{From: q.From, To: q.To})
	rows, err := s.conn.Query(ctx, `SELECT source, count() AS n, sum(hits) AS h, groupUniqArray(type)
FROM security_events FINAL`+where(conds)+fmt.Sprintf(" GROUP BY source ORDER BY n DESC, h DESC, source LIMIT %d", q.TopN()), args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: security top: %w", err)
	}
	defer rows.Close()
	out := []store.SecuritySource{}
	for rows.Next() {
		var (
			r     store.SecuritySource
			n     uint64
			types []string
		)
		if err := rows.Scan(&r.Source, &n, &r.Count, &types); err != nil {
			return nil, fmt.Errorf("clickhouse: scan security top: %w", err)
		}
		r.Events = int(n)
		r.Types = make([]security.Type, 0, len(types))
		for _, t := range types {
			r.Types = append(r.Types, security.Type(t))
		}
		slices.Sort(r.Types)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: security top: %w", err)
	}
	return out, nil
}
