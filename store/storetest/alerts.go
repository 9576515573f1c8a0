package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// testAlerts writes alert state changes twice (replay) and reads them back by filter.
// Expectations are the events written, field for field.
func testAlerts(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.Date(2024, 3, 1, 10, 0, 0, 123456789, time.UTC)
	at := func(sec int) correlate.Time {
		return correlate.Time(base.Add(time.Duration(sec) * time.Second).UnixNano())
	}
	evs := []store.AlertEvent{
		{Rule: "ASRLow", Peer: "carrier-a", Severity: "critical", State: "pending", Metric: "asr", Op: "below",
			Value: 33.333, Threshold: 50, Calls: 12, At: at(100), Since: at(100), WindowStart: at(40), Summary: "ASR of carrier-a is 33.33 %"},
		{Rule: "ASRLow", Peer: "carrier-a", Severity: "critical", State: "firing", Metric: "asr", Op: "below",
			Value: 0, Threshold: 50, Calls: 12, At: at(120), Since: at(100), WindowStart: at(60), Summary: "x"},
		{Rule: "MOSLow", Peer: "all", Severity: "warning", State: "firing", Metric: "mos_p50", Op: "below",
			Value: 3.2, Threshold: 3.6, Calls: 30, At: at(130), Since: at(110), WindowStart: at(-170), Summary: "y"},
	}
	for range 2 {
		if err := s.WriteAlertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.AlertEvents(ctx, store.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != evs[2] || got[1] != evs[1] || got[2] != evs[0] {
		t.Fatalf("AlertEvents = %+v\nwant newest first %+v", got, evs)
	}
	for _, tc := range []struct {
		name string
		q    store.AlertQuery
		want int
	}{
		{"rule", store.AlertQuery{Rule: "ASRLow"}, 2},
		{"peer+state", store.AlertQuery{Peer: "carrier-a", State: "firing"}, 1},
		{"from", store.AlertQuery{From: time.Unix(0, int64(at(120)))}, 2},
		{"to", store.AlertQuery{To: time.Unix(0, int64(at(120)))}, 1},
		{"limit", store.AlertQuery{Limit: 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AlertEvents(ctx, tc.q)
			if err != nil || len(got) != tc.want {
				t.Errorf("%+v: %d events (%v), want %d", tc.q, len(got), err, tc.want)
			}
		})
	}
}
