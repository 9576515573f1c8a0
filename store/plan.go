package store

import (
	"fmt"
	"slices"
	"strings"

	"github.com/callscope/callscope/correlate"
)

// One query model, rendered per SQL dialect. A query the dashboard asks (CallQuery,
// StatsQuery, TopQuery, RegQuery) is checked, defaulted and described here once, in
// terms of the stored columns both engines share (calls: start, call_id, state,
// final_code, dropped, mos_min, duration_ms, pdd_ms, caller_ip, callee_ip, to_user, peer; the
// number search over from_user, to_user, from_uri and to_uri); an engine renders that
// description in its SQL and scans the rows back. What rows a query returns, in which
// order, and how the ratios are derived is decided here, never in an engine.

// FilterKind names a call-search condition.
type FilterKind uint8

// Call-search conditions (CallSearch.Filters), each on stored call columns.
const (
	// FilterNumber: Str (lower-cased, no NUL) is a substring of from_user, to_user,
	// from_uri or to_uri, case-insensitively.
	FilterNumber    FilterKind = iota + 1
	FilterIP                   // Str (canonical) equals caller_ip or callee_ip
	FilterCallID               // Str equals call_id
	FilterState                // Str equals state
	FilterFinalCode            // Int equals final_code
	FilterDropped              // Bool equals dropped
	FilterMOSBelow             // mos_min is not null and below Float
	FilterPeer                 // Str equals peer (the peer group)
)

// Filter is one condition of a call search.
type Filter struct {
	Kind  FilterKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
}

// CallSearch is a checked CallQuery: its time range, conditions, order and page.
type CallSearch struct {
	CallQuery // normalised (see Normalize); Filters and After are derived from it
	Filters   []Filter
	// SortColumn is the nullable column sorted on, missing values as Missing()
	// (duration_ms, pdd_ms or mos_min), or "" for the call start (each dialect's exact ns).
	SortColumn string
	// After is where the page starts (the last row of the previous page), or nil.
	After *Cursor
}

// Search checks q and describes it for an engine. Errors wrap ErrBadQuery.
func (q CallQuery) Search() (CallSearch, error) {
	q, err := q.Normalize()
	if err != nil {
		return CallSearch{}, err
	}
	s := CallSearch{CallQuery: q}
	if s.After, err = DecodeCursor(q); err != nil {
		return CallSearch{}, err
	}
	s.SortColumn = map[string]string{SortDuration: "duration_ms", SortPDD: "pdd_ms", SortMOS: "mos_min"}[q.Sort]
	add := func(f Filter) { s.Filters = append(s.Filters, f) }
	if q.Number != "" {
		add(Filter{Kind: FilterNumber, Str: strings.ReplaceAll(q.Number, "\x00", "")})
	}
	if q.IP != "" {
		add(Filter{Kind: FilterIP, Str: q.IP})
	}
	if q.CallID != "" {
		add(Filter{Kind: FilterCallID, Str: q.CallID})
	}
	if q.State != "" {
		add(Filter{Kind: FilterState, Str: q.State})
	}
	if q.FinalCode != 0 {
		add(Filter{Kind: FilterFinalCode, Int: int64(q.FinalCode)})
	}
	if q.Dropped != nil {
		add(Filter{Kind: FilterDropped, Bool: *q.Dropped})
	}
	if q.MOSBelow > 0 {
		add(Filter{Kind: FilterMOSBelow, Float: q.MOSBelow})
	}
	if q.Peer != "" {
		add(Filter{Kind: FilterPeer, Str: q.Peer})
	}
	return s, nil
}

// Dir is the SQL direction of the sort ("DESC" or "ASC"), Cmp the comparison that
// keeps rows after a cursor in it ("<" or ">"). Ties on the key go by call id in the
// same direction.
func (s CallSearch) Dir() string {
	if s.Desc {
		return "DESC"
	}
	return "ASC"
}

// Cmp: see Dir.
func (s CallSearch) Cmp() string {
	if s.Desc {
		return "<"
	}
	return ">"
}

// AfterKey is the cursor's sort key: the start in ns (int64) or the column's value
// (float64); nil without a cursor.
func (s CallSearch) AfterKey() any {
	switch {
	case s.After == nil:
		return nil
	case s.Sort == SortStart:
		return s.After.Int
	}
	return s.After.Float
}

// SortKey is the sort key of a stored call: its start in ns (int64), or the sort
// column's value with a missing one as Missing() (float64).
func (s CallSearch) SortKey(c *correlate.Call) any {
	switch s.Sort {
	case SortDuration:
		return s.orMissing(c.DurationMs)
	case SortPDD:
		return s.orMissing(c.PDDMs)
	case SortMOS:
		return s.orMissing(c.MOSMin)
	}
	return int64(c.Start)
}

// missingAsc stands for a missing value in an ascending sort: above any duration, PDD
// or MOS.
const missingAsc = 1e18

// Missing is the sort key of a missing value: calls without one come last in either
// direction (-1 descending, 1e18 ascending), so a page sorted by MOS starts with MOS.
func (s CallSearch) Missing() float64 {
	if s.Desc {
		return -1
	}
	return missingAsc
}

