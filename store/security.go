package store

import (
	"time"

	"github.com/callscope/callscope/security"
)

// SecurityQuery filters stored security events. Zero fields do not filter.
type SecurityQuery struct {
	// From, To select the events active in [From, To): last >= From and first < To.
	From, To time.Time
	Type     string // security.Type
	Source   string // offending IP, exact
	Limit    int    // default 100, at most 10000
}

// SecurityLimit returns q.Limit bounded to 1..10000 (default 100).
func (q SecurityQuery) SecurityLimit() int { return eventLimit(q.Limit) }

// SecurityTopQuery asks for the N sources with the most security events active in
// [From, To) (as SecurityQuery).
type SecurityTopQuery struct {
	From, To time.Time
	N        int // default 10, at most 1000
}

// TopN returns q.N bounded to 1..1000 (default 10).
func (q SecurityTopQuery) TopN() int {
	switch {
	case q.N <= 0:
		return 10
	case q.N > 1000:
		return 1000
	}
	return q.N
}

// SecuritySource is one offending source: its events, the sum of their counts and
// the distinct event types, sorted. Rows are ordered by events, then count, both
// descending, then source.
type SecuritySource struct {
	Source string          `json:"source"`
	Events int             `json:"events"`
	Count  uint64          `json:"count"`
	Types  []security.Type `json:"types"`
}

// LatestSecurityEvents keeps, of events with the same ID, the last one (an event is
// written when raised and again, with its final counts, when it ends): a store writes
// one row per ID per batch.
func LatestSecurityEvents(evs []security.Event) []security.Event {
	seen := make(map[string]int, len(evs))
	out := make([]security.Event, 0, len(evs))
	for _, e := range evs {
		if i, ok := seen[e.ID]; ok {
			out[i] = e
			continue
		}
		seen[e.ID] = len(out)
		out = append(out, e)
	}
	return out
}
