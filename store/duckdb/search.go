package duckdb

// Search phase: a call search (store.CallSearch rendered in DuckDB SQL) and the legs of a
// call. Reads by id are in query.go, aggregates in stats.go, writes in duckdb.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// sortExpr renders the search's sort key: the start (ns), or its column with missing
// values last (store.CallSearch.Missing).
func sortExpr(q store.CallSearch) string {
	if q.SortColumn == "" {
		return "start"
	}
	return "coalesce(" + q.SortColumn + ", " + q.MissingSQL() + ")"
}

// SearchCalls returns one page of calls, without streams.
func (s *Store) SearchCalls(ctx context.Context, cq store.CallQuery) (store.CallPage, error) {
	q, err := cq.Search()
	if err != nil {
		return store.CallPage{}, err
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if !q.From.IsZero() {
		add("start >= ?", q.From.UnixNano())
	}
	if !q.To.IsZero() {
		add("start < ?", q.To.UnixNano())
	}
	for _, f := range q.Filters {
		switch f.Kind {
		case store.FilterNumber:
			add("contains(numbers, ?)", f.Str) // numbers: the lower-cased user parts and URIs joined by NUL
		case store.FilterIP:
			add("(caller_ip = ? OR callee_ip = ?)", f.Str, f.Str)
		case store.FilterCallID:
			add("call_id = " + quote(f.Str)) // a literal lets the planner use the call_id index
		case store.FilterState:
			add("state = ?", f.Str)
		case store.FilterFinalCode:
			add("final_code = ?", f.Int)
		case store.FilterDropped:
			add("dropped = ?", f.Bool)
		case store.FilterMOSBelow:
			add("mos_min < ?", f.Float)
		case store.FilterPeer:
			add("peer = ?", f.Str)
		default:
			return store.CallPage{}, store.ErrUnknownFilter(f.Kind)
		}
	}
	key, cmp, dir := sortExpr(q), q.Cmp(), q.Dir()
	if v := q.AfterKey(); v != nil {
		// The first conjunct alone is a plain range the scan can prune row groups with.
		add(fmt.Sprintf("%[1]s %[2]s= ? AND (%[1]s %[2]s ? OR id %[2]s ?)", key, cmp), v, v, q.After.ID)
	}
	// Phase 1 sorts narrow columns only (call id and key) and keeps one page; phase 2
	// fetches the wide rows of that page through the id index. The JSON of non-matching
	// or off-page calls is never read. Both run in one transaction: one snapshot.
	sqlq := "SELECT id, " + key + " AS k FROM calls"
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += fmt.Sprintf(" ORDER BY k %s, id %s LIMIT %d", dir, dir, q.Limit+1)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
	}
	defer tx.Rollback()
	type hit struct {
		id string
		k  any
	}
	hits := make([]hit, 0, q.Limit+1)
	rows, err := tx.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
	}
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.id, &h.k); err != nil {
			rows.Close()
			return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
	}
	page := store.CallPage{Calls: []correlate.Call{}}
	if len(hits) > q.Limit {
		hits = hits[:q.Limit]
		h := hits[len(hits)-1]
		page.Next = q.Next(h.id, h.k)
	}
	if len(hits) == 0 {
		return page, nil
	}
	// Literal ids (quoted) let the planner use the index; a parameter list does not.
	var in strings.Builder
	for i, h := range hits {
		if i > 0 {
			in.WriteByte(',')
		}
		in.WriteString(quote(h.id))
	}
	byID := make(map[string]correlate.Call, len(hits))
	rows, err = tx.QueryContext(ctx, "SELECT "+callCols+", id FROM calls WHERE id IN ("+in.String()+")")
	if err != nil {
		return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		c, err := scanCall(rows, &id)
		if err != nil {
			return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
		}
		byID[id] = c
	}
	if err := rows.Err(); err != nil {
		return store.CallPage{}, fmt.Errorf("duckdb: search: %w", err)
	}
	for _, h := range hits {
		if c, ok := byID[h.id]; ok {
			page.Calls = append(page.Calls, c)
		}
	}
	return page, nil
}

// Legs returns the calls sharing a link key with the call id (store.Store.Legs).
func (s *Store) Legs(ctx context.Context, id string) ([]correlate.Call, error) {
	var (
		start  int64
		callID string
		keys   sql.NullString
	)
	err := s.db.QueryRowContext(ctx, "SELECT start, call_id, link_keys FROM calls WHERE id = ?", id).Scan(&start, &callID, &keys)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("call %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("duckdb: legs: %w", err)
	}
	w := int64(store.LegWindow)
	args := []any{start - w, start + w, callID}
	var ors []string
	for _, k := range strings.Split(keys.String, "\x00") {
		if k != "" {
			ors = append(ors, "contains(link_keys, ?)")
			args = append(args, "\x00"+k+"\x00")
		}
	}
	out := []correlate.Call{}
	if len(ors) == 0 {
		return out, nil
	}
	args = append(args, start)
	rows, err := s.db.QueryContext(ctx, "SELECT "+callCols+" FROM calls WHERE start BETWEEN ? AND ? AND call_id <> ? AND ("+
		strings.Join(ors, " OR ")+fmt.Sprintf(") ORDER BY abs(start - ?), id LIMIT %d", store.MaxLegs), args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: legs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("duckdb: legs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: legs: %w", err)
	}
	return out, nil
}
