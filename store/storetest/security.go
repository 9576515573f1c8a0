package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
)

// testSecurity writes security events as serve does (each when raised, then again with
// its final counts when it ends, and the whole capture replayed) and reads them back by
// filter. Expectations are the events written, field for field: the final write of an ID
// wins.
func testSecurity(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.UTC)
	at := func(sec int) correlate.Time {
		return correlate.Time(base.Add(time.Duration(sec) * time.Second).UnixNano())
	}
	scan := security.Event{ID: "00aa00aa00aa00aa", Type: security.TypeScanner, Rule: security.RuleManyUsers,
		Severity: security.SeverityWarning, Source: "203.0.113.66", Target: "", Count: 20, Distinct: 20,
		First: at(0), Last: at(19), UserAgent: "friendly-scanner", CallIDs: []string{"c1", "c2"}}
	scanEnd := scan
	scanEnd.Count, scanEnd.Distinct, scanEnd.Last, scanEnd.CallIDs = 250, 250, at(200), []string{"c1", "c2", "c3", "c4", "c5"}
	brute := security.Event{ID: "11bb11bb11bb11bb", Type: security.TypeBruteForce, Rule: security.RuleSourceFailures,
		Severity: security.SeverityHigh, Source: "203.0.113.66", Target: "sip:1001@example.com", Count: 10,
		First: at(300), Last: at(310), CallIDs: []string{}}
	flood := security.Event{ID: "22cc22cc22cc22cc", Type: security.TypeFlood, Rule: security.RuleInviteRate,
		Severity: security.SeverityHigh, Source: "192.0.2.9", Count: 3000, First: at(400), Last: at(460),
		UserAgent: "x", CallIDs: []string{"f1"}}
	for range 2 { // the capture replayed: same IDs
		if err := s.WriteSecurityEvents(ctx, []security.Event{scan}); err != nil { // raised
			t.Fatal(err)
		}
		if err := s.WriteSecurityEvents(ctx, []security.Event{brute, scanEnd, flood, flood}); err != nil { // ended
			t.Fatal(err)
		}
	}
	got, err := s.SecurityEvents(ctx, store.SecurityQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []security.Event{flood, brute, scanEnd}; !reflect.DeepEqual(got, want) {
		t.Fatalf("SecurityEvents = %+v\nwant newest first %+v", got, want)
	}
	from := func(sec int) time.Time { return time.Unix(0, int64(at(sec))) }
	for _, tc := range []struct {
		name string
		q    store.SecurityQuery
		want []string
	}{
		{"type", store.SecurityQuery{Type: "scanner"}, []string{scan.ID}},
		{"source", store.SecurityQuery{Source: "203.0.113.66"}, []string{brute.ID, scan.ID}},
		{"source+type", store.SecurityQuery{Source: "203.0.113.66", Type: "flood"}, nil},
		// Active in [From, To): the scan (0..200) overlaps [150, 305) by its end, brute
		// (300..310) by its start; flood starts after.
		{"overlap", store.SecurityQuery{From: from(150), To: from(305)}, []string{brute.ID, scan.ID}},
		{"from", store.SecurityQuery{From: from(201)}, []string{flood.ID, brute.ID}},
		{"to", store.SecurityQuery{To: from(300)}, []string{scan.ID}},
		{"limit", store.SecurityQuery{Limit: 1}, []string{flood.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SecurityEvents(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.q, ids, tc.want)
			}
		})
	}
	top, err := s.SecurityTop(ctx, store.SecurityTopQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// 203.0.113.66: the scan (250) and the brute force (10); 192.0.2.9: the flood (3000).
	wantTop := []store.SecuritySource{
		{Source: "203.0.113.66", Events: 2, Count: 260, Types: []security.Type{security.TypeBruteForce, security.TypeScanner}},
		{Source: "192.0.2.9", Events: 1, Count: 3000, Types: []security.Type{security.TypeFlood}},
	}
	if !reflect.DeepEqual(top, wantTop) {
		t.Fatalf("SecurityTop = %+v\nwant %+v", top, wantTop)
	}
	if top, err := s.SecurityTop(ctx, store.SecurityTopQuery{N: 1, From: from(350)}); err != nil || len(top) != 1 || top[0].Source != "192.0.2.9" {
		t.Fatalf("SecurityTop(n=1, from 350 s) = %+v, %v; want the flood's source only", top, err)
	}
}

// writeRetentionEvents stores one security event on the day before day and one on day
// (source 198.51.100.250), for testDrop.
func writeRetentionEvents(t *testing.T, s store.Store, day time.Time) (old, kept string) {
	mk := func(id string, at time.Time) security.Event {
		return security.Event{ID: id, Type: security.TypeAnomaly, Rule: security.RuleOversized, Severity: security.SeverityInfo,
			Source: "198.51.100.250", Count: 1, First: correlate.Time(at.UnixNano()), Last: correlate.Time(at.UnixNano()), CallIDs: []string{}}
	}
	if err := s.WriteSecurityEvents(context.Background(), []security.Event{
		mk("ffff000000000001", day.Add(-time.Hour)), mk("ffff000000000002", day.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	return "ffff000000000001", "ffff000000000002"
}

// checkRetentionEvents: only the event on or after the cut's day is left.
func checkRetentionEvents(t *testing.T, s store.Store, kept string) {
	got, err := s.SecurityEvents(context.Background(), store.SecurityQuery{Source: "198.51.100.250"})
	if err != nil || len(got) != 1 || got[0].ID != kept {
		t.Fatalf("security events after DropBefore: %+v, %v; want only %s", got, err, kept)
	}
}
