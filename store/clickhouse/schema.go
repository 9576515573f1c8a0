package clickhouse

import (
	"fmt"
	"strings"
)

// table is one table of the schema. The same description produces the single-server
// DDL (ReplacingMergeTree, migrations) and the cluster DDL (ReplicatedReplacingMergeTree
// plus Distributed, ClusterDDL), so the two cannot drift apart.
type table struct {
	name      string
	columns   string // column definitions, comma separated
	partition string // PARTITION BY expression, "" for none
	order     string // ORDER BY: also the deduplication key of ReplacingMergeTree
	shardKey  string // Distributed sharding expression
	// granularity is index_granularity when not the default (8192): the calls table
	// uses 1024, because a search page reads its ~50 rows from as many granules
	// scattered over days, and every granule costs all its rows of every column.
	granularity int
}

// Every time is a DateTime('UTC') (seconds) plus a UInt32 X_ns column (nanoseconds within
// the second), so the schema works on 18.16, which has no DateTime64, and times round-trip
// exactly. A zero time (unknown) is stored as (0, 0). Every data table is a
// ReplacingMergeTree versioned by ver (write time in µs):
// rewriting a call replaces its rows, and readers use FINAL, so a replayed insert never
// shows twice. Rows of one call share the call's day partition (call_start), so
// retention drops a call with all its messages, streams and frames.
var tables = []table{
	{
		name: "calls",
		columns: `start DateTime('UTC'), start_ns UInt32, id String, call_id String,
from_uri String, to_uri String, from_user String, to_user String,
caller String, callee String, caller_ip String, callee_ip String, transport String,
state String, final_code UInt16, final_reason String,
ringing DateTime('UTC'), ringing_ns UInt32, answer DateTime('UTC'), answer_ns UInt32,
end_at DateTime('UTC'), end_at_ns UInt32,
pdd_ms Nullable(Float64), setup_ms Nullable(Float64), duration_ms Nullable(Float64),
ended_by Nullable(String), end_reason String, q850_cause Nullable(Int32),
dropped UInt8, drop_reason Nullable(String), one_way_audio UInt8,
sip_messages UInt32, retransmissions UInt32, linked_call_ids Array(String),
user_agents Array(String), dtmf String, mos_min Nullable(Float64), link_keys Array(String),
ver UInt64, ` + searchColumn + `, ` + peerColumn + `, ` + callExtraColumn,
		partition:   "toYYYYMMDD(start)",
		order:       "start, id",
		shardKey:    "cityHash64(id)",
		granularity: 1024,
	},
	{
		// raw_off > 0: raw is not stored separately, it is frame from byte raw_off
		// (1-based) on — a UDP message is the tail of its frame; this halves the bytes.
		name: "sip_messages",
		columns: `call_uid String, call_start DateTime('UTC'), seq UInt32, call_id String,
ts DateTime('UTC'), ts_ns UInt32, src String, dst String, transport String,
request UInt8, method String, status UInt16, cseq UInt32, retrans UInt8,
raw String, frame String, raw_off UInt32, link_type UInt32, ver UInt64`,
		partition: "toYYYYMMDD(call_start)",
		order:     "call_uid, seq",
		shardKey:  "cityHash64(call_uid)",
	},
	{
		name: "rtp_streams",
		columns: `call_uid String, call_start DateTime('UTC'), idx UInt16, ssrc String,
src String, dst String, payload_type Int32, codec String, clock_rate UInt32,
first_ts DateTime('UTC'), first_ns UInt32, last_ts DateTime('UTC'), last_ns UInt32,
packets UInt64, expected UInt64, lost UInt64, duplicates UInt64, out_of_order UInt64,
jitter_mean_ms Float64, jitter_max_ms Float64, max_delta_ms Float64,
mos Nullable(Float64), mos_min Nullable(Float64), r_factor Nullable(Float64),
dtmf String, media_address_mismatch UInt8, has_rtcp UInt8,
rtcp_rtt_ms Nullable(Float64), rtcp_fraction_lost Nullable(Float64),
rtcp_cumulative_lost Nullable(Int64), rtcp_jitter_ms Nullable(Float64), ver UInt64,
` + streamExtraColumn,
		partition: "toYYYYMMDD(call_start)",
		order:     "call_uid, idx",
		shardKey:  "cityHash64(call_uid)",
	},
	{
		name: "stream_intervals",
		columns: `call_uid String, call_start DateTime('UTC'), stream_idx UInt16, idx UInt32,
start DateTime('UTC'), start_ns UInt32, packets UInt64, lost UInt64, jitter_ms Float64,
mos Nullable(Float64), ver UInt64`,
		partition: "toYYYYMMDD(call_start)",
		order:     "call_uid, stream_idx, idx",
		shardKey:  "cityHash64(call_uid)",
	},
	{
		name: "registrations",
		columns: `time DateTime('UTC'), time_ns UInt32, call_id String, aor String,
contact String, source String, expires Nullable(Int32), outcome String,
final_code UInt16, ver UInt64`,
		partition: "toYYYYMMDD(time)",
		order:     "time, call_id, time_ns",
		shardKey:  "cityHash64(call_id)",
	},
	{
		name: "media_frames",
		columns: `call_uid String, call_start DateTime('UTC'), seq UInt32,
ts DateTime('UTC'), ts_ns UInt32, link_type UInt32, orig_len UInt32, data String, ver UInt64`,
		partition: "toYYYYMMDD(call_start)",
		order:     "call_uid, seq",
		shardKey:  "cityHash64(call_uid)",
	},
	alertEvents,    // alerts.go
	securityEvents, // security.go
	mediaSegments,  // frames.go
}

