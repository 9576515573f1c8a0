package clickhouse

// Aggregate phase: Stats, Top and Registrations over a time range.

import (
	"context"
	"fmt"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// Stats returns outcome counts, ratios, MOS percentiles and histogram, per step and in
// total. Buckets are aligned to q.From (the epoch when From is zero); only steps holding
// calls are returned; no Step, no buckets.
func (s *Store) Stats(ctx context.Context, q store.StatsQuery) (store.Stats, error) {
	var out store.Stats
	if err := q.Validate(); err != nil {
		return out, err
	}
	conds := timeRange(nil, "start", q.From, q.To)
	origin, step := q.Origin(), int64(q.Step)
	bucketExpr := "toInt64(0)"
	if step > 0 {
		// floor((t - origin) / step), correct for t < origin too.
		bucketExpr = fmt.Sprintf("toInt64(floor((%s - %d) / %d))", startNS, origin, step)
	}
	rows, err := s.conn.Query(ctx, "SELECT "+bucketExpr+` AS b, state, final_code, dropped, count(), sum(ifNull(duration_ms, 0))
FROM calls FINAL`+where(conds)+" GROUP BY b, state, final_code, dropped ORDER BY b")
	if err != nil {
		return out, fmt.Errorf("clickhouse: stats: %w", err)
	}
	index := map[int64]int{}
	for rows.Next() {
		var (
			b       int64
			state   string
			code    uint16
			dropped uint8
			n       uint64
			dur     float64
		)
		if err := rows.Scan(&b, &state, &code, &dropped, &n, &dur); err != nil {
			rows.Close()
			return out, fmt.Errorf("clickhouse: scan stats: %w", err)
		}
		store.AddGroup(&out.Total, state, int(code), dropped != 0, int(n), dur)
		if step > 0 {
			i, ok := index[b]
			if !ok {
				i = len(out.Buckets)
				index[b] = i
				out.Buckets = append(out.Buckets, store.StatsBucket{Start: correlate.Time(origin + b*step)})
			}
			store.AddGroup(&out.Buckets[i].Agg, state, int(code), dropped != 0, int(n), dur)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("clickhouse: stats: %w", err)
	}
	mosConds := append(conds, "mos_min IS NOT NULL")
	if step > 0 && len(out.Buckets) > 0 {
		rows, err = s.conn.Query(ctx, "SELECT "+bucketExpr+" AS b, quantileExact(0.5)(assumeNotNull(mos_min)) FROM calls FINAL"+
			where(mosConds)+" GROUP BY b")
		if err != nil {
			return out, fmt.Errorf("clickhouse: stats mos: %w", err)
		}
		for rows.Next() {
			var (
				b int64
				m float64
			)
			if err := rows.Scan(&b, &m); err != nil {
				rows.Close()
				return out, fmt.Errorf("clickhouse: scan stats mos: %w", err)
			}
			if i, ok := index[b]; ok {
				out.Buckets[i].MOS = &m
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return out, fmt.Errorf("clickhouse: stats mos: %w", err)
		}
	}
	for i := range out.Buckets {
		out.Buckets[i].Ratios()
	}
	out.Ratios()
	out.MOSHist = make([]int, store.MOSBins)
	// Bins as store.MOSBin: 0.5 wide from 1.0, clamped to [0, MOSBins-1].
	rows, err = s.conn.Query(ctx, fmt.Sprintf(`SELECT toInt64(least(greatest(floor((assumeNotNull(mos_min) - 1) / 0.5), 0), %d)) AS bin,
count() FROM calls FINAL%s GROUP BY bin`, store.MOSBins-1, where(mosConds)))
	if err != nil {
		return out, fmt.Errorf("clickhouse: stats histogram: %w", err)
	}
	nmos := 0
	for rows.Next() {
		var (
			bin int64
			n   uint64
		)
		if err := rows.Scan(&bin, &n); err != nil {
			rows.Close()
			return out, fmt.Errorf("clickhouse: scan histogram: %w", err)
		}
		if bin >= 0 && bin < store.MOSBins {
			out.MOSHist[bin] += int(n)
			nmos += int(n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("clickhouse: stats histogram: %w", err)
	}
	if nmos > 0 {
		var p50, p05 float64
		if err := s.conn.QueryRow(ctx, "SELECT quantileExact(0.5)(assumeNotNull(mos_min)), quantileExact(0.05)(assumeNotNull(mos_min)) FROM calls FINAL"+
			where(mosConds)).Scan(&p50, &p05); err != nil {
			return out, fmt.Errorf("clickhouse: stats percentiles: %w", err)
		}
		out.MOSP50, out.MOSP95 = &p50, &p05
	}
	return out, nil
}

// Top returns the N worst destinations (to_user) or peers (callee IP) by ASR or average
// MOS, among keys with at least MinCalls calls.
func (s *Store) Top(ctx context.Context, tq store.TopQuery) ([]store.TopRow, error) {
	q, err := tq.Normalize()
	if err != nil {
		return nil, err
	}
	keyCol, n := q.KeyColumn(), q.N
	order := "asr ASC"
	if q.Metric == store.TopMetricMOS {
		order = "mos ASC"
	}
	conds := timeRange([]string{keyCol + " != ''"}, "start", q.From, q.To)
	having := fmt.Sprintf("calls >= %d", q.MinCalls)
	if q.Metric == store.TopMetricMOS {
		having += " AND nmos > 0"
	}
	// Fetch a margin beyond N: SQL floats may order near-ties differently from Go; the
	// final order is store.SortTop's, computed from the exact counts.
	sql := fmt.Sprintf(`SELECT %s AS k, count() AS calls, countIf(state = 'answered') AS answered,
countIf(state NOT IN ('answered','busy','cancelled','no_answer','redirected','failed')) AS inprog,
countIf(mos_min IS NOT NULL) AS nmos, sum(ifNull(mos_min, 0)) AS smos,
if(calls - inprog > 0, answered * 100 / (calls - inprog), 0) AS asr, if(nmos > 0, smos / nmos, 99) AS mos
FROM calls FINAL%s GROUP BY k HAVING %s ORDER BY %s, calls DESC, k LIMIT %d`, keyCol, where(conds), having, order, n+50)
	rows, err := s.conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: top: %w", err)
	}
	defer rows.Close()
	var out []store.TopRow
	for rows.Next() {
		var (
			k                           string
			calls, answered, inprog, nm uint64
			smos, asr, mos              float64
		)
		if err := rows.Scan(&k, &calls, &answered, &inprog, &nm, &smos, &asr, &mos); err != nil {
			return nil, fmt.Errorf("clickhouse: scan top: %w", err)
		}
		a := correlate.Aggregate{Calls: int(calls), Answered: int(answered), InProgress: int(inprog)}
		r := store.TopRow{Key: k, Calls: int(calls), ASR: a.ASR()}
		if nm > 0 {
			v := smos / float64(nm)
			r.MOS = &v
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: top: %w", err)
	}
	return q.FinishTop(out), nil
}

// Registrations returns REGISTER flows in [From, To), newest first.
func (s *Store) Registrations(ctx context.Context, rq store.RegQuery) ([]correlate.Registration, error) {
	q := rq.Normalize()
	conds := timeRange(nil, "time", q.From, q.To)
	var args []any
	if q.AOR != "" {
		conds = append(conds, "positionCaseInsensitiveUTF8(aor, ?) > 0")
		args = append(args, q.AOR)
	}
	rows, err := s.conn.Query(ctx, `SELECT toUInt32(time), time_ns, call_id, aor, contact, source, expires, outcome, final_code
FROM registrations FINAL`+where(conds)+fmt.Sprintf(" ORDER BY time DESC, time_ns DESC, call_id LIMIT %d", q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: registrations: %w", err)
	}
	defer rows.Close()
	var out []correlate.Registration
	for rows.Next() {
		var (
			r       correlate.Registration
			sec, ns uint32
			exp     *int32
			code    uint16
		)
		if err := rows.Scan(&sec, &ns, &r.CallID, &r.AOR, &r.Contact, &r.Source, &exp, &r.Outcome, &code); err != nil {
			return nil, fmt.Errorf("clickhouse: scan registration: %w", err)
		}
		r.Time = correlate.Time(join(sec, ns))
		r.FinalCode = int(code)
		if exp != nil {
			v := int(*exp)
			r.Expires = &v
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: registrations: %w", err)
	}
	return out, nil
}
