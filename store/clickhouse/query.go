package clickhouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// startNS is the exact call start in ns as a SQL expression.
const startNS = "(toInt64(toUInt32(start)) * 1000000000 + start_ns)"

const callSelect = `toUInt32(start), start_ns, id, call_id, from_uri, to_uri, from_user, to_user,
caller, callee, transport, state, final_code, final_reason,
toUInt32(ringing), ringing_ns, toUInt32(answer), answer_ns, toUInt32(end_at), end_at_ns,
pdd_ms, setup_ms, duration_ms, ended_by, end_reason, q850_cause, dropped, drop_reason, one_way_audio,
sip_messages, retransmissions, linked_call_ids, user_agents, dtmf, mos_min`

func scanCall(rows driver.Rows) (correlate.Call, error) {
	var (
		c                                      correlate.Call
		st, stNS, rg, rgNS, an, anNS, en, enNS uint32
		code                                   uint16
		q850                                   *int32
		dropped, oneWay                        uint8
		msgs, retrans                          uint32
	)
	err := rows.Scan(&st, &stNS, &c.ID, &c.CallID, &c.From, &c.To, &c.FromUser, &c.ToUser,
		&c.Caller, &c.Callee, &c.Transport, &c.State, &code, &c.FinalReason,
		&rg, &rgNS, &an, &anNS, &en, &enNS,
		&c.PDDMs, &c.SetupMs, &c.DurationMs, &c.EndedBy, &c.EndReason, &q850, &dropped, &c.DropReason, &oneWay,
		&msgs, &retrans, &c.LinkedCallIDs, &c.UserAgents, &c.DTMF, &c.MOSMin)
	if err != nil {
		return c, fmt.Errorf("clickhouse: scan call: %w", err)
	}
	c.Start, c.Ringing, c.Answer, c.End = correlate.Time(join(st, stNS)), correlate.Time(join(rg, rgNS)),
		correlate.Time(join(an, anNS)), correlate.Time(join(en, enNS))
	c.FinalCode = int(code)
	if q850 != nil {
		v := int(*q850)
		c.Q850Cause = &v
	}
	c.Dropped, c.OneWayAudio = dropped != 0, oneWay != 0
	c.SIPMessages, c.Retrans = int(msgs), int(retrans)
	if c.LinkedCallIDs == nil {
		c.LinkedCallIDs = []string{}
	}
	if c.UserAgents == nil {
		c.UserAgents = []string{}
	}
	return c, nil
}

// lit renders a string as a ClickHouse literal.
func lit(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func inList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = lit(id)
	}
	return strings.Join(parts, ", ")
}

