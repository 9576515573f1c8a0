package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/chromedp/chromedp"
)

// liveScenario is one answered call of talkMs, generated, whose SIP tests send over HEP.
func liveScenario(cid string, talkMs int) gen.Scenario {
	sc := gen.Scenario{Name: "livecall", Format: gen.PcapMicro, Link: gen.Ethernet, Seed: 7, Start: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	sc.Calls = append(sc.Calls, gen.CallSpec{
		CallID: cid, FromUser: "1001", ToUser: "2002",
		Caller: netip.MustParseAddrPort("10.0.0.1:5060"), Callee: netip.MustParseAddrPort("192.0.2.1:5060"),
		CallerMedia: netip.MustParseAddrPort("10.0.0.1:20000"), CalleeMedia: netip.MustParseAddrPort("192.0.2.1:30000"),
		RingMs: 200, TalkMs: talkMs, Codec: "PCMU",
	})
	return sc
}

// splitAtBYE cuts pkts before the first BYE: the call's setup, and its teardown.
func splitAtBYE(t *testing.T, pkts []sipPkt) (setup, teardown []sipPkt) {
	for i, p := range pkts {
		if bytes.HasPrefix(p.payload, []byte("BYE ")) {
			return pkts[:i], pkts[i:]
		}
	}
	t.Fatal("the generated call has no BYE")
	return nil, nil
}

// startLines are the SIP start lines of pkts, as sent.
func startLines(pkts []sipPkt) []string {
	out := make([]string, len(pkts))
	for i, p := range pkts {
		line, _, _ := bytes.Cut(p.payload, []byte("\r\n"))
		out[i] = string(line)
	}
	return out
}

// ladderLines are the start lines of a ladder's messages.
func ladderLines(lad struct{ Messages []struct{ Raw string } }) []string {
	out := make([]string, len(lad.Messages))
	for i, m := range lad.Messages {
		out[i], _, _ = strings.Cut(m.Raw, "\r\n")
	}
	return out
}

// tsharkCount counts the packets of a pcap(ng) file matching filter, per tshark.
func tsharkCount(t *testing.T, file, filter string) int {
	t.Helper()
	out, err := exec.Command(testutil.NeedTool(t, "tshark"), "-n", "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	return len(strings.Fields(string(out)))
}

func download(t *testing.T, u, path string) *http.Response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestActiveCallLadderAndPcap: while a call is up (its BYE not sent yet), GET
// /api/v1/calls/:id, /ladder and /pcap answer from the live correlator: the ladder holds
// exactly the SIP messages sent so far (start lines compared with what the test sent),
// and tshark finds the same number of SIP packets in the pcap. Then, from the BYE until
// the store has the call, the call is never missing from both /active and /calls
// (polled every 100 ms), and /active marks it ended while it waits.
func TestActiveCallLadderAndPcap(t *testing.T) {
	base, hepAddr, _, _ := startServeHEP(t)
	const cid = "live-ladder-1@callscope.test"
	setup, teardown := splitAtBYE(t, sipOf(t, liveScenario(cid, 3000)))
	sendPaced(context.Background(), t, hepAddr, setup)

	q := "?call_id=" + url.QueryEscape(cid)
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		var act struct{ Calls []correlate.Call }
		if err := getJSON(t, base+"/api/v1/active"+q, &act); err == nil && len(act.Calls) == 1 {
			id = act.Calls[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("the call in progress never showed in /api/v1/active")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var cl correlate.Call
	if err := getJSON(t, base+"/api/v1/calls/"+id, &cl); err != nil || cl.End != 0 {
		t.Fatalf("GET /calls/%s of a call in progress: end %v, %v", id, cl.End, err)
	}
	want := startLines(setup)
	var got []string
	for deadline = time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var lad struct{ Messages []struct{ Raw string } }
		if err := getJSON(t, base+"/api/v1/calls/"+id+"/ladder", &lad); err != nil {
			t.Fatal(err)
		}
		if got = ladderLines(lad); fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ladder of the call in progress:\n got %q\nwant %q (sent)", got, want)
	}
	pc := filepath.Join(t.TempDir(), "live.pcapng")
	download(t, base+"/api/v1/calls/"+id+"/pcap", pc)
	if n := tsharkCount(t, pc, "sip"); n != len(setup) {
		t.Errorf("pcap of the call in progress: tshark sees %d SIP packets, %d were sent", n, len(setup))
	}

	// The BYE and its 200; then poll until stored.
	sendPaced(context.Background(), t, hepAddr, teardown)
	sawEnded := false
	for deadline = time.Now().Add(40 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var act, stored struct{ Calls []correlate.Call }
		errA := getJSON(t, base+"/api/v1/active"+q, &act)
		errS := getJSON(t, base+"/api/v1/calls"+q, &stored)
		if errA != nil || errS != nil {
			t.Fatalf("poll: %v %v", errA, errS)
		}
		if len(stored.Calls) == 1 {
			break
		}
		if len(act.Calls) != 1 {
			t.Fatalf("after its BYE the call is in neither /active (%d) nor /calls", len(act.Calls))
		}
		if act.Calls[0].End != 0 && act.Calls[0].State == correlate.StateAnswered {
			sawEnded = true
		}
		if time.Now().After(deadline) {
			t.Fatal("the call was not stored within 40 s of its BYE")
		}
	}
	if !sawEnded {
		t.Error("/active never showed the call ended (end set, state answered) while it waited for the store")
	}
}

// TestActiveCallPageInChromium: a call whose BYE has not come opens like a stored one:
// the page says it is in progress, its duration ticks, its ladder shows the arrows sent
// so far (the INVITE first, the generated call's start lines) and the pcap link is there.
func TestActiveCallPageInChromium(t *testing.T) {
	base, hepAddr, _, _ := startServeHEP(t)
	ctx := chromiumIn(t)
	const cid = "live-page-1@callscope.test"
	setup, _ := splitAtBYE(t, sipOf(t, liveScenario(cid, 3000)))
	sendPaced(context.Background(), t, hepAddr, setup)
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == ""; time.Sleep(100 * time.Millisecond) {
		var act struct{ Calls []correlate.Call }
		if err := getJSON(t, base+"/api/v1/active?call_id="+url.QueryEscape(cid), &act); err == nil && len(act.Calls) == 1 {
			id = act.Calls[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("the call in progress never showed in /api/v1/active")
		}
	}
	time.Sleep(1100 * time.Millisecond) // one more publish: every message sent is in the snapshot
	var labels []string
	var note, d1, d2 string
	var pcap bool
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/#/call/"+id), chromedp.WaitVisible(`#ladder`),
		chromedp.Text(`#in-progress`, &note),
		chromedp.Evaluate(`[...document.querySelectorAll('#ladder text')].map(e => e.textContent)`, &labels),
		chromedp.Evaluate(`document.querySelector('a#pcap') !== null`, &pcap),
		chromedp.Text(`#live-duration`, &d1), chromedp.Sleep(1100*time.Millisecond), chromedp.Text(`#live-duration`, &d2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "In progress") {
		t.Errorf("the page does not say the call is in progress: %q", note)
	}
	if d1 == d2 {
		t.Errorf("duration did not tick: %q then %q", d1, d2)
	}
	if !pcap {
		t.Error("no pcap link on the page of a call in progress")
	}
	text := "|" + strings.Join(labels, "|") + "|"
	for _, l := range startLines(setup) {
		// Arrow labels: the method of a request, "code reason" of a response, " +SDP"
		// after either when it carries SDP.
		w := strings.Fields(l)[0]
		if strings.HasPrefix(l, "SIP/2.0 ") {
			w = strings.TrimPrefix(l, "SIP/2.0 ")
		}
		if !strings.Contains(text, "|"+w+"|") && !strings.Contains(text, "|"+w+" +SDP|") {
			t.Errorf("ladder of the call in progress lacks the arrow %q (sent %q): %s", w, l, text)
		}
	}
}
