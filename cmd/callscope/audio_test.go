package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/testutil"
	"github.com/callscope/callscope/web"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Tokens of the listening tests, one per role.
var listenTokens = map[string]string{"tok-admin": web.RoleAdmin, "tok-viewer": web.RoleViewer, "tok-masked": web.RoleViewerMasked}

// startServeAuth runs serve on all interfaces (so login is required and roles apply)
// with one API token per role, and waits until the calls are in the store. It returns
// a loopback base URL.
func startServeAuth(t *testing.T, args ...string) string {
	t.Helper()
	conf := "tokens:\n"
	for tok, role := range listenTokens {
		conf += fmt.Sprintf("  - {name: %s, sha256: %q, role: %s}\n", role, web.HashToken(tok), role)
	}
	path := filepath.Join(t.TempDir(), "callscope.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _, _, _ := startServeArgs(t, append([]string{"--config", path, "--listen", "0.0.0.0:0"}, args...), "callscope: ingested ")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatalf("base %q: %v", base, err)
	}
	base = "http://127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var page struct{ Calls []json.RawMessage }
		if code, _ := authGet(t, base+"/api/v1/calls", "tok-admin", &page); code == 200 && len(page.Calls) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base
}

// authGet GETs url with a bearer token; v (if not nil) receives a JSON body.
func authGet(t *testing.T, url, tok string, v any) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return resp.StatusCode, b
}

type listenCall struct {
	ID      string `json:"id"`
	CallID  string `json:"call_id"`
	State   string `json:"state"`
	Streams []struct {
		SSRC      string `json:"ssrc"`
		Src       string `json:"src"`
		Codec     string `json:"codec"`
		Intervals []struct {
			Start string `json:"start"`
		} `json:"intervals"`
	} `json:"streams"`
}

// sippG711Call makes one real SIPp call on loopback (SIPp's built-in uac_pcap scenario
// plays Debian's g711a.pcap as RTP, then RFC 4733 DTMF; the UAS echoes the RTP back)
// captured by tcpdump, and returns the capture.
func sippG711Call(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"sipp", "tcpdump", "tshark", "sox"} {
		testutil.NeedTool(t, tool)
	}
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (tcpdump on lo)")
	}
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "pcap"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"g711a.pcap", "dtmf_2833_1.pcap"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/sip-tester", f))
		if err != nil {
			testutil.Missing(t, "/usr/share/sip-tester/"+f+" (sip-tester)")
		}
		if err := os.WriteFile(filepath.Join(work, "pcap", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scen, err := exec.Command("sipp", "-sd", "uac_pcap").Output() // exits 99 after printing it
	if len(scen) == 0 {
		t.Fatalf("sipp -sd uac_pcap: %v", err)
	}
	if err := os.WriteFile(filepath.Join(work, "uac_pcap.xml"), scen, 0o644); err != nil {
		t.Fatal(err)
	}
	// Ports of this test only (SIP 36061/36070, media 36200/36300): other tests may use
	// loopback meanwhile.
	out := filepath.Join(work, "call.pcap")
	td := exec.Command("tcpdump", "-i", "lo", "-s0", "-U", "-w", out, "udp and (portrange 36060-36080 or portrange 36200-36400)")
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = td.Process.Kill(); _ = td.Wait() }()
	time.Sleep(time.Second)
	uas := exec.Command("sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", "36070", "-mp", "36200", "-rtp_echo", "-bg")
	uas.Dir = work
	b, _ := uas.CombinedOutput() // -bg exits 99 in the parent and prints the child's PID
	m := regexp.MustCompile(`PID=\[(\d+)\]`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("sipp uas: %s", b)
	}
	var pid int
	fmt.Sscan(string(m[1]), &pid)
	defer func() {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}()
	uac := exec.Command("timeout", "60", "sipp", "-sf", "uac_pcap.xml", "-i", "127.0.0.1", "-p", "36061", "-mp", "36300",
		"127.0.0.1:36070", "-m", "1", "-nostdin")
	uac.Dir = work
	if b, err := uac.CombinedOutput(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, b)
	}
	time.Sleep(time.Second)
	_ = td.Process.Signal(os.Interrupt)
	_ = td.Wait()
	return out
}

