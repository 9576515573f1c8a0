package clickhouse

// Search phase: a call search (store.CallSearch rendered in ClickHouse SQL), two-phase
// and keyset-paginated. Reads by id are in query.go, aggregates in stats.go, writes in
// write.go, connection and migration in clickhouse.go.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// sortExpr renders the search's sort key: the exact start in ns, or its column with
// missing values last (store.CallSearch.Missing).
func sortExpr(q store.CallSearch) string {
	if q.SortColumn == "" {
		return startNS
	}
	return "ifNull(" + q.SortColumn + ", " + q.MissingSQL() + ")"
}

// SearchCalls returns one page of calls (without streams), keyset-paginated.
func (s *Store) SearchCalls(ctx context.Context, cq store.CallQuery) (store.CallPage, error) {
	var page store.CallPage
	q, err := cq.Search()
	if err != nil {
		return page, err
	}
	conds := timeRange(nil, "start", q.From, q.To)
	var args []any
	for _, f := range q.Filters {
		switch f.Kind {
		case store.FilterNumber:
			if !strings.Contains(f.Str, searchSep) {
				// The materialized search column (schema.go): one narrow column, one search.
				conds = append(conds, "position(search, lowerUTF8(?)) > 0")
				args = append(args, f.Str)
				break
			}
			// A needle spanning the separator would match across fields.
			conds = append(conds, "(positionCaseInsensitiveUTF8(from_user, ?) > 0 OR positionCaseInsensitiveUTF8(to_user, ?) > 0 OR "+
				"positionCaseInsensitiveUTF8(from_uri, ?) > 0 OR positionCaseInsensitiveUTF8(to_uri, ?) > 0)")
			args = append(args, f.Str, f.Str, f.Str, f.Str)
		case store.FilterIP:
			conds = append(conds, "(caller_ip = ? OR callee_ip = ?)")
			args = append(args, f.Str, f.Str)
		case store.FilterCallID:
			conds = append(conds, "call_id = ?")
			args = append(args, f.Str)
		case store.FilterState:
			conds = append(conds, "state = ?")
			args = append(args, f.Str)
		case store.FilterFinalCode:
			conds = append(conds, fmt.Sprintf("final_code = %d", f.Int))
		case store.FilterDropped:
			conds = append(conds, fmt.Sprintf("dropped = %d", b2u(f.Bool)))
		case store.FilterMOSBelow:
			conds = append(conds, "mos_min IS NOT NULL AND mos_min < "+flit(f.Float))
		case store.FilterPeer:
			conds = append(conds, "peer = ?")
			args = append(args, f.Str)
		default:
			return page, store.ErrUnknownFilter(f.Kind)
		}
	}
	key, dir, cmp := sortExpr(q), q.Dir(), q.Cmp()
	if v := q.AfterKey(); v != nil {
		kv := ""
		switch v := v.(type) {
		case int64:
			kv = strconv.FormatInt(v, 10)
		case float64:
			kv = flit(v)
		}
		conds = append(conds, fmt.Sprintf("(%s %s %s OR (%s = %s AND id %s ?))", key, cmp, kv, key, kv, cmp))
		args = append(args, q.After.ID)
	}
	// Two phases: the page's ids are found reading only the key, id and filter columns,
	// without FINAL (which serialises the read and costs seconds at a million calls).
	// A call written twice (a retried batch, a replayed spool) has several rows until
	// the parts merge; they are dropped here rather than with LIMIT 1 BY id, which would
	// make the server sort every matching row instead of keeping the top few. Should
	// duplicates leave the page short, the query runs again with a larger LIMIT. Then
	// the full rows of those ids alone are read (newest version of each), pruned to
	// their start seconds; PREWHERE reads the wide columns only for the granules
	// holding them.
	// Without a short time range or a Call-ID, the rows are first cut down to the
	// page's key range (searchIDs).
	coarse := ""
	if q.CallID == "" && (q.From.IsZero() || q.To.IsZero() || q.To.Sub(q.From) > 6*time.Hour) {
		coarse = key
		if q.Sort == store.SortStart {
			coarse = "start" // seconds: one narrow column, and the primary key prunes it
		}
	}
	ids, secs, err := s.searchIDs(ctx, conds, key, coarse, dir, q.Limit+1, args)
	if err != nil {
		return page, err
	}
	more := len(ids) > q.Limit
	if more {
		ids, secs = ids[:q.Limit], secs[:q.Limit]
	}
	page.Calls = make([]correlate.Call, 0, len(ids))
	if len(ids) == 0 {
		return page, nil
	}
	rows, err := s.conn.Query(ctx, "SELECT "+callSelect+" FROM calls PREWHERE "+startsIn("start", secs)+
		" AND id IN ("+inList(ids)+") ORDER BY ver DESC LIMIT 1 BY id")
	if err != nil {
		return page, fmt.Errorf("clickhouse: search: %w", err)
	}
	byID := make(map[string]correlate.Call, len(ids))
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			rows.Close()
			return page, err
		}
		byID[c.ID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("clickhouse: search: %w", err)
	}
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			page.Calls = append(page.Calls, c)
		}
	}
	if more {
		last := &page.Calls[len(page.Calls)-1]
		page.Next = q.Next(last.ID, q.SortKey(last))
	}
	return page, nil
}

