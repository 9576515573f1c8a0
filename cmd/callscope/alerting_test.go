package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/chromedp/chromedp"
)

// Phases of the degrading-peer traffic, in seconds from its start: both peer groups
// healthy, then 70 % of the calls to "bad" fail with 503, then healthy again.
const (
	phaseBadFrom, phaseBadTo, phaseEnd = 8, 22, 32
	callEvery                          = 250 * time.Millisecond // per peer group
)

// degradeScenario is the traffic: every 250 ms one call to each peer group (callee
// 192.0.2.x is "good", 198.51.100.x is "bad"), 100 ms ringing and 300 ms of talk.
func degradeScenario() gen.Scenario {
	sc := gen.Scenario{Name: "degrade", Format: gen.PcapMicro, Link: gen.Ethernet, Seed: 11, Start: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	n := int(phaseEnd * time.Second / callEvery)
	for i := range n {
		at := time.Duration(i) * callEvery
		for g, net3 := range []string{"192.0.2", "198.51.100"} {
			c := gen.CallSpec{
				CallID:   fmt.Sprintf("deg-%d-%d@callscope.test", g, i),
				FromUser: fmt.Sprintf("100%d", i), ToUser: fmt.Sprintf("200%d", i),
				Caller:      netip.MustParseAddrPort(fmt.Sprintf("10.0.%d.%d:5060", g, i%250+1)),
				Callee:      netip.MustParseAddrPort(fmt.Sprintf("%s.%d:5060", net3, i%250+1)),
				CallerMedia: netip.MustParseAddrPort(fmt.Sprintf("10.0.%d.%d:%d", g, i%250+1, 20000+2*(i%1000))),
				CalleeMedia: netip.MustParseAddrPort(fmt.Sprintf("%s.%d:%d", net3, i%250+1, 30000+2*(i%1000))),
				Start:       at, RingMs: 100, TalkMs: 300, Codec: "PCMU",
			}
			if g == 1 && at >= phaseBadFrom*time.Second && at < phaseBadTo*time.Second && i%10 < 7 {
				c.Outcome, c.FinalCode = gen.Failed, 503
			}
			sc.Calls = append(sc.Calls, c)
		}
	}
	return sc
}

type sipPkt struct {
	off      time.Duration // from the first packet
	src, dst netip.AddrPort
	payload  []byte
}

// sipOf writes sc and returns its SIP messages (HEP carries SIP; RTP stays out).
func sipOf(t *testing.T, sc gen.Scenario) []sipPkt {
	path := filepath.Join(t.TempDir(), "degrade.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []sipPkt
	var first int64
	dec := decode.New(decode.DefaultConfig())
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, func(ev *decode.Event) {
			if ev.Kind != decode.KindSIP {
				return
			}
			if first == 0 {
				first = ev.TS
			}
			out = append(out, sipPkt{time.Duration(ev.TS - first), ev.Src, ev.Dst, bytes.Clone(ev.Payload)})
		})
	}
	return out
}

// sendPaced sends pkts as HEPv3 over UDP to addr in real time, stamped with the wall
// clock, so packet time and Prometheus's time agree.
func sendPaced(ctx context.Context, t *testing.T, addr string, pkts []sipPkt) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	t0 := time.Now()
	var buf []byte
	for _, p := range pkts {
		if d := time.Until(t0.Add(p.off)); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		now := time.Now()
		h := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1, Src: p.src, Dst: p.dst,
			TSSec: uint32(now.Unix()), TSUsec: uint32(now.Nanosecond() / 1e3), CaptureID: 1, Payload: p.payload}
		buf = hep.Append(buf[:0], &h)
		if _, err := c.Write(buf); err != nil {
			t.Error(err)
			return
		}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon runs a real server binary until the test ends, stopped by its PID.
