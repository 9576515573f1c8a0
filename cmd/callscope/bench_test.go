package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/callscope/callscope/alert"
	"github.com/callscope/callscope/callmetrics"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/peers"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	loadOnce sync.Once
	loadPath string
	loadPkts int
	loadErr  error
)

// loadCapture writes (once per process) a capture of 500 overlapping 20 s calls with
// 20 ms RTP both ways.
func loadCapture(b *testing.B) (string, int) {
	loadOnce.Do(func() {
		dir, err := os.MkdirTemp("", "callscope-bench")
		if err != nil {
			loadErr = err
			return
		}
		loadPath = filepath.Join(dir, "load.pcap")
		f, err := os.Create(loadPath)
		if err != nil {
			loadErr = err
			return
		}
		sc := gen.Load(500, 20, 1)
		truth, err := sc.Write(f)
		f.Close()
		loadPkts, loadErr = truth.Packets, err
	})
	if loadErr != nil {
		b.Fatal(loadErr)
	}
	return loadPath, loadPkts
}

// BenchmarkAnalyze is the end-to-end offline path: read, decode, correlate, quality,
// over a capture of 500 overlapping calls with RTP. One op = the whole file.
func BenchmarkAnalyze(b *testing.B) {
	path, pkts := loadCapture(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := analyzeFiles(context.Background(), []string{path}, decode.DefaultConfig(), correlate.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Calls) != 500 {
			b.Fatalf("%d calls", len(rep.Calls))
		}
	}
	b.ReportMetric(float64(pkts)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts)/float64(b.N), "ns/pkt")
}

// BenchmarkAnalyzeAlerting is BenchmarkAnalyze with everything serve does per finished
// call besides storing it: peer classification (10 groups), the call metrics and the
// built-in alert engine with the default rules. Compare with BenchmarkAnalyze.
func BenchmarkAnalyzeAlerting(b *testing.B) {
	path, pkts := loadCapture(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	var groups []peers.Group
	for i := range 10 {
		groups = append(groups, peers.Group{Name: fmt.Sprintf("g%d", i), CIDRs: []string{fmt.Sprintf("10.20.%d.0/24", i)}})
	}
	cls, err := peers.New(groups)
	if err != nil {
		b.Fatal(err)
	}
	var acfg alert.Config
	if err := acfg.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cm, err := callmetrics.New(prometheus.NewRegistry(), nil)
		if err != nil {
			b.Fatal(err)
		}
		hooks := &callHooks{peers: cls, metrics: cm, engine: alert.New(acfg, nil, nil)}
		rep, err := analyzeFilesWith(context.Background(), []string{path}, decode.DefaultConfig(), correlate.DefaultConfig(), hooks)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Calls) != 500 {
			b.Fatalf("%d calls", len(rep.Calls))
		}
	}
	b.ReportMetric(float64(pkts)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts)/float64(b.N), "ns/pkt")
}

// BenchmarkCallHooks isolates what BenchmarkAnalyzeAlerting adds: the hooks over the
// 500 finished calls of the load capture (one op = 500 calls), so the overhead can be
// read against BenchmarkAnalyze's ns/op without the noise of a shared machine.
func BenchmarkCallHooks(b *testing.B) {
	path, _ := loadCapture(b)
	rep, err := analyzeFiles(context.Background(), []string{path}, decode.DefaultConfig(), correlate.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	cls, _ := peers.New([]peers.Group{{Name: "g0", CIDRs: []string{"10.20.0.0/24"}}, {Name: "g1", CIDRs: []string{"10.20.1.0/24"}}})
	var acfg alert.Config
	if err := acfg.Validate(); err != nil {
		b.Fatal(err)
	}
	cm, _ := callmetrics.New(prometheus.NewRegistry(), nil)
	recs := make([]correlate.Record, len(rep.Calls))
	for i := range rep.Calls {
		recs[i].Call = rep.Calls[i]
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hooks := &callHooks{peers: cls, metrics: cm, engine: alert.New(acfg, nil, nil)}
		for j := range recs {
			hooks.call(&recs[j])
		}
		hooks.engine.Flush(int64(recs[len(recs)-1].Call.End))
	}
}

var loads sync.Map // calls → *loadFile

type loadFile struct {
	once sync.Once
	path string
	err  error
}

// loadCaptureN returns a capture of calls overlapping 20 s calls (gen.Load(calls, 20, 1),
// what `callscope gen -load-calls N -call-seconds 20` writes). With CALLSCOPE_BENCH_DIR
// set, DIR/load<N>.pcap is used when present (written by that command) or written there.
func loadCaptureN(b *testing.B, calls int) string {
	v, _ := loads.LoadOrStore(calls, &loadFile{})
	lf := v.(*loadFile)
	lf.once.Do(func() {
		dir := os.Getenv("CALLSCOPE_BENCH_DIR")
		if dir == "" {
			if dir, lf.err = os.MkdirTemp("", "callscope-bench"); lf.err != nil {
				return
			}
		}
		lf.path = filepath.Join(dir, fmt.Sprintf("load%d.pcap", calls))
		if _, err := os.Stat(lf.path); err != nil {
			f, err := os.Create(lf.path)
			if err != nil {
				lf.err = err
				return
			}
			sc := gen.Load(calls, 20, 1)
			_, lf.err = sc.Write(f)
			if cerr := f.Close(); lf.err == nil {
				lf.err = cerr
			}
		}
	})
	if lf.err != nil {
		b.Fatal(lf.err)
	}
	return lf.path
}

// BenchmarkAnalyzeWorkers is `callscope analyze --workers N` over load captures of 500
// and 5,000 concurrent calls, 1 and 2 workers side by side in one run (one op = the
// whole file; pkts/s and ns/pkt are per captured packet).
func BenchmarkAnalyzeWorkers(b *testing.B) {
	for _, calls := range []int{500, 5000} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("calls=%d/workers=%d", calls, workers), func(b *testing.B) {
				path := loadCaptureN(b, calls)
				st, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(st.Size())
				b.ReportAllocs()
				b.ResetTimer()
				var pkts uint64
				for i := 0; i < b.N; i++ {
					rep, err := analyzeFilesWorkers(context.Background(), []string{path}, decode.DefaultConfig(), correlate.DefaultConfig(), &callHooks{}, workers)
					if err != nil {
						b.Fatal(err)
					}
					if len(rep.Calls) != calls {
						b.Fatalf("%d calls, want %d", len(rep.Calls), calls)
					}
					pkts = rep.Capture.Packets
				}
				b.ReportMetric(float64(pkts)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts)/float64(b.N), "ns/pkt")
			})
		}
	}
}
