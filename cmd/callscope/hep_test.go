package main

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
)

// startServeArgs runs serve with args, a temporary DuckDB store and a free HTTP port,
// waits for an output line starting with marker, and returns the HTTP base, the text
// after the marker, the DuckDB path and a stop function that waits for the shutdown
// flush (also run at cleanup).
func startServeArgs(t *testing.T, args []string, marker string) (base, after, dbPath string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dbPath = filepath.Join(t.TempDir(), "data", "cs.duckdb")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, append([]string{"--listen", "127.0.0.1:0", "--retention", "0", "--store", "duckdb:" + dbPath}, args...), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	seen := false
	for (base == "" || !seen) && sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "callscope: serving "); ok {
			base = strings.TrimSuffix(strings.Fields(u)[0], "/")
		}
		if a, ok := strings.CutPrefix(line, marker); ok {
			after, seen = a, true
		}
	}
	if base == "" || !seen {
		cancel()
		t.Fatalf("serve %v did not start: %v", args, <-done)
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(stop)
	return base, after, dbPath, stop
}

// startServeHEP runs serve with only a HEP input on a free port. Its tests replay
// captures from the past through HEP, so agent times are never clamped (--hep-max-skew 0).
func startServeHEP(t *testing.T) (base, hepAddr, dbPath string, stop func()) {
	t.Helper()
	base, after, dbPath, stop := startServeArgs(t, []string{"--hep", "127.0.0.1:0", "--hep-max-skew", "0"}, "callscope: HEP input on ")
	return base, strings.Fields(after)[0], dbPath, stop
}

// waitMetric polls /metrics until a line equals want.
func waitMetric(t *testing.T, base, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/metrics"); err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "\n"+want+"\n") {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/metrics never showed %q; last:\n%s", want, grepLines(string(body), "callscope_hep_", "sip_messages"))
}

func grepLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// waitMetricAtLeast polls /metrics until the counter name reaches min.
func waitMetricAtLeast(t *testing.T, base, name string, min float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := "absent"
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/metrics"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(l, name+" "); ok {
					last = v
					if f, err := strconv.ParseFloat(v, 64); err == nil && f >= min {
						return
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s stayed at %s, want at least %v", name, last, min)
}

// getCall reads one call with its streams from the DuckDB file serve wrote.
func getCall(t *testing.T, dbPath, id string) *correlate.Call {
	t.Helper()
	st, err := duckdb.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.GetCall(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storedCalls opens the DuckDB file serve wrote (after it stopped) and returns its calls.
func storedCalls(t *testing.T, dbPath string) map[string]correlate.Call {
	t.Helper()
	st, err := duckdb.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.SearchCalls(context.Background(), store.CallQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]correlate.Call{}
	for _, c := range page.Calls {
		out[c.CallID] = c
	}
	return out
}

// sipView is what a HEP feed of SIP only must agree on with the analysis of the capture.
type sipView struct {
	From, To, Caller, Callee, State, EndedBy string
	FinalCode, SIPMessages, Retrans          int
	PDD, Setup, Duration                     float64
}

// sameView compares two views, the timings within tol ms (two capture sockets stamp
// the same packet a few µs apart).
func sameView(g, w sipView, tol float64) bool {
	near := func(a, b float64) bool { return a == b || (a >= 0 && b >= 0 && math.Abs(a-b) <= tol) }
	if !near(g.PDD, w.PDD) || !near(g.Setup, w.Setup) || !near(g.Duration, w.Duration) {
		return false
	}
	g.PDD, g.Setup, g.Duration = w.PDD, w.Setup, w.Duration
	return g == w
}

func viewOf(c correlate.Call) sipView {
	f := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	e := ""
	if c.EndedBy != nil {
		e = *c.EndedBy
	}
	return sipView{From: c.From, To: c.To, Caller: c.Caller, Callee: c.Callee, State: string(c.State), EndedBy: e,
		FinalCode: c.FinalCode, SIPMessages: c.SIPMessages, Retrans: c.Retrans,
		PDD: f(c.PDDMs), Setup: f(c.SetupMs), Duration: f(c.DurationMs)}
}

// TestServeHEPFromSngrep: sngrep, a real HEP agent, reads the demo capture (4 SIPp
// calls) and mirrors its SIP to serve --hep over HEPv3/UDP. After shutdown the store
// holds the 4 calls, and their SIP-side fields (state, codes, timings, parties, message
// counts) equal what analyze finds in the capture itself.
func TestServeHEPFromSngrep(t *testing.T) {
	sngrep := testutil.NeedTool(t, "sngrep")
	base, hepAddr, dbPath, stop := startServeHEP(t)
	out, err := exec.Command(sngrep, "-N", "-q", "-I", demo, "-H", "udp:"+hepAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("sngrep: %v\n%s", err, out)
	}
	waitMetric(t, base, "callscope_correlate_sip_messages_total 25") // tshark -z sip,stat: 25
	waitMetric(t, base, "callscope_hep_udp_packets_total 25")
	// No more traffic comes, yet packet time moves on with the wall clock: the calls end
	// their 10 s linger and are stored while serve runs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page struct{ Calls []correlate.Call }
		if err := getJSON(t, base+"/api/v1/calls", &page); err == nil && len(page.Calls) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 4 calls were not stored within 30 s of the last HEP packet")
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	got := storedCalls(t, dbPath)

	rep, _ := analyze(t, demo)
	if len(rep.Calls) != 4 || len(got) != 4 {
		t.Fatalf("analyze found %d calls, HEP stored %d; want 4 and 4", len(rep.Calls), len(got))
	}
	for _, want := range rep.Calls {
		c, ok := got[want.CallID]
		if !ok {
			t.Errorf("call %s not stored from HEP", want.CallID)
			continue
		}
		if g, w := viewOf(c), viewOf(want); !sameView(g, w, 1e-6) {
			t.Errorf("call %s from HEP:\n got %+v\nwant %+v", want.CallID, g, w)
		}
	}
}

// TestServeHEPOverTCP: agents that send HEP over TCP (Kamailio, heplify) put packets
// back to back on one connection; serve frames and correlates them, and RTCP sent the
// same way reaches the correlator.
func TestServeHEPOverTCP(t *testing.T) {
	base, hepAddr, dbPath, stop := startServeHEP(t)
	// The demo capture's SIP, re-encoded as HEPv3 by our encoder (the capture's own
	// addresses and times), sent over one TCP connection.
	src, err := capture.OpenFiles([]string{demo})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var stream []byte
	sipN := 0
	dec := decode.New(decode.DefaultConfig())
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, func(ev *decode.Event) {
			if ev.Kind != decode.KindSIP {
				return
			}
			sipN++
			p := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1, Src: ev.Src, Dst: ev.Dst,
				TSSec: uint32(ev.TS / 1e9), TSUsec: uint32(ev.TS % 1e9 / 1e3), CaptureID: 7, Payload: ev.Payload}
			stream = hep.Append(stream, &p)
		})
	}
	c, err := net.Dial("tcp", hepAddr)
	if err != nil {
		t.Fatal(err)
	}
	for len(stream) > 0 { // in uneven writes, so packets straddle them
		n := min(len(stream), 777)
		if _, err := c.Write(stream[:n]); err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
	}
	c.Close()
	waitMetric(t, base, "callscope_hep_tcp_packets_total "+strconv.Itoa(sipN))
	waitMetric(t, base, "callscope_correlate_sip_messages_total "+strconv.Itoa(sipN))
	stop()
	got := storedCalls(t, dbPath)
	rep, _ := analyze(t, demo)
	for _, want := range rep.Calls {
		if g, w := viewOf(got[want.CallID]), viewOf(want); !sameView(g, w, 1e-6) {
			t.Errorf("call %s from HEP/TCP:\n got %+v\nwant %+v", want.CallID, g, w)
		}
	}
}
