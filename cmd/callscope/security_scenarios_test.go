package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/security"
)

// TestSecurityScenarios replays the generator's security scenarios through analyze (the
// default thresholds, security.DefaultConfig). The expectations come from how each
// scenario is built (internal/gen/security.go) and the documented thresholds
// (security.Config): each above-threshold scenario sends exactly the threshold, so it
// raises one event of its rule from its source with that count; its twin sends one
// less and raises nothing. No other catalogue scenario is an attack: none raises an
// event either.
func TestSecurityScenarios(t *testing.T) {
	type want struct {
		typ    security.Type
		rule   security.Rule
		source string
		count  uint64
	}
	wants := map[string]*want{
		// 20 OPTIONS, one per user 1000..1019, from 203.0.113.66: the 20th distinct user
		// raises many_users counting the 20 requests of the window.
		"sec-scanner": {security.TypeScanner, security.RuleManyUsers, "203.0.113.66", gen.ScanUsers},
		// 10 REGISTERs with credentials answered 401, 403, 401, ...: 10 failures.
		"sec-brute-force": {security.TypeBruteForce, security.RuleSourceFailures, "203.0.113.77", gen.BruteFailures},
		// 3000 OPTIONS in 15 s (under the 60 s window).
		"sec-flood": {security.TypeFlood, security.RuleOptionsRate, "203.0.113.88", gen.FloodRequests},
		// 10 answered 1 s calls from 203.0.113.99 to 10 distinct users.
		"sec-wangiri": {security.TypeTollFraud, security.RuleShortCalls, "203.0.113.99", gen.WangiriCalls},
	}
	seen := 0
	for _, sc := range gen.Catalogue() {
		t.Run(sc.Name, func(t *testing.T) {
			w, attack := wants[sc.Name]
			if !attack && !strings.HasPrefix(sc.Name, "sec-") && testing.Short() {
				t.Skip("short: only the security scenarios")
			}
			path := filepath.Join(t.TempDir(), sc.Name+".pcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sc.Write(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			rep, err := analyze(t, path)
			if err != nil {
				t.Fatalf("analyze: %v", err)
			}
			evs := rep.SecurityEvents
			if !attack {
				if len(evs) != 0 {
					t.Fatalf("%d security events, want none: %+v", len(evs), evs)
				}
				return
			}
			seen++
			if len(evs) != 1 {
				t.Fatalf("%d security events, want one %s/%s: %+v", len(evs), w.typ, w.rule, evs)
			}
			e := evs[0]
			if e.Type != w.typ || e.Rule != w.rule || e.Source != w.source || e.Count != w.count {
				t.Errorf("event %s/%s from %s count %d, want %s/%s from %s count %d", e.Type, e.Rule, e.Source, e.Count,
					w.typ, w.rule, w.source, w.count)
			}
			if len(e.CallIDs) == 0 || !slices.ContainsFunc(e.CallIDs, func(id string) bool { return id != "" }) {
				t.Errorf("event without sample Call-IDs: %+v", e)
			}
		})
	}
	if seen != len(wants) {
		t.Fatalf("%d of the %d attack scenarios are in the catalogue", seen, len(wants))
	}
}
