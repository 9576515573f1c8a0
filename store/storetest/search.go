package storetest

// The search cases of Run: filters, sort orders and keyset pages, each checked against
// the dataset filtered and sorted in Go.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

func sortedIDs(calls []correlate.Call) []string {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	sort.Strings(ids)
	return ids
}

// searchAll follows the cursor to the last page.
func searchAll(t *testing.T, s store.Store, q store.CallQuery) []correlate.Call {
	t.Helper()
	var out []correlate.Call
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
		p, err := s.SearchCalls(context.Background(), q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		if len(p.Calls) > max(q.Limit, 0) && q.Limit > 0 {
			t.Fatalf("page of %d calls, limit %d", len(p.Calls), q.Limit)
		}
		out = append(out, p.Calls...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
}

func idSet(calls []correlate.Call) []string {
	ids := sortedIDs(calls)
	if ids == nil {
		ids = []string{}
	}
	return ids
}

func testFilters(t *testing.T, s store.Store, calls []correlate.Call) {
	sorted := append([]correlate.Call(nil), calls...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	mid := time.Unix(0, int64(sorted[len(sorted)/3].Start)).UTC()
	late := time.Unix(0, int64(sorted[2*len(sorted)/3].Start)).UTC()
	var withUser, withIP, withCode, withMOS *correlate.Call
	for i := range sorted {
		c := &sorted[i]
		if withUser == nil && len(c.ToUser) >= 4 {
			withUser = c
		}
		if withIP == nil && store.HostOf(c.Callee) != "" && strings.Count(c.Callee, ".") == 3 {
			withIP = c
		}
		if withCode == nil && c.FinalCode >= 400 {
			withCode = c
		}
		if withMOS == nil && c.MOSMin != nil {
			withMOS = c
		}
	}
	if withUser == nil || withIP == nil || withCode == nil || withMOS == nil {
		t.Fatal("test data lacks a call with a to_user, an IPv4 callee, a failure code or a MOS")
	}
	sub := strings.ToUpper(withUser.ToUser[1 : len(withUser.ToUser)-1])
	ip := store.HostOf(withIP.Callee)
	yes, no := true, false
	var mosCut float64
	for _, c := range calls {
		if c.MOSMin != nil && *c.MOSMin > mosCut {
			mosCut = *c.MOSMin
		}
	}
	contains := func(a, b string) bool { return strings.Contains(strings.ToLower(a), strings.ToLower(b)) }
	cases := []struct {
		name string
		q    store.CallQuery
		keep func(c *correlate.Call) bool
	}{
		{"all", store.CallQuery{}, func(c *correlate.Call) bool { return true }},
		{"time-range", store.CallQuery{From: mid, To: late}, func(c *correlate.Call) bool {
			return int64(c.Start) >= mid.UnixNano() && int64(c.Start) < late.UnixNano()
		}},
		{"from-only", store.CallQuery{From: late}, func(c *correlate.Call) bool { return int64(c.Start) >= late.UnixNano() }},
		{"number", store.CallQuery{Number: sub}, func(c *correlate.Call) bool {
			return contains(c.FromUser, sub) || contains(c.ToUser, sub) || contains(c.From, sub) || contains(c.To, sub)
		}},
		{"ip", store.CallQuery{IP: ip}, func(c *correlate.Call) bool {
			return store.HostOf(c.Caller) == ip || store.HostOf(c.Callee) == ip
		}},
		{"call-id", store.CallQuery{CallID: withCode.CallID}, func(c *correlate.Call) bool { return c.CallID == withCode.CallID }},
		{"state", store.CallQuery{State: "answered"}, func(c *correlate.Call) bool { return c.State == "answered" }},
		{"final-code", store.CallQuery{FinalCode: withCode.FinalCode}, func(c *correlate.Call) bool { return c.FinalCode == withCode.FinalCode }},
		{"dropped", store.CallQuery{Dropped: &yes}, func(c *correlate.Call) bool { return c.Dropped }},
		{"not-dropped", store.CallQuery{Dropped: &no}, func(c *correlate.Call) bool { return !c.Dropped }},
		{"mos-below", store.CallQuery{MOSBelow: mosCut}, func(c *correlate.Call) bool { return c.MOSMin != nil && *c.MOSMin < mosCut }},
		{"combined", store.CallQuery{From: mid, State: "answered", Number: "1"}, func(c *correlate.Call) bool {
			return int64(c.Start) >= mid.UnixNano() && c.State == "answered" &&
				(contains(c.FromUser, "1") || contains(c.ToUser, "1") || contains(c.From, "1") || contains(c.To, "1"))
		}},
		{"peer", store.CallQuery{Peer: "carrier-a"}, func(c *correlate.Call) bool { return c.Peer == "carrier-a" }},
		{"nothing", store.CallQuery{CallID: "no-such-call-id"}, func(c *correlate.Call) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []correlate.Call
			for i := range calls {
				if tc.keep(&calls[i]) {
					want = append(want, calls[i])
				}
			}
			if tc.name != "nothing" && len(want) == 0 {
				t.Fatalf("filter matches no call in the test data: proves nothing")
			}
			if tc.name != "all" && tc.name != "not-dropped" && len(want) == len(calls) {
				t.Fatalf("filter matches every call: proves nothing")
			}
			q := tc.q
			q.Limit = 7
			got := searchAll(t, s, q)
			if g, w := idSet(got), idSet(want); !reflect.DeepEqual(g, w) {
				t.Fatalf("got %d calls %v\nwant %d %v", len(g), g, len(w), w)
			}
			for _, c := range got {
				if len(c.Streams) != 0 {
					t.Fatalf("search returned streams for %s", c.ID)
				}
			}
		})
	}
	if _, err := s.SearchCalls(context.Background(), store.CallQuery{Sort: "bogus"}); !errors.Is(err, store.ErrBadQuery) {
		t.Fatalf("bad sort: %v", err)
	}
	if _, err := s.SearchCalls(context.Background(), store.CallQuery{Cursor: "!!"}); !errors.Is(err, store.ErrBadQuery) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// sortKey orders calls as a user expects: by the value, calls without one last in
// either direction.
func sortKey(c *correlate.Call, key string, desc bool) float64 {
	var p *float64
	switch key {
	case store.SortDuration:
		p = c.DurationMs
	case store.SortPDD:
		p = c.PDDMs
	case store.SortMOS:
		p = c.MOSMin
	default:
		return float64(c.Start)
	}
	if p == nil {
		if desc {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	return *p
}

func testSort(t *testing.T, s store.Store, calls []correlate.Call) {
	for _, key := range []string{"", store.SortStart, store.SortDuration, store.SortPDD, store.SortMOS} {
		for _, desc := range []bool{false, true} {
			if key == "" && !desc {
				continue
			}
			t.Run(fmt.Sprintf("%s-desc=%v", key, desc), func(t *testing.T) {
				want := append([]correlate.Call(nil), calls...)
				sort.Slice(want, func(i, j int) bool {
					a, b := &want[i], &want[j]
					ka, kb := sortKey(a, key, desc), sortKey(b, key, desc)
					if key == "" || key == store.SortStart {
						ka, kb = float64(0), float64(0)
						if a.Start != b.Start {
							return (a.Start < b.Start) != desc
						}
					}
					if ka != kb {
						return (ka < kb) != desc
					}
					return (a.ID < b.ID) != desc
				})
				got := searchAll(t, s, store.CallQuery{Sort: key, Desc: desc, Limit: 4})
				if len(got) != len(want) {
					t.Fatalf("%d calls over the pages, want %d", len(got), len(want))
				}
				for i := range got {
					if got[i].ID != want[i].ID {
						t.Fatalf("position %d: %s, want %s", i, got[i].ID, want[i].ID)
					}
				}
			})
		}
	}
	// Paging while the limit changes still gives no gaps or duplicates.
	p1, err := s.SearchCalls(context.Background(), store.CallQuery{Limit: 5})
	if err != nil || p1.Next == "" || len(p1.Calls) != 5 {
		t.Fatalf("first page: %d calls, next %q, %v", len(p1.Calls), p1.Next, err)
	}
	rest := searchAll(t, s, store.CallQuery{Limit: 9, Cursor: p1.Next})
	if len(rest)+5 != len(calls) {
		t.Fatalf("pages hold %d calls, want %d", len(rest)+5, len(calls))
	}
	if _, err := s.SearchCalls(context.Background(), store.CallQuery{Sort: store.SortMOS, Cursor: p1.Next}); !errors.Is(err, store.ErrBadQuery) {
		t.Fatalf("cursor of another sort order accepted: %v", err)
	}
}
