package main

import (
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/internal/testutil"
)

// packetTimes lists the frame times of a capture file, per tshark.
func packetTimes(t *testing.T, file string) []float64 {
	t.Helper()
	out, err := exec.Command(testutil.NeedTool(t, "tshark"), "-n", "-r", file, "-T", "fields", "-e", "frame.time_epoch").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", file, err)
	}
	var ts []float64
	for _, f := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, v)
	}
	return ts
}

// TestMultiCallPcap: GET /api/v1/calls/pcap?limit-like max_calls=3 over the demo capture
// (4 SIPp calls) exports the first 3 calls of the search: tshark counts as many packets
// as in the 3 single-call exports together, with non-decreasing times; its SIP packets
// are the SIP packets tshark finds in the demo capture for those 3 Call-IDs; the
// 4th call makes it capped (X-Callscope-Truncated: calls, and the section comment
// capinfos shows). A search the cap does not reach is not marked.
func TestMultiCallPcap(t *testing.T) {
	s := startServe(t, "-r", demoFile(t))
	dir := t.TempDir()
	var page struct {
		Calls []struct {
			ID     string `json:"id"`
			CallID string `json:"call_id"`
		}
	}
	if err := getJSON(t, s.base+"/api/v1/calls?limit=3", &page); err != nil || len(page.Calls) != 3 {
		t.Fatalf("search: %v, %d calls", err, len(page.Calls))
	}
	sum := 0
	var cids []string
	for i, c := range page.Calls {
		f := filepath.Join(dir, "one"+strconv.Itoa(i)+".pcapng")
		download(t, s.base+"/api/v1/calls/"+url.PathEscape(c.ID)+"/pcap", f)
		sum += len(packetTimes(t, f))
		cids = append(cids, `sip.Call-ID == "`+c.CallID+`"`)
	}
	multi := filepath.Join(dir, "multi.pcapng")
	resp := download(t, s.base+"/api/v1/calls/pcap?max_calls=3", multi)
	ts := packetTimes(t, multi)
	if len(ts) != sum || sum == 0 {
		t.Errorf("multi-call export has %d packets, the 3 single-call exports %d", len(ts), sum)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] < ts[i-1] {
			t.Fatalf("packet %d at %.9f is before packet %d at %.9f", i+1, ts[i], i, ts[i-1])
		}
	}
	filter := strings.Join(cids, " || ")
	if got, want := tsharkCount(t, multi, "sip"), tsharkCount(t, demoFile(t), filter); got != want {
		t.Errorf("multi-call export has %d SIP packets, the demo capture %d for %s", got, want, filter)
	}
	if got := resp.Header.Get("X-Callscope-Truncated"); got != "calls" {
		t.Errorf("X-Callscope-Truncated = %q with 4 calls matching and max_calls=3, want calls", got)
	}
	out, err := exec.Command(testutil.NeedTool(t, "capinfos"), multi).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "truncated at the calls cap") {
		t.Errorf("capinfos shows no truncation comment: %v\n%s", err, out)
	}

	all := filepath.Join(dir, "all.pcapng")
	resp = download(t, s.base+"/api/v1/calls/pcap", all)
	if got := resp.Header.Get("X-Callscope-Truncated"); got != "" || resp.Header.Get("X-Callscope-Calls") != "4" {
		t.Errorf("export of all 4 calls: truncated %q, calls %q", got, resp.Header.Get("X-Callscope-Calls"))
	}
	if got, want := tsharkCount(t, all, "sip"), tsharkCount(t, demoFile(t), "sip"); got != want {
		t.Errorf("export of all calls has %d SIP packets, the demo capture %d", got, want)
	}
}