// TestAudioSIPpCall: a fresh SIPp call with G.711 A-law audio, served with
// --keep-rtp full; each direction's WAV must equal, sample for sample, the payload
// tshark shows for that stream decoded by sox (tshark reports no loss on them).
func TestAudioSIPpCall(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	pcap := sippG711Call(t)
	lost := map[string]int64{}
	for _, s := range testutil.TsharkRTPStreams(t, pcap) {
		if s.Payload == "g711A" {
			lost[s.Src] = s.Lost
		}
	}
	if len(lost) != 2 {
		t.Fatalf("tshark sees %d g711A streams, want 2 (one each way)", len(lost))
	}
	base := startServeAuth(t, "-r", pcap, "--keep-rtp", "full")
	var page struct{ Calls []listenCall }
	if code, b := authGet(t, base+"/api/v1/calls", "tok-admin", &page); code != 200 || len(page.Calls) != 1 {
		t.Fatalf("calls: %d %s", code, b)
	}
	id := page.Calls[0].ID
	var c listenCall
	authGet(t, base+"/api/v1/calls/"+id, "tok-admin", &c)
	checked := 0
	for i, s := range c.Streams {
		if s.Codec != "PCMA" {
			continue
		}
		if lost[s.Src] != 0 {
			t.Fatalf("tshark reports %d lost on %s: not a sample-exact comparison", lost[s.Src], s.Src)
		}
		code, wav := authGet(t, fmt.Sprintf("%s/api/v1/calls/%s/audio?stream=%d", base, id, i), "tok-admin", nil)
		if code != 200 {
			t.Fatalf("stream %d: %d %s", i, code, wav)
		}
		rate, got := testutil.WAVSamples(t, wav)
		port := s.Src[strings.LastIndexByte(s.Src, ':')+1:]
		o := testutil.TsharkSoxG711(t, pcap, "rtp.ssrc=="+s.SSRC+" && udp.srcport=="+port+" && rtp.p_type==8", "al")
		// 236 packets of 30 ms (g711a.pcap) = 56640 samples.
		if rate != 8000 || len(got) != len(o.Samples) || o.Packets != 236 {
			t.Fatalf("stream %d: %d Hz %d samples; tshark+sox: %d samples in %d packets", i, rate, len(got), len(o.Samples), o.Packets)
		}
		for j := range got {
			if got[j] != o.Samples[j] {
				t.Fatalf("stream %d sample %d: %d, sox %d", i, j, got[j], o.Samples[j])
			}
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("checked %d streams, want 2", checked)
	}
	if code, wav := authGet(t, base+"/api/v1/calls/"+id+"/audio?stream=mix", "tok-admin", nil); code != 200 || len(wav) < 44+2*56640 {
		t.Errorf("mix: %d, %d bytes", code, len(wav))
	}
	for _, tok := range []string{"tok-viewer", "tok-masked"} {
		code, b := authGet(t, base+"/api/v1/calls/"+id+"/audio?stream=0", tok, nil)
		var e struct{ Error string }
		if code != 403 || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want 403 JSON", tok, code, b)
		}
	}

	// The same capture kept with headers only: 404 JSON saying why.
	base2 := startServeAuth(t, "-r", pcap, "--keep-rtp", "headers")
	code, b := authGet(t, base2+"/api/v1/calls/"+id+"/audio?stream=0", "tok-admin", nil)
	var e struct{ Error string }
	if code != 404 || json.Unmarshal(b, &e) != nil || !strings.Contains(e.Error, "no RTP payload") {
		t.Errorf("headers only: %d %s, want 404 JSON", code, b)
	}
}

// TestListenInChromium opens the answered demo call (real SIPp audio) as an admin: the
// Listen section has a waveform per direction and mixed, drawn on its stream's chart
// axis, and the audio elements load; as viewer-masked the section is absent.
func TestListenInChromium(t *testing.T) {
	base := startServeAuth(t, "-r", demoFile(t), "--keep-rtp", "full")
	var page struct{ Calls []listenCall }
	authGet(t, base+"/api/v1/calls?call_id=1-13003@127.0.0.1", "tok-admin", &page)
	if len(page.Calls) != 1 {
		t.Fatalf("answered demo call: %+v", page)
	}
	id := page.Calls[0].ID
	var c listenCall
	authGet(t, base+"/api/v1/calls/"+id, "tok-admin", &c)
	ctx := chromiumIn(t)
	as := func(tok string) chromedp.Action {
		return chromedp.Tasks{network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Authorization": "Bearer " + tok})}
	}
	var cards int
	var t0s []float64
	var peaks string
	var ready bool
	err := chromedp.Run(ctx, as("tok-admin"),
		chromedp.Navigate(base+"/#/call/"+id),
		chromedp.WaitVisible(`#listen svg.waveform path.peaks`),
		chromedp.Poll(`document.querySelectorAll('#listen svg.waveform').length === document.querySelectorAll('#listen .card.listen').length`, nil),
		chromedp.Evaluate(`document.querySelectorAll('#listen .card.listen').length`, &cards),
		chromedp.Evaluate(`[...document.querySelectorAll('#listen svg.waveform')].map(e => +e.dataset.t0)`, &t0s),
		chromedp.Evaluate(`document.querySelector('#listen svg.waveform path.peaks').getAttribute('d')`, &peaks),
		chromedp.Poll(`[...document.querySelectorAll('#listen audio')].every(a => a.readyState >= 1 && a.duration > 0)`, &ready,
			chromedp.WithPollingTimeout(20*time.Second)),
	)
	if err != nil {
		t.Fatalf("listen as admin: %v", err)
	}
	// Two PCMA directions plus the mix (the call's telephone-event stream is not audio).
	pcma := 0
	for _, s := range c.Streams {
		if s.Codec == "PCMA" {
			pcma++
		}
	}
	if pcma != 2 || cards != 3 || !ready || strings.Count(peaks, "M") < 100 {
		t.Fatalf("cards %d (PCMA streams %d), audio ready %v, %d peak lines", cards, pcma, ready, strings.Count(peaks, "M"))
	}
	// Each direction's waveform starts where its loss/jitter charts start: the first
	// interval of that stream as the API gives it.
	k := 0
	for _, s := range c.Streams {
		if s.Codec != "PCMA" {
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, s.Intervals[0].Start)
		if int64(t0s[k]) != want.UnixMilli() {
			t.Errorf("waveform %d axis starts at %v, the stream's charts at %v", k, int64(t0s[k]), want.UnixMilli())
		}
		k++
	}

	var present bool
	err = chromedp.Run(ctx, as("tok-masked"),
		chromedp.Navigate("about:blank"), // a fresh page load: /api/v1/me again
		chromedp.Navigate(base+"/#/call/"+id),
		chromedp.WaitVisible(`#summary`),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Evaluate(`document.querySelector('#listen') !== null || document.querySelector('audio') !== null`, &present),
	)
	if err != nil {
		t.Fatalf("as viewer-masked: %v", err)
	}
	if present {
		t.Error("viewer-masked sees the Listen section")
	}
}
