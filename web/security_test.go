package web

import (
	"context"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

// securityFixture is three stored events: two from one scanner source, one flood.
func securityFixture() []security.Event {
	base := time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)
	at := func(sec int) correlate.Time {
		return correlate.Time(base.Add(time.Duration(sec) * time.Second).UnixNano())
	}
	return []security.Event{
		{ID: "0000000000000001", Type: security.TypeScanner, Rule: security.RuleUserAgent, Severity: security.SeverityWarning,
			Source: "203.0.113.66", Target: "", Count: 40, First: at(0), Last: at(30), UserAgent: "sipcli/v1.8 4471234567",
			CallIDs: []string{"9876543210@10.0.0.1"}},
		{ID: "0000000000000002", Type: security.TypeBruteForce, Rule: security.RuleAORFailures, Severity: security.SeverityHigh,
			Source: "203.0.113.66", Target: "sip:5551234567@example.com", Count: 20, Distinct: 0, First: at(100), Last: at(160),
			UserAgent: "", CallIDs: []string{}},
		{ID: "0000000000000003", Type: security.TypeFlood, Rule: security.RuleOptionsRate, Severity: security.SeverityWarning,
			Source: "192.0.2.9", Count: 3000, First: at(200), Last: at(260), CallIDs: []string{"a1"}},
	}
}

// TestSecurityAPI: GET /api/v1/security and /security/top over real stores. The
// expectations are the events written (newest first time first) and, for masked
// viewers, the masking rules of mask.go worked by hand.
func TestSecurityAPI(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			st := e.open(t)
			ctx := context.Background()
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			evs := securityFixture()
			if err := st.WriteSecurityEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			testSecurityAPI(t, st, evs)
		})
	}
}

func testSecurityAPI(t *testing.T, st store.Store, evs []security.Event) {
	c := &client{t: t, h: New(Config{}, st, nil, prometheus.NewRegistry())}
	ids := func(path string) []string {
		var resp struct{ Events []security.Event }
		c.getJSON(path, 200, &resp)
		out := []string{}
		for _, e := range resp.Events {
			out = append(out, e.ID)
		}
		return out
	}
	var resp struct {
		Events []security.Event `json:"events"`
	}
	c.getJSON("/api/v1/security", 200, &resp)
	want := []security.Event{evs[2], evs[1], evs[0]}
	if d := jsonDiff(norm(t, resp.Events), norm(t, want), "events"); d != "" {
		t.Fatalf("GET /api/v1/security: %s", d)
	}
	from := time.Unix(0, int64(evs[1].First)).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/api/v1/security?type=flood", []string{evs[2].ID}},
		{"/api/v1/security?source=203.0.113.66", []string{evs[1].ID, evs[0].ID}},
		{"/api/v1/security?source=203.0.113.66&type=brute_force", []string{evs[1].ID}},
		{"/api/v1/security?limit=2", []string{evs[2].ID, evs[1].ID}},
		{"/api/v1/security?from=" + from, []string{evs[2].ID, evs[1].ID}}, // the scanner ended 70 s before
		{"/api/v1/security?to=" + from, []string{evs[0].ID}},
	} {
		if got := ids(tc.path); jsonString(got) != jsonString(tc.want) {
			t.Errorf("GET %s: %v, want %v", tc.path, got, tc.want)
		}
	}
	for _, bad := range []string{"?type=bogus", "?source=not-an-ip", "?limit=0", "?from=yesterday"} {
		c.getJSON("/api/v1/security"+bad, 400, nil)
	}

	var top struct {
		Sources []map[string]any `json:"sources"`
	}
	c.getJSON("/api/v1/security/top?n=10", 200, &top)
	// 203.0.113.66: 2 events, 40 + 20 requests, scanner and brute_force; 192.0.2.9: 1 flood.
	wantTop := []map[string]any{
		{"source": "203.0.113.66", "events": 2, "count": 60, "types": []string{"brute_force", "scanner"}},
		{"source": "192.0.2.9", "events": 1, "count": 3000, "types": []string{"flood"}},
	}
	if d := jsonDiff(norm(t, top.Sources), norm(t, wantTop), "sources"); d != "" {
		t.Fatalf("GET /api/v1/security/top: %s", d)
	}
	c.getJSON("/api/v1/security/top?n=1", 200, &top)
	if len(top.Sources) != 1 {
		t.Fatalf("top n=1: %d sources", len(top.Sources))
	}

	// Masked: the user part of a SIP URI and digit runs outside addresses keep their last
	// two digits; the source IP stays.
	mc := &client{t: t, h: New(Config{MaskNumbers: true}, st, nil, prometheus.NewRegistry())}
	mc.getJSON("/api/v1/security", 200, &resp)
	if len(resp.Events) != 3 {
		t.Fatalf("masked: %d events", len(resp.Events))
	}
	got := resp.Events
	if got[1].Target != "sip:xxxxxxxx67@example.com" || got[1].Source != "203.0.113.66" {
		t.Errorf("masked target %q source %q", got[1].Target, got[1].Source)
	}
	if got[2].UserAgent != "sipcli/v1.8 xxxxxxxx67" {
		t.Errorf("masked user_agent %q", got[2].UserAgent)
	}
	if len(got[2].CallIDs) != 1 || got[2].CallIDs[0] != "xxxxxxxx10@10.0.0.1" {
		t.Errorf("masked sample_call_ids %q", got[2].CallIDs)
	}
}

// TestPeerFilter: GET /api/v1/calls?peer= returns exactly the calls stored with that
// peer group (set here as cmd's peers.Classifier would).
func TestPeerFilter(t *testing.T) {
	ds := testData(t)
	st := openDuck(t)
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var recs []*correlate.Record
	want := map[string]bool{}
	for i, r := range ds.Records[:min(9, len(ds.Records))] {
		cp := *r // the shared data stays as it is
		cp.Call.Peer = "other"
		if i%3 == 0 {
			cp.Call.Peer = "carrier-a"
			want[cp.Call.ID] = true
		}
		recs = append(recs, &cp)
	}
	if err := st.WriteCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, h: New(Config{}, st, nil, prometheus.NewRegistry())}
	var page searchResponse
	c.getJSON("/api/v1/calls?peer=carrier-a&limit=100", 200, &page)
	got := map[string]bool{}
	for _, cl := range page.Calls {
		if cl.Peer != "carrier-a" {
			t.Errorf("call %s peer %q", cl.ID, cl.Peer)
		}
		got[cl.ID] = true
	}
	if jsonString(got) != jsonString(want) || len(want) == 0 {
		t.Fatalf("peer=carrier-a: %v, want %v", got, want)
	}
}
