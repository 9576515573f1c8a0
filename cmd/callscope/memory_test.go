package main

import (
	"context"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMemoryLimit: the sizing rule written in memoryLimit's doc, worked by hand for each
// source of the limit.
func TestMemoryLimit(t *testing.T) {
	const gib = int64(1) << 30
	for _, c := range []struct {
		name                   string
		configured, retained   int64
		env                    string
		physical, cgroup, want int64
		from                   string
	}{
		{"env wins", 5 * gib, gib, "2GiB", 24 * gib, 0, -1, "GOMEMLIMIT=2GiB"},
		{"none", -1, gib, "", 24 * gib, 0, -1, "memory_limit -1 (none)"},
		{"configured", 1536 << 20, gib, "", 24 * gib, 0, 1536 << 20, "memory_limit"},
		// 2 × 1 GiB + 1 GiB = 3 GiB, below 3/4 of 24 GiB.
		{"automatic", 0, gib, "", 24 * gib, 0, 3 * gib, "automatic"},
		// 3 GiB is above 3/4 of a 2 GiB cgroup: 1.5 GiB.
		{"cgroup", 0, gib, "", 24 * gib, 2 * gib, 1536 << 20, "automatic"},
		// 3/4 of 2 GiB of RAM when there is no cgroup limit.
		{"small machine", 0, gib, "", 2 * gib, 0, 1536 << 20, "automatic"},
		// Unknown memory: the rule alone.
		{"unknown", 0, 256 << 20, "", 0, 0, 1536 << 20, "automatic"},
	} {
		got, from := memoryLimit(c.configured, c.retained, c.env, c.physical, c.cgroup)
		if got != c.want || from != c.from {
			t.Errorf("%s: %d (%s), want %d (%s)", c.name, got, from, c.want, c.from)
		}
	}
	if physicalMemory() <= 0 {
		t.Error("MemTotal not read from /proc/meminfo")
	}
}

// TestGCPercent: GOGC in the environment wins (the runtime applied it), then gc_percent,
// then 50.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		configured int
		env        string
		want       int
		from       string
	}{
		{0, "", 50, "default"},
		{80, "", 80, "gc_percent"},
		{80, "200", -1, "GOGC=200"},
		{0, "off", -1, "GOGC=off"},
	} {
		if got, from := gcPercent(c.configured, c.env); got != c.want || from != c.from {
			t.Errorf("gcPercent(%d, %q) = %d, %q; want %d, %q", c.configured, c.env, got, from, c.want, c.from)
		}
	}
	cfg := defaultServeConfig()
	cfg.GCPercent = -5
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "gc_percent -5") {
		t.Errorf("gc_percent -5: %v", err)
	}
}

// TestAnalyzeGCPercent: analyze runs with serve's GOGC unless the GOGC variable is set
// (the runtime applied that at start, so analyze leaves the collector alone).
func TestAnalyzeGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		env  string
		want int
	}{{"", defaultGCPercent}, {"200", 100}} {
		t.Setenv("GOGC", c.env)
		debug.SetGCPercent(100)
		if err := runAnalyze(context.Background(), []string{"../../testdata/demo/sipp-calls.pcap"}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC=%q: analyze left GOGC %d, want %d", c.env, got, c.want)
		}
	}
}

// TestTrimHeap: after a burst of 256 MiB of calls is let go, the heap holds far more than
// the collector's goal needs (heapExcess), and trimHeap gives it back to the OS within a
// few periods (one trim counted, the free heap then below trimFreeBytes). The burst is
// 64 KiB objects, as call arenas and frame chunks are; the expectation is the runtime's
// own accounting (runtime/metrics), not a figure of ours.
func TestTrimHeap(t *testing.T) {
	burst := make([][]byte, 4096)
	for i := range burst {
		burst[i] = make([]byte, 64<<10)
		burst[i][0] = byte(i) // touched: resident
	}
	runtime.GC()
	runtime.KeepAlive(burst)
	burst = nil
	runtime.GC() // the goal falls to what is live now
	free, excess, goal := heapExcess()
	if free < 128<<20 || excess < 128<<20 {
		t.Fatalf("after letting 256 MiB go: free %d MiB, excess over the goal %d MiB; want both over 128 MiB", free>>20, excess>>20)
	}
	if !worthTrimming(free, excess, goal) {
		t.Fatalf("free %d MiB, excess %d MiB, goal %d MiB: not worth trimming", free>>20, excess>>20, goal>>20)
	}
	trims := prometheus.NewCounter(prometheus.CounterOpts{Name: "trims"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { trimHeap(ctx, 50*time.Millisecond, trims); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(trims) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if n := testutil.ToFloat64(trims); n < 1 {
		t.Fatalf("no trim in 5 s with %d MiB free beyond the goal", excess>>20)
	}
	if free, _, _ := heapExcess(); free > trimFreeBytes {
		t.Errorf("after the trim %d MiB of heap still free and not returned (want at most %d MiB)", free>>20, trimFreeBytes>>20)
	}
}

// TestWorthTrimming: the rule of worthTrimming's doc, by hand. MiB figures.
func TestWorthTrimming(t *testing.T) {
	const m = 1 << 20
	for _, c := range []struct {
		free, excess, goal uint64
		want               bool
	}{
		{free: 200, excess: 200, goal: 60, want: true},    // after a burst: the goal fell
		{free: 200, excess: 10, goal: 600, want: false},   // a growing heap: what GC freed is reused
		{free: 40, excess: 300, goal: 60, want: false},    // little free: nothing to give back
		{free: 300, excess: 200, goal: 1024, want: false}, // a 1 GiB goal needs 256 MiB beyond it
		{free: 300, excess: 257, goal: 1024, want: true},
		{free: 65, excess: 65, goal: 100, want: true},
		{free: 64, excess: 65, goal: 100, want: false},
	} {
		if got := worthTrimming(c.free*m, c.excess*m, c.goal*m); got != c.want {
			t.Errorf("free %d, excess %d, goal %d MiB: %v, want %v", c.free, c.excess, c.goal, got, c.want)
		}
	}
}

// TestBoundReportMemory: the limit set at the end of the input is the live heap after a
// collection (read here the same way, from runtime/metrics, after one) plus a quarter,
// at least reportHeadroom, and a lower limit already in force (GOMEMLIMIT) is kept.
func TestBoundReportMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	keep := make([][]byte, 1024) // 64 MiB live: an eighth of it is more than reportHeadroom
	for i := range keep {
		keep[i] = make([]byte, 64<<10)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	boundReportMemory()
	got := debug.SetMemoryLimit(-1)
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	live := int64(s[0].Value.Uint64())
	if want := live + live/4; got < want-want/20 || got > want+want/20 {
		t.Errorf("limit %d MiB, want %d MiB (a quarter above the live %d MiB) within 5 %%", got>>20, want>>20, live>>20)
	}

	low := live + 1<<20
	debug.SetMemoryLimit(low)
	boundReportMemory()
	if got := debug.SetMemoryLimit(-1); got != low {
		t.Errorf("a lower limit already set became %d MiB, want %d MiB kept", got>>20, low>>20)
	}
	runtime.KeepAlive(keep)
}
