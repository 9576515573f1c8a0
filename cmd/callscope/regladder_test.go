package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/testutil"
	"github.com/chromedp/chromedp"
)

// sippRegister runs a real SIPp REGISTER with digest auth over loopback (the UAS
// scenario challenges with 401, then checks the digest and answers 200) while tcpdump
// records it, and returns the capture.
func sippRegister(t *testing.T) (file, port string) {
	t.Helper()
	sipp := testutil.NeedTool(t, "sipp")
	tcpdump := testutil.NeedTool(t, "tcpdump")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (tcpdump on lo)")
	}
	dir := t.TempDir()
	p := 20000 + os.Getpid()%10000*2
	uasPort, uacPort := strconv.Itoa(p), strconv.Itoa(p+1)
	file = filepath.Join(dir, "register.pcap")
	td := exec.Command(tcpdump, "-i", "lo", "--immediate-mode", "-s0", "-U", "-w", file, "udp port "+uasPort)
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = td.Process.Signal(os.Interrupt); _ = td.Wait() }()
	time.Sleep(time.Second) // tcpdump's socket is open
	xml := filepath.Join(testutil.RepoRoot(t), "testdata", "sipp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uas := exec.CommandContext(ctx, sipp, "-sf", filepath.Join(xml, "uas_register_auth.xml"), "-i", "127.0.0.1", "-p", uasPort, "-m", "1", "-nostdin")
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = uas.Process.Kill(); _ = uas.Wait() }()
	time.Sleep(300 * time.Millisecond)
	uac := exec.CommandContext(ctx, sipp, "-sf", filepath.Join(xml, "uac_register_auth.xml"), "-s", "2001", "-au", "2001", "-ap", "secret2001",
		"-i", "127.0.0.1", "-p", uacPort, "127.0.0.1:"+uasPort, "-m", "1", "-nostdin")
	uac.Dir = dir
	if out, err := uac.CombinedOutput(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond) // the 200 reaches tcpdump's file
	return file, uasPort
}

// TestRegisterLadderInChromium: a real SIPp REGISTER with digest auth, captured by
// tcpdump and replayed by serve, lists on the Registrations page with a ladder whose
// arrows are the four messages tshark finds in the capture (REGISTER, 401, REGISTER with
// Authorization, 200), in order; GET /api/v1/registrations/:id/ladder answers the same.
func TestRegisterLadderInChromium(t *testing.T) {
	file, port := sippRegister(t)
	// Expectation: the SIP start lines tshark reads from tcpdump's file.
	out, err := exec.Command(testutil.NeedTool(t, "tshark"), "-n", "-r", file, "-d", "udp.port=="+port+",sip", "-Y", "sip",
		"-T", "fields", "-e", "sip.Request-Line", "-e", "sip.Status-Line").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		want = append(want, strings.TrimSpace(l))
	}
	if len(want) != 4 {
		all, _ := exec.Command("tshark", "-n", "-r", file).CombinedOutput()
		t.Logf("capture:\n%s", all)
		t.Fatalf("tshark finds %d SIP messages in the SIPp capture, want 4: %q", len(want), want)
	}
	base, _, _, _ := startServeArgs(t, []string{"-r", file}, "callscope: ingested")
	var regs struct {
		Registrations []struct {
			ID      string `json:"id"`
			AOR     string `json:"aor"`
			Outcome string `json:"outcome"`
			Ladder  bool   `json:"ladder"`
		}
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := getJSON(t, base+"/api/v1/registrations", &regs); err == nil && len(regs.Registrations) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registration not stored: %+v", regs)
		}
	}
	r := regs.Registrations[0]
	if r.Outcome != "registered" || !r.Ladder || r.ID == "" {
		t.Fatalf("registration %+v: want registered with a ladder", r)
	}
	var lad struct{ Messages []struct{ Raw, Label string } }
	if err := getJSON(t, base+"/api/v1/registrations/"+r.ID+"/ladder", &lad); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range lad.Messages {
		line, _, _ := strings.Cut(m.Raw, "\r\n")
		got = append(got, line)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("REGISTER ladder:\n got %q\nwant %q (tshark)", got, want)
	}
	if len(lad.Messages) == 4 && !strings.Contains(lad.Messages[2].Raw, "Authorization: Digest") {
		t.Errorf("the second REGISTER of the ladder carries no digest:\n%s", lad.Messages[2].Raw)
	}
	if err := getJSON(t, base+"/api/v1/registrations/0000000000000000/ladder", &lad); err == nil {
		t.Error("an unknown registration id has a ladder")
	}

	ctx := chromiumIn(t)
	var labels []string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/#/registrations"), chromedp.WaitVisible(`#regs a.reg-ladder`),
		chromedp.Click(`#regs a.reg-ladder`), chromedp.WaitVisible(`#ladder`),
		chromedp.Evaluate(`[...document.querySelectorAll('#ladder text')].map(e => e.textContent)`, &labels))
	if err != nil {
		t.Fatal(err)
	}
	// The arrows' labels: method for requests, code and reason for responses.
	text := strings.Join(labels, "|")
	for _, w := range []string{"REGISTER", "401 Unauthorized", "200 OK"} {
		if !strings.Contains(text, w) {
			t.Errorf("REGISTER ladder in Chromium lacks %q: %s", w, text)
		}
	}
	if n := strings.Count("|"+text+"|", "|REGISTER|"); n != 2 {
		t.Errorf("%d REGISTER arrows in Chromium, want 2: %s", n, text)
	}
}
