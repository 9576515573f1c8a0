//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/callscope/callscope/security"
)

// secLab is a server namespace (bridge, Kamailio, tcpdump) and client namespaces joined
// to its bridge, each with one address on 10.66.0.0/24. Names carry the test's PID so
// parallel runs do not collide; cleanup kills what runs inside and deletes them.
type secLab struct {
	t      *testing.T
	ip     string
	server string
	id     int
}

const secLabServerIP = "10.66.0.1"

func newSecLab(t *testing.T) *secLab {
	t.Helper()
	ip := testutil.NeedTool(t, "ip")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (network namespaces)")
	}
	l := &secLab{t: t, ip: ip, id: os.Getpid() % 100000}
	l.server = fmt.Sprintf("css%ds", l.id)
	l.addNS(l.server)
	l.run("-n", l.server, "link", "add", "br0", "type", "bridge")
	l.run("-n", l.server, "addr", "add", secLabServerIP+"/24", "dev", "br0")
	l.run("-n", l.server, "link", "set", "br0", "up")
	return l
}

func (l *secLab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(l.ip, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *secLab) addNS(name string) {
	_ = exec.Command(l.ip, "netns", "del", name).Run() // a leftover of a killed run
	l.run("netns", "add", name)
	l.t.Cleanup(func() {
		if out, err := exec.Command(l.ip, "netns", "pids", name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
		_ = exec.Command(l.ip, "netns", "del", name).Run()
	})
	l.run("-n", name, "link", "set", "lo", "up")
}

// client adds a namespace named css<id><role> with the given addresses on the bridge.
func (l *secLab) client(role string, addrs ...string) string {
	name := fmt.Sprintf("css%d%s", l.id, role)
	l.addNS(name)
	l.run("link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", "p-"+role, "netns", l.server)
	l.run("-n", l.server, "link", "set", "p-"+role, "master", "br0", "up")
	for _, a := range addrs {
		l.run("-n", name, "addr", "add", a+"/24", "dev", "eth0")
	}
	l.run("-n", name, "link", "set", "eth0", "up")
	return name
}

// start runs a program inside ns in the background; cleanup stops it by PID.
func (l *secLab) start(ns, logf string, args ...string) *exec.Cmd {
	l.t.Helper()
	cmd := exec.Command(l.ip, append([]string{"netns", "exec", ns}, args...)...)
	f, err := os.Create(logf)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("%s: %v", args[0], err)
	}
	l.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		f.Close()
	})
	return cmd
}

