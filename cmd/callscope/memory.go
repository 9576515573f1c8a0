package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// memoryLimit returns the soft memory limit serve gives the Go runtime and where it came
// from, for the configured limit (serveConfig.MemoryLimit), the retained-bytes budget,
// the GOMEMLIMIT environment variable, and the machine's memory (physical, and the
// cgroup v2 limit; 0 when unknown).
//
// Why a limit: with the default GOGC=100 the heap may reach twice what the last
// collection left live before the next one starts, so RSS is about twice the tables'
// live size (BENCHMARKS.md, "Soak"). A soft limit makes the collector run earlier as the
// heap nears it; the runtime caps the collector's share of CPU (about half) when the live
// heap itself exceeds the limit, so a limit set too low costs CPU, never correctness. The
// automatic size, 2 × max_retained_bytes + 1 GiB, covers the retained SIP text and frames
// (capped at max_retained_bytes) with room for the call and stream tables at their caps;
// it never exceeds three quarters of the memory the process may use.
func memoryLimit(configured, retained int64, env string, physical, cgroup int64) (int64, string) {
	switch {
	case env != "":
		return -1, "GOMEMLIMIT=" + env
	case configured == -1:
		return -1, "memory_limit -1 (none)"
	case configured > 0:
		return configured, "memory_limit"
	}
	limit := 2*retained + 1<<30
	avail := physical
	if cgroup > 0 && (avail == 0 || cgroup < avail) {
		avail = cgroup
	}
	if avail > 0 && limit > avail/4*3 {
		limit = avail / 4 * 3
	}
	return limit, "automatic"
}

// applyMemoryLimit sets the runtime's soft memory limit for cfg and describes it for the
// log. A limit of -1 leaves the runtime as it is (GOMEMLIMIT, when set, is already applied
// by the runtime at start).
func applyMemoryLimit(cfg *serveConfig) string {
	limit, from := memoryLimit(cfg.MemoryLimit, cfg.MaxRetainedBytes, os.Getenv("GOMEMLIMIT"), physicalMemory(), cgroupMemoryMax())
	if limit < 0 {
		return from
	}
	debug.SetMemoryLimit(limit)
	return fmt.Sprintf("%d MiB (%s)", limit>>20, from)
}

// defaultGCPercent is serve's and analyze's GOGC: the heap may grow to 1.5× what the last collection
// left live instead of 2×. Measured on serve -r with kept frames (BENCHMARKS.md, session 5):
// peak RSS 1,265 → 972–1,046 MiB at 20,000 concurrent calls, 943 → 737 MiB at 2,000 60-s
// calls, 1,944 → 1,564 MiB under a 50,000 msg/s HEP load, with CPU within the host's
// run-to-run noise (the collector marks the live heap, whose size this does not change).
const defaultGCPercent = 50

// gcPercent returns the GOGC serve uses and where it came from: the GOGC environment
// variable wins, then gc_percent, then defaultGCPercent.
func gcPercent(configured int, env string) (int, string) {
	switch {
	case env != "":
		return -1, "GOGC=" + env // the runtime applied it at start
	case configured > 0:
		return configured, "gc_percent"
	}
	return defaultGCPercent, "default"
}

// applyGCPercent sets the collector's target for cfg and describes it for the log.
func applyGCPercent(cfg *serveConfig) string {
	p, from := gcPercent(cfg.GCPercent, os.Getenv("GOGC"))
	if p < 0 {
		return from
	}
	debug.SetGCPercent(p)
	return fmt.Sprintf("%d (%s)", p, from)
}

// physicalMemory is MemTotal from /proc/meminfo in bytes, 0 when unreadable.
func physicalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupMemoryMax is the cgroup v2 memory.max of this process's cgroup in bytes, 0 when
// there is none ("max") or it cannot be read.
func cgroupMemoryMax() int64 {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(cg, []byte("\n")) {
		if p, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			b, err := os.ReadFile("/sys/fs/cgroup" + string(bytes.TrimSpace(p)) + "/memory.max")
			if err != nil {
				return 0
			}
			v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
			if err != nil {
				return 0
			}
			return v
		}
	}
	return 0
}