// searchIDs returns the ids and start seconds of the first want distinct calls matching
// conds in the order key dir, id dir. With a coarse key (one that orders like key, but
// may tie more), a first query reads only it and the filter columns to find the value
// at the fetch-th row; every row of the page lies on this side of it, so the second
// query, which also reads the ids, keeps the top rows of a small range (the primary
// key prunes it when coarse is start) instead of the whole table.
func (s *Store) searchIDs(ctx context.Context, conds []string, key, coarse, dir string, want int, args []any) ([]string, []uint32, error) {
	for fetch := want; ; fetch *= 4 {
		all := conds
		if coarse != "" {
			bound, err := s.bound(ctx, conds, coarse, dir, fetch, args)
			if err != nil {
				return nil, nil, err
			}
			if bound != "" {
				all = append(conds[:len(conds):len(conds)], bound)
			}
		}
		sql := fmt.Sprintf("SELECT id, toUInt32(start) FROM calls%s ORDER BY %s %s, id %s LIMIT %d", where(all), key, dir, dir, fetch)
		rows, err := s.conn.Query(ctx, sql, args...)
		if err != nil {
			return nil, nil, fmt.Errorf("clickhouse: search: %w", err)
		}
		var (
			ids  []string
			secs []uint32
			seen = make(map[string]bool, want)
			n    int
		)
		for rows.Next() {
			var (
				id  string
				sec uint32
			)
			if err := rows.Scan(&id, &sec); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("clickhouse: search: %w", err)
			}
			n++
			if !seen[id] && len(ids) < want {
				seen[id] = true
				ids, secs = append(ids, id), append(secs, sec)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("clickhouse: search: %w", err)
		}
		if len(ids) == want || n < fetch {
			return ids, secs, nil
		}
	}
}

// bound returns the condition "coarse is on the page's side of its value at row fetch"
// (in the order coarse dir), or "" when fewer rows match.
func (s *Store) bound(ctx context.Context, conds []string, coarse, dir string, fetch int, args []any) (string, error) {
	col := coarse
	if coarse == "start" {
		col = "toUInt32(start)"
	}
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT toFloat64(%s) FROM calls%s ORDER BY %s %s LIMIT 1 OFFSET %d",
		col, where(conds), coarse, dir, fetch-1), args...)
	if err != nil {
		return "", fmt.Errorf("clickhouse: search bound: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return "", rows.Err()
	}
	var v float64
	if err := rows.Scan(&v); err != nil {
		return "", fmt.Errorf("clickhouse: search bound: %w", err)
	}
	cmp := ">="
	if dir == "ASC" {
		cmp = "<="
	}
	if coarse == "start" {
		return fmt.Sprintf("start %s toDateTime(%d)", cmp, uint32(v)), nil
	}
	return fmt.Sprintf("%s %s %s", coarse, cmp, flit(v)), nil
}
