package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

func TestRetentionCutoff(t *testing.T) {
	// The rule the README states: keep counted back from now or, when the newest stored
	// call is older, from that call.
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	keep := 30 * 24 * time.Hour
	old := time.Date(2008, 12, 5, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		newest time.Time
		want   time.Time
	}{
		{"empty store: from now", time.Time{}, now.Add(-keep)},
		{"live data: from its newest call, about now", now.Add(-time.Minute), now.Add(-time.Minute).Add(-keep)},
		{"a capture from 2008: from its newest call", old, old.Add(-keep)},
		{"clock skew into the future: from now", now.Add(time.Hour), now.Add(-keep)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.RetentionCutoff(now, tc.newest, keep); !got.Equal(tc.want) {
				t.Errorf("cutoff %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRetentionLoop runs the loop on a real DuckDB store with an injected clock. Whether
// a call survives follows from the rule by hand: DropBefore deletes days (UTC) wholly
// before the cutoff.
func TestRetentionLoop(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		now  string
		keep time.Duration
		// floor: the oldest call this process ingested (RetentionConfig.Floor), "" none
		floor string
		// calls by start; true = kept
		calls map[string]bool
	}{
		// Newest 2008-12-05 09:00, keep 48h: cutoff 2008-12-03 09:00, so 2008-12-02
		// and earlier go. Counted from now (2026) everything would go.
		{"replayed capture: from its newest call", "2026-11-21 12:00:00", 48 * time.Hour, "", map[string]bool{
			"2008-12-05 09:00:00": true, "2008-12-03 10:00:00": true, "2008-12-02 23:00:00": false, "2008-11-01 00:00:00": false}},
		// Newest is 2026-11-23 01:00, ahead of the clock (skew): cutoff from now,
		// 2026-11-20 01:00, so 11-19 goes and 11-21 stays. Counted from the newest call
		// the cutoff would be 11-22 01:00 and 11-21 would go.
		{"newest in the future: from now", "2026-11-21 01:00:00", 24 * time.Hour, "", map[string]bool{
			"2026-11-23 01:00:00": true, "2026-11-21 00:30:00": true, "2026-11-19 12:00:00": false}},
		// The same capture as the first case, but this process ingested it from
		// 2008-12-02 23:00 on: the floor holds the cutoff there, so its day
		// (2008-12-02) and later stay and only 2008-11-01, stored before, goes.
		{"ingested by this process: never cut", "2026-11-21 12:00:00", 48 * time.Hour, "2008-12-02 23:00:00", map[string]bool{
			"2008-12-05 09:00:00": true, "2008-12-03 10:00:00": true, "2008-12-02 23:00:00": true, "2008-11-01 00:00:00": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openDuck(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var recs []*correlate.Record
			ids := map[string]bool{}
			i := 0
			for start, kept := range tc.calls {
				r := &correlate.Record{Call: correlate.Call{ID: fmt.Sprintf("r%d", i), CallID: fmt.Sprintf("%d@x", i),
					Start: correlate.Time(at(start).UnixNano())}}
				recs = append(recs, r)
				ids[r.Call.ID] = kept
				i++
			}
			if err := s.WriteCalls(ctx, recs); err != nil {
				t.Fatal(err)
			}
			now := at(tc.now)
			passes := make(chan struct{}, 100)
			clock := func() time.Time { passes <- struct{}{}; return now }
			done := make(chan error, 1)
			go func() {
				rc := store.RetentionConfig{Keep: tc.keep, Every: 5 * time.Millisecond, Now: clock}
				if tc.floor != "" {
					f := at(tc.floor)
					rc.Floor = func() time.Time { return f }
				}
				done <- store.RetentionLoop(ctx, s, rc)
			}()
			// Two passes read the clock: the first has finished by the time the second
			// starts (one goroutine).
			<-passes
			<-passes
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for id, kept := range ids {
				_, err := s.GetCall(context.Background(), id)
				switch {
				case kept && err != nil:
					t.Errorf("call %s dropped: %v", id, err)
				case !kept && !errors.Is(err, store.ErrNotFound):
					t.Errorf("call %s kept (err %v), want dropped", id, err)
				}
			}
		})
	}
}