const migrationsTable = `schema_migrations`

const migrationsColumns = `version UInt32, name String, applied DateTime('UTC')`

// migration is one schema step. Every statement is idempotent (IF NOT EXISTS), so a
// migration interrupted half-way is simply run again.
type migration struct {
	version uint32
	name    string
	stmts   []string
	// adds are columns to add as {table, definition}, each only when the table lacks
	// it (18.16 has no ADD COLUMN IF NOT EXISTS).
	adds [][2]string
}

// searchExpr is the number/URI search text of a call: the lower-cased users and URIs
// joined by searchSep, leaving out a user its URI already contains. One position() over
// this narrow column replaces four case-insensitive searches over four columns. It is a
// DEFAULT column that inserts leave out, so the server computes it (a MATERIALIZED one
// breaks inserts through Distributed tables on 18.16).
const (
	searchSep  = "\n"
	searchExpr = `concat(
if(position(lowerUTF8(from_uri), lowerUTF8(from_user)) > 0, '', concat(lowerUTF8(from_user), '\n')),
if(position(lowerUTF8(to_uri), lowerUTF8(to_user)) > 0, '', concat(lowerUTF8(to_user), '\n')),
lowerUTF8(from_uri), '\n', lowerUTF8(to_uri))`
	searchColumn = "search String DEFAULT " + searchExpr
)

// peerColumn is correlate.Call.Peer, the peer group of the far end (the peer filter).
const peerColumn = "peer String DEFAULT ''"

// streamExtraColumn holds a stream's problems and timed DTMF events as JSON
// ({"problems": [...], "dtmf_events": [...]}): small, read only with the call detail.
const streamExtraColumn = "extra String DEFAULT ''"

// callExtraColumn holds the call fields added to the JSON contract after the calls table
// (auth_challenges, rtt_ms, transferred_to) as JSON: read with the call, never filtered on.
const callExtraColumn = "call_extra String DEFAULT ''"

