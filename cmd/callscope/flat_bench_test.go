package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
)

// BenchmarkAnalyzeFiles is `callscope analyze --workers 1` (CALLSCOPE_BENCH_WORKERS=N:
// --workers N) over each capture named in
// CALLSCOPE_BENCH_FILES (comma-separated, e.g. the files `callscope gen -load-calls N
// -call-seconds 6` writes for N = 500, 5,000 and 20,000); skipped when it is unset. One
// op is the whole file; ns/pkt is per captured packet. Its use is comparing the cost per
// packet across numbers of concurrent calls (issue 16), with -cpuprofile or under
// cachegrind. CALLSCOPE_BENCH_KEEP=headers|full keeps frames as serve does (issue 17:
// the cost of --keep-rtp on the correlating goroutine; frames in memory, no spill).
func BenchmarkAnalyzeFiles(b *testing.B) {
	env := os.Getenv("CALLSCOPE_BENCH_FILES")
	if env == "" {
		b.Skip("CALLSCOPE_BENCH_FILES not set")
	}
	workers := 1
	if w, err := strconv.Atoi(os.Getenv("CALLSCOPE_BENCH_WORKERS")); err == nil && w > 0 {
		workers = w
	}
	ccfg := correlate.DefaultConfig()
	if k := os.Getenv("CALLSCOPE_BENCH_KEEP"); k != "" {
		ccfg.KeepRTP, ccfg.KeepMessages = k, true
	}
	for _, path := range strings.Split(env, ",") {
		b.Run(filepath.Base(path), func(b *testing.B) {
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			cpu0 := int64(processCPU())
			var pkts uint64
			for i := 0; i < b.N; i++ {
				rep, err := analyzeFilesWorkers(context.Background(), []string{path}, decode.DefaultConfig(), ccfg, &callHooks{}, workers)
				if err != nil {
					b.Fatal(err)
				}
				pkts = rep.Capture.Packets
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts)/float64(b.N), "ns/pkt")
			// CPU time (user + sys of the process) is steadier than wall time on a
			// shared host; with one worker it is the pipeline's cost plus the GC's.
			b.ReportMetric(float64(int64(processCPU())-cpu0)/float64(pkts)/float64(b.N), "cpu-ns/pkt")
		})
	}
}
