package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/hepload"
)

// BenchmarkHEPIngest is serve's live HEP path after the socket (ingestLive: DecodeHEP
// into the correlator with KeepMessages, as serve configures it) on the call flows of
// scripts/bench-hep.sh (internal/hepload), in steady state: one call starts every
// packet-time millisecond and each call's seven messages follow at their offsets, so
// about 11,000 calls are in the table (1 s calls, 10 s linger). One op is one SIP
// message; the packets are built with the timer stopped, 7,000 at a time.
func BenchmarkHEPIngest(b *testing.B) {
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages = true
	ccfg.KeepRTP = correlate.KeepRTPNone
	calls := 0
	cor := correlate.New(ccfg, correlate.Output{Call: func(*correlate.Record) { calls++ }})
	dec := decode.New(decode.DefaultConfig())
	onEvent := func(ev *decode.Event) { cor.Event(ev) }
	g := hepload.New(1)
	var lag [hepload.Messages]int64 // steps (ms) from a call's INVITE to message j
	for j := range lag {
		lag[j] = hepload.Offset(j).Milliseconds()
	}
	base := time.Unix(1_800_000_000, 0)
	type pkt struct {
		ts   int64
		data []byte
	}
	batch := make([]pkt, 0, 7000)
	slab := make([]byte, 0, 7000*1100)
	var step int64
	fill := func() {
		batch, slab = batch[:0], slab[:0]
		for len(batch) < cap(batch)-hepload.Messages {
			ts := base.Add(time.Duration(step) * time.Millisecond)
			for j := range lag {
				if k := step - lag[j]; k >= 0 {
					off := len(slab)
					slab, _ = g.Append(slab, uint64(k), j, ts)
					batch = append(batch, pkt{ts.UnixNano(), slab[off:]})
				}
			}
			step++
		}
	}
	// The machine is shared: ns/op is wall time, cpu-ns/op the process's CPU time
	// (getrusage: this goroutine, the GC's and the runtime's) over the timed part.
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		fill()
		b.StartTimer()
		c0 := processCPU()
		for _, p := range batch[:min(len(batch), b.N-done)] {
			dec.DecodeHEP(p.ts, p.data, onEvent)
			done++
		}
		cpu += processCPU() - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if calls == 0 && step > 12_000 {
		b.Fatal("no call was emitted")
	}
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
