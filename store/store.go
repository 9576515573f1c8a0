// Package store keeps finished calls, their SIP messages (ladders, pcap export), RTP
// streams with quality intervals, registrations, alert state changes and security events
// (package security), and answers the dashboard's queries.
// Engines: DuckDB (embedded default, store/duckdb) and ClickHouse (store/clickhouse), both
// behind Store and the same test suite (store/storetest). Writer batches calls into a
// Store with a bounded queue and a disk spool for outages, behind a write-ahead log
// (wal.go) that makes every accepted call survive a SIGKILL; a call's frame segment
// waiting in that log reaches a SegmentWriter as a file range (segment.go). LockDir
// (dirlock_unix.go) keeps a data directory to one process. A Writer is safe for
// concurrent Writes; WAL and Spool guard their state with a mutex; SegmentFiles is for
// one goroutine.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/security"
)

// ErrNotFound is returned for an unknown call id.
var ErrNotFound = errors.New("store: not found")

// LegWindow and MaxLegs bound Store.Legs: B2BUA legs start within seconds of each other;
// ten minutes also finds a leg that references a call set up earlier (a transfer).
const (
	LegWindow = 10 * time.Minute
	MaxLegs   = 16
)

// Store is one storage engine. Implementations are safe for concurrent use.
type Store interface {
	// Migrate creates or upgrades the schema. Versioned and idempotent; applied versions
	// are recorded in the database (table schema_migrations).
	Migrate(ctx context.Context) error
	// WriteCalls inserts finished calls with their streams, intervals and messages.
	// Idempotent by Call.ID: writing the same call again never duplicates it.
	WriteCalls(ctx context.Context, recs []*correlate.Record) error
	// WriteRegistrations inserts REGISTER flows (idempotent by call_id + time).
	WriteRegistrations(ctx context.Context, regs []correlate.Registration) error

	// SearchCalls returns one page of calls (without streams) matching q.
	SearchCalls(ctx context.Context, q CallQuery) (CallPage, error)
	// GetCall returns one call with its streams and their intervals, by Call.ID.
	GetCall(ctx context.Context, id string) (*correlate.Call, error)
	// Legs returns the other legs of the call with this id, as stored by this probe or
	// any other writing to the same store: calls (without streams) that share one of its
	// link keys (correlate.Record.LinkKeys: its own Call-ID, a Call-ID named in X-CID,
	// an icid-value, a Session-ID), start within LegWindow of it and have another
	// Call-ID; at most MaxLegs, nearest start first. ErrNotFound for an unknown id.
	Legs(ctx context.Context, id string) ([]correlate.Call, error)
	// Messages returns the SIP messages of the calls with these ids, in time order,
	// raw bytes and frames included (ladders and pcap export).
	Messages(ctx context.Context, ids []string) ([]Message, error)
	// Media returns the RTP/RTCP frames kept for the calls with these ids, in time order.
	Media(ctx context.Context, ids []string) ([]correlate.Frame, error)
	// Stats returns outcome counts, ratios, MOS percentiles and response codes per step.
	Stats(ctx context.Context, q StatsQuery) (Stats, error)
	// Top returns the N worst destinations (to_user) or peers (callee IP) by ASR or MOS.
	Top(ctx context.Context, q TopQuery) ([]TopRow, error)
	// Registrations returns REGISTER flows in a time range, newest first.
	Registrations(ctx context.Context, q RegQuery) ([]correlate.Registration, error)
	// WriteAlertEvents stores built-in alert state changes (idempotent by at, rule,
	// peer and state).
	WriteAlertEvents(ctx context.Context, evs []AlertEvent) error
	// AlertEvents returns stored alert state changes matching q, newest first.
	AlertEvents(ctx context.Context, q AlertQuery) ([]AlertEvent, error)
	// WriteSecurityEvents stores security events (package security), replacing a stored
	// event of the same ID: an event is written when raised and again when it ends.
	WriteSecurityEvents(ctx context.Context, evs []security.Event) error
	// SecurityEvents returns stored security events matching q, newest (first time)
	// first.
	SecurityEvents(ctx context.Context, q SecurityQuery) ([]security.Event, error)
	// SecurityTop returns the sources with the most stored security events.
	SecurityTop(ctx context.Context, q SecurityTopQuery) ([]SecuritySource, error)
	// DropBefore deletes every day wholly before t (retention): partitions in ClickHouse,
	// deletes plus checkpoint in DuckDB.
	DropBefore(ctx context.Context, t time.Time) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// SegmentWriter is a Store that takes calls with their media frames already encoded as
// frame segments (FrameCodec), segs[i] for recs[i] (the zero Segment: encode it from the
// record). The Writer uses it so the segment its write-ahead log encoded is neither
// encoded again nor, for a call whose frames wait in the log, held in memory until its
// batch: the store copies it from the log's file (DuckDB, file to file) or reads it for
// the batch's block (ClickHouse); see Segment and SegmentFiles.
type SegmentWriter interface {
	WriteCallsSegments(ctx context.Context, recs []*correlate.Record, segs []Segment) error
}

// Message is one stored SIP message.
type Message struct {
	CallUID   string         `json:"call"`
	CallID    string         `json:"call_id"`
	TS        correlate.Time `json:"ts"`
	Src       string         `json:"src"`
	Dst       string         `json:"dst"`
	Transport string         `json:"transport"`
	Request   bool           `json:"request"`
	Method    string         `json:"method"`
	Status    int            `json:"status"`
	CSeq      uint32         `json:"cseq"`
	Retrans   bool           `json:"retransmission"`
	Raw       []byte         `json:"-"`
	Frame     []byte         `json:"-"`
	LinkType  uint32         `json:"-"`
}

// CallQuery filters, sorts and pages a call search. Zero fields do not filter.
type CallQuery struct {
	From, To  time.Time // call start in [From, To)
	Number    string    // substring of from_user, to_user, from or to (case-insensitive)
	IP        string    // caller or callee IP
	CallID    string    // exact Call-ID
	State     string
	FinalCode int
	Dropped   *bool
	MOSBelow  float64 // mos_min below this (calls without MOS excluded)
	Peer      string  // peer group (correlate.Call.Peer), exact
	Sort      string  // start (default), duration, pdd, mos
	Desc      bool    // default true for start
	Limit     int     // default 50, at most 1000
	Cursor    string  // keyset cursor from CallPage.Next
}

// CallPage is one page of a search.
type CallPage struct {
	Calls []correlate.Call `json:"calls"`
	Next  string           `json:"next"` // empty on the last page
}

// StatsQuery asks for statistics over [From, To) at Step.
type StatsQuery struct {
	From, To time.Time
	Step     time.Duration
}

// StatsBucket is one step of statistics.
type StatsBucket struct {
	Start correlate.Time      `json:"start"`
	Agg   correlate.Aggregate `json:"outcomes"`
	ASR   float64             `json:"asr"`
	NER   float64             `json:"ner"`
	SCR   float64             `json:"scr"`
	ACD   float64             `json:"acd_s"`
	MOS   *float64            `json:"mos_p50"`
}

// Stats is the answer to a StatsQuery.
type Stats struct {
	Buckets []StatsBucket       `json:"buckets"`
	Total   correlate.Aggregate `json:"total"`
	ASR     float64             `json:"asr"`
	NER     float64             `json:"ner"`
	SCR     float64             `json:"scr"`
	ACD     float64             `json:"acd_s"`
	MOSP50  *float64            `json:"mos_p50"`
	MOSP95  *float64            `json:"mos_p95"`       // 95 % of calls are above: the 5th percentile
	MOSHist []int               `json:"mos_histogram"` // calls per 0.5 MOS bin from 1.0 to 5.0
}

// TopQuery asks for the worst N destinations or peers.
type TopQuery struct {
	From, To time.Time
	By       string // destination (to_user) | peer (callee IP)
	Metric   string // asr | mos
	N        int
	MinCalls int // ignore keys with fewer calls
}

// TopRow is one destination or peer.
type TopRow struct {
	Key   string   `json:"key"`
	Calls int      `json:"calls"`
	ASR   float64  `json:"asr"`
	MOS   *float64 `json:"mos"`
}

// RegQuery selects registrations.
type RegQuery struct {
	From, To time.Time
	AOR      string // substring
	Limit    int
}
