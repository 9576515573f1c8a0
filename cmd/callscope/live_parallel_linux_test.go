//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/gopacket/gopacket/afpacket"
)

// liveReplaySpeed is how many times faster than recorded the frames are sent.
const liveReplaySpeed = 10

// liveVeth creates a veth pair a<->z, both up, removed at cleanup, and returns their names.
func liveVeth(t *testing.T, tag string) (a, z string) {
	t.Helper()
	ip := testutil.NeedTool(t, "ip")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (veth pair, AF_PACKET)")
	}
	id := os.Getpid() % 10000
	a, z = fmt.Sprintf("cs%sa%d", tag, id), fmt.Sprintf("cs%sz%d", tag, id)
	_ = exec.Command(ip, "link", "del", a).Run() // a leftover of a killed run
	for _, args := range [][]string{{"link", "add", a, "type", "veth", "peer", "name", z}, {"link", "set", a, "up"}, {"link", "set", z, "up"}} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command(ip, "link", "del", a).Run() })
	time.Sleep(200 * time.Millisecond)
	return a, z
}

// TestServeLiveWorkersSameCalls: serve -i captures the frames of a capture file sent
// into a veth pair (the demo's 4 SIPp calls, and a generated capture of 8 calls with
// RTP both ways), once with --workers 1 and once with --workers 2. Both store the same
// calls with the same state, final code, streams and packets per stream. The frames are
// sent in file order at 10 times their recorded pace (capture time then stands for
// packet time), so only fields that do not depend on timing are compared. (Sent back to
// back instead, the demo's last call, whose RTP reuses the first call's SSRC and callee
// port, sometimes loses packets to the first call in either mode.)
func TestServeLiveWorkersSameCalls(t *testing.T) {
	a, z := liveVeth(t, "w")
	dir := t.TempDir()
	inputs := map[string]string{"demo": demo, "gen-load-8x4s": writeGen(t, dir, gen.Load(8, 4, 5))}
	for name, file := range inputs {
		t.Run(name, func(t *testing.T) {
			var frames [][]byte
			var times []int64
			for _, b := range batchesOf(t, file, 64) {
				if b.LinkType != 1 {
					t.Fatalf("link type %d, want Ethernet", b.LinkType)
				}
				frames = append(frames, b.Frames...)
				times = append(times, b.TS...)
			}
			var want []string
			for _, workers := range []int{1, 2} {
				got := serveLiveOnce(t, a, z, workers, frames, times)
				if workers == 1 {
					want = got
					if len(want) == 0 {
						t.Fatal("no calls stored")
					}
					continue
				}
				if !slices.Equal(got, want) {
					t.Errorf("workers 2 stored %d calls, workers 1 %d; first difference:\n%s", len(got), len(want), firstLineDiff(got, want))
				}
			}
			if name == "demo" && len(want) != 4 {
				t.Errorf("%d calls from the demo, want 4 (tshark -z sip,stat)", len(want))
			}
			if name == "gen-load-8x4s" && len(want) != 8 {
				t.Errorf("%d calls from the generated capture, want its 8", len(want))
			}
		})
	}
}

// serveLiveOnce runs serve -i z --workers workers, sends frames into a, stops serve
// once every frame was captured and returns one line per stored call: Call-ID, state,
// final code, and per stream its SSRC and packets.
func serveLiveOnce(t *testing.T, a, z string, workers int, frames [][]byte, times []int64) []string {
	t.Helper()
	base, _, dbPath, stop := startServeArgs(t, []string{"-i", z, "--workers", strconv.Itoa(workers)}, "callscope: capturing on ")
	tx, err := afpacket.NewTPacket(afpacket.OptInterface(a))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	for i, f := range frames {
		if d := time.Duration(times[i]-times[0]) / liveReplaySpeed; time.Since(start) < d {
			time.Sleep(d - time.Since(start))
		}
		for tx.WritePacketData(f) != nil {
			time.Sleep(time.Microsecond) // the transmit queue is full: wait
		}
	}
	waitMetricAtLeast(t, base, "callscope_capture_live_packets_total", float64(len(frames)))
	// Captured is not yet correlated: on ctx's end either mode stops reading (frames
	// still queued are not decoded), so give the last batches time to pass.
	time.Sleep(time.Second)
	waitMetric(t, base, "callscope_capture_kernel_drops_total 0")
	waitMetric(t, base, "callscope_capture_queue_drops_total 0")
	stop()
	var out []string
	for id, c := range storedCalls(t, dbPath) {
		line := fmt.Sprintf("%s %s %d", id, c.State, c.FinalCode)
		full := getCall(t, dbPath, c.ID)
		for _, s := range full.Streams {
			line += fmt.Sprintf(" [%s %d]", s.SSRC, s.Packets)
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}
