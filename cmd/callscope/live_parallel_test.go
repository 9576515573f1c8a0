package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/internal/gen"
	"github.com/prometheus/client_golang/prometheus"
)

// The reference for the live pipeline (--workers 2) is the single live loop (--workers
// 1), fed the same items in the same order: the expectation is "the same calls", not a
// number. The inputs are captures (the demo's 4 SIPp calls, as tshark -z sip,stat shows;
// generated scenarios) cut into capture batches, and the demo's SIP re-encoded as HEP.

// liveFeed is what one test run sends through liveInputs: capture batches or HEP
// packets, in order. speed > 0 replays them in packet time that many times faster than
// real time (both inputs on one clock, as live sources are); 0 sends them at once.
type liveFeed struct {
	batches []*capture.Batch
	heps    []capture.HEPPacket
	speed   float64
}

// batchesOf cuts a capture file into batches of up to n frames (one link type each),
// each frame copied into its own buffer, as capture.Live delivers them.
func batchesOf(t testing.TB, file string, n int) []*capture.Batch {
	t.Helper()
	src, err := capture.OpenFiles([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []*capture.Batch
	var pkt capture.Packet
	for {
		if err := src.Next(&pkt); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		if len(out) == 0 || len(out[len(out)-1].Frames) == n || out[len(out)-1].LinkType != pkt.LinkType {
			out = append(out, &capture.Batch{Iface: "test", LinkType: pkt.LinkType})
		}
		b := out[len(out)-1]
		b.TS = append(b.TS, pkt.TS)
		b.Frames = append(b.Frames, slices.Clone(pkt.Data))
		b.OrigLen = append(b.OrigLen, pkt.OrigLen)
	}
	return out
}

// hepOf re-encodes the SIP of a capture as HEPv3 packets (the capture's addresses and
// times), as an agent mirroring it would send them.
// shift moves every time by that many ns.
func hepOf(t testing.TB, file string, shift int64) []capture.HEPPacket {
	t.Helper()
	var out []capture.HEPPacket
	dec := decode.New(decode.DefaultConfig())
	for _, b := range batchesOf(t, file, 64) {
		for i, f := range b.Frames {
			dec.Decode(b.LinkType, b.TS[i], f, func(ev *decode.Event) {
				if ev.Kind != decode.KindSIP {
					return
				}
				ts := ev.TS + shift
				p := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1, Src: ev.Src, Dst: ev.Dst,
					TSSec: uint32(ts / 1e9), TSUsec: uint32(ts % 1e9 / 1e3), CaptureID: 7, Payload: ev.Payload}
				out = append(out, capture.HEPPacket{TS: ts, Data: hep.Append(nil, &p)})
			})
		}
	}
	return out
}

// liveResult is what a run stored: each call and registration as JSON, sorted.
type liveResult struct {
	calls, regs []string
	released    int64
}

// runLiveFeed runs runLive with workers over feed until both inputs close. Every item
// given back (Release) is overwritten at once, as the capture layer reuses its buffers:
// a stage reading a buffer after giving it back would store garbage (or race). gather,
// when not nil, runs on another goroutine while the run lasts (a /metrics scrape).
func runLiveFeed(t testing.TB, feed liveFeed, workers int, gather func(prometheus.Gatherer)) liveResult {
	t.Helper()
	reg := prometheus.NewRegistry()
	live, err := newLiveCalls(reg)
	if err != nil {
		t.Fatal(err)
	}
	var res liveResult
	cor := correlate.New(correlate.DefaultConfig(), correlate.Output{
		Call: func(r *correlate.Record) {
			b, _ := json.Marshal(r.Call)
			res.calls = append(res.calls, string(b))
		},
		Registration: func(r *correlate.Registration) {
			b, _ := json.Marshal(r)
			res.regs = append(res.regs, string(b))
		},
	})
	hepCh, capCh := make(chan capture.HEPPacket), make(chan *capture.Batch)
	var released atomic.Int64
	in := liveInputs{hep: hepCh, cap: capCh,
		hepDone: func(p capture.HEPPacket) {
			clear(p.Data) // the listener's next read overwrites the buffer
			released.Add(1)
		},
		capDone: func(b *capture.Batch) {
			for _, f := range b.Frames {
				for i := range f {
					f[i] = 0xff
				}
			}
			released.Add(1)
		},
	}
	// The feed's own copies: the run overwrites what it gives back.
	batches := make([]*capture.Batch, len(feed.batches))
	for i, b := range feed.batches {
		c := *b
		c.Frames = make([][]byte, len(b.Frames))
		for j, f := range b.Frames {
			c.Frames[j] = slices.Clone(f)
		}
		batches[i] = &c
	}
	heps := make([]capture.HEPPacket, len(feed.heps))
	for i, p := range feed.heps {
		heps[i] = capture.HEPPacket{TS: p.TS, Data: slices.Clone(p.Data)}
	}
	var t0 int64 // the first packet time of both inputs
	for _, b := range batches {
		t0 = b.TS[0]
		break
	}
	for _, p := range heps {
		if t0 == 0 || p.TS < t0 {
			t0 = p.TS
		}
		break
	}
	start := time.Now()
	wait := func(ts int64) {
		if feed.speed > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(ts-t0) / feed.speed))))
		}
	}
	go func() {
		for _, b := range batches {
			wait(b.TS[0])
			capCh <- b
		}
		close(capCh)
	}()
	go func() {
		for _, p := range heps {
			wait(p.TS)
			hepCh <- p
		}
		close(hepCh)
	}()
	done := make(chan struct{})
	stopGather := make(chan struct{})
	if gather != nil {
		go func() {
			defer close(done)
			for {
				select {
				case <-stopGather:
					return
				default:
					gather(reg)
					time.Sleep(time.Millisecond)
				}
			}
		}()
	} else {
		close(done)
	}
	runLive(context.Background(), in, cor, workers, &live.live, &callHooks{})
	close(stopGather)
	<-done
	res.released = released.Load()
	if want := int64(len(batches) + len(heps)); res.released != want {
		t.Errorf("workers %d gave back %d items of %d", workers, res.released, want)
	}
	slices.Sort(res.calls)
	slices.Sort(res.regs)
	return res
}

