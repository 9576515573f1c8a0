package security

import (
	"cmp"
	"slices"

	"github.com/callscope/callscope/correlate"
)

// Type is the kind of a security event, as named in the JSON contract and in the
// callscope_security_events_total{type} metric.
type Type string

// Event types.
const (
	TypeScanner    Type = "scanner"     // one source probing many users or hosts, or a scanner User-Agent
	TypeBruteForce Type = "brute_force" // failed digest authentications from one source or for one AOR
	TypeFlood      Type = "flood"       // request rate of one source above a threshold
	TypeTollFraud  Type = "toll_fraud"  // premium prefixes, too many simultaneous calls, wangiri, open relay
	TypeAnomaly    Type = "anomaly"     // Max-Forwards exhausted, malformed or oversized messages
)

// Types lists every event type, in the order metrics and reports use.
var Types = [...]Type{TypeScanner, TypeBruteForce, TypeFlood, TypeTollFraud, TypeAnomaly}

// Rule says which rule of a type raised an event.
type Rule string

// Rules, by type.
const (
	RuleUserAgent      Rule = "user_agent"       // scanner: a known scanner User-Agent
	RuleManyUsers      Rule = "many_users"       // scanner: requests to many distinct users
	RuleManyHosts      Rule = "many_hosts"       // scanner: requests to many distinct hosts (IPs)
	RuleSourceFailures Rule = "source_failures"  // brute_force: failed authentications from one source
	RuleAORFailures    Rule = "aor_failures"     // brute_force: failed authentications for one AOR
	RuleInviteRate     Rule = "invite_rate"      // flood
	RuleRegisterRate   Rule = "register_rate"    // flood
	RuleOptionsRate    Rule = "options_rate"     // flood
	RulePremiumPrefix  Rule = "premium_prefix"   // toll_fraud: call to a configured prefix
	RuleConcurrent     Rule = "concurrent_calls" // toll_fraud: simultaneous calls of one account
	RuleShortCalls     Rule = "short_calls"      // toll_fraud: burst of very short answered calls (wangiri)
	RuleOpenRelay      Rule = "open_relay"       // toll_fraud: answered unchallenged through a challenging proxy
	RuleMaxForwards    Rule = "max_forwards"     // anomaly: Max-Forwards exhausted or 483 (a loop)
	RuleMalformed      Rule = "malformed"        // anomaly: mandatory header fields missing
	RuleOversized      Rule = "oversized"        // anomaly: message larger than Config.Anomaly.OversizedBytes
)

// Severity ranks events for a NOC.
type Severity string

// Severities, lowest first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// MaxSampleCallIDs is how many Call-IDs an event keeps as evidence.
const MaxSampleCallIDs = 5

// Event is one security event as the JSON contract names it: the same object in
// `analyze --json` (security_events), the store and GET /api/v1/security.
type Event struct {
	// ID is hex of the first 8 bytes of SHA-256 over type, rule, source, target and first
	// time: replaying a capture gives the same IDs, so store inserts are idempotent.
	ID       string   `json:"id"`
	Type     Type     `json:"type"`
	Rule     Rule     `json:"rule"`
	Severity Severity `json:"severity"`
	Source   string   `json:"source"` // offending IP
	Target   string   `json:"target"` // AOR, host, account, prefix or peer; empty when the rule has none
	// Count is what the rule counts, from the start of the window that raised the event
	// to its end: requests (scanner, flood, anomaly), failed authentications
	// (brute_force), calls (toll_fraud).
	Count uint64 `json:"count"`
	// Distinct is the number of distinct users (many_users), hosts (many_hosts) or AORs
	// seen; 0 where a rule has none. Counted exactly up to 65536.
	Distinct  int            `json:"distinct"`
	First     correlate.Time `json:"first"`
	Last      correlate.Time `json:"last"`
	UserAgent string         `json:"user_agent"`
	CallIDs   []string       `json:"sample_call_ids"` // up to MaxSampleCallIDs, first seen first
}

// Sort orders events by first time, then type, rule, source and target: the order of
// reports and the API.
func Sort(evs []Event) {
	slices.SortStableFunc(evs, func(a, b Event) int {
		if c := cmp.Compare(a.First, b.First); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return cmp.Compare(a.Target, b.Target)
	})
}
