package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/testutil"
	"github.com/callscope/callscope/store"
	"github.com/chromedp/chromedp"
)

// served is a running `callscope serve` started by a test.
type served struct {
	base string
	done chan error
	out  *bufio.Scanner
	stop context.CancelFunc
}

// startServe runs runServe with args plus a temporary DuckDB store on a free loopback
// port, and waits until it has ingested its files.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{done: make(chan error, 1), out: bufio.NewScanner(pr), stop: cancel}
	args = append([]string{"--listen", "127.0.0.1:0", "--retention", "0",
		"--store", "duckdb:" + filepath.Join(t.TempDir(), "data", "cs.duckdb")}, args...)
	go func() {
		err := runServe(ctx, args, pw, io.Discard)
		pw.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		go io.Copy(io.Discard, pr)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	for s.out.Scan() {
		line := s.out.Text()
		if u, ok := strings.CutPrefix(line, "callscope: serving "); ok {
			s.base = strings.TrimSuffix(strings.Fields(u)[0], "/")
		}
		if strings.Contains(line, "ingested") {
			break
		}
	}
	if s.base == "" {
		t.Fatalf("serve did not start: %v", <-s.done)
	}
	// Calls reach the store within the writer's one-second batch.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var page struct{ Calls []json.RawMessage }
		if getJSON(t, s.base+"/api/v1/calls", &page) == nil && len(page.Calls) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func getJSON(t *testing.T, url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func demoFile(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "testdata", "demo", "sipp-calls.pcap")
}

// TestServeDataDirLocked: a second serve on a data directory in use stops before it
// touches anything (it used to clear the first one's frame spill and share its spool and
// write-ahead log), with an error naming the directory and the holder; the first keeps
// serving.
func TestServeDataDirLocked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "cs.duckdb")
	s := startServe(t, "--store", "duckdb:"+db, "--keep-rtp", "headers", "-r", demoFile(t))
	err := runServe(context.Background(), []string{"--listen", "127.0.0.1:0", "--store", "duckdb:" + db, "-r", demoFile(t)}, io.Discard, io.Discard)
	if !errors.Is(err, store.ErrDirLocked) || !strings.Contains(err.Error(), filepath.Dir(db)) {
		t.Fatalf("second serve on the same data directory: %v, want store.ErrDirLocked naming %s", err, filepath.Dir(db))
	}
	var page struct{ Calls []json.RawMessage }
	if err := getJSON(t, s.base+"/api/v1/calls", &page); err != nil || len(page.Calls) != 4 {
		t.Fatalf("first serve after the second's attempt: %v, %d calls, want 4", err, len(page.Calls))
	}
}

func TestServeIngestsAndStops(t *testing.T) {
	s := startServe(t, "-r", demoFile(t))
	var page struct {
		Calls []struct {
			ID     string `json:"id"`
			CallID string `json:"call_id"`
		}
	}
	if err := getJSON(t, s.base+"/api/v1/calls", &page); err != nil || len(page.Calls) != 4 {
		t.Fatalf("calls after ingest: %v %d, want 4", err, len(page.Calls))
	}
	resp, err := http.Get(s.base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	}
	resp.Body.Close()
	// The pipeline's counters reach /metrics: the demo capture has 989 packets, 25 SIP
	// messages (tshark -q -z sip,stat) and 4 calls written.
	resp, err = http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"callscope_capture_packets_total 989", "callscope_correlate_sip_messages_total 25",
		"callscope_store_calls_written_total 4", `callscope_correlate_evictions_total{table="calls"} 0`,
		"callscope_decode_duplicate_frames_total 0"} { // the demo capture holds no copies (editcap -w 0.01 removes none)
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	s.stop()
	var tail []string
	for s.out.Scan() {
		tail = append(tail, s.out.Text())
	}
	if err := <-s.done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	s.done <- nil
	if !strings.Contains(strings.Join(tail, "\n"), "callscope: stopped") {
		t.Fatalf("shutdown report: %q", tail)
	}
}

