package clickhouse

// Read phase: shared SQL helpers, and one call, its legs, streams, messages and media
// by id.

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
sip_messages, retransmissions, linked_call_ids, user_agents, dtmf, mos_min, peer, call_extra`

func scanCall(rows driver.Rows) (correlate.Call, error) {
	var (
		c                                      correlate.Call
		st, stNS, rg, rgNS, an, anNS, en, enNS uint32
		code                                   uint16
		q850                                   *int32
		dropped, oneWay                        uint8
		msgs, retrans                          uint32
		dropReason                             *string
		extra                                  string
	)
	err := rows.Scan(&st, &stNS, &c.ID, &c.CallID, &c.From, &c.To, &c.FromUser, &c.ToUser,
		&c.Caller, &c.Callee, &c.Transport, &c.State, &code, &c.FinalReason,
		&rg, &rgNS, &an, &anNS, &en, &enNS,
		&c.PDDMs, &c.SetupMs, &c.DurationMs, &c.EndedBy, &c.EndReason, &q850, &dropped, &dropReason, &oneWay,
		&msgs, &retrans, &c.LinkedCallIDs, &c.UserAgents, &c.DTMF, &c.MOSMin, &c.Peer, &extra)
	if err != nil {
		return c, fmt.Errorf("clickhouse: scan call: %w", err)
	}
	c.DropReason = (*correlate.DropReason)(dropReason)
	if err := setCallExtra(&c, extra); err != nil {
		return c, err
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