// writeGen writes a generated capture (as `callscope gen` does) into dir.
func writeGen(t testing.TB, dir string, sc gen.Scenario) string {
	t.Helper()
	path := filepath.Join(dir, sc.Name+".pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLivePipelineSameCalls: the live loop with --workers 2 stores exactly the calls and
// registrations (every field) of --workers 1 from the same capture batches or HEP
// packets; and the demo gives its 4 calls either way.
func TestLivePipelineSameCalls(t *testing.T) {
	dir := t.TempDir()
	feeds := map[string]liveFeed{
		"capture/demo":       {batches: batchesOf(t, demo, 64)},
		"capture/demo-1":     {batches: batchesOf(t, demo, 1)}, // every frame its own batch
		"capture/load-40x5s": {batches: batchesOf(t, writeGen(t, dir, gen.Load(40, 5, 1)), 256)},
		"hep/demo":           {heps: hepOf(t, demo, 0)},
	}
	for _, sc := range gen.Catalogue() {
		feeds["capture/gen/"+sc.Name] = liveFeed{batches: batchesOf(t, writeGen(t, dir, sc), 32)}
	}
	for name, feed := range feeds {
		t.Run(name, func(t *testing.T) {
			want := runLiveFeed(t, feed, 1, nil)
			got := runLiveFeed(t, feed, 2, nil)
			if !slices.Equal(got.calls, want.calls) {
				t.Errorf("workers 2 stored %d calls, workers 1 %d; first difference:\n%s", len(got.calls), len(want.calls), firstLineDiff(got.calls, want.calls))
			}
			if !slices.Equal(got.regs, want.regs) {
				t.Errorf("workers 2 stored %d registrations, workers 1 %d; first difference:\n%s", len(got.regs), len(want.regs), firstLineDiff(got.regs, want.regs))
			}
			if name == "capture/demo" || name == "hep/demo" {
				if len(want.calls) != 4 {
					t.Errorf("%d calls from the demo, want 4 (tshark -z sip,stat)", len(want.calls))
				}
			}
		})
	}
}

func firstLineDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return " got " + g + "\nwant " + w
		}
	}
	return "(none)"
}

// TestLivePipelineRace replays capture batches (6 generated calls of 20 s) and HEP
// packets (the demo's 4 calls, moved to the same start) together at 8 times real speed,
// about 3 s, so the 1 s tick publishes the decoder's counters and the calls in progress
// while stage A decodes, with /metrics scraped throughout (run it with -race). The two
// inputs interleave as the scheduler picks, within milliseconds of packet time, so the
// run is compared with workers 1 on what does not depend on that: each call's Call-ID,
// state, final code, streams and packets.
func TestLivePipelineRace(t *testing.T) {
	dir := t.TempDir()
	sc := gen.Load(6, 20, 3)
	feed := liveFeed{batches: batchesOf(t, writeGen(t, dir, sc), 16), speed: 8}
	feed.heps = hepOf(t, demo, 0)
	feed.heps = hepOf(t, demo, feed.batches[0].TS[0]-feed.heps[0].TS)
	gathered := 0
	scrape := func(g prometheus.Gatherer) {
		if _, err := g.Gather(); err != nil {
			t.Error(err)
		}
		gathered++
	}
	key := func(calls []string) []string {
		var out []string
		for _, s := range calls {
			var c correlate.Call
			if err := json.Unmarshal([]byte(s), &c); err != nil {
				t.Fatal(err)
			}
			pk := uint64(0)
			for _, st := range c.Streams {
				pk += st.Packets
			}
			b, _ := json.Marshal([]any{c.CallID, c.State, c.FinalCode, len(c.Streams), pk})
			out = append(out, string(b))
		}
		slices.Sort(out)
		return out
	}
	got := runLiveFeed(t, feed, 2, scrape)
	want := runLiveFeed(t, feed, 1, nil)
	if g, w := key(got.calls), key(want.calls); !slices.Equal(g, w) {
		t.Errorf("workers 2 and 1 differ:\n%s", firstLineDiff(g, w))
	}
	if len(want.calls) != 10 { // 6 generated calls and the demo's 4
		t.Errorf("%d calls, want 10:\n%s", len(want.calls), key(want.calls))
	}
	if gathered < 10 {
		t.Errorf("only %d scrapes during the run", gathered)
	}
}

