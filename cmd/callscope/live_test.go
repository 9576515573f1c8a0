//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/testutil"
)

// netns is a network namespace joined to the host by a veth pair: hostIP on hostIf,
// nsIP inside. Everything is removed at cleanup.
type netns struct {
	name, hostIf, hostIP, nsIP string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	ip := testutil.NeedTool(t, "ip")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (network namespaces, AF_PACKET)")
	}
	id := os.Getpid() % 10000
	n := &netns{name: fmt.Sprintf("cslive%d", id), hostIf: fmt.Sprintf("csh%d", id), hostIP: "10.213.0.1", nsIP: "10.213.0.2"}
	nsIf := fmt.Sprintf("csn%d", id)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	_ = exec.Command(ip, "netns", "del", n.name).Run() // a leftover of a killed run
	run("netns", "add", n.name)
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "pids", n.name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", pid).Run()
			}
		}
		_ = exec.Command(ip, "netns", "del", n.name).Run() // takes the veth pair with it
	})
	run("link", "add", n.hostIf, "type", "veth", "peer", "name", nsIf)
	run("link", "set", nsIf, "netns", n.name)
	run("addr", "add", n.hostIP+"/30", "dev", n.hostIf)
	run("link", "set", n.hostIf, "up")
	run("netns", "exec", n.name, "ip", "addr", "add", n.nsIP+"/30", "dev", nsIf)
	run("netns", "exec", n.name, "ip", "link", "set", nsIf, "up")
	run("netns", "exec", n.name, "ip", "link", "set", "lo", "up")
	return n
}

// TestServeLiveCapture: serve -i captures real SIPp calls (an answered G.711 call with
// RTP both ways, and a busy one) crossing a veth pair into a network namespace, while
// tcpdump records the same interface. After shutdown the stored calls equal analyze's
// of tcpdump's file: SIP fields (timings within 1 ms: each capture socket stamps packets
// itself), and per stream the packets, loss and codec.
func TestServeLiveCapture(t *testing.T) {
	sipp := testutil.NeedTool(t, "sipp")
	tcpdump := testutil.NeedTool(t, "tcpdump")
	n := newNetns(t)
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "pcap"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"g711a.pcap", "dtmf_2833_1.pcap"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/sip-tester", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "pcap", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	xmls, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "testdata", "sipp", "*.xml"))
	for _, x := range xmls {
		b, _ := os.ReadFile(x)
		if err := os.WriteFile(filepath.Join(work, filepath.Base(x)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	oracle := filepath.Join(work, "oracle.pcap")
	td := exec.Command(tcpdump, "-i", n.hostIf, "-s0", "-U", "-w", oracle, "udp")
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	defer td.Process.Kill()
	base, _, dbPath, stop := startServeArgs(t, []string{"-i", n.hostIf}, "callscope: capturing on ")
	time.Sleep(time.Second) // tcpdump's socket is open

	uas := func(xml, port, mport string) {
		cmd := exec.Command("ip", "netns", "exec", n.name, sipp, "-sf", xml, "-i", n.nsIP, "-p", port, "-mp", mport, "-rtp_echo", "-bg")
		cmd.Dir = work
		// With -bg sipp's parent exits 99 once the background process has started.
		if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "Background mode") {
			t.Fatalf("uas %s: %v\n%s", xml, err, out)
		}
	}
	uac := func(xml, service, port, mport, to string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sipp, "-sf", xml, "-s", service, "-i", n.hostIP, "-p", port, "-mp", mport,
			n.nsIP+":"+to, "-m", "1", "-nostdin")
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("uac %s: %v\n%s", xml, err, out)
		}
	}
	uas("uas_answer.xml", "5070", "26000")
	uas("uas_busy.xml", "5072", "26100")
	time.Sleep(500 * time.Millisecond)
	uac("uac_answer.xml", "1001", "5061", "27000", "5070")
	uac("uac_busy.xml", "1002", "5062", "27100", "5072")
	time.Sleep(1500 * time.Millisecond) // the last packets reach both captures
	waitMetricAtLeast(t, base, "callscope_capture_live_packets_total", 100)
	stop()
	_ = td.Process.Signal(os.Interrupt)
	_ = td.Wait()

	rep, _ := analyze(t, oracle)
	got := storedCalls(t, dbPath)
	if len(rep.Calls) != 2 || len(got) != 2 {
		t.Fatalf("tcpdump's file has %d calls, live capture stored %d; want 2 and 2", len(rep.Calls), len(got))
	}
	for _, want := range rep.Calls {
		c, ok := got[want.CallID]
		if !ok {
			t.Errorf("call %s not captured live", want.CallID)
			continue
		}
		if g, w := viewOf(c), viewOf(want); !sameView(g, w, 1) {
			t.Errorf("call %s live:\n got %+v\nwant %+v", want.CallID, g, w)
		}
		full := getCall(t, dbPath, c.ID)
		if len(full.Streams) != len(want.Streams) {
			t.Errorf("call %s: %d streams live, %d in tcpdump's file", want.CallID, len(full.Streams), len(want.Streams))
			continue
		}
		for i, ws := range want.Streams {
			gs := full.Streams[i]
			if gs.SSRC != ws.SSRC || gs.Packets != ws.Packets || gs.Lost != ws.Lost || gs.Codec != ws.Codec {
				t.Errorf("call %s stream %s: live %d packets, %d lost, %s; tcpdump's %d, %d, %s",
					want.CallID, ws.SSRC, gs.Packets, gs.Lost, gs.Codec, ws.Packets, ws.Lost, ws.Codec)
			}
		}
	}
	media := uint64(0)
	for _, c := range rep.Calls {
		for _, s := range c.Streams {
			media += s.Packets
		}
	}
	if media < 200 { // the answered call's 8 s of G.711 both ways: ~800 packets
		t.Errorf("only %d RTP packets in tcpdump's file: the comparison proves little", media)
	}
}
