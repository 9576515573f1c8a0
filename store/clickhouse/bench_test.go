package clickhouse_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/clickhouse"
)

// BenchmarkInsertCalls writes calls of 7 SIP messages and 2 streams (6 intervals each)
// in batches of 5,000, as store.Writer does, and reports calls/s. Record generation is
// outside the timer.
//
//	go test ./store/clickhouse -run '^$' -bench InsertCalls -benchtime 100000x
func BenchmarkInsertCalls(b *testing.B) {
	st := openFresh(b)
	ctx := context.Background()
	base := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	// 10,000 calls per INSERT: fewer parts for the server to merge. With the Writer's
	// default 5,000 the same machine measured 19,000–20,800 calls/s (BENCHMARKS.md).
	const batch = 10000
	recs := make([]*correlate.Record, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed time.Duration
	for done := 0; done < b.N; {
		b.StopTimer()
		recs = recs[:0]
		for i := 0; i < batch && done+i < b.N; i++ {
			recs = append(recs, synthCall(done+i, base, 20*time.Hour))
		}
		b.StartTimer()
		t0 := time.Now()
		if err := st.WriteCalls(ctx, recs); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		done += len(recs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
}

var (
	searchOnce  sync.Once
	searchStore *clickhouse.Store
	searchErr   error
)

const searchCalls = 1_000_000

// BenchmarkSearch stores 1,000,000 calls (with streams and intervals; SIP messages are
// left out of this store to bound disk use, they do not take part in searches) over 7
// days, then runs 200 varied searches per iteration and reports their p95 latency.
//
//	go test ./store/clickhouse -run '^$' -bench Search -benchtime 1x -timeout 30m
func BenchmarkSearch(b *testing.B) {
	base := time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC)
	const spread = 7 * 24 * time.Hour
	searchOnce.Do(func() {
		st := openFresh(b)
		ctx := context.Background()
		t0 := time.Now()
		recs := make([]*correlate.Record, 0, 20000)
		for done := 0; done < searchCalls; {
			recs = recs[:0]
			for i := 0; i < cap(recs) && done+i < searchCalls; i++ {
				r := synthCall(done+i, base, spread)
				r.Messages = nil
				recs = append(recs, r)
			}
			if searchErr = st.WriteCalls(ctx, recs); searchErr != nil {
				return
			}
			done += len(recs)
		}
		b.Logf("stored %d calls in %s", searchCalls, time.Since(t0).Round(time.Millisecond))
		searchStore = st
	})
	if searchErr != nil {
		b.Fatal(searchErr)
	}
	st := searchStore
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	queries := func() []store.CallQuery {
		var qs []store.CallQuery
		for i := 0; len(qs) < 200; i++ {
			from := base.Add(time.Duration(rng.Int63n(int64(spread - 2*time.Hour))))
			c := synthCall(rng.Intn(searchCalls), base, spread).Call
			yes := true
			switch i % 10 {
			case 0:
				qs = append(qs, store.CallQuery{})
			case 1:
				qs = append(qs, store.CallQuery{From: from, To: from.Add(time.Hour)})
			case 2:
				qs = append(qs, store.CallQuery{Number: c.ToUser[3:9]})
			case 3:
				qs = append(qs, store.CallQuery{From: from, To: from.Add(2 * time.Hour), Number: c.FromUser[5:]})
			case 4:
				qs = append(qs, store.CallQuery{IP: "10.20.3.77", From: from, To: from.Add(24 * time.Hour)})
			case 5:
				qs = append(qs, store.CallQuery{CallID: c.CallID})
			case 6:
				qs = append(qs, store.CallQuery{State: "failed", FinalCode: 503, From: from, To: from.Add(6 * time.Hour)})
			case 7:
				qs = append(qs, store.CallQuery{MOSBelow: 2.0, Sort: store.SortMOS})
			case 8:
				qs = append(qs, store.CallQuery{Sort: store.SortDuration, Desc: true, Dropped: &yes, Limit: 100})
			case 9:
				p, err := st.SearchCalls(ctx, store.CallQuery{From: from})
				if err != nil {
					b.Fatal(err)
				}
				qs = append(qs, store.CallQuery{From: from, Cursor: p.Next}) // page 2
			}
		}
		return qs
	}()
	var lat []time.Duration
	kinds := make([][]time.Duration, 10) // by query kind (i % 10 above)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, q := range queries {
			t0 := time.Now()
			if _, err := st.SearchCalls(ctx, q); err != nil {
				b.Fatalf("%+v: %v", q, err)
			}
			d := time.Since(t0)
			lat = append(lat, d)
			kinds[k%10] = append(kinds[k%10], d)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(p(0.5), "p50_ms")
	b.ReportMetric(p(0.95), "p95_ms")
	b.ReportMetric(p(1), "max_ms")
	for k, l := range kinds {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		b.Logf("query kind %d: p50 %.1f ms, max %.1f ms", k, float64(l[len(l)/2])/1e6, float64(l[len(l)-1])/1e6)
	}
	b.Logf("%s", fmt.Sprintf("%d searches: p50 %.1f ms, p95 %.1f ms, max %.1f ms", len(lat), p(0.5), p(0.95), p(1)))
}
