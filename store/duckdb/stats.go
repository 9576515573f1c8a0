package duckdb

// Aggregate phase: Stats, Top and Registrations over a time range.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

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
