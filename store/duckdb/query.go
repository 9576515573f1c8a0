package duckdb

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

// sortExpr renders the search's sort key: the start (ns), or its column with missing
// values as -1.
func sortExpr(q store.CallSearch) string {
	if q.SortColumn == "" {
		return "start"
	}
	return "coalesce(" + q.SortColumn + ", -1)"
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
		retrans, raw, frame, link_type FROM sip_messages`+where+` ORDER BY ts, call_uid, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m                      store.Message
			ts, status, cseq, link int64
		)
		if err := rows.Scan(&m.CallUID, &m.CallID, &ts, &m.Src, &m.Dst, &m.Transport, &m.Request, &m.Method, &status,
			&cseq, &m.Retrans, &m.Raw, &m.Frame, &link); err != nil {
			return nil, fmt.Errorf("duckdb: messages: %w", err)
		}
		m.TS, m.Status, m.CSeq, m.LinkType = correlate.Time(ts), int(status), uint32(cseq), uint32(link)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: messages: %w", err)
	}
	return out, nil
}

// Media returns the kept RTP/RTCP frames of the calls, in time order.
func (s *Store) Media(ctx context.Context, ids []string) ([]correlate.Frame, error) {
	out := []correlate.Frame{}
	if len(ids) == 0 {
		return out, nil
	}
	where, args, err := s.childWhere(ctx, ids)
	if err != nil || where == "" {
		return out, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ts, link_type, orig_len, data FROM media_frames`+where+
		` ORDER BY ts, call_uid, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: media: %w", err)
	}
	defer rows.Close()
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

func timeWhere(from, to interface{ IsZero() bool }, fromNS, toNS int64, col string) (string, []any) {
	var (
		w    []string
		args []any
	)
	if !from.IsZero() {
		w, args = append(w, col+" >= ?"), append(args, fromNS)
	}
	if !to.IsZero() {
		w, args = append(w, col+" < ?"), append(args, toNS)
	}
	if len(w) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(w, " AND "), args
}

const aggCols = `count(*),
	count(*) FILTER (WHERE state = 'answered'), count(*) FILTER (WHERE state = 'busy'),
	count(*) FILTER (WHERE state = 'cancelled'), count(*) FILTER (WHERE state = 'no_answer'),
	count(*) FILTER (WHERE state = 'redirected'), count(*) FILTER (WHERE state = 'failed'),
	count(*) FILTER (WHERE dropped),
	count(*) FILTER (WHERE state = 'failed' AND final_code IN (` + store.UserRejectCodes + `)),
	coalesce(sum(duration_ms) FILTER (WHERE state = 'answered'), 0)`

func scanAgg(dst *correlate.Aggregate, extra ...any) []any {
	return append(extra, &dst.Calls, &dst.Answered, &dst.Busy, &dst.Cancelled, &dst.NoAnswer, &dst.Redirected,
		&dst.Failed, &dst.Dropped, &dst.UserReject, &dst.DurationMs)
}

func finishAgg(a *correlate.Aggregate) {
	a.InProgress = a.Calls - a.Answered - a.Busy - a.Cancelled - a.NoAnswer - a.Redirected - a.Failed
}

// Stats returns outcome counts, ratios, MOS percentiles and response codes. Buckets
// (only non-empty ones, oldest first) are aligned to q.From.
func (s *Store) Stats(ctx context.Context, q store.StatsQuery) (store.Stats, error) {
	if err := q.Validate(); err != nil {
		return store.Stats{}, err
	}
	where, args := timeWhere(q.From, q.To, q.From.UnixNano(), q.To.UnixNano(), "start")
	out := store.Stats{Buckets: []store.StatsBucket{}, MOSHist: make([]int, store.MOSBins)}
	var p50, p05 sql.NullFloat64
	err := s.db.QueryRowContext(ctx, "SELECT "+aggCols+`, quantile_disc(mos_min, 0.5), quantile_disc(mos_min, 0.05)
		FROM calls`+where, args...).Scan(append(scanAgg(&out.Total), &p50, &p05)...)
	if err != nil {
		return out, fmt.Errorf("duckdb: stats: %w", err)
	}
	finishAgg(&out.Total)
	if p50.Valid {
		out.MOSP50 = &p50.Float64
	}
	if p05.Valid {
		out.MOSP95 = &p05.Float64
	}
	// Response codes, total and per bucket.
	bexpr := "0"
	if q.Step > 0 {
		origin := q.Origin()
		bexpr = fmt.Sprintf("(%d + floor((start - %d) / %d)::BIGINT * %d)", origin, origin, int64(q.Step), int64(q.Step))
	}
	cwhere := where
	if cwhere == "" {
		cwhere = " WHERE final_code <> 0"
	} else {
		cwhere += " AND final_code <> 0"
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+bexpr+", final_code, count(*) FROM calls"+cwhere+" GROUP BY ALL", args...)
	if err != nil {
		return out, fmt.Errorf("duckdb: stats codes: %w", err)
	}
	codes := map[int64]map[int]int{}
	for rows.Next() {
		var (
			b, code int64
			n       int
		)
		if err := rows.Scan(&b, &code, &n); err != nil {
			rows.Close()
			return out, fmt.Errorf("duckdb: stats codes: %w", err)
		}
		if codes[b] == nil {
			codes[b] = map[int]int{}
		}
		codes[b][int(code)] += n
		if out.Total.Codes == nil {
			out.Total.Codes = map[int]int{}
		}
		out.Total.Codes[int(code)] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("duckdb: stats codes: %w", err)
	}
	// MOS histogram.
	hwhere := where
	if hwhere == "" {
		hwhere = " WHERE mos_min IS NOT NULL"
	} else {
		hwhere += " AND mos_min IS NOT NULL"
	}
	hrows, err := s.db.QueryContext(ctx, "SELECT mos_min FROM calls"+hwhere, args...)
	if err != nil {
		return out, fmt.Errorf("duckdb: stats mos: %w", err)
	}
	for hrows.Next() {
		var m float64
		if err := hrows.Scan(&m); err != nil {
			hrows.Close()
			return out, fmt.Errorf("duckdb: stats mos: %w", err)
		}
		out.MOSHist[store.MOSBin(m)]++
	}
	hrows.Close()
	if err := hrows.Err(); err != nil {
		return out, fmt.Errorf("duckdb: stats mos: %w", err)
	}
	out.Ratios()
	if q.Step <= 0 {
		return out, nil
	}
	brows, err := s.db.QueryContext(ctx, "SELECT "+bexpr+" AS b, "+aggCols+", quantile_disc(mos_min, 0.5) FROM calls"+where+
		" GROUP BY b ORDER BY b", args...)
	if err != nil {
		return out, fmt.Errorf("duckdb: stats buckets: %w", err)
	}
	defer brows.Close()
	for brows.Next() {
		var (
			bk  store.StatsBucket
			b   int64
			mos sql.NullFloat64
		)
		if err := brows.Scan(append(scanAgg(&bk.Agg, &b), &mos)...); err != nil {
			return out, fmt.Errorf("duckdb: stats buckets: %w", err)
		}
		finishAgg(&bk.Agg)
		bk.Start = correlate.Time(b)
		bk.Agg.Codes = codes[b]
		if mos.Valid {
			bk.MOS = &mos.Float64
		}
		bk.Ratios()
		out.Buckets = append(out.Buckets, bk)
	}
	return out, brows.Err()
}

// Top returns the worst destinations or peers by ASR (lowest first) or MOS (lowest
// average mos_min first); ties go to more calls, then to the key.
func (s *Store) Top(ctx context.Context, tq store.TopQuery) ([]store.TopRow, error) {
	q, err := tq.Normalize()
	if err != nil {
		return nil, err
	}
	key := q.KeyColumn()
	where, args := timeWhere(q.From, q.To, q.From.UnixNano(), q.To.UnixNano(), "start")
	if where == "" {
		where = " WHERE " + key + " <> ''"
	} else {
		where += " AND " + key + " <> ''"
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+key+`, `+aggCols+`, avg(mos_min) FROM calls`+where+
		" GROUP BY 1 HAVING count(*) >= ?", append(args, int64(q.MinCalls))...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: top: %w", err)
	}
	defer rows.Close()
	out := []store.TopRow{}
	for rows.Next() {
		var (
			r   store.TopRow
			a   correlate.Aggregate
			mos sql.NullFloat64
		)
		if err := rows.Scan(append(scanAgg(&a, &r.Key), &mos)...); err != nil {
			return nil, fmt.Errorf("duckdb: top: %w", err)
		}
		finishAgg(&a)
		r.Calls, r.ASR = a.Calls, a.ASR()
		if mos.Valid {
			r.MOS = &mos.Float64
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: top: %w", err)
	}
	return q.FinishTop(out), nil
}

// Registrations returns REGISTER flows, newest first.
func (s *Store) Registrations(ctx context.Context, rq store.RegQuery) ([]correlate.Registration, error) {
	q := rq.Normalize()
	where, args := timeWhere(q.From, q.To, q.From.UnixNano(), q.To.UnixNano(), "time")
	if q.AOR != "" {
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += "contains(lower(aor), ?)"
		args = append(args, q.AOR)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT time, call_id, aor, contact, source, expires, outcome, final_code
		FROM registrations`+where+fmt.Sprintf(" ORDER BY time DESC, call_id LIMIT %d", q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: registrations: %w", err)
	}
	defer rows.Close()
	out := []correlate.Registration{}
	for rows.Next() {
		var (
			r         correlate.Registration
			ts, code  int64
			expiresNS sql.NullInt64
		)
		if err := rows.Scan(&ts, &r.CallID, &r.AOR, &r.Contact, &r.Source, &expiresNS, &r.Outcome, &code); err != nil {
			return nil, fmt.Errorf("duckdb: registrations: %w", err)
		}
		r.Time, r.FinalCode = correlate.Time(ts), int(code)
		if expiresNS.Valid {
			v := int(expiresNS.Int64)
			r.Expires = &v
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
