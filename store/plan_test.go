package store_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

func TestCallSearch(t *testing.T) {
	yes := true
	// Each CallQuery field that filters becomes one condition, as CallQuery documents
	// it (zero fields do not filter); Number loses its case (the match ignores it).
	q, err := store.CallQuery{Number: "Alice\x00", IP: "[::ffff:10.0.0.1]", CallID: "a@b", State: "answered",
		FinalCode: 486, Dropped: &yes, MOSBelow: 3.6, Sort: store.SortMOS}.Search()
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Filter{{Kind: store.FilterNumber, Str: "alice"}, {Kind: store.FilterIP, Str: "10.0.0.1"},
		{Kind: store.FilterCallID, Str: "a@b"}, {Kind: store.FilterState, Str: "answered"},
		{Kind: store.FilterFinalCode, Int: 486}, {Kind: store.FilterDropped, Bool: true}, {Kind: store.FilterMOSBelow, Float: 3.6}}
	if !reflect.DeepEqual(q.Filters, want) {
		t.Fatalf("filters %+v", q.Filters)
	}
	if q.SortColumn != "mos_min" || q.Dir() != "ASC" || q.Cmp() != ">" || q.AfterKey() != nil {
		t.Fatalf("order %q %s %s %v", q.SortColumn, q.Dir(), q.Cmp(), q.AfterKey())
	}
	// A page's cursor leads to the next page of the same order.
	mos := 3.1
	next, err := store.CallQuery{Sort: store.SortMOS, Cursor: q.Next("c9", q.SortKey(&correlate.Call{MOSMin: &mos}))}.Search()
	if err != nil || next.After == nil || next.AfterKey() != 3.1 || next.After.ID != "c9" {
		t.Fatalf("next page: %+v %v", next.After, err)
	}
	// The default order is start, newest first; a call without MOS sorts last: above
	// every MOS ascending, below every MOS (-1) descending.
	d, _ := store.CallQuery{}.Search()
	if d.SortColumn != "" || d.Dir() != "DESC" || d.SortKey(&correlate.Call{Start: 42}) != int64(42) || len(d.Filters) != 0 {
		t.Fatalf("default search %+v", d)
	}
	if k := q.SortKey(&correlate.Call{}); k != 1e18 {
		t.Fatalf("missing MOS key ascending %v", k)
	}
	qd, _ := store.CallQuery{Sort: store.SortMOS, Desc: true}.Search()
	if k := qd.SortKey(&correlate.Call{}); k != -1.0 {
		t.Fatalf("missing MOS key descending %v", k)
	}
	if _, err := (store.CallQuery{Sort: store.SortStart, Cursor: q.Next("c9", 3.1)}).Search(); !errors.Is(err, store.ErrBadQuery) {
		t.Fatalf("cursor of another order: %v", err)
	}
}

func TestTopQueryNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   store.TopQuery
		want store.TopQuery
		col  string
		bad  bool
	}{
		{"defaults", store.TopQuery{}, store.TopQuery{By: "destination", Metric: "asr", N: store.DefaultTopN, MinCalls: 1}, "to_user", false},
		{"peer by mos, N capped", store.TopQuery{By: "peer", Metric: "mos", N: 5000, MinCalls: 3},
			store.TopQuery{By: "peer", Metric: "mos", N: store.MaxLimit, MinCalls: 3}, "callee_ip", false},
		{"unknown key", store.TopQuery{By: "country"}, store.TopQuery{}, "", true},
		{"unknown metric", store.TopQuery{Metric: "pdd"}, store.TopQuery{}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Normalize()
			if tc.bad {
				if !errors.Is(err, store.ErrBadQuery) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil || got != tc.want || got.KeyColumn() != tc.col {
				t.Fatalf("got %+v %q %v", got, got.KeyColumn(), err)
			}
		})
	}
}

// TestAddGroup: adding calls as SQL groups gives what correlate.Aggregate.Add gives
// call by call (the independent reference).
func TestAddGroup(t *testing.T) {
	d := func(v float64) *float64 { return &v }
	calls := []correlate.Call{
		{State: "answered", FinalCode: 200, DurationMs: d(1000)}, {State: "answered", FinalCode: 200, DurationMs: d(500), Dropped: true},
		{State: "failed", FinalCode: 404}, {State: "failed", FinalCode: 500}, {State: "busy", FinalCode: 486},
		{State: "cancelled", FinalCode: 487}, {State: "no_answer", FinalCode: 408}, {State: "redirected", FinalCode: 302},
		{State: "in_progress"}, {State: "failed", FinalCode: 603}, {State: "failed", FinalCode: 603},
	}
	var want, got correlate.Aggregate
	type key struct {
		state   string
		code    int
		dropped bool
	}
	groups := map[key][]correlate.Call{}
	for i := range calls {
		want.Add(&calls[i])
		k := key{string(calls[i].State), calls[i].FinalCode, calls[i].Dropped}
		groups[k] = append(groups[k], calls[i])
	}
	for k, cs := range groups {
		var dur float64
		for _, c := range cs {
			if c.DurationMs != nil {
				dur += *c.DurationMs
			}
		}
		store.AddGroup(&got, k.state, k.code, k.dropped, len(cs), dur)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AddGroup %+v\nAdd      %+v", got, want)
	}
}
