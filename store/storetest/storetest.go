package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// Run runs the shared suite against the store open returns (fresh and migrated; open
// registers its own cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	data := Data(t)
	s := open(t)

	// Expected state: the last record per id.
	byID := map[string]*correlate.Record{}
	for _, r := range data.Records {
		byID[r.Call.ID] = r
	}
	var calls []correlate.Call
	for _, r := range byID {
		calls = append(calls, r.Call)
	}

	t.Run("migrate-idempotent", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate #%d: %v", i+2, err)
			}
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("write-twice", func(t *testing.T) {
		recs := data.Records
		for i := 0; i < len(recs); i += 7 {
			if err := s.WriteCalls(ctx, recs[i:min(i+7, len(recs))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.WriteCalls(ctx, recs); err != nil { // again, all at once
			t.Fatal(err)
		}
		if err := s.WriteRegistrations(ctx, data.Registrations); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteRegistrations(ctx, data.Registrations); err != nil {
			t.Fatal(err)
		}
		got := searchAll(t, s, store.CallQuery{Limit: 1000})
		if len(got) != len(byID) {
			t.Fatalf("stored %d calls, want %d distinct", len(got), len(byID))
		}
		seen := map[string]bool{}
		for _, c := range got {
			if seen[c.ID] {
				t.Fatalf("call %s returned twice", c.ID)
			}
			seen[c.ID] = true
		}
	})
	t.Run("get-call", func(t *testing.T) {
		streams, intervals := 0, 0
		for id, r := range byID {
			got, err := s.GetCall(ctx, id)
			if err != nil {
				t.Fatalf("get %s: %v", id, err)
			}
			want, _ := json.Marshal(&r.Call)
			have, _ := json.Marshal(got)
			if !bytes.Equal(want, have) {
				t.Fatalf("call %s differs:\nwant %s\nhave %s", id, want, have)
			}
			if got.Start != r.Call.Start {
				t.Fatalf("call %s start %d, want %d (ns lost)", id, got.Start, r.Call.Start)
			}
			streams += len(got.Streams)
			for _, st := range got.Streams {
				intervals += len(st.Intervals)
			}
		}
		if streams == 0 || intervals == 0 {
			t.Fatalf("data holds %d streams, %d intervals: suite would prove nothing", streams, intervals)
		}
		if _, err := s.GetCall(ctx, "no-such-call"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown id: err %v, want ErrNotFound", err)
		}
	})
	t.Run("messages-media", func(t *testing.T) {
		nmsg, nframes := 0, 0
		for id, r := range byID {
			ms, err := s.Messages(ctx, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			want := append([]correlate.Message(nil), r.Messages...)
			sort.SliceStable(want, func(i, j int) bool { return want[i].TS < want[j].TS })
			if len(ms) != len(want) {
				t.Fatalf("call %s: %d messages, want %d", id, len(ms), len(want))
			}
			for i, m := range ms {
				w := want[i]
				if !bytes.Equal(m.Raw, w.Raw) || !bytes.Equal(m.Frame, w.Frame) || int64(m.TS) != w.TS ||
					m.Src != w.Src.String() || m.Dst != w.Dst.String() || m.Method != w.Method || m.Status != w.Status ||
					m.CSeq != w.CSeq || m.Retrans != w.Retrans || m.Request != w.Request || m.LinkType != w.LinkType ||
					m.Transport != w.Transport || m.CallUID != id || m.CallID != r.Call.CallID {
					t.Fatalf("call %s message %d differs: %+v", id, i, m)
				}
			}
			nmsg += len(ms)
			fr, err := s.Media(ctx, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			wf := append([]correlate.Frame(nil), r.Media...)
			sort.SliceStable(wf, func(i, j int) bool { return wf[i].TS < wf[j].TS })
			if len(fr) != len(wf) {
				t.Fatalf("call %s: %d frames, want %d", id, len(fr), len(wf))
			}
			for i := range fr {
				if fr[i].TS != wf[i].TS || fr[i].LinkType != wf[i].LinkType || fr[i].OrigLen != wf[i].OrigLen || !bytes.Equal(fr[i].Data, wf[i].Data) {
					t.Fatalf("call %s frame %d differs", id, i)
				}
			}
			nframes += len(fr)
		}
		if nmsg == 0 || nframes == 0 {
			t.Fatalf("%d messages, %d frames stored: nothing proven", nmsg, nframes)
		}
		// Several ids at once come back merged in time order.
		ids := sortedIDs(calls)[:3]
		ms, err := s.Messages(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, id := range ids {
			n += len(byID[id].Messages)
		}
		if len(ms) != n || !sort.SliceIsSorted(ms, func(i, j int) bool { return ms[i].TS < ms[j].TS }) {
			t.Fatalf("messages of 3 calls: %d (want %d), sorted=%v", len(ms), n, sort.SliceIsSorted(ms, func(i, j int) bool { return ms[i].TS < ms[j].TS }))
		}
	})
	t.Run("legs", func(t *testing.T) { testLegs(t, s, byID) })
	t.Run("filters", func(t *testing.T) { testFilters(t, s, calls) })
	t.Run("sort-and-pages", func(t *testing.T) { testSort(t, s, calls) })
	t.Run("stats", func(t *testing.T) { testStats(t, s, calls) })
	t.Run("top", func(t *testing.T) { testTop(t, s, calls) })
	t.Run("registrations", func(t *testing.T) { testRegs(t, s, data.Registrations) })
	t.Run("alerts", func(t *testing.T) { testAlerts(t, s) })
	t.Run("drop-before", func(t *testing.T) { testDrop(t, s, calls) })
}

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

func sortKey(c *correlate.Call, key string) float64 {
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
		return -1
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
					ka, kb := sortKey(a, key), sortKey(b, key)
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

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(a)) }

func checkAgg(t *testing.T, what string, got, want correlate.Aggregate) {
	t.Helper()
	gd, wd := got.DurationMs, want.DurationMs
	got.DurationMs, want.DurationMs = 0, 0
	if len(got.Codes) == 0 {
		got.Codes = nil
	}
	if len(want.Codes) == 0 {
		want.Codes = nil
	}
	if !reflect.DeepEqual(got, want) || !near(gd, wd) {
		t.Fatalf("%s aggregate\n got %+v dur %v\nwant %+v dur %v", what, got, gd, want, wd)
	}
}

func testStats(t *testing.T, s store.Store, calls []correlate.Call) {
	ctx := context.Background()
	var lo, hi int64 = math.MaxInt64, 0
	for _, c := range calls {
		lo, hi = min(lo, int64(c.Start)), max(hi, int64(c.Start))
	}
	from := time.Unix(0, lo).UTC().Truncate(time.Hour).Add(time.Hour) // skip the first calls
	to := time.Unix(0, hi).UTC().Truncate(time.Hour).Add(time.Hour)
	q := store.StatsQuery{From: from, To: to, Step: 6 * time.Hour}
	st, err := s.Stats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var total correlate.Aggregate
	buckets := map[int64]*correlate.Aggregate{}
	var mos []float64
	hist := make([]int, store.MOSBins)
	for i := range calls {
		c := &calls[i]
		if int64(c.Start) < from.UnixNano() || int64(c.Start) >= to.UnixNano() {
			continue
		}
		total.Add(c)
		b := q.BucketOf(int64(c.Start))
		if buckets[b] == nil {
			buckets[b] = &correlate.Aggregate{}
		}
		buckets[b].Add(c)
		if c.MOSMin != nil {
			mos = append(mos, *c.MOSMin)
			hist[store.MOSBin(*c.MOSMin)]++
		}
	}
	if total.Calls == 0 || total.Calls == len(calls) || total.Answered == 0 || total.Answered == total.Calls {
		t.Fatalf("stats window holds %d of %d calls (%d answered): proves little", total.Calls, len(calls), total.Answered)
	}
	checkAgg(t, "total", st.Total, total)
	if !near(st.ASR, total.ASR()) || !near(st.NER, total.NER()) || !near(st.SCR, total.SCR()) || !near(st.ACD, total.ACDSeconds()) {
		t.Fatalf("ratios ASR %v NER %v SCR %v ACD %v, want %v %v %v %v", st.ASR, st.NER, st.SCR, st.ACD,
			total.ASR(), total.NER(), total.SCR(), total.ACDSeconds())
	}
	if len(st.Buckets) != len(buckets) {
		t.Fatalf("%d buckets, want %d", len(st.Buckets), len(buckets))
	}
	for i, b := range st.Buckets {
		if i > 0 && b.Start <= st.Buckets[i-1].Start {
			t.Fatal("buckets not in time order")
		}
		w := buckets[int64(b.Start)]
		if w == nil {
			t.Fatalf("unexpected bucket at %d", b.Start)
		}
		checkAgg(t, fmt.Sprintf("bucket %d", i), b.Agg, *w)
		if !near(b.ASR, w.ASR()) || !near(b.NER, w.NER()) || !near(b.ACD, w.ACDSeconds()) {
			t.Fatalf("bucket %d ratios", i)
		}
	}
	if !reflect.DeepEqual(st.MOSHist, hist) {
		t.Fatalf("MOS histogram %v, want %v", st.MOSHist, hist)
	}
	sort.Float64s(mos)
	if len(mos) == 0 || st.MOSP50 == nil || st.MOSP95 == nil {
		t.Fatalf("MOS percentiles missing (%d MOS values)", len(mos))
	}
	// Percentiles may be exact or interpolated: they must lie between the neighbouring ranks.
	inRank := func(v, q float64) bool {
		i := q * float64(len(mos)-1)
		lo, hi := mos[int(math.Floor(i))], mos[int(math.Ceil(i))]
		if int(math.Ceil(i))+1 < len(mos) {
			hi = mos[int(math.Ceil(i))+1]
		}
		return v >= lo-1e-9 && v <= hi+1e-9
	}
	if !inRank(*st.MOSP50, 0.5) || !inRank(*st.MOSP95, 0.05) || *st.MOSP95 > *st.MOSP50 {
		t.Fatalf("MOS p50 %v p95 %v off the data %v", *st.MOSP50, *st.MOSP95, mos)
	}
	// No range at all: everything.
	all, err := s.Stats(ctx, store.StatsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var every correlate.Aggregate
	for i := range calls {
		every.Add(&calls[i])
	}
	checkAgg(t, "unbounded", all.Total, every)
	if len(all.Buckets) != 0 {
		t.Fatalf("buckets without a step: %d", len(all.Buckets))
	}
}

func testTop(t *testing.T, s store.Store, calls []correlate.Call) {
	for _, tc := range []struct{ by, metric string }{{"destination", "asr"}, {"peer", "asr"}, {"peer", "mos"}, {"destination", "mos"}} {
		t.Run(tc.by+"-"+tc.metric, func(t *testing.T) {
			type acc struct {
				a      correlate.Aggregate
				mos    float64
				nmos   int
				hasMOS bool
			}
			m := map[string]*acc{}
			for i := range calls {
				c := &calls[i]
				k := c.ToUser
				if tc.by == "peer" {
					k = store.HostOf(c.Callee)
				}
				if k == "" {
					continue
				}
				if m[k] == nil {
					m[k] = &acc{}
				}
				m[k].a.Add(c)
				if c.MOSMin != nil {
					m[k].mos += *c.MOSMin
					m[k].nmos++
				}
			}
			var want []store.TopRow
			for k, a := range m {
				if a.a.Calls < 2 {
					continue
				}
				r := store.TopRow{Key: k, Calls: a.a.Calls, ASR: a.a.ASR()}
				if a.nmos > 0 {
					v := a.mos / float64(a.nmos)
					r.MOS = &v
				} else if tc.metric == "mos" {
					continue
				}
				want = append(want, r)
			}
			store.SortTop(want, tc.metric)
			if len(want) > 5 {
				want = want[:5]
			}
			if len(want) == 0 {
				t.Fatal("no keys with 2 calls in the data")
			}
			got, err := s.Top(context.Background(), store.TopQuery{By: tc.by, Metric: tc.metric, N: 5, MinCalls: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d rows %+v, want %d %+v", len(got), got, len(want), want)
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.Key != w.Key || g.Calls != w.Calls || !near(g.ASR, w.ASR) || (g.MOS == nil) != (w.MOS == nil) ||
					(g.MOS != nil && !near(*g.MOS, *w.MOS)) {
					t.Fatalf("row %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func testRegs(t *testing.T, s store.Store, regs []correlate.Registration) {
	ctx := context.Background()
	uniq := map[string]correlate.Registration{}
	for _, r := range regs {
		uniq[fmt.Sprintf("%s|%d", r.CallID, r.Time)] = r
	}
	if len(uniq) == 0 {
		t.Fatal("the test data holds no registrations")
	}
	got, err := s.Registrations(ctx, store.RegQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(uniq) {
		t.Fatalf("%d registrations, want %d distinct", len(got), len(uniq))
	}
	for i, r := range got {
		if i > 0 && r.Time > got[i-1].Time {
			t.Fatal("registrations not newest first")
		}
		w, ok := uniq[fmt.Sprintf("%s|%d", r.CallID, r.Time)]
		if !ok || !reflect.DeepEqual(r, w) {
			t.Fatalf("registration %+v, want %+v", r, w)
		}
	}
	aor := got[0].AOR
	sub := strings.ToUpper(aor[:len(aor)/2+1])
	f, err := s.Registrations(ctx, store.RegQuery{AOR: sub, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range uniq {
		if strings.Contains(strings.ToLower(r.AOR), strings.ToLower(sub)) {
			n++
		}
	}
	if len(f) != n || n == 0 {
		t.Fatalf("AOR %q: %d, want %d", sub, len(f), n)
	}
	one, err := s.Registrations(ctx, store.RegQuery{Limit: 1})
	if err != nil || len(one) != 1 {
		t.Fatalf("limit 1: %d, %v", len(one), err)
	}
	tr := time.Unix(0, int64(got[0].Time)).Add(time.Nanosecond)
	win, err := s.Registrations(ctx, store.RegQuery{From: time.Unix(0, int64(got[0].Time)), To: tr})
	if err != nil || len(win) == 0 || win[0].Time != got[0].Time {
		t.Fatalf("time window: %v %v", win, err)
	}
}

func testDrop(t *testing.T, s store.Store, calls []correlate.Call) {
	ctx := context.Background()
	sorted := append([]correlate.Call(nil), calls...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	// Cut in the middle of a day: that day stays whole.
	cut := time.Unix(0, int64(sorted[len(sorted)/2].Start)).UTC()
	day := store.DayFloor(cut)
	if err := s.DropBefore(ctx, cut); err != nil {
		t.Fatal(err)
	}
	var kept, gone []correlate.Call
	for _, c := range sorted {
		if int64(c.Start) >= day.UnixNano() {
			kept = append(kept, c)
		} else {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 || len(kept) == 0 {
		t.Fatalf("cut keeps %d, drops %d: proves nothing", len(kept), len(gone))
	}
	got := searchAll(t, s, store.CallQuery{Limit: 1000})
	if g, w := idSet(got), idSet(kept); !reflect.DeepEqual(g, w) {
		t.Fatalf("after DropBefore(%s): %d calls, want %d", cut, len(g), len(w))
	}
	if _, err := s.GetCall(ctx, gone[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dropped call still there: %v", err)
	}
	ms, err := s.Messages(ctx, []string{gone[0].ID})
	if err != nil || len(ms) != 0 {
		t.Fatalf("messages of a dropped call: %d, %v", len(ms), err)
	}
	if _, err := s.GetCall(ctx, kept[0].ID); err != nil {
		t.Fatalf("kept call: %v", err)
	}
	if err := s.DropBefore(ctx, cut); err != nil { // again: nothing more goes
		t.Fatal(err)
	}
	if got := searchAll(t, s, store.CallQuery{Limit: 1000}); len(got) != len(kept) {
		t.Fatalf("second DropBefore removed more: %d, want %d", len(got), len(kept))
	}
}

// testLegs checks Store.Legs on every stored call against the same rule computed here
// from the records' link keys.
func testLegs(t *testing.T, s store.Store, byID map[string]*correlate.Record) {
	ctx := context.Background()
	shares := func(a, b []string) bool {
		for _, x := range a {
			if slices.Contains(b, x) {
				return true
			}
		}
		return false
	}
	linked := 0
	for id, r := range byID {
		var want []string
		for oid, o := range byID {
			d := int64(o.Call.Start) - int64(r.Call.Start)
			if oid != id && o.Call.CallID != r.Call.CallID && d >= -int64(store.LegWindow) && d <= int64(store.LegWindow) &&
				shares(r.LinkKeys, o.LinkKeys) {
				want = append(want, oid)
			}
		}
		if len(want) > store.MaxLegs {
			continue // which MaxLegs of them is a matter of ties; the cap is checked below
		}
		legs, err := s.Legs(ctx, id)
		if err != nil {
			t.Fatalf("legs of %s: %v", id, err)
		}
		got := make([]string, 0, len(legs))
		for _, c := range legs {
			got = append(got, c.ID)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("legs of %s (%s): %v, want %v", id, r.Call.CallID, got, want)
		}
		if len(want) > 0 {
			linked++
		}
	}
	if linked == 0 {
		t.Fatal("no stored call has a leg: the dataset proves nothing")
	}
	if _, err := s.Legs(ctx, "no-such-call"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("legs of an unknown id: %v", err)
	}
}
