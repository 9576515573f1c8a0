//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/internal/gen"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkLivePipeline measures serve's live path end to end on a veth pair: one
// goroutine injects b.N frames of a generated load (answered calls of 20 s, G.711 20 ms
// both ways, so ~99% RTP, the rest SIP) into one end with an AF_PACKET socket as fast as
// the socket takes them; capture.Live captures the other end and runLive decodes and
// correlates, with workers 1 (one goroutine) and 2 (decode and correlate apart,
// live_parallel.go). It reports the frames decoded per second and what the capture lost
// (kernel ring, queue) because the pipeline fell behind, and the process's CPU time per
// frame (the injector's included). Needs root; run with
// -benchtime=200000x or so (the load is generated to hold b.N frames).
//
// Two shapes of load: calls=20s, calls of 20 s (b.N/2000 calls, all overlapping: about 200
// for 400,000 frames), and calls=2s, calls of 2 s (b.N/400 calls: about 1,000 at once),
// where the correlator's tables are 5× larger.
func BenchmarkLivePipeline(b *testing.B) {
	for _, secs := range []int{20, 2} {
		for _, workers := range []int{1, 2} {
			b.Run("calls="+strconv.Itoa(secs)+"s/workers="+strconv.Itoa(workers), func(b *testing.B) { benchLivePipeline(b, secs, workers) })
		}
	}
}

// benchLoad returns at least n frames of gen.Load with calls of secs seconds, in batches
// of 256 frames (Ethernet, one link type).
func benchLoad(b *testing.B, n, secs int) []*capture.Batch {
	calls := n/(secs*100) + 1 // secs × 50 pps × 2 directions each
	return batchesOf(b, writeGen(b, b.TempDir(), gen.Load(calls, secs, 1)), 256)
}

func benchLivePipeline(b *testing.B, secs, workers int) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (veth pair, AF_PACKET)")
	}
	const a, z = "csplA", "csplZ"
	_ = exec.Command("ip", "link", "del", a).Run()
	for _, args := range [][]string{{"link", "add", a, "type", "veth", "peer", "name", z}, {"link", "set", a, "up"}, {"link", "set", z, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	defer exec.Command("ip", "link", "del", a).Run() //nolint:errcheck // cleanup
	time.Sleep(200 * time.Millisecond)

	var frames [][]byte
	for _, bt := range benchLoad(b, b.N, secs) {
		frames = append(frames, bt.Frames...)
	}
	frames = frames[:min(len(frames), b.N)]

	live, err := capture.OpenLive([]string{z}, capture.LiveConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer live.Close()
	tx, err := afpacket.NewTPacket(afpacket.OptInterface(a))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	lc, err := newLiveCalls(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	stored := 0
	cor := correlate.New(correlate.DefaultConfig(), correlate.Output{
		Call:         func(*correlate.Record) { stored++ },
		Registration: func(*correlate.Registration) {},
	})
	var decoded atomic.Int64 // frames whose batch the live loop gave back
	in := liveInputs{cap: live.Batches(), capDone: func(bt *capture.Batch) {
		decoded.Add(int64(len(bt.Frames)))
		live.Release(bt)
	}}
	time.Sleep(100 * time.Millisecond)

	b.ReportAllocs()
	b.SetBytes(214) // a G.711 20 ms frame, the load's usual one
	b.ResetTimer()
	cpu0 := int64(processCPU())
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runLive(ctx, in, cor, workers, &lc.live, &callHooks{}); close(done) }()
	go func() {
		for _, f := range frames {
			for tx.WritePacketData(f) != nil {
				time.Sleep(time.Microsecond) // the transmit queue is full: wait, do not lose the frame here
			}
		}
	}()
	deadline := time.Now().Add(30*time.Second + time.Duration(len(frames))*time.Microsecond)
	for {
		st := live.Stats()
		if uint64(decoded.Load())+st.KernelDrops+st.QueueDrops >= uint64(len(frames)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	cancel()
	<-done
	b.StopTimer()
	st := live.Stats()
	b.ReportMetric(float64(decoded.Load())/el.Seconds(), "pkts/s")
	b.ReportMetric(float64(st.KernelDrops), "kernel-drops")
	b.ReportMetric(float64(st.QueueDrops), "queue-drops")
	b.ReportMetric(float64(stored), "calls")
	b.ReportMetric(float64(int64(processCPU())-cpu0)/float64(max(1, decoded.Load())), "cpu-ns/pkt")
}

// cpuTime is the process's CPU time so far (user + system), in ns.

// BenchmarkLivePipelineFeed is BenchmarkLivePipeline without the capture stage: the same
// loads, already cut into capture batches of 256 frames, is handed to runLive as fast as it
// takes them, so it measures the ceiling of decode + correlate on the live path, with
// workers 1 and 2. No drops here: the feeder waits for the loop.
func BenchmarkLivePipelineFeed(b *testing.B) {
	for _, secs := range []int{20, 2} {
		for _, workers := range []int{1, 2} {
			b.Run("calls="+strconv.Itoa(secs)+"s/workers="+strconv.Itoa(workers), func(b *testing.B) { benchLivePipelineFeed(b, secs, workers) })
		}
	}
}

func benchLivePipelineFeed(b *testing.B, secs, workers int) {
	batches := benchLoad(b, b.N, secs)
	lc, err := newLiveCalls(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cor := correlate.New(correlate.DefaultConfig(), correlate.Output{
		Call:         func(*correlate.Record) {},
		Registration: func(*correlate.Registration) {},
	})
	ch := make(chan *capture.Batch, 256) // capture.Live's default queue
	in := liveInputs{cap: ch, capDone: func(*capture.Batch) {}}
	b.ReportAllocs()
	b.SetBytes(214)
	b.ResetTimer()
	cpu0 := int64(processCPU())
	start := time.Now()
	go func() {
		n := 0
		for _, bt := range batches {
			if n >= b.N {
				break
			}
			ch <- bt
			n += len(bt.Frames)
		}
		close(ch)
	}()
	runLive(context.Background(), in, cor, workers, &lc.live, &callHooks{})
	el := time.Since(start)
	b.StopTimer()
	n := float64(min(b.N, len(batches)*256))
	b.ReportMetric(n/el.Seconds(), "pkts/s")
	b.ReportMetric(float64(int64(processCPU())-cpu0)/n, "cpu-ns/pkt")
}