func migrations() []migration {
	m1 := migration{version: 1, name: "initial tables"}
	for _, t := range tables {
		m1.stmts = append(m1.stmts, t.localDDL())
	}
	// Tables created by migration 1 of this version already have the column;
	// older ones get it here (old parts compute it on read until merged).
	m2 := migration{version: 2, name: "calls search column", adds: [][2]string{{"calls", searchColumn}}}
	m3 := migration{version: 3, name: "stream problems and dtmf events", adds: [][2]string{{"rtp_streams", streamExtraColumn}}}
	m4 := migration{version: 4, name: "alert events", stmts: []string{alertEvents.localDDL()}}
	m5 := migration{version: 5, name: "security events", stmts: []string{securityEvents.localDDL()}}
	m6 := migration{version: 6, name: "calls peer column", adds: [][2]string{{"calls", peerColumn}}}
	m7 := migration{version: 7, name: "call extra fields", adds: [][2]string{{"calls", callExtraColumn}}}
	m8 := migration{version: 8, name: "media segments", stmts: []string{mediaSegments.localDDL()}}
	return []migration{m1, m2, m3, m4, m5, m6, m7, m8}
}

func (t table) tail() string {
	s := ""
	if t.partition != "" {
		s += " PARTITION BY " + t.partition
	}
	s += " ORDER BY (" + t.order + ")"
	if t.granularity > 0 {
		s += fmt.Sprintf(" SETTINGS index_granularity = %d", t.granularity)
	}
	return s
}

func (t table) localDDL() string {
	return "CREATE TABLE IF NOT EXISTS " + t.name + " (" + t.columns + ") ENGINE = ReplacingMergeTree(ver)" + t.tail()
}

func migrationsDDL() string {
	return "CREATE TABLE IF NOT EXISTS " + migrationsTable + " (" + migrationsColumns +
		") ENGINE = ReplacingMergeTree ORDER BY version"
}

// ClusterDDL returns the DDL for a ClickHouse cluster: for every table a
// ReplicatedReplacingMergeTree table NAME_local on every node (ON CLUSTER, ZooKeeper
// path /clickhouse/tables/{shard}/DB/NAME_local, replica {replica}: define both macros on
// every node) and a Distributed table NAME over them, sharded so all rows of one call
// live on one shard (FINAL then deduplicates correctly per shard). Probes and the
// dashboard use the Distributed tables through an ordinary clickhouse:// store URL; the
// migration versions are recorded so Migrate has nothing left to do.
func ClusterDDL(cluster, db string) string {
	var b strings.Builder
	q := quoteIdent
	fmt.Fprintf(&b, "-- callscope ClickHouse cluster schema: cluster %s, database %s.\n", cluster, db)
	fmt.Fprintf(&b, "-- Needs ZooKeeper and the macros {shard} and {replica} on every node.\n")
	fmt.Fprintf(&b, "-- Run once, e.g.: callscope schema --clickhouse-cluster %s | clickhouse-client --multiquery\n\n", cluster)
	fmt.Fprintf(&b, "CREATE DATABASE IF NOT EXISTS %s ON CLUSTER %s;\n\n", q(db), q(cluster))
	all := append([]table{{
		name:     migrationsTable,
		columns:  migrationsColumns,
		order:    "version",
		shardKey: "version",
	}}, tables...)
	for _, t := range all {
		local := t.name + "_local"
		ver := ", ver"
		if t.name == migrationsTable {
			ver = ""
		}
		fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s ON CLUSTER %s (%s)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/%s/%s', '{replica}'%s)%s;\n",
			q(db), local, q(cluster), oneLine(t.columns), db, local, ver, t.tail())
		fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s ON CLUSTER %s AS %s.%s\nENGINE = Distributed(%s, %s, %s, %s);\n\n",
			q(db), t.name, q(cluster), q(db), local, q(cluster), q(db), local, t.shardKey)
	}
	for _, m := range migrations() {
		fmt.Fprintf(&b, "INSERT INTO %s.%s (version, name, applied) SELECT %d, '%s', now();\n",
			q(db), migrationsTable, m.version, strings.ReplaceAll(m.name, "'", ""))
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// quoteIdent quotes a ClickHouse identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}