// MissingSQL is Missing as a SQL literal both dialects read.
func (s CallSearch) MissingSQL() string {
	if s.Desc {
		return "-1"
	}
	return "1e18"
}

// Next is the CallPage.Next of a page whose last row has this id and sort key (int64
// or float64, as SortKey returns or a dialect scans it).
func (s CallSearch) Next(id string, key any) string {
	c := Cursor{Sort: s.Sort, Desc: s.Desc, ID: id}
	switch v := key.(type) {
	case int64:
		c.Int = v
	case float64:
		c.Float = v
	}
	return c.Encode()
}

func (s CallSearch) orMissing(p *float64) float64 {
	if p == nil {
		return s.Missing()
	}
	return *p
}

// ErrUnknownFilter is the error of an engine that cannot render a filter kind.
func ErrUnknownFilter(k FilterKind) error {
	return fmt.Errorf("%w: filter kind %d not supported by this engine", ErrBadQuery, k)
}

// UserReject reports whether a failed call's final code is one a user chose (403, 404,
// 484, 603): the rule of correlate.Aggregate.UserReject.
func UserReject(code int) bool {
	switch code {
	case 403, 404, 484, 603:
		return true
	}
	return false
}

// UserRejectCodes is UserReject's set as a SQL list: "403, 404, 484, 603".
const UserRejectCodes = "403, 404, 484, 603"

// AddGroup adds n calls sharing state, final code and dropped flag (one SQL group) to
// a, as correlate.Aggregate.Add would call by call; durMs is their summed duration.
func AddGroup(a *correlate.Aggregate, state string, code int, dropped bool, n int, durMs float64) {
	a.Calls += n
	switch correlate.State(state) {
	case correlate.StateAnswered:
		a.Answered += n
		a.DurationMs += durMs
	case correlate.StateBusy:
		a.Busy += n
	case correlate.StateCancelled:
		a.Cancelled += n
	case correlate.StateNoAnswer:
		a.NoAnswer += n
	case correlate.StateRedirected:
		a.Redirected += n
	case correlate.StateFailed:
		a.Failed += n
		if UserReject(code) {
			a.UserReject += n
		}
	default:
		a.InProgress += n
	}
	if dropped {
		a.Dropped += n
	}
	if code != 0 {
		if a.Codes == nil {
			a.Codes = map[int]int{}
		}
		a.Codes[code] += n
	}
}

// Origin is the time (ns) the steps of a StatsQuery are aligned to: From, or the Unix
// epoch when From is zero.
func (q StatsQuery) Origin() int64 {
	if q.From.IsZero() {
		return 0
	}
	return q.From.UnixNano()
}

// Top metrics and keys.
const (
	TopByDestination = "destination" // key to_user
	TopByPeer        = "peer"        // key callee_ip
	TopMetricASR     = "asr"
	TopMetricMOS     = "mos"
)

// Normalize applies TopQuery's defaults and checks it: By destination, Metric asr, N
// DefaultTopN and at most MaxLimit, MinCalls at least 1. Errors wrap ErrBadQuery.
func (q TopQuery) Normalize() (TopQuery, error) {
	var err error
	if q.By, err = oneOf("by", q.By, TopByDestination, TopByPeer); err != nil {
		return q, err
	}
	if q.Metric, err = oneOf("metric", q.Metric, TopMetricASR, TopMetricMOS); err != nil {
		return q, err
	}
	if q.N <= 0 {
		q.N = DefaultTopN
	}
	q.N = min(q.N, MaxLimit)
	q.MinCalls = max(q.MinCalls, 1)
	return q, nil
}

// oneOf returns v, or the first allowed value when v is empty.
func oneOf(what, v string, allowed ...string) (string, error) {
	if v == "" {
		return allowed[0], nil
	}
	if slices.Contains(allowed, v) {
		return v, nil
	}
	return v, fmt.Errorf("%w: top %s %q", ErrBadQuery, what, v)
}

// KeyColumn is the stored column a normalised TopQuery groups by.
func (q TopQuery) KeyColumn() string {
	if q.By == TopByPeer {
		return "callee_ip"
	}
	return "to_user"
}

// FinishTop turns an engine's rows (one per key with at least MinCalls calls, MOS the
// average mos_min or nil) into the answer: keys without MOS left out when ranking by
// MOS, worst first (SortTop), at most N.
func (q TopQuery) FinishTop(rows []TopRow) []TopRow {
	out := rows[:0]
	for _, r := range rows {
		if q.Metric == TopMetricMOS && r.MOS == nil {
			continue
		}
		out = append(out, r)
	}
	SortTop(out, q.Metric)
	if len(out) > q.N {
		out = out[:q.N]
	}
	return out
}

// Normalize applies RegQuery's defaults: Limit DefaultRegLimit and at most MaxLimit;
// AOR (a case-insensitive substring) lower-cased.
func (q RegQuery) Normalize() RegQuery {
	if q.Limit <= 0 {
		q.Limit = DefaultRegLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	q.AOR = strings.ToLower(q.AOR)
	return q
}