// exec runs a program inside ns to its end (bounded by timeout) and returns its output.
func (l *secLab) exec(ns string, timeout time.Duration, args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, l.ip, append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		l.t.Fatalf("%s: timed out after %v\n%s", args[0], timeout, out)
	}
	if err != nil {
		l.t.Logf("%s exited: %v", args[0], err) // sipvicious tools exit non-zero when they find nothing
	}
	return string(out)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSecurityAttackTools runs the real SIPVicious tools (Debian sipvicious: svmap, svwar,
// svcrack), each from its own address, and a normal SIPp load through Kamailio (a
// registrar and digest-auth proxy: REGISTER → 401, INVITE → 407), captured with tcpdump on
// the server's bridge. analyze on the capture must report each tool as its event type with
// its source, with counts equal to what tshark shows the tool sent, and nothing for the
// normal load (500 calls, each challenged 407, plus 50 authenticated REGISTERs).
func TestSecurityAttackTools(t *testing.T) {
	for _, tool := range []string{"svmap", "svwar", "svcrack", "kamailio", "sipp", "tcpdump", "tshark"} {
		testutil.NeedTool(t, tool)
	}
	if testing.Short() {
		t.Skip("about a minute of real traffic")
	}
	l := newSecLab(t)
	work := t.TempDir()
	const (
		uacIP, uasIP                = "10.66.0.10", "10.66.0.20"
		svmapIP, svwarIP, svcrackIP = "10.66.0.11", "10.66.0.12", "10.66.0.13"
	)
	normal := l.client("n", uacIP, uasIP)
	nsMap, nsWar, nsCrack := l.client("m", svmapIP), l.client("w", svwarIP), l.client("c", svcrackIP)

	// Kamailio with the lab's two subscribers (alice/alicepw, bob/bobpw), db_text.
	db := filepath.Join(work, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"version":    "table_name(string) table_version(int)\nsubscriber:7\n",
		"subscriber": "id(int,auto) username(string) domain(string) password(string)\n1:alice:" + secLabServerIP + ":alicepw\n2:bob:" + secLabServerIP + ":bobpw\n",
	} {
		if err := os.WriteFile(filepath.Join(db, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgT, err := os.ReadFile("testdata/security/kamailio.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("@IP@", secLabServerIP, "@DB@", db).Replace(string(cfgT))
	if err := os.WriteFile(filepath.Join(work, "kamailio.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(work, "attack.pcap")
	td := l.start(l.server, filepath.Join(work, "tcpdump.log"), "tcpdump", "-i", "br0", "-s0", "-U", "-w", pcap, "udp")
	waitFor(t, "tcpdump", func() bool {
		b, _ := os.ReadFile(filepath.Join(work, "tcpdump.log"))
		return strings.Contains(string(b), "listening on")
	})
	l.start(l.server, filepath.Join(work, "kamailio.log"), "kamailio", "-f", filepath.Join(work, "kamailio.cfg"), "-DD", "-E", "-Y", work)
	waitFor(t, "kamailio on :5060", func() bool {
		out, _ := exec.Command(l.ip, "netns", "exec", l.server, "ss", "-lun").Output()
		return strings.Contains(string(out), secLabServerIP+":5060")
	})

	// Normal traffic: UAS bob (SIPp built-in uas copying Record-Route), 50 REGISTERs of
	// bob with digest auth, then 500 calls alice → bob at 50/s, each challenged 407.
	abs := func(f string) string { p, _ := filepath.Abs(filepath.Join("testdata/security", f)); return p }
	uas := l.start(normal, filepath.Join(work, "uas.log"), "sipp", "-sf", abs("uas_rr.xml"), "-i", uasIP, "-p", "5060",
		"-m", "500", "-timeout", "120s", "-nostdin")
	_ = uas
	out := l.exec(normal, 60*time.Second, "sipp", secLabServerIP+":5060", "-sf", abs("reg_auth.xml"), "-s", "bob", "-ap", "bobpw",
		"-i", uasIP, "-p", "5070", "-m", "50", "-r", "10", "-timeout", "30s", "-nostdin")
	if !strings.Contains(out, "Successful call") && testing.Verbose() {
		t.Logf("register sipp: %s", out)
	}
	out = l.exec(normal, 120*time.Second, "sipp", secLabServerIP+":5060", "-sf", abs("uac_auth.xml"), "-s", "bob", "-key", "caller", "alice",
		"-au", "alice", "-ap", "alicepw", "-auth_uri", "bob@"+secLabServerIP+":5060",
		"-i", uacIP, "-p", "5060", "-m", "500", "-r", "50", "-l", "200", "-timeout", "100s", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(work, "uac_stat.csv"))
	_ = out

	// The attack tools, one after the other, each from its own namespace.
	t.Log(l.exec(nsMap, 60*time.Second, "svmap", secLabServerIP))
	t.Log(l.exec(nsWar, 60*time.Second, "svwar", "-e100-299", secLabServerIP))
	t.Log(l.exec(nsCrack, 90*time.Second, "svcrack", "-u", "alice", "-r", "1000-1049", secLabServerIP))
	time.Sleep(500 * time.Millisecond)
	_ = td.Process.Signal(syscall.SIGINT)
	_ = td.Wait()

	// The oracle: tshark's view of the capture.
	sipRows := tsharkFields(t, pcap, "sip", "ip.src", "ip.dst", "sip.Method", "sip.Status-Code", "sip.to.tag",
		"sip.to.user", "sip.User-Agent", "sip.Call-ID", "sip.CSeq.seq", "sip.CSeq.method", "sip.Authorization")
	type oracle struct{ uaReqs, scanReqs, users, credFailed, calls200 int }
	or := map[string]*oracle{}
	users := map[string]map[string]bool{}
	credReq := map[string]bool{} // src|call-id|cseq of requests with Authorization
	for _, r := range sipRows {
		src, method, tag, user, ua := r[0], r[2], r[4], r[5], r[6]
		if method == "" {
			continue
		}
		o := or[src]
		if o == nil {
			o = &oracle{}
			or[src] = o
			users[src] = map[string]bool{}
		}
		if strings.Contains(strings.ToLower(ua), "friendly-scanner") {
			o.uaReqs++
		}
		if tag == "" && (method == "INVITE" || method == "REGISTER" || method == "OPTIONS") {
			o.scanReqs++
			if user != "" {
				users[src][user] = true
			}
		}
		if r[10] != "" {
			credReq[src+"|"+r[7]+"|"+r[8]] = true
		}
	}
	for _, r := range sipRows {
		dst, code, cseqMethod := r[1], r[3], r[9]
		if (code == "401" || code == "403" || code == "407") && (cseqMethod == "REGISTER" || cseqMethod == "INVITE") &&
			credReq[dst+"|"+r[7]+"|"+r[8]] {
			if or[dst] != nil {
				or[dst].credFailed++
			}
		}
	}
	for src, o := range or {
		o.users = len(users[src])
		t.Logf("tshark: %s sent %d requests with friendly-scanner, %d probing requests to %d users; %d credentialed requests rejected",
			src, o.uaReqs, o.scanReqs, o.users, o.credFailed)
	}
	if or[uacIP] == nil || or[uacIP].scanReqs < 1000 {
		t.Fatalf("the normal load did not run: %+v", or[uacIP])
	}

	rep, err := analyzeFiles(context.Background(), []string{pcap}, decode.DefaultConfig(), correlate.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, c := range rep.Calls {
		if c.State == "answered" && strings.HasPrefix(c.Caller, uacIP) {
			answered++
		}
	}
	if answered < 500 {
		t.Errorf("normal load: %d answered calls from the UAC, want 500 (SIPp -m 500)", answered)
	}
	find := func(src string, typ security.Type, rule security.Rule) *security.Event {
		for i := range rep.SecurityEvents {
			if e := &rep.SecurityEvents[i]; e.Source == src && e.Type == typ && e.Rule == rule {
				return e
			}
		}
		return nil
	}
	for _, e := range rep.SecurityEvents {
		t.Logf("event %s/%s from %s target %q count %d distinct %d", e.Type, e.Rule, e.Source, e.Target, e.Count, e.Distinct)
		switch e.Source {
		case svmapIP, svwarIP, svcrackIP:
		default:
			t.Errorf("normal traffic raised %s/%s from %s (count %d)", e.Type, e.Rule, e.Source, e.Count)
		}
	}
	check := func(tool, src string, typ security.Type, rule security.Rule, want int, wantDistinct int) {
		t.Helper()
		e := find(src, typ, rule)
		if e == nil {
			t.Errorf("%s from %s: no %s/%s event", tool, src, typ, rule)
			return
		}
		if want == 0 || int(e.Count) != want {
			t.Errorf("%s: %s/%s count %d, tshark shows %d", tool, typ, rule, e.Count, want)
		}
		if wantDistinct >= 0 && e.Distinct != wantDistinct {
			t.Errorf("%s: %s/%s distinct %d, tshark shows %d", tool, typ, rule, e.Distinct, wantDistinct)
		}
		if len(e.CallIDs) == 0 {
			t.Errorf("%s: no sample Call-IDs", tool)
		}
	}
	get := func(src string) *oracle {
		if o := or[src]; o != nil {
			return o
		}
		return &oracle{}
	}
	// svmap: one OPTIONS probe per host with User-Agent friendly-scanner.
	check("svmap", svmapIP, security.TypeScanner, security.RuleUserAgent, get(svmapIP).uaReqs, -1)
	// svwar: REGISTER to every extension of the range: many distinct users.
	check("svwar", svwarIP, security.TypeScanner, security.RuleManyUsers, get(svwarIP).scanReqs, get(svwarIP).users)
	// svcrack: REGISTERs for alice with guessed passwords, each rejected with 401.
	check("svcrack", svcrackIP, security.TypeBruteForce, security.RuleSourceFailures, get(svcrackIP).credFailed, -1)
}

// tsharkFields returns one row of the fields per packet matching filter.
func tsharkFields(t *testing.T, file, filter string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-Y", filter, "-T", "fields", "-E", "occurrence=f", "-E", "separator=\t"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		r := strings.Split(line, "\t")
		for len(r) < len(fields) {
			r = append(r, "")
		}
		rows = append(rows, r)
	}
	return rows
}
