package duckdb

import (
	"context"
	"fmt"
	"time"
)

// loadSynthetic appends n synthetic calls to the store with bulk SQL (seconds per million
// rows, against minutes through WriteCalls), for the search benchmark. The rows are what
// WriteCalls would store for calls like the benchmark's synthRecord: 7 SIP messages of
// 700 bytes, 2 streams for answered calls, start times spread evenly over days from
// origin in arrival order, obj a JSON correlate.Call consistent with the columns.
func (s *Store) loadSynthetic(ctx context.Context, n int, origin time.Time, days int) error {
	step := int64(days) * int64(24*time.Hour) / int64(n)
	gen := fmt.Sprintf(`WITH g AS (
		SELECT i, %d + i * %d AS start, (hash(i, 'k') %% 7)::BIGINT AS k,
			'+1555' || lpad((hash(i, 'f') %% 10000000)::VARCHAR, 7, '0') AS fu,
			'+4930' || lpad((hash(i, 't') %% 10000000)::VARCHAR, 7, '0') AS tu,
			printf('%%016x@probe.example', hash(i, 'c')) AS cid,
			printf('%%016x', hash(i, 'id')) AS id,
			'10.' || ((i >> 16) & 255) || '.' || ((i >> 8) & 255) || '.' || (i & 255) AS cip,
			'172.16.' || (hash(i, 'a') %% 4) || '.' || (hash(i, 'b') %% 250) AS eip,
			(hash(i, 'd') %% 600000)::DOUBLE AS dur, (50 + hash(i, 'p') %% 3000)::DOUBLE AS pdd,
			1 + 3.5 * (hash(i, 'm') %% 1000000) / 1000000.0 AS mos
		FROM range(%d) r(i)),
	c AS (
		SELECT *, [ 'answered', 'answered', 'answered', 'busy', 'cancelled', 'failed', 'no_answer' ][k + 1] AS state,
			[200, 200, 200, 486, 487, 503, 480][k + 1] AS code, k < 3 AS answered,
			'sip:' || fu || '@a.example' AS furi, 'sip:' || tu || '@b.example' AS turi
		FROM g)`, origin.UnixNano(), step, n)
	callsQ := gen + `
	INSERT INTO calls SELECT id, cid, start, NULL, NULL, NULL, furi, turi, fu, tu, cip || ':5060', eip || ':5060', cip, eip,
		'udp', state, code, 'x', pdd, NULL, CASE WHEN answered THEN dur END, NULL, 'bye', NULL, false, NULL, false,
		7, 0, '', CASE WHEN answered THEN mos END, CASE WHEN answered THEN 2 ELSE 0 END,
		json_object('id', id, 'call_id', cid, 'from', furi, 'to', turi, 'from_user', fu, 'to_user', tu,
			'caller', cip || ':5060', 'callee', eip || ':5060', 'transport', 'udp', 'state', state, 'final_code', code,
			'final_reason', 'x', 'start', strftime(make_timestamp((start // 1000)::BIGINT), '%Y-%m-%dT%H:%M:%S.%fZ'),
			'ringing', NULL, 'answer', NULL, 'end', NULL, 'pdd_ms', pdd, 'setup_ms', NULL,
			'duration_ms', CASE WHEN answered THEN dur END, 'ended_by', NULL, 'end_reason', 'bye', 'q850_cause', NULL,
			'dropped', false, 'drop_reason', NULL, 'one_way_audio', false, 'sip_messages', 7, 'retransmissions', 0,
			'linked_call_ids', []::VARCHAR[], 'user_agents', ['probe/1'], 'dtmf', '',
			'mos_min', CASE WHEN answered THEN mos END)::VARCHAR,
		lower(furi || chr(0) || turi), chr(0) || 'cid:' || cid || chr(0), NULL
	FROM c ORDER BY i`
	msgsQ := gen + `
	INSERT INTO sip_messages SELECT id, cid, start, j, start + j * 100000000, cip || ':5060', eip || ':5060', 'udp',
		j IN (0, 4, 5), ['INVITE', '', '', '', 'ACK', 'BYE', ''][j + 1], [0, 100, 180, 200, 0, 0, 200][j + 1], 1, false,
		repeat('x', 700)::BLOB, repeat('x', 42)::BLOB, 1, true
	FROM c, range(7) m(j) ORDER BY i, j`
	streamsQ := gen + `
	INSERT INTO rtp_streams SELECT id, start, j, start, start + 60000000000, printf('0x%08X', hash(i, j) % 4294967296),
		'10.0.0.1:20000', '10.0.0.2:30000', '10.0.0.1', '10.0.0.2', 'PCMU', 3000, 0, 0.0, mos,
		json_object('ssrc', printf('0x%08X', hash(i, j) % 4294967296), 'src', '10.0.0.1:20000', 'dst', '10.0.0.2:30000',
			'payload_type', 0, 'codec', 'PCMU', 'clock_rate', 8000, 'packets', 3000, 'expected', 3000, 'mos', mos)::VARCHAR
	FROM c, range(2) m(j) WHERE answered ORDER BY i, j`
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range []string{callsQ, msgsQ, streamsQ, "CHECKPOINT"} {
		if _, err := s.wconn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("duckdb: load synthetic: %w", err)
		}
	}
	s.known = nil // written behind WriteCalls' back: reload
	return nil
}