// TestServeHEPWorkers: serve --hep with --workers 1 and 2 receives the demo's SIP as
// HEPv3 over one TCP connection (our encoder, the capture's addresses and times); with
// either, the stored calls' SIP fields (state, codes, timings, parties, message counts)
// equal what analyze finds in the capture itself. HEP carries the capture's times, so
// the timings are compared exactly.
func TestServeHEPWorkers(t *testing.T) {
	var stream []byte
	heps := hepOf(t, demo, 0)
	for _, p := range heps {
		stream = append(stream, p.Data...)
	}
	rep, _ := analyze(t, demo)
	if len(rep.Calls) != 4 {
		t.Fatalf("analyze found %d calls in the demo, want 4", len(rep.Calls))
	}
	for _, workers := range []int{1, 2} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			base, after, dbPath, stop := startServeArgs(t, []string{"--hep", "127.0.0.1:0", "--hep-max-skew", "0", "--workers", strconv.Itoa(workers)}, "callscope: HEP input on ")
			c, err := net.Dial("tcp", strings.Fields(after)[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(stream); err != nil {
				t.Fatal(err)
			}
			c.Close()
			waitMetric(t, base, "callscope_hep_tcp_packets_total "+strconv.Itoa(len(heps)))
			waitMetric(t, base, "callscope_correlate_sip_messages_total "+strconv.Itoa(len(heps)))
			stop()
			got := storedCalls(t, dbPath)
			if len(got) != 4 {
				t.Errorf("%d calls stored, want 4", len(got))
			}
			for _, want := range rep.Calls {
				if g, w := viewOf(got[want.CallID]), viewOf(want); !sameView(g, w, 1e-6) {
					t.Errorf("call %s:\n got %+v\nwant %+v", want.CallID, g, w)
				}
			}
		})
	}
}

// TestLivePipelineBackpressure: when the correlating goroutine stalls (here: the store
// hand-off of the demo's first call blocks; that call ends 12 s before the capture does,
// past the 10 s linger, so it leaves the correlator mid-stream), the decoding goroutine
// stops taking input once the ring's pipeRing batches are all in flight: the input
// (an unbuffered channel, each item then its own batch) advances by at most pipeRing+1
// items past the stall and then not at all, so the capture's own queue is what fills
// and counts drops. Released, everything is decoded and given back.
func TestLivePipelineBackpressure(t *testing.T) {
	items := batchesOf(t, demo, 1)
	filler := &capture.Batch{LinkType: 1, TS: []int64{items[len(items)-1].TS[0]}, Frames: [][]byte{make([]byte, 60)}, OrigLen: []int{60}}
	for range 2000 {
		items = append(items, filler)
	}
	live, err := newLiveCalls(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var sent, released atomic.Int64
	stalled := make(chan int64, 1)
	resume := make(chan struct{})
	calls := 0
	cor := correlate.New(correlate.DefaultConfig(), correlate.Output{
		Call: func(*correlate.Record) {
			calls++
			if calls == 1 {
				stalled <- sent.Load()
				<-resume
			}
		},
		Registration: func(*correlate.Registration) {},
	})
	ch := make(chan *capture.Batch)
	go func() {
		for _, b := range items {
			ch <- b
			sent.Add(1)
		}
		close(ch)
	}()
	done := make(chan struct{})
	go func() {
		runLive(context.Background(), liveInputs{cap: ch, capDone: func(*capture.Batch) { released.Add(1) }}, cor, 2, &live.live, &callHooks{})
		close(done)
	}()
	var atStall int64
	select {
	case atStall = <-stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("the first call never left the correlator")
	}
	time.Sleep(300 * time.Millisecond)
	s1 := sent.Load()
	time.Sleep(300 * time.Millisecond)
	s2 := sent.Load()
	if s1 != s2 || s2 > atStall+pipeRing+1 || s2 >= int64(len(items)) {
		t.Errorf("input advanced %d, then %d items past the stall (at %d of %d): want at most %d, then none",
			s1-atStall, s2-atStall, atStall, len(items), pipeRing+1)
	}
	close(resume)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the pipeline did not finish after the stall ended")
	}
	if released.Load() != int64(len(items)) || calls != 4 {
		t.Errorf("%d of %d items given back, %d calls; want all and the demo's 4", released.Load(), len(items), calls)
	}
}
