package store

import (
	"time"

	"github.com/callscope/callscope/correlate"
)

// AlertEvent is one state change of a built-in alert (package alert): the same object in
// the store, GET /api/v1/alerts, the log and the webhook.
type AlertEvent struct {
	Rule      string  `json:"rule"`
	Peer      string  `json:"peer"` // peer group, "other", or "all" for a rule over all traffic
	Severity  string  `json:"severity"`
	State     string  `json:"state"` // pending, firing, resolved, inactive (pending that did not last)
	Metric    string  `json:"metric"`
	Op        string  `json:"op"` // below, above
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Calls     int     `json:"calls"` // calls in the window
	// At is the packet time of the change; Since when the condition began (the pending
	// state's start); WindowStart..At is the window the value was measured over.
	At          correlate.Time `json:"at"`
	Since       correlate.Time `json:"since"`
	WindowStart correlate.Time `json:"window_start"`
	Summary     string         `json:"summary"`
}

// AlertQuery filters stored alert state changes. Zero fields do not filter.
type AlertQuery struct {
	From, To time.Time // At in [From, To)
	Rule     string
	Peer     string
	State    string
	Limit    int // default 100, at most 10000
}

// AlertLimit returns q.Limit bounded to 1..10000 (default 100).
func (q AlertQuery) AlertLimit() int { return eventLimit(q.Limit) }

// eventLimit bounds an event query's limit to 1..10000, 100 when unset.
func eventLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 10000:
		return 10000
	}
	return n
}
