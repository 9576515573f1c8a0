package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
	"github.com/prometheus/client_golang/prometheus"
)

// synthCall makes call i of a synthetic day: numbers, peers and outcomes vary with i.
func synthCall(i int, base time.Time) *correlate.Record {
	start := base.Add(time.Duration(i) * 50 * time.Millisecond)
	cid := "bench-" + strconv.Itoa(i) + "@10.0.0.1"
	dur, pdd := float64(30000+i%60000), float64(100+i%900)
	mos := 3.0 + float64(i%15)/10
	states := []correlate.State{"answered", "answered", "answered", "busy", "failed", "cancelled", "no_answer"}
	codes := []int{200, 200, 200, 486, 503, 487, 480}
	k := i % len(states)
	c := correlate.Call{
		CallID: cid, From: "<sip:49301" + strconv.Itoa(i%100000) + "@10.0.0.1>", To: "<sip:" + strconv.Itoa(1000+i%5000) + "@10.0.1.1>",
		FromUser: "49301" + strconv.Itoa(i%100000), ToUser: strconv.Itoa(1000 + i%5000),
		Caller: "10.0." + strconv.Itoa(i%200) + ".1:5060", Callee: "10.1." + strconv.Itoa(i%50) + ".1:5060",
		Transport: "udp", State: states[k], FinalCode: codes[k], FinalReason: "x",
		Start: correlate.Time(start.UnixNano()), End: correlate.Time(start.Add(time.Minute).UnixNano()),
		PDDMs: &pdd, EndReason: "bye", SIPMessages: 7, LinkedCallIDs: []string{}, UserAgents: []string{"bench"},
		Streams: []correlate.Stream{},
	}
	if k < 3 {
		c.DurationMs, c.MOSMin = &dur, &mos
	}
	c.ID = correlate.CallUID(cid, c.Start)
	return &correlate.Record{Call: c}
}

// bench1M opens (and fills on first use) a DuckDB store with total synthetic calls, one
// every 50 ms from base. CALLSCOPE_BENCH_DB names a file to reuse between runs.
func bench1M(b *testing.B, total int) (*duckdb.Store, time.Time) {
	b.Helper()
	path := os.Getenv("CALLSCOPE_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.duckdb")
	}
	st, err := duckdb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	if page, err := st.SearchCalls(ctx, store.CallQuery{CallID: "bench-" + strconv.Itoa(total-1) + "@10.0.0.1"}); err != nil || len(page.Calls) == 0 {
		t0 := time.Now()
		batch := make([]*correlate.Record, 0, 20000)
		for i := 0; i < total; i++ {
			batch = append(batch, synthCall(i, base))
			if len(batch) == cap(batch) || i == total-1 {
				if err := st.WriteCalls(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		b.Logf("stored %d calls in %v", total, time.Since(t0))
	}
	return st, base
}

// BenchmarkCallsPageLoad1M is the server time of a first paint of the Calls page with
// 1,000,000 calls stored: every request the browser makes before the page shows its
// first rows (the document, its stylesheet and scripts, /api/v1/me, the newest page of
// calls, the calls in progress and the alert banner), issued one after another, so the
// sum is an upper bound on what a browser issuing them in parallel waits for on the
// server. Reported as the p95 of that sum.
func BenchmarkCallsPageLoad1M(b *testing.B) {
	st, _ := bench1M(b, 1_000_000)
	h := New(Config{}, st, nil, prometheus.NewRegistry())
	reqs := []string{"/", "/assets/app.css", "/assets/alerts.js", "/assets/security.js", "/assets/app.js",
		"/api/v1/me", "/api/v1/calls?limit=50", "/api/v1/active", "/api/v1/alerts"}
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, q := range reqs {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", q, nil))
			// /api/v1/alerts is 404 (JSON) on a server without an alert engine, as here.
			if rec.Code != 200 && !(q == "/api/v1/alerts" && rec.Code == 404) {
				b.Fatalf("%s: %d %s", q, rec.Code, rec.Body.String())
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}

// BenchmarkSearch1M measures GET /api/v1/calls with 1,000,000 calls stored in DuckDB and
// reports the p95 server time over a mix of searches. Set CALLSCOPE_BENCH_DB to reuse a
// filled database file between runs.
func BenchmarkSearch1M(b *testing.B) {
	const total = 1_000_000
	st, base := bench1M(b, total)
	h := New(Config{}, st, nil, prometheus.NewRegistry())
	mid := base.Add(total / 2 * 50 * time.Millisecond)
	queries := []string{
		"/api/v1/calls",
		"/api/v1/calls?number=4930112345",
		"/api/v1/calls?ip=10.1.7.1&limit=100",
		"/api/v1/calls?call_id=bench-777777@10.0.0.1",
		"/api/v1/calls?state=failed&code=503",
		"/api/v1/calls?mos_below=3.2&sort=mos",
		"/api/v1/calls?sort=duration&desc=true",
		"/api/v1/calls?from=" + mid.Format(time.RFC3339) + "&to=" + mid.Add(time.Hour).Format(time.RFC3339) + "&dropped=false",
	}
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := queries[i%len(queries)]
		t0 := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", q, nil))
		lat = append(lat, time.Since(t0))
		if rec.Code != 200 {
			b.Fatalf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	if testing.Verbose() {
		for i, q := range queries {
			if i < len(lat) {
				b.Logf("%8.1f ms  %s", float64(lat[i].Microseconds())/1000, q)
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}

// BenchmarkCallPage200 measures the call page's API work (GET call + GET ladder) for a
// call with 200 SIP messages, server time.
func BenchmarkCallPage200(b *testing.B) {
	st, err := duckdb.Open(filepath.Join(b.TempDir(), "page.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	r := synthCall(1, base)
	a, z := netip.MustParseAddrPort("10.0.0.1:5060"), netip.MustParseAddrPort("10.1.0.1:5060")
	for i := 0; i < 200; i++ {
		raw := fmt.Sprintf("INFO sip:1001@10.1.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK%d\r\nCall-ID: %s\r\nCSeq: %d INFO\r\nContent-Length: 0\r\n\r\n", i, r.Call.CallID, i+1)
		src, dst := a, z
		if i%2 == 1 {
			src, dst = z, a
		}
		r.Messages = append(r.Messages, correlate.Message{TS: int64(r.Call.Start) + int64(i)*1e7, Src: src, Dst: dst, Transport: "udp",
			Request: true, Method: "INFO", CSeq: uint32(i + 1), Raw: []byte(raw), Frame: append(make([]byte, 42), raw...), LinkType: 1})
	}
	r.Call.SIPMessages = 200
	if err := st.WriteCalls(ctx, []*correlate.Record{r}); err != nil {
		b.Fatal(err)
	}
	h := New(Config{}, st, nil, prometheus.NewRegistry())
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, p := range []string{"/api/v1/calls/" + r.Call.ID, "/api/v1/calls/" + r.Call.ID + "/ladder"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			if rec.Code != 200 {
				b.Fatalf("%s: %d", p, rec.Code)
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}