func startDaemon(t *testing.T, name string, args ...string) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), tail(out.String(), 3000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func getJSONTimeout(u string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// testRules derives a fast copy of the shipped rules: windows of 10 s and `for: 2s`
// instead of 5m/15m and minutes, expressions otherwise unchanged.
func testRules(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "deploy", "prometheus", "callscope.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`\[(5|15)m\]`).ReplaceAllString(string(b), "[10s]")
	s = regexp.MustCompile(`for: \d+m`).ReplaceAllString(s, "for: 2s")
	return s
}

// TestAlertingWithPrometheusAndAlertmanager: serve gets SIP over HEP in real time from
// a generated scenario where peer group "bad" answers 70 % of its INVITEs with 503 for
// 14 s. A real Prometheus scrapes serve with the shipped rules (windows shortened) and
// must fire CallscopeSIP5xxBurst for peer="bad" and never anything for peer="good". A
// real Alertmanager receives serve's built-in alert (5xx_ratio above 20 %, 5 s window,
// for 2 s) with its labels and, after recovery, notifies its webhook that it resolved.
// Expectations come from the scenario: 70 % of the bad group's calls fail with 503 in
// the bad phase (> 20 % and > 10 %), none of the good group's.
func TestAlertingWithPrometheusAndAlertmanager(t *testing.T) {
	prom := testutil.NeedTool(t, "prometheus")
	am := testutil.NeedTool(t, "prometheus-alertmanager")
	dir := t.TempDir()
	pkts := sipOf(t, degradeScenario())

	// Alertmanager with a webhook receiver that records what it is told.
	var mu sync.Mutex
	var notes []string
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		notes = append(notes, string(b))
		mu.Unlock()
	})}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hook.Serve(hl)
	defer hook.Close()
	amAddr := freePort(t)
	amCfg := fmt.Sprintf(`route: {receiver: hook, group_by: [alertname, peer], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
receivers: [{name: hook, webhook_configs: [{url: "http://%s/", send_resolved: true}]}]
`, hl.Addr())
	os.WriteFile(filepath.Join(dir, "am.yml"), []byte(amCfg), 0o644)
	startDaemon(t, am, "--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")

	// serve with peer groups, one fast built-in rule and Alertmanager as receiver.
	cfg := fmt.Sprintf(`peers:
  - {name: good, cidrs: [192.0.2.0/24]}
  - {name: bad, cidrs: [198.51.100.0/24]}
alerts:
  eval_interval: 1s
  rules:
    - {name: CallscopeServerErrorsFast, metric: 5xx_ratio, op: above, threshold: 20, window: 5s, per_peer: true, min_calls: 5, for: 2s, severity: critical, hysteresis: 5}
notify:
  alertmanager: http://%s
  resend_interval: 1s
`, amAddr)
	os.WriteFile(filepath.Join(dir, "callscope.yml"), []byte(cfg), 0o644)
	base, after, _, _ := startServeArgs(t, []string{"--hep", "127.0.0.1:0", "--config", filepath.Join(dir, "callscope.yml")}, "callscope: HEP input on ")
	hepAddr := strings.Fields(after)[0]

	// Prometheus scraping serve every second with the shipped rules, shortened.
	promAddr := freePort(t)
	os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(testRules(t)), 0o644)
	target := strings.TrimPrefix(base, "http://")
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs: [{job_name: callscope, static_configs: [{targets: ["%s"]}]}]
`, target)), 0o644)
	startDaemon(t, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "pdata"),
		"--web.listen-address="+promAddr, "--rules.alert.resend-delay=1s")

	// Wait until Prometheus scrapes serve (first scrape takes 5-6 s).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var tg struct {
			Data struct {
				ActiveTargets []struct{ Health string } `json:"activeTargets"`
			} `json:"data"`
		}
		if getJSONTimeout("http://"+promAddr+"/api/v1/targets", &tg) == nil && len(tg.Data.ActiveTargets) == 1 && tg.Data.ActiveTargets[0].Health == "up" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus never scraped serve")
		}
		time.Sleep(200 * time.Millisecond)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan struct{})
	go func() { defer close(sent); sendPaced(ctx, t, hepAddr, pkts) }()

	var promFired, amSeen, resolved bool
	end := time.Now().Add(70 * time.Second)
	for time.Now().Before(end) && !(promFired && amSeen && resolved) {
		time.Sleep(500 * time.Millisecond)
		var pa struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if getJSONTimeout("http://"+promAddr+"/api/v1/alerts", &pa) == nil {
			for _, a := range pa.Data.Alerts {
				if a.Labels["peer"] == "good" {
					t.Fatalf("Prometheus alert for the healthy peer: %v (%s)", a.Labels, a.State)
				}
				if a.Labels["alertname"] == "CallscopeSIP5xxBurst" && a.Labels["peer"] == "bad" && a.State == "firing" {
					promFired = true
				}
			}
		}
		var amAlerts []struct {
			Labels map[string]string `json:"labels"`
		}
		if getJSONTimeout("http://"+amAddr+"/api/v2/alerts?filter="+url.QueryEscape(`alertname="CallscopeServerErrorsFast"`), &amAlerts) == nil {
			for _, a := range amAlerts {
				if a.Labels["peer"] == "good" {
					t.Fatalf("built-in alert for the healthy peer reached Alertmanager: %v", a.Labels)
				}
				if a.Labels["peer"] == "bad" && a.Labels["severity"] == "critical" && a.Labels["source"] == "callscope" && a.Labels["metric"] == "5xx_ratio" {
					amSeen = true
				}
			}
		}
		mu.Lock()
		for _, n := range notes {
			if strings.Contains(n, `"status":"resolved"`) && strings.Contains(n, `"peer":"bad"`) && strings.Contains(n, "CallscopeServerErrorsFast") {
				resolved = amSeen
			}
		}
		mu.Unlock()
	}
	cancel()
	<-sent
	if !promFired {
		t.Error("Prometheus never fired CallscopeSIP5xxBurst for peer bad")
	}
	if !amSeen || !resolved {
		if resp, err := http.Get(base + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("serve metrics:\n%s", grepLines(string(b), "callscope_alert", `callscope_calls_total{peer="bad"`))
		}
	}
	if !amSeen {
		t.Error("Alertmanager never listed the built-in alert for peer bad with its labels")
	}
	if !resolved {
		mu.Lock()
		t.Errorf("Alertmanager's webhook never got the resolution; got %d notifications: %s", len(notes), tail(strings.Join(notes, "\n"), 2000))
		mu.Unlock()
	}
	var api struct {
		Active  []map[string]any `json:"active"`
		History []map[string]any `json:"history"`
	}
	if err := getJSON(t, base+"/api/v1/alerts?peer=bad", &api); err != nil {
		t.Fatal(err)
	}
	states := map[any]bool{}
	for _, h := range api.History {
		states[h["state"]] = true
	}
	if !states["pending"] || !states["firing"] || !states["resolved"] {
		t.Errorf("stored history for bad: %v", api.History)
	}
}

// TestAnalyzeAlerts: `analyze --alerts CONFIG --json` on the degrading-peer capture.
// Expected from the scenario, worked by hand: call i of each group starts at i*0.25 s and
// ends ~0.1 s (503) or ~0.4 s (answered) later, so a 5 s window holds 20 calls of "bad".
// Its 503s are the calls from 8 s with i%10 < 7. Boundary 9 s: 503s i=32..35, 4 of 20 =
// 20 %, not above 20. Boundary 10 s: i=32..36, 5 of 20 = 25 % → pending at 10 s, firing
// after `for: 2s` at 12 s. Boundary 26 s: (21, 26] holds 503s i=84..86 of 19 calls,
// 15.8 %, not yet back to 20-5 % (hysteresis); boundary 27 s: (22, 27] has none →
// resolved at 27 s. "good" never changes state.
func TestAnalyzeAlerts(t *testing.T) {
	sc := degradeScenario()
	path := filepath.Join(t.TempDir(), "degrade.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfgPath := filepath.Join(t.TempDir(), "callscope.yml")
	os.WriteFile(cfgPath, []byte(`peers:
  - {name: good, cidrs: [192.0.2.0/24]}
  - {name: bad, cidrs: [198.51.100.0/24]}
alerts:
  eval_interval: 1s
  rules:
    - {name: ServerErrors, metric: 5xx_ratio, op: above, threshold: 20, window: 5s, per_peer: true, min_calls: 5, for: 2s, severity: critical, hysteresis: 5}
`), 0o644)
	var out bytes.Buffer
	if err := runAnalyze(context.Background(), []string{"--alerts", cfgPath, "--json", "-r", path}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var rep AlertReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	n := len(sc.Calls) / 2
	if rep.Peers["good"] != n || rep.Peers["bad"] != n {
		t.Errorf("peers %v, want %d each", rep.Peers, n)
	}
	start := sc.Start
	want := []struct {
		state string
		at    time.Duration
	}{{"pending", 10 * time.Second}, {"firing", 12 * time.Second}, {"resolved", 27 * time.Second}}
	if len(rep.Changes) != len(want) {
		t.Fatalf("changes %+v, want %v", rep.Changes, want)
	}
	for i, w := range want {
		c := rep.Changes[i]
		if c.State != w.state || c.Peer != "bad" || time.Unix(0, int64(c.At)).Sub(start) != w.at {
			t.Errorf("change %d: %s %s at +%v, want %s bad at +%v", i, c.State, c.Peer, time.Unix(0, int64(c.At)).Sub(start), w.state, w.at)
		}
	}
	// Replaying gives the same changes at the same packet times.
	var again bytes.Buffer
	if err := runAnalyze(context.Background(), []string{"--alerts", cfgPath, "--json", "-r", path}, &again, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), again.Bytes()) {
		t.Error("a second replay gave different output")
	}
}

// TestAlertsPageInChromium: serve replays the degrading-peer capture with a rule whose
// 30 s window still holds the bad phase when the capture ends, so the alert is firing.
// The Alerts page must list it (peer bad, critical), the banner must show, and the
// alert's link must open the call search showing exactly the calls that caused it: the
// scenario's 40 calls answered 503 by "bad" (i = 32..36 and 40..46, 50..56, ..., 80..86).
func TestAlertsPageInChromium(t *testing.T) {
	chrome := "/usr/bin/chromium"
	if _, err := os.Stat(chrome); err != nil {
		testutil.Missing(t, "chromium")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "degrade.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := degradeScenario()
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfgPath := filepath.Join(dir, "callscope.yml")
	os.WriteFile(cfgPath, []byte(`peers:
  - {name: good, cidrs: [192.0.2.0/24]}
  - {name: bad, cidrs: [198.51.100.0/24]}
alerts:
  eval_interval: 1s
  rules:
    - {name: ServerErrors, metric: 5xx_ratio, op: above, threshold: 20, window: 30s, per_peer: true, min_calls: 5, for: 2s, severity: critical}
`), 0o644)
	s := startServe(t, "-r", path, "--config", cfgPath)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	var peer, sev, state, banner string
	var polled bool
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/#/alerts"),
		chromedp.WaitVisible(`#alerts-active tbody tr`),
		chromedp.AttributeValue(`#alerts-active tbody tr`, "data-peer", &peer, nil),
		chromedp.Text(`#alerts-active tbody tr td:nth-child(1)`, &sev),
		chromedp.Text(`#alerts-active tbody tr td:nth-child(2)`, &state),
		chromedp.WaitVisible(`#alert-banner`),
		chromedp.Text(`#alert-banner`, &banner),
		chromedp.Click(`#alerts-active tbody tr a.alert-calls`),
		chromedp.Poll(`location.hash.startsWith('#/calls') && document.querySelectorAll('table.calls tbody tr.row').length > 0`, &polled),
	)
	if err != nil {
		t.Fatalf("alerts page: %v", err)
	}
	if peer != "bad" || sev != "critical" || state != "firing" || !strings.Contains(banner, "ServerErrors (bad)") {
		t.Errorf("alerts page shows peer %q severity %q state %q, banner %q", peer, sev, state, banner)
	}
	var codes []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll('table.calls tbody tr.row')].map(r => r.children[5].textContent)`, &codes)); err != nil {
		t.Fatal(err)
	}
	n503 := 0
	for _, c := range codes {
		if c == "503" {
			n503++
		}
	}
	if len(codes) != 40 || n503 != 40 {
		t.Errorf("the alert's link shows %d calls (%d with 503), want the 40 503s of bad", len(codes), n503)
	}
}

// TestAlertingConfig: the fixtures under testdata/config load and validate (good) or are
// refused naming the key at fault (bad).
func TestAlertingConfig(t *testing.T) {
	for _, name := range []string{"alerting-good.yaml", "alerting-good.json"} {
		cfg := defaultServeConfig()
		if err := loadConfigFile(filepath.Join("testdata", "config", name), &cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "alerting-good.yaml" {
			r := cfg.Alerts.Rules
			if len(r) != 2 || time.Duration(r[0].Window) != 10*time.Minute || time.Duration(r[0].For) != 3*time.Minute || r[1].Severity != "warning" ||
				*cfg.Notify.Retries != 0 || cfg.peers.Classify("10.0.0.1:5060", "198.51.100.7:5060") != "carrier-b" {
				t.Errorf("%s parsed as %+v / %+v", name, r, cfg.Notify)
			}
		}
	}
	for name, want := range map[string]string{
		"bad-peer-name.yaml": "reserved", "bad-peer-cidr.yaml": "cidr", "bad-rule-metric.yaml": "metric",
		"bad-rule-op.yaml": "op", "bad-rule-window.yaml": "duration", "bad-notify-url.yaml": "notify.alertmanager",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultServeConfig()
			err := loadConfigFile(filepath.Join("testdata", "config", name), &cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err %v, want it to mention %q", err, want)
			}
		})
	}
}
