package storetest

// The aggregate cases of Run: Stats, Top and Registrations, each checked against
// correlate.Aggregate and the dataset counted in Go.

import (
	"context"
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
		r.Messages = nil // a flow's messages are not stored (correlate.Registration.Messages)
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