func flit(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// timeRange adds conditions for col (DateTime) + colNS in [from, to): a coarse one on the
// seconds (primary key and partition pruning) and an exact one on ns.
func timeRange(conds []string, col string, from, to time.Time) []string {
	exact := "(toInt64(toUInt32(" + col + ")) * 1000000000 + " + col + "_ns)"
	if !from.IsZero() {
		ns := from.UnixNano()
		conds = append(conds, fmt.Sprintf("%s >= toDateTime(%d)", col, max(ns, 0)/1e9),
			fmt.Sprintf("%s >= %d", exact, ns))
	}
	if !to.IsZero() {
		ns := to.UnixNano()
		conds = append(conds, fmt.Sprintf("%s <= toDateTime(%d)", col, max(ns, 0)/1e9),
			fmt.Sprintf("%s < %d", exact, ns))
	}
	return conds
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// sortExpr renders the search's sort key: the exact start in ns, or its column with
// missing values as -1.
func sortExpr(q store.CallSearch) string {
	if q.SortColumn == "" {
		return startNS
	}
	return "ifNull(" + q.SortColumn + ", -1)"
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

// locate returns the start second of each stored call id, so that queries by id can
// name the day partition and primary-key range (call_start = ...) instead of scanning
// every part. Only the id and start columns are read.
func (s *Store) locate(ctx context.Context, ids []string) ([]uint32, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT toUInt32(start) FROM calls WHERE id IN ("+inList(ids)+")")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: locate calls: %w", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var sec uint32
		if err := rows.Scan(&sec); err != nil {
			return nil, fmt.Errorf("clickhouse: locate calls: %w", err)
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

func startsIn(col string, secs []uint32) string {
	parts := make([]string, len(secs))
	for i, v := range secs {
		parts[i] = "toDateTime(" + strconv.FormatUint(uint64(v), 10) + ")"
	}
	return col + " IN (" + strings.Join(parts, ", ") + ")"
}

// Legs returns the calls sharing a link key with the call id (store.Store.Legs).
func (s *Store) Legs(ctx context.Context, id string) ([]correlate.Call, error) {
	secs, err := s.locate(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(secs) == 0 {
		return nil, fmt.Errorf("call %s: %w", id, store.ErrNotFound)
	}
	var (
		start  uint32
		callID string
		keys   []string
	)
	row := s.conn.QueryRow(ctx, "SELECT toUInt32(start), call_id, link_keys FROM calls FINAL WHERE "+startsIn("start", secs)+
		" AND id = ? LIMIT 1", id)
	if err := row.Scan(&start, &callID, &keys); err != nil {
		return nil, fmt.Errorf("clickhouse: legs: %w", err)
	}
	out := []correlate.Call{}
	if len(keys) == 0 {
		return out, nil
	}
	w := uint32(store.LegWindow / time.Second)
	lo := uint32(0)
	if start > w {
		lo = start - w
	}
	rows, err := s.conn.Query(ctx, "SELECT "+callSelect+" FROM calls FINAL WHERE start BETWEEN toDateTime(?) AND toDateTime(?)"+
		" AND call_id != ? AND hasAny(link_keys, ?)"+
		fmt.Sprintf(" ORDER BY abs(toInt64(toUInt32(start)) - %d), id LIMIT %d", start, store.MaxLegs), lo, start+w, callID, keys)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: legs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: legs: %w", err)
	}
	return out, nil
}

// GetCall returns one call with its streams and their intervals.
func (s *Store) GetCall(ctx context.Context, id string) (*correlate.Call, error) {
	secs, err := s.locate(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(secs) == 0 {
		return nil, fmt.Errorf("call %s: %w", id, store.ErrNotFound)
	}
	rows, err := s.conn.Query(ctx, "SELECT "+callSelect+" FROM calls FINAL WHERE "+startsIn("start", secs)+" AND id = ? LIMIT 1", id)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: get call: %w", err)
	}
	var c correlate.Call
	found := false
	for rows.Next() {
		if c, err = scanCall(rows); err != nil {
			rows.Close()
			return nil, err
		}
		found = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: get call: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("call %s: %w", id, store.ErrNotFound)
	}
	if c.Streams, err = s.streams(ctx, id, secs); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *Store) streams(ctx context.Context, id string, secs []uint32) ([]correlate.Stream, error) {
	rows, err := s.conn.Query(ctx, `SELECT ssrc, src, dst, payload_type, codec, clock_rate,
toUInt32(first_ts), first_ns, toUInt32(last_ts), last_ns, packets, expected, lost, duplicates, out_of_order,
jitter_mean_ms, jitter_max_ms, max_delta_ms, mos, mos_min, r_factor, dtmf, media_address_mismatch,
has_rtcp, rtcp_rtt_ms, rtcp_fraction_lost, rtcp_cumulative_lost, rtcp_jitter_ms, extra
FROM rtp_streams FINAL WHERE `+startsIn("call_start", secs)+` AND call_uid = ? ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: streams: %w", err)
	}
	out := []correlate.Stream{}
	for rows.Next() {
		var (
			st                    correlate.Stream
			pt                    int32
			clock, f, fNS, l, lNS uint32
			mismatch, hasRTCP     uint8
			rtcp                  correlate.RTCPInfo
			extra                 string
		)
		if err := rows.Scan(&st.SSRC, &st.Src, &st.Dst, &pt, &st.Codec, &clock, &f, &fNS, &l, &lNS,
			&st.Packets, &st.Expected, &st.Lost, &st.Duplicates, &st.OutOfOrder,
			&st.JitterMeanMs, &st.JitterMaxMs, &st.MaxDeltaMs, &st.MOS, &st.MOSMin, &st.RFactor, &st.DTMF, &mismatch,
			&hasRTCP, &rtcp.RTTMs, &rtcp.ReportedFractionLost, &rtcp.ReportedCumulativeLost, &rtcp.ReportedJitterMs, &extra); err != nil {
			rows.Close()
			return nil, fmt.Errorf("clickhouse: scan stream: %w", err)
		}
		st.PayloadType, st.ClockRate = int(pt), int(clock)
		st.First, st.Last = correlate.Time(join(f, fNS)), correlate.Time(join(l, lNS))
		st.MediaAddressMismatch = mismatch != 0
		if err := setStreamExtra(&st, extra); err != nil {
			rows.Close()
			return nil, err
		}
		if hasRTCP != 0 {
			st.RTCP = &rtcp
		}
		st.Intervals = []correlate.Interval{}
		out = append(out, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: streams: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = s.conn.Query(ctx, `SELECT stream_idx, toUInt32(start), start_ns, packets, lost, jitter_ms, mos
FROM stream_intervals FINAL WHERE `+startsIn("call_start", secs)+` AND call_uid = ? ORDER BY stream_idx, idx`, id)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: intervals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			si      uint16
			sec, ns uint32
			iv      correlate.Interval
		)
		if err := rows.Scan(&si, &sec, &ns, &iv.Packets, &iv.Lost, &iv.JitterMs, &iv.MOS); err != nil {
			return nil, fmt.Errorf("clickhouse: scan interval: %w", err)
		}
		if int(si) >= len(out) {
			continue // a stream rewritten with fewer streams; its old intervals are stale
		}
		iv.Start = correlate.Time(join(sec, ns))
		out[si].Intervals = append(out[si].Intervals, iv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: intervals: %w", err)
	}
	return out, nil
}

// Messages returns the SIP messages of the calls, in time order (ties in capture order).
func (s *Store) Messages(ctx context.Context, ids []string) ([]store.Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	secs, err := s.locate(ctx, ids)
	if err != nil || len(secs) == 0 {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, `SELECT call_uid, call_id, toUInt32(ts), ts_ns, src, dst, transport, request,
method, status, cseq, retrans, if(raw_off > 0, substring(frame, raw_off), raw), frame, link_type
FROM sip_messages FINAL WHERE `+startsIn("call_start", secs)+` AND call_uid IN (`+inList(ids)+`) ORDER BY ts, ts_ns, call_uid, seq`)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: messages: %w", err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var (
			m            store.Message
			sec, ns      uint32
			req, retrans uint8
			status       uint16
			raw, frame   string
		)
		if err := rows.Scan(&m.CallUID, &m.CallID, &sec, &ns, &m.Src, &m.Dst, &m.Transport, &req,
			&m.Method, &status, &m.CSeq, &retrans, &raw, &frame, &m.LinkType); err != nil {
			return nil, fmt.Errorf("clickhouse: scan message: %w", err)
		}
		m.TS = correlate.Time(join(sec, ns))
		m.Request, m.Retrans, m.Status = req != 0, retrans != 0, int(status)
		m.Raw, m.Frame = []byte(raw), []byte(frame)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: messages: %w", err)
	}
	return out, nil
}

// Media returns the kept RTP/RTCP frames of the calls, in time order.
func (s *Store) Media(ctx context.Context, ids []string) ([]correlate.Frame, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	secs, err := s.locate(ctx, ids)
	if err != nil || len(secs) == 0 {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, `SELECT toUInt32(ts), ts_ns, link_type, orig_len, data
FROM media_frames FINAL WHERE `+startsIn("call_start", secs)+` AND call_uid IN (`+inList(ids)+`) ORDER BY ts, ts_ns, call_uid, seq`)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: media: %w", err)
	}
	defer rows.Close()
	var out []correlate.Frame
	for rows.Next() {
		var (
			f             correlate.Frame
			sec, ns, orig uint32
			data          string
		)
		if err := rows.Scan(&sec, &ns, &f.LinkType, &orig, &data); err != nil {
			return nil, fmt.Errorf("clickhouse: scan frame: %w", err)
		}
		f.TS, f.OrigLen, f.Data = join(sec, ns), int(orig), []byte(data)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: media: %w", err)
	}
	return out, nil
}

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
