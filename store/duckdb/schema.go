package duckdb

import (
	"context"
	"fmt"
)

// migration is one schema version; statements run in one transaction.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations are applied in order; an applied version is never changed, only followed.
func migrations() []migration {
	return []migration{{1, "tables", []string{
		`CREATE TABLE calls (
			id VARCHAR NOT NULL, call_id VARCHAR NOT NULL, start BIGINT NOT NULL,
			ringing BIGINT, answer BIGINT, "end" BIGINT,
			from_uri VARCHAR, to_uri VARCHAR, from_user VARCHAR, to_user VARCHAR,
			caller VARCHAR, callee VARCHAR, caller_ip VARCHAR, callee_ip VARCHAR,
			transport VARCHAR, state VARCHAR, final_code BIGINT, final_reason VARCHAR,
			pdd_ms DOUBLE, setup_ms DOUBLE, duration_ms DOUBLE, ended_by VARCHAR, end_reason VARCHAR,
			q850_cause BIGINT, dropped BOOLEAN, drop_reason VARCHAR, one_way_audio BOOLEAN,
			sip_messages BIGINT, retransmissions BIGINT, dtmf VARCHAR, mos_min DOUBLE, streams BIGINT,
			obj VARCHAR NOT NULL)`,
		`CREATE TABLE sip_messages (
			call_uid VARCHAR NOT NULL, call_id VARCHAR, call_start BIGINT NOT NULL, seq BIGINT, ts BIGINT,
			src VARCHAR, dst VARCHAR, transport VARCHAR, request BOOLEAN, method VARCHAR, status BIGINT,
			cseq BIGINT, retrans BOOLEAN, raw BLOB, frame BLOB, link_type BIGINT)`,
		`CREATE TABLE rtp_streams (
			call_uid VARCHAR NOT NULL, call_start BIGINT NOT NULL, idx BIGINT, first BIGINT, last BIGINT,
			ssrc VARCHAR, src VARCHAR, dst VARCHAR, src_ip VARCHAR, dst_ip VARCHAR, codec VARCHAR,
			packets BIGINT, lost BIGINT, jitter_max_ms DOUBLE, mos DOUBLE, obj VARCHAR NOT NULL)`,
		`CREATE TABLE stream_intervals (
			call_uid VARCHAR NOT NULL, call_start BIGINT NOT NULL, stream_idx BIGINT, idx BIGINT,
			start BIGINT, packets BIGINT, lost BIGINT, jitter_ms DOUBLE, mos DOUBLE)`,
		`CREATE TABLE media_frames (
			call_uid VARCHAR NOT NULL, call_start BIGINT NOT NULL, seq BIGINT, ts BIGINT,
			link_type BIGINT, orig_len BIGINT, data BLOB)`,
		`CREATE TABLE registrations (
			time BIGINT NOT NULL, call_id VARCHAR, aor VARCHAR, contact VARCHAR, source VARCHAR,
			expires BIGINT, outcome VARCHAR, final_code BIGINT)`,
	}}, {2, "indexes", []string{
		`CREATE INDEX calls_id ON calls (id)`,
		`CREATE INDEX calls_call_id ON calls (call_id)`,
	}}, {3, "number search column", []string{
		// numbers is the lower-cased from_user, to_user, from and to joined by NUL, so a
		// number/URI substring search is one contains() over one precomputed column.
		`ALTER TABLE calls ADD COLUMN numbers VARCHAR`,
		`UPDATE calls SET numbers = ` + numbersExpr,
	}}, {4, "link keys column", []string{
		// link_keys is correlate.Record.LinkKeys joined and framed by NUL ("\x00k1\x00k2\x00"),
		// so "shares key k" is one contains() of "\x00k\x00". Rows stored before carry their
		// own Call-ID only (the other keys were not kept).
		`ALTER TABLE calls ADD COLUMN link_keys VARCHAR`,
		`UPDATE calls SET link_keys = chr(0) || 'cid:' || call_id || chr(0)`,
	}}, {5, "alert events", []string{alertEventsDDL}}, {6, "security events", []string{securityEventsDDL}},
		{7, "peer column", []string{
			// peer is correlate.Call.Peer (the peer group). Rows stored before have it in
			// their JSON only, so the peer filter does not find them.
			`ALTER TABLE calls ADD COLUMN peer VARCHAR`,
		}},
		// One compressed segment per call replaces a media_frames row per packet (frames.go).
		{8, "media segments", []string{mediaSegmentsDDL}},
		{9, "message text once", []string{
			// text_in_frame: the frame column holds only the frame's bytes before the text
			// (raw), the whole frame being frame || raw, so a message whose frame ends with
			// its text (UDP, HEP) stores the text once. NULL in rows stored before: false.
			`ALTER TABLE sip_messages ADD COLUMN text_in_frame BOOLEAN`,
		}}}
}

// numbersExpr computes calls.numbers in SQL for rows stored before version 3; numbersOf
// computes it at insert (shorter, matching the same searches).
const numbersExpr = `lower(from_user || chr(0) || to_user || chr(0) || from_uri || chr(0) || to_uri)`

// Migrate creates the schema or upgrades it, recording each applied version in
// schema_migrations. Running it again does nothing.
func (s *Store) Migrate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wconn == nil {
		return fmt.Errorf("duckdb: migrate: store closed")
	}
	c := s.wconn
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)`); err != nil {
		return fmt.Errorf("duckdb: migrate: %w", err)
	}
	for _, m := range migrations() {
		var n int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
			return fmt.Errorf("duckdb: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("duckdb: migrate v%d: %w", m.version, err)
		}
		for _, st := range m.stmts {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				tx.Rollback()
				return fmt.Errorf("duckdb: migrate v%d %s: %w", m.version, m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
			tx.Rollback()
			return fmt.Errorf("duckdb: migrate v%d: %w", m.version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("duckdb: migrate v%d: %w", m.version, err)
		}
	}
	if _, err := c.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS batch_ids (id VARCHAR)`); err != nil {
		return fmt.Errorf("duckdb: migrate: %w", err)
	}
	return nil
}
