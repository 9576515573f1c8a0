package duckdb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
)

var benchStart = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// synthRecord makes call i: 7 SIP messages (INVITE, 100, 180, 200, ACK, BYE, 200) of
// realistic size and 2 streams with 3 intervals each, spread over 10 days.
func synthRecord(i int, rng *rand.Rand) *correlate.Record {
	start := benchStart.Add(time.Duration(i) * 10 * 24 * time.Hour / 1_000_000).UnixNano()
	states := []correlate.State{"answered", "answered", "answered", "busy", "cancelled", "failed", "no_answer"}
	codes := []int{200, 200, 200, 486, 487, 503, 480}
	k := rng.IntN(len(states))
	caller := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
	callee := netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(rng.IntN(4)), byte(rng.IntN(250))}), 5060)
	fu, tu := fmt.Sprintf("+1555%07d", rng.IntN(10_000_000)), fmt.Sprintf("+4930%07d", rng.IntN(10_000_000))
	callID := fmt.Sprintf("%016x@probe.example", rng.Uint64())
	dur, pdd, mos := float64(rng.IntN(600_000)), float64(50+rng.IntN(3000)), 1+3.5*rng.Float64()
	c := correlate.Call{
		CallID: callID, From: "sip:" + fu + "@a.example", To: "sip:" + tu + "@b.example", FromUser: fu, ToUser: tu,
		Caller: caller.String(), Callee: callee.String(), Transport: "udp", State: states[k], FinalCode: codes[k],
		FinalReason: "x", Start: correlate.Time(start), PDDMs: &pdd, EndReason: "bye",
		LinkedCallIDs: []string{}, UserAgents: []string{"probe/1"}, Streams: []correlate.Stream{},
	}
	c.ID = correlate.CallUID(callID, c.Start)
	rec := &correlate.Record{}
	raw := make([]byte, 700)
	for j, m := range []string{"INVITE", "", "", "", "ACK", "BYE", ""} {
		rec.Messages = append(rec.Messages, correlate.Message{TS: start + int64(j)*1e8, Src: caller, Dst: callee, Transport: "udp",
			Request: m != "", Method: m, Status: []int{0, 100, 180, 200, 0, 0, 200}[j], CSeq: 1, Raw: raw, Frame: raw[:742%len(raw)], LinkType: 1})
	}
	if k < 3 {
		c.DurationMs, c.MOSMin = &dur, &mos
		for s := 0; s < 2; s++ {
			st := correlate.Stream{SSRC: fmt.Sprintf("0x%08X", rng.Uint32()), Src: "10.0.0.1:20000", Dst: "10.0.0.2:30000",
				Codec: "PCMU", ClockRate: 8000, First: correlate.Time(start), Last: correlate.Time(start + 6e10), Packets: 3000,
				Expected: 3000, MOS: &mos, Intervals: []correlate.Interval{}}
			for v := 0; v < 3; v++ {
				st.Intervals = append(st.Intervals, correlate.Interval{Start: correlate.Time(start + int64(v)*5e9), Packets: 250, MOS: &mos})
			}
			c.Streams = append(c.Streams, st)
		}
	}
	rec.Call = c
	return rec
}

func synthBatch(from, n int, rng *rand.Rand) []*correlate.Record {
	out := make([]*correlate.Record, n)
	for i := range out {
		out[i] = synthRecord(from+i, rng)
	}
	return out
}

// BenchmarkInsertCalls writes batches of 5,000 calls (7 messages, 2 streams each).
func BenchmarkInsertCalls(b *testing.B) { benchInsert(b, 5000) }

// BenchmarkInsertCallsSmall writes batches of 50 calls, what serve's writer sees
// under HEP load (calls end continuously, so batches rarely fill), where the fixed
// cost of a batch (transaction, appenders, replay check) counts.
func BenchmarkInsertCallsSmall(b *testing.B) { benchInsert(b, 50) }

