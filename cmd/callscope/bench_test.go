package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
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