// TestServeFlags: mistakes on the command line (the file's are config_test.go's) fail
// before anything starts, naming what is wrong.
func TestServeFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"live capture on a missing interface", []string{"-i", "nosuchif0"}, "live capture nosuchif0"},
		{"filter without an interface", []string{"--filter", "udp"}, "give -i IFACE"},
		{"hep address", []string{"--hep", "192.0.2.300:9060"}, "hep listen"},
		{"hep allow-list", []string{"--hep", ":9060", "--hep-allow", "10.0.0.0/33"}, "hep_allow"},
		{"hep clock skew", []string{"--hep", ":9060", "--hep-max-skew", "-5s"}, "hep_max_skew"},
		{"keep-rtp", []string{"--keep-rtp", "some"}, "keep_rtp"},
		{"retention", []string{"--retention", "forever"}, "retention"},
		{"store", []string{"--store", "mysql://x"}, "store"},
		{"open listen without users", []string{"--listen", "0.0.0.0:0"}, "login is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runServe(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
	for addr, want := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:1": true, "0.0.0.0:80": false, ":80": false, "10.1.2.3:80": false} {
		if isLoopback(addr) != want {
			t.Errorf("isLoopback(%s) = %v", addr, !want)
		}
	}
}

// tsharkSIP lists the SIP packets of file matching filter as tshark sees them: time,
// length and the frame bytes.
func tsharkSIP(t *testing.T, file, filter string) []string {
	t.Helper()
	cmd := exec.Command(testutil.NeedTool(t, "tshark"), "-n", "-r", file, "-Y", filter, "-T", "fields",
		"-e", "frame.time_epoch", "-e", "frame.len", "-e", "sip.CSeq", "-e", "sip.Status-Line", "-e", "sip.Request-Line", "-e", "udp.payload")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(stderr.String()) != "" && !strings.Contains(stderr.String(), "Running as user") {
		t.Fatalf("tshark -r %s: %v: %s", file, err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestDashboardInChromium(t *testing.T) {
	chrome := "/usr/bin/chromium"
	if _, err := os.Stat(chrome); err != nil {
		testutil.Missing(t, "chromium")
	}
	testutil.NeedTool(t, "tshark")
	demo := demoFile(t)
	s := startServe(t, "-r", demo)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()

	const callID = "1-13003@127.0.0.1" // the answered call with DTMF
	var rows int
	var polled bool
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/#/calls"),
		chromedp.WaitVisible(`table.calls tbody tr.row`),
		chromedp.SetValue(`#search input[name=number]`, "1001"),
		chromedp.Click(`#search-btn`),
		chromedp.Poll(`document.querySelectorAll('table.calls tbody tr.row').length === 1 && location.hash.includes("number=1001")`, &polled),
		chromedp.Evaluate(`document.querySelectorAll('table.calls tbody tr.row').length`, &rows),
		chromedp.Click(`table.calls tbody tr.row`),
		chromedp.WaitVisible(`#ladder`),
	)
	if err != nil {
		t.Fatalf("search and open: %v", err)
	}
	if rows != 1 {
		t.Fatalf("search for 1001 shows %d rows", rows)
	}
	var arrows int
	var diag, title string
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelectorAll('#ladder g.arrow').length`, &arrows),
		chromedp.Text(`#diagnosis`, &diag),
		chromedp.Text(`h2`, &title),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, callID) {
		t.Fatalf("opened %q, want call %s", title, callID)
	}
	orig := tsharkSIP(t, demo, `sip.Call-ID == "`+callID+`"`)
	if arrows != len(orig) || arrows == 0 {
		t.Fatalf("ladder draws %d arrows, tshark sees %d SIP messages", arrows, len(orig))
	}
	if !strings.Contains(diag, "Answered") || !strings.Contains(diag, "caller") {
		t.Errorf("diagnosis %q", diag)
	}

	var raw string
	var href string
	shot := filepath.Join(t.TempDir(), "call.png")
	var png []byte
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelector('#ladder g.arrow').dispatchEvent(new MouseEvent('click', {bubbles: true}))`, nil),
		chromedp.WaitVisible(`#raw #sdp`),
		chromedp.Text(`#raw`, &raw),
		chromedp.AttributeValue(`#pcap`, "href", &href, nil),
		chromedp.FullScreenshot(&png, 90),
	); err != nil {
		t.Fatalf("open message: %v", err)
	}
	if !strings.Contains(raw, "INVITE sip:") || !strings.Contains(raw, "v=0") {
		t.Fatalf("raw message pane: %.300q", raw)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("call page screenshot: %s", shot)

	resp, err := http.Get(s.base + href)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download %s: %v %v", href, err, resp)
	}
	exported := filepath.Join(t.TempDir(), "call.pcapng")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := os.WriteFile(exported, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got := tsharkSIP(t, exported, "sip")
	if strings.Join(got, "\n") != strings.Join(orig, "\n") {
		t.Fatalf("exported SIP packets differ from the capture's:\n got %d: %.600q\nwant %d: %.600q", len(got), got, len(orig), orig)
	}
	other := tsharkSIP(t, exported, "rtp || rtcp")
	t.Logf("exported %d SIP and %d RTP/RTCP packets", len(got), len(other))
}