func benchInsert(b *testing.B, batch int) {
	b.ReportAllocs()
	s, err := duckdb.Open(filepath.Join(b.TempDir(), "bench.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	batches := make([][]*correlate.Record, 4)
	for i := range batches {
		batches[i] = synthBatch(i*batch, batch, rng)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Fresh ids each round so the store grows as in production.
		recs := batches[i%len(batches)]
		b.StopTimer()
		for _, r := range recs {
			r.Call.ID = fmt.Sprintf("%d-%s", i, r.Call.CallID[:16])
		}
		b.StartTimer()
		if err := s.WriteCalls(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	el := b.Elapsed()
	b.ReportMetric(float64(b.N*batch)/el.Seconds(), "calls/s")
	b.ReportMetric(float64(el.Microseconds())/float64(b.N*batch), "us/call")
}

// BenchmarkSearch times 200 varied searches per iteration over 1,000,000 stored calls
// and reports their p95. The calls are bulk-loaded with SQL (LoadSynthetic, about a
// minute); set CALLSCOPE_BENCH_DUCKDB to a file path to keep that database and reuse it
// in later runs.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	const total = 1_000_000
	path := os.Getenv("CALLSCOPE_BENCH_DUCKDB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "search.duckdb")
	}
	s, err := duckdb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.DB().QueryRowContext(ctx, "SELECT count(*) FROM calls").Scan(&n); err != nil {
		b.Fatal(err)
	}
	switch n {
	case total:
		b.Logf("reusing %d calls in %s", n, path)
	case 0:
		t0 := time.Now()
		if err := duckdb.LoadSynthetic(s, ctx, total, benchStart, 10); err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d calls in %v", total, time.Since(t0))
	default:
		b.Fatalf("%s holds %d calls, want 0 or %d", path, n, total)
	}
	var probe []correlate.Call
	rows, err := s.DB().QueryContext(ctx, "SELECT call_id, from_user, to_user, caller, start FROM calls ORDER BY hash(id) LIMIT 100")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var c correlate.Call
		if err := rows.Scan(&c.CallID, &c.FromUser, &c.ToUser, &c.Caller, &c.Start); err != nil {
			b.Fatal(err)
		}
		probe = append(probe, c)
	}
	if err := rows.Err(); err != nil || len(probe) == 0 {
		b.Fatalf("probes: %d, %v", len(probe), err)
	}
	rows.Close()
	queries := make([]store.CallQuery, 200)
	for i := range queries {
		p := probe[i%len(probe)]
		day := time.Unix(0, int64(p.Start)).UTC().Truncate(24 * time.Hour)
		switch i % 8 {
		case 0:
			queries[i] = store.CallQuery{From: day, To: day.Add(24 * time.Hour)}
		case 1:
			queries[i] = store.CallQuery{Number: p.ToUser[3:10]}
		case 2:
			queries[i] = store.CallQuery{From: day, To: day.Add(2 * 24 * time.Hour), Number: p.FromUser[5:]}
		case 3:
			queries[i] = store.CallQuery{IP: store.HostOf(p.Caller)}
		case 4:
			queries[i] = store.CallQuery{CallID: p.CallID}
		case 5:
			queries[i] = store.CallQuery{From: day, To: day.Add(24 * time.Hour), State: "failed", FinalCode: 503}
		case 6:
			queries[i] = store.CallQuery{MOSBelow: 2, Sort: store.SortMOS}
		case 7:
			queries[i] = store.CallQuery{From: day, To: day.Add(6 * time.Hour), Sort: store.SortDuration, Desc: true}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var lat []time.Duration
	kinds := []string{"day", "number", "day2+number", "ip", "call-id", "day+failed/503", "mos<2 by mos", "6h by duration"}
	worst := make([]time.Duration, len(kinds))
	for n := 0; n < b.N; n++ {
		for i, q := range queries {
			t := time.Now()
			p, err := s.SearchCalls(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if q.CallID != "" && len(p.Calls) == 0 {
				b.Fatalf("call %s not found", q.CallID)
			}
			d := time.Since(t)
			lat = append(lat, d)
			worst[i%len(kinds)] = max(worst[i%len(kinds)], d)
		}
	}
	b.StopTimer()
	for i, k := range kinds {
		b.Logf("slowest %-16s %v", k, worst[i].Round(time.Millisecond))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95_ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
}