// Returning freed heap to the OS (trimHeap).
//
// When a burst of calls ends (a replayed file's calls all end together; a busy hour on a
// probe), the Go heap they held is freed, but the runtime's background scavenger gives
// the pages back to the OS slowly (it paces itself to about 1 % of a CPU), so the process
// keeps the burst's high-water mark resident for many seconds while DuckDB, which writes
// those calls next, grows on top of it. Measured on serve -r of 20,000 concurrent calls
// with --keep-rtp headers (BENCHMARKS.md, session 14): at the moment every call was
// stored the Go runtime held 245 MiB of free heap not yet returned. Trimming (below)
// took peak RSS from 620–651 to 569–578 MiB and the RssAnon left after the replay from
// 443–529 to 333–359 MiB, in the same wall time (+2–3 % CPU for the extra collections).
const (
	trimEvery     = time.Second
	trimFreeBytes = 64 << 20
)

// heapExcess is the free heap not yet returned to the OS, and how much of the heap
// the process holds beyond what the collector's goal needs (the heap's objects, unused
// and free spans, less the goal): memory the heap will not grow into again before the
// next collection. While the live heap grows (a HEP probe filling its call table), what
// a collection frees is reused at once and the excess stays near zero; after a burst has
// ended, the goal has fallen and the excess is the burst's pages.
func heapExcess() (free, excess, goal uint64) {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/gc/heap/goal:bytes"},
	}
	metrics.Read(s)
	var v [4]uint64
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0, 0, 0
		}
		v[i] = s[i].Value.Uint64()
	}
	if held := v[0] + v[1] + v[2]; held > v[3] {
		excess = held - v[3]
	}
	return v[0], excess, v[3]
}

// worthTrimming reports whether trimHeap should return the heap's free memory: more than
// trimFreeBytes free, and held beyond the goal by more than trimFreeBytes and a quarter
// of the goal. The quarter bounds how often a large heap is trimmed while it shrinks
// (each trim is a collection of the live heap): a 1 GiB heap only once it holds 256 MiB
// it will not grow into.
func worthTrimming(free, excess, goal uint64) bool {
	return free > trimFreeBytes && excess > max(trimFreeBytes, goal/4)
}

// trimHeap returns free heap to the OS (debug.FreeOSMemory: a collection, then every
// free page released) every period (serve: trimEvery) while worthTrimming, until ctx
// ends. trims counts the times it did. A probe whose live heap is steady or growing is
// never trimmed; a trim costs one collection of the live heap.
func trimHeap(ctx context.Context, every time.Duration, trims prometheus.Counter) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if worthTrimming(heapExcess()) {
				debug.FreeOSMemory()
				trims.Inc()
			}
		}
	}
}

// boundReportMemory is analyze's hook for the end of the input (pipeline.finishing).
// There every call still open ends at once, and each call's state becomes garbage while
// its record is made; with GOGC alone the collector lets the heap grow by half of the
// live heap before it looks again, so that moment set analyze's peak RSS (20,000
// concurrent calls: the Go runtime's memory went 82 → 119 MiB in the last 0.4 s). It
// collects once, to know the live heap, and sets a soft limit a quarter above it (at
// least reportHeadroom): the collector then takes the calls' state back as the records
// replace it, and the report is written within about what the input needed. A quarter,
// not less: at an eighth, the collections the report's own allocations then need cost
// 10–15 % more CPU for 1 MiB. A lower limit already set (GOMEMLIMIT) stays. The limit is
// soft: if the report needs more, the heap grows past it and the runtime caps the
// collector's share of the CPU.
func boundReportMemory() {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := int64(s[0].Value.Uint64())
	limit := live + max(live/4, reportHeadroom)
	if cur := debug.SetMemoryLimit(-1); cur < limit {
		return
	}
	debug.SetMemoryLimit(limit)
}

// reportHeadroom is the least room boundReportMemory leaves above the live heap.
const reportHeadroom = 8 << 20
