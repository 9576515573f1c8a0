//go:build linux

package labtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/internal/testutil"
)

// The lab: three namespaces on one bridge, all named cst* so a manual ../shared/lab run
// (lab*) and this test cannot meet. A run removes what a crashed earlier run left.
//
//	cstua 10.79.0.10 (SIPp callers) --veth-- [cstpx: bridge cstbr 10.79.0.1: Kamailio,
//	rtpengine, two callscope serve, tcpdump] --veth-- cstub 10.79.0.20 (SIPp callees)
const (
	nsUA, nsPX, nsUB = "cstua", "cstpx", "cstub"
	bridge           = "cstbr"
	proxyIP          = "10.79.0.1"
	uaIP             = "10.79.0.10"
	ubIP             = "10.79.0.20"
	hepAddr          = proxyIP + ":9060"
	ngAddr           = "127.0.0.1:2223"
	wireListen       = "127.0.0.1:18081" // serve -i cstbr
	hepListen        = "127.0.0.1:18082" // serve --hep
)

// scenario is one SIPp caller/callee pair and what the scenario makes of each call.
// Call-IDs carry the scenario's name (SIPp -cid_str), so calls are found by prefix.
type scenario struct {
	name     string // Call-ID prefix "lab-<name>-"
	uac, uas string // scenario files (uas "" for a call that never reaches a callee)
	caller   string // From user; digest user too (auth_check needs them equal)
	password string
	callee   string // Request-URI user, registered at the UAS port users.csv gives it
	uacPort  int
	uasPort  int
	calls    int
	uacArgs  []string
	uasArgs  []string
	// What the scenario does to each call (the expectation, from the XML).
	state     string
	finalCode int
	endedBy   any // "caller", "callee", or nil when no BYE ends the call
	media     bool
}

var scenarios = []scenario{
	// INVITE → 407 → ACK → INVITE (credentials) → 180 → 200; 7 s of G.711a; caller BYE.
	{name: "answered", uac: "uac_answer.xml", uas: "uas_answer.xml", caller: "alice", password: "alicepw", callee: "bob",
		uacPort: 5061, uasPort: 5060, calls: 1, uasArgs: []string{"-rtp_echo"},
		state: "answered", finalCode: 200, endedBy: "caller", media: true},
	// Credentials accepted, the callee answers 486.
	{name: "busy", uac: "uac_busy.xml", uas: "uas_busy.xml", caller: "alice", password: "alicepw", callee: "busy",
		uacPort: 5063, uasPort: 5062, calls: 1, state: "busy", finalCode: 486},
	// 180, then the caller CANCELs: 200 to the CANCEL, 487 to the INVITE.
	{name: "cancelled", uac: "uac_cancel.xml", uas: "uas_ring.xml", caller: "alice", password: "alicepw", callee: "ring",
		uacPort: 5065, uasPort: 5064, calls: 1, state: "cancelled", finalCode: 487},
	// Wrong password: the second INVITE is challenged again; the caller gives up.
	{name: "wrongpw", uac: "uac_wrongpw.xml", caller: "mallory", password: "not-mallorypw", callee: "bob",
		uacPort: 5067, calls: 1, state: "failed", finalCode: 407},
	// Blind transfer: xfer answers, REFERs the caller to carol and hangs up; the caller's
	// new call to carol (Referred-By) is answered and the caller hangs up after 1 s.
	{name: "transfer", uac: "uac_transferee.xml", uas: "uas_refer.xml", caller: "alice", password: "alicepw", callee: "xfer",
		uacPort: 5069, uasPort: 5066, calls: 1, uasArgs: []string{"-key", "domain", proxyIP},
		state: "answered", finalCode: 200, endedBy: "callee"},
	{name: "xfertarget", uas: "uas_answer.xml", caller: "alice", password: "alicepw", callee: "carol",
		uacPort: 5079, uasPort: 5068, calls: 1, state: "answered", finalCode: 200, endedBy: "caller"},
	// Hold: re-INVITE a=sendonly answered 200, then caller BYE.
	{name: "hold", uac: "uac_hold.xml", uas: "uas_hold.xml", caller: "alice", password: "alicepw", callee: "hold",
		uacPort: 5071, uasPort: 5070, calls: 1, state: "answered", finalCode: 200, endedBy: "caller"},
	// A re-INVITE answered 488: the call goes on, then caller BYE.
	{name: "reinvite488", uac: "uac_reject.xml", uas: "uas_reject.xml", caller: "alice", password: "alicepw", callee: "rej",
		uacPort: 5073, uasPort: 5072, calls: 1, state: "answered", finalCode: 200, endedBy: "caller"},
	// Load: 200 short answered calls at 50 calls/s, no media.
	{name: "load", uac: "uac_short.xml", uas: "uas_answer.xml", caller: "alice", password: "alicepw", callee: "load",
		uacPort: 5075, uasPort: 5074, calls: 200, uacArgs: []string{"-r", "50"},
		state: "answered", finalCode: 200, endedBy: "caller"},
}

// lab is one run: its work directory and the daemons it started.
type lab struct {
	t     *testing.T
	work  string
	procs []*proc
}

// proc is a daemon or tool the test started; its output goes to log.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// TestLab runs the scenarios above through Kamailio and rtpengine while callscope watches
// in two ways at once, inside the proxy's namespace:
//
//   - serve -i cstbr: live AF_PACKET capture of the bridge (SIP and RTP on the wire);
//   - serve --hep: Kamailio's siptrace HEPv3 mirror (SIP only, as the proxy saw it).
//
// Two instances, not one with both inputs. The README says all live sources share one
// correlator; with -i and --hep together each SIP message arrives twice (on the wire, and
// mirrored) with the same addresses, Via branch and CSeq, and today's correlator takes
// every mirrored copy for a retransmission (measured: an answered call shows 17 of its 16
// wire messages "retransmitted"), which makes retransmissions useless to a NOC. A probe
// should be fed either the span port or the proxy's HEP for the same signalling; the two
// views are compared here, and the mixed case is measured offline (analyze -r wire.pcap
// -r hep.pcap: one correlator, both sources) where the mirror must not count as
// retransmissions.
//
// Expectations come from the scenarios (what each SIPp XML makes happen, checked on the
// wire with tshark when the XML was written), from SIPp's own -trace_stat / -trace_counts
// files (calls completed, 407s received per call = auth_challenges), and from tshark on
// tcpdump's files (SIP messages and repeats per Call-ID, RTP packets per stream).
//
// Kamailio's siptrace mirrors the ACK to each 407 twice (it is on the wire once, see
// ../shared/lab/README.md): the HEP view may count it as a message, never as a
// retransmission.
//
// CALLSCOPE_LAB_KEEP=DIR keeps the logs, captures and SIPp files in a new directory in DIR;
// CALLSCOPE_LAB_BIN=FILE tests a callscope binary built elsewhere. Takes about 40 s.
func TestLab(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (network namespaces, AF_PACKET)")
	}
	for _, tool := range []string{"ip", "kamailio", "rtpengine", "sipp", "tcpdump", "tshark", "curl", "go"} {
		testutil.NeedTool(t, tool)
	}
	for _, f := range []string{"/usr/share/sip-tester/g711a.pcap",
		"/usr/lib/x86_64-linux-gnu/kamailio/modules/siptrace.so",
		"/usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so"} {
		if _, err := os.Stat(f); err != nil {
			testutil.Missing(t, f+" (sip-tester, kamailio)")
		}
	}
	begin := time.Now()
	l := &lab{t: t, work: t.TempDir()}
	if keep := os.Getenv("CALLSCOPE_LAB_KEEP"); keep != "" {
		// The logs, captures and SIPp files stay in a new directory under keep.
		dir, err := os.MkdirTemp(keep, "lab-")
		if err != nil {
			t.Fatal(err)
		}
		l.work = dir
		t.Logf("work directory %s", dir)
	}
	bin := os.Getenv("CALLSCOPE_LAB_BIN") // a callscope built elsewhere, to try it in the lab
	if bin == "" {
		bin = filepath.Join(l.work, "callscope")
		if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/callscope").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	l.prepare()
	l.netnsUp()
	t.Cleanup(l.stopAll) // registered after the namespaces' removal, so it runs first

	wirePcap := filepath.Join(l.work, "wire.pcap")
	hepPcap := filepath.Join(l.work, "hep.pcap")
	tdWire := l.start("tcpdump-wire", nsPX, "tcpdump", "-i", bridge, "-s0", "-U", "-w", wirePcap)
	tdHEP := l.start("tcpdump-hep", nsPX, "tcpdump", "-i", "lo", "-s0", "-U", "-w", hepPcap, "udp", "port", "9060")
	// Each serve has a data directory of its own: the spool and the write-ahead log live
	// beside the database, and the writer reads queued calls' frames back from its WAL.
	serveWire := l.start("serve-wire", nsPX, bin, "serve", "-i", bridge, "--listen", wireListen,
		"--store", "duckdb:"+filepath.Join(l.work, "wire", "wire.duckdb"))
	serveHEP := l.start("serve-hep", nsPX, bin, "serve", "--hep", hepAddr, "--listen", hepListen,
		"--store", "duckdb:"+filepath.Join(l.work, "hep", "hep.duckdb"))
	l.waitLog(serveWire, "callscope: capturing on", 30*time.Second)
	l.waitLog(serveHEP, "callscope: HEP input on", 30*time.Second)
	l.waitLog(tdWire, "listening on", 10*time.Second)
	l.waitLog(tdHEP, "listening on", 10*time.Second)

	// rtpengine before Kamailio: Kamailio pings its control socket at start.
	l.start("rtpengine", nsPX, "rtpengine", "--interface="+proxyIP, "--listen-ng="+ngAddr, "--table=-1",
		"--foreground", "--log-stderr", "--port-min=30000", "--port-max=30999")
	l.waitUDP(nsPX, ngAddr, 10*time.Second)
	l.start("kamailio", nsPX, "kamailio", "-f", filepath.Join(l.work, "kamailio.cfg"), "-DD", "-E",
		"-Y", filepath.Join(l.work, "run"))
	l.waitUDP(nsPX, proxyIP+":5060", 10*time.Second)

	// Callees, then their registrations, then every caller at once.
	uas := map[string]*proc{}
	for i, sc := range scenarios {
		if sc.uas == "" {
			continue
		}
		args := append([]string{"-sf", l.file(sc.uas), "-i", ubIP, "-p", strconv.Itoa(sc.uasPort),
			"-mi", ubIP, "-mp", strconv.Itoa(16000 + 100*i), "-m", strconv.Itoa(sc.calls)}, sc.uasArgs...)
		uas[sc.name] = l.sipp("uas-"+sc.name, nsUB, args...)
	}
	for _, sc := range scenarios {
		if sc.uas != "" {
			l.waitUDP(nsUB, fmt.Sprintf("%s:%d", ubIP, sc.uasPort), 10*time.Second)
		}
	}
	regs := map[string]*proc{}
	for i, sc := range scenarios {
		if sc.uas != "" {
			regs[sc.callee] = l.sipp("register-"+sc.callee, nsUB, proxyIP+":5060", "-sf", l.file("reg_users.xml"),
				"-s", sc.callee, "-ap", sc.callee+"pw", "-key", "contact_port", strconv.Itoa(sc.uasPort),
				"-i", ubIP, "-p", strconv.Itoa(5090+i), "-m", "1")
		}
	}
	for user, p := range regs {
		l.wait(p, 20*time.Second)
		if st := l.stat(p.name); st.successful != 1 || st.failed != 0 {
			t.Fatalf("REGISTER %s: SIPp counts %d successful, %d failed; want 1 and 0", user, st.successful, st.failed)
		}
	}

	uac := map[string]*proc{}
	for i, sc := range scenarios {
		if sc.uac == "" {
			continue
		}
		args := append(l.uacArgs(sc, 6000+100*i), sc.uacArgs...)
		if sc.name == "transfer" {
			// The transferee acts on the REFER: its scenario execs a second SIPp placing
			// the new call to carol (uac_xfer_target.xml, with Referred-By).
			tg := scenarioByName("xfertarget")
			dir := l.sippDir("uac-xfertarget")
			cmd := "cd " + dir + " && sipp " + strings.Join(append(l.uacArgs(tg, 6000+100*len(scenarios)), "-sf", l.file("uac_xfer_target.xml")), " ") +
				" >" + filepath.Join(dir, "sipp.log") + " 2>&1"
			args = append(args, "-key", "xfercmd", "sh -c '"+cmd+"; echo $? >"+filepath.Join(dir, "rc")+"'")
		}
		uac[sc.name] = l.sipp("uac-"+sc.name, nsUA, append(args, "-sf", l.file(sc.uac))...)
	}
	for _, sc := range scenarios {
		if p := uac[sc.name]; p != nil {
			l.wait(p, 60*time.Second)
		}
	}
	l.waitFile(filepath.Join(l.sippDir("uac-xfertarget"), "rc"), 20*time.Second)
	for _, sc := range scenarios {
		if p := uas[sc.name]; p != nil {
			l.wait(p, 20*time.Second)
		}
	}
	t.Logf("calls done after %v", time.Since(begin).Round(time.Millisecond))

	// SIPp is the judge of what happened: every caller completed its scenario, and the
	// number of 407s each received (its -trace_counts) is the expected auth_challenges.
	challenges := map[string]int{}
	sippRetrans := 0
	for _, sc := range scenarios {
		st := l.stat("uac-" + sc.name)
		sippRetrans += st.retrans
		if st.successful != sc.calls || st.failed != 0 {
			t.Errorf("%s: SIPp caller counts %d successful, %d failed; want %d and 0 (see its log)", sc.name, st.successful, st.failed, sc.calls)
		}
		challenges[sc.name] = l.received("uac-"+sc.name, "407") / sc.calls
		if sc.uas != "" {
			if st := l.stat("uas-" + sc.name); st.successful != sc.calls || st.failed != 0 {
				t.Errorf("%s: SIPp callee counts %d successful, %d failed; want %d and 0", sc.name, st.successful, st.failed, sc.calls)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("SIPp callers retransmitted %d messages (per call, the repeats tshark shows on the bridge are the expectation)", sippRetrans)

	// Calls end (BYE, final response) and are stored after correlate's 10 s linger.
	total := 0
	for _, sc := range scenarios {
		total += sc.calls
	}
	wire := l.waitCalls(wireListen, total, 60*time.Second)
	hep := l.waitCalls(hepListen, total, 15*time.Second)
	wireFull := map[string]map[string]any{}
	for cid, c := range wire {
		if !strings.HasPrefix(cid, "lab-load-") {
			wireFull[cid] = l.getCall(wireListen, c["id"])
		}
	}
	// Loss at the probe would make every comparison below meaningless: there is none.
	for listen, names := range map[string][]string{
		wireListen: {"callscope_capture_kernel_drops_total", "callscope_capture_queue_drops_total"},
		hepListen:  {"callscope_hep_dropped_total"},
	} {
		metrics := string(l.curl("http://" + listen + "/metrics"))
		for _, name := range names {
			if v, ok := metric(metrics, name); !ok || v != 0 {
				t.Errorf("%s: %s = %v (exported: %v); want 0", listen, name, v, ok)
			}
		}
	}
	l.stop(tdWire)
	l.stop(tdHEP)
	t.Logf("stored %d wire and %d HEP calls after %v", len(wire), len(hep), time.Since(begin).Round(time.Millisecond))

	// What the wire and the mirror carried, per Call-ID, by tshark.
	wireSIP := tsharkSIPCount(t, wirePcap, [4]string{"ip.src", "udp.srcport", "ip.dst", "udp.dstport"})
	hepSIP := tsharkSIPCount(t, hepPcap, [4]string{"hep.src_ip", "hep.src_port", "hep.dst_ip", "hep.dst_port"},
		"-X", "lua_script:"+l.file("hep3.lua"), "-d", "udp.port==9060,hep")

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			wc := byPrefix(wire, "lab-"+sc.name+"-")
			hc := byPrefix(hep, "lab-"+sc.name+"-")
			if len(wc) != sc.calls || len(hc) != sc.calls {
				t.Fatalf("%d calls from the wire, %d from HEP; SIPp made %d", len(wc), len(hc), sc.calls)
			}
			// Mismatches are tallied: the load run's 200 calls report each one once.
			ta := newTally(t)
			defer ta.report()
			for _, cid := range sortedKeys(wc) {
				c := wc[cid]
				ta.add(cid, checkScenario("wire", sc, challenges[sc.name], c)...)
				h, ok := hc[cid]
				if !ok {
					ta.add(cid, "on the wire, not in HEP")
					continue
				}
				ta.add(cid, checkScenario("hep", sc, challenges[sc.name], h)...)
				ta.add(cid, diff("wire vs HEP", c, h, "call_id", "state", "final_code", "final_reason", "auth_challenges",
					"ended_by", "end_reason", "from_user", "to_user", "dropped", "linked_call_ids")...)
				if got, want := num(c["sip_messages"]), wireSIP[cid].messages; got != want {
					ta.add(cid, fmt.Sprintf("wire: sip_messages %v, tshark counts %v on the bridge", got, want))
				}
				// The mirror carries each message the proxy received or sent, like the
				// bridge, plus a second copy of each ACK to a 407 (tshark counts it):
				// either count is right, the copy dropped or kept as a message.
				if got := num(h["sip_messages"]); got != hepSIP[cid].messages && got != wireSIP[cid].messages {
					ta.add(cid, fmt.Sprintf("hep: sip_messages %v, tshark counts %v in the HEP mirror and %v on the bridge",
						got, hepSIP[cid].messages, wireSIP[cid].messages))
				}
				// Retransmissions are the wire's repeats (sipCount). The
				// mirror sends the ACK to each 407 twice (siptrace traces it on receipt
				// and again as tm absorbs it; the wire carries it once): that copy is not
				// a retransmission on the network.
				if got, want := num(c["retransmissions"]), wireSIP[cid].resent; got != want {
					ta.add(cid, fmt.Sprintf("wire: retransmissions %v, tshark shows %v repeated on the bridge", got, want))
				}
				if got, want := num(h["retransmissions"]), wireSIP[cid].resent; got != want {
					ta.add(cid, fmt.Sprintf("hep: retransmissions %v, the wire had %v (the mirror's duplicate ACKs counted?)", got, want))
				}
				if sc.media {
					full := wireFull[cid]
					if s, _ := full["streams"].([]any); len(s) == 0 {
						ta.add(cid, "wire: no streams; the caller played g711a.pcap and the callee echoed it")
					}
				}
			}
		})
	}
	t.Run("transfer_linked", func(t *testing.T) {
		// The REFER's transferred call and the original name each other.
		for name, views := range map[string]map[string]map[string]any{"wire": wire, "hep": hep} {
			a := only(byPrefix(views, "lab-transfer-"))
			b := only(byPrefix(views, "lab-xfertarget-"))
			if a == nil || b == nil {
				t.Fatalf("%s: transfer calls missing", name)
			}
			if !hasString(a["linked_call_ids"], b["call_id"]) || !hasString(b["linked_call_ids"], a["call_id"]) {
				t.Errorf("%s: transferred call %v links %v, its transfer %v links %v; want each to name the other",
					name, a["call_id"], a["linked_call_ids"], b["call_id"], b["linked_call_ids"])
			}
		}
	})
	t.Run("streams_vs_tshark", func(t *testing.T) {
		// The answered call's RTP, per stream, as tshark counts it on the bridge.
		c := only(byPrefix(wire, "lab-answered-"))
		if c == nil {
			t.Fatal("no answered call")
		}
		ts := testutil.TsharkRTPStreams(t, wirePcap, "-o", "rtp.heuristic_rtp:TRUE")
		got := map[string]float64{}
		streams, _ := wireFull[str(c["call_id"])]["streams"].([]any)
		for _, s := range streams {
			m, _ := s.(map[string]any)
			got[str(m["ssrc"])+" "+str(m["src"])+" "+str(m["dst"])] = num(m["packets"])
		}
		n := 0
		for _, s := range ts {
			if _, ok := got[s.SSRC+" "+s.Src+" "+s.Dst]; !ok {
				continue // another call's stream
			}
			n++
			if got[s.SSRC+" "+s.Src+" "+s.Dst] != float64(s.Packets) {
				t.Errorf("stream %s %s→%s: %v packets, tshark %d", s.SSRC, s.Src, s.Dst, got[s.SSRC+" "+s.Src+" "+s.Dst], s.Packets)
			}
		}
		// alice→rtpengine→bob and the echo back: four legs through the anchor.
		if n != 4 || len(got) != 4 {
			t.Errorf("answered call: %d streams (%d matched tshark's); want the 4 legs through rtpengine: %v", len(got), n, got)
		}
	})
	t.Run("analyze_vs_serve", func(t *testing.T) {
		// The same wire, read back from tcpdump's file, gives the calls serve stored.
		rep := l.analyze(bin, wirePcap)
		if len(rep) != len(wire) {
			t.Errorf("analyze found %d calls in tcpdump's file, serve -i stored %d", len(rep), len(wire))
		}
		ta := newTally(t)
		defer ta.report()
		for _, cid := range sortedKeys(rep) {
			a := rep[cid]
			s, ok := wire[cid]
			if !ok {
				ta.add(cid, "in tcpdump's file, not stored by serve -i")
				continue
			}
			ta.add(cid, diff("analyze vs serve", a, s, "state", "final_code", "final_reason", "auth_challenges", "ended_by",
				"end_reason", "from_user", "to_user", "caller", "callee", "dropped", "sip_messages", "retransmissions",
				"linked_call_ids", "one_way_audio")...)
			// Timings within 1 ms: tcpdump's socket and serve's ring stamp packets apart.
			for _, f := range []string{"start", "ringing", "answer", "end"} {
				if d := timeDiff(a[f], s[f]); d > time.Millisecond {
					ta.add(cid, fmt.Sprintf("%s differs by %v (analyze %v, serve %v)", f, d, a[f], s[f]))
				}
			}
			if full, ok := wireFull[cid]; ok {
				as, _ := a["streams"].([]any)
				ss, _ := full["streams"].([]any)
				if len(as) != len(ss) {
					ta.add(cid, fmt.Sprintf("%d streams in analyze, %d in serve", len(as), len(ss)))
					continue
				}
				for i := range as {
					ta.add(cid, diff(fmt.Sprintf("analyze vs serve, stream %d", i), as[i].(map[string]any), ss[i].(map[string]any),
						"ssrc", "src", "dst", "codec", "packets", "lost", "duplicates")...)
				}
			}
		}
	})
	t.Run("mixed_wire_and_hep", func(t *testing.T) {
		// One correlator fed both the wire and the mirror (what serve -i X --hep Y does):
		// the calls must be the wire's, and the mirrored copy of a message already seen on
		// the wire is not a retransmission.
		mixed := l.analyze(bin, wirePcap, hepPcap)
		wireRep := l.analyze(bin, wirePcap)
		if len(mixed) != len(wireRep) {
			t.Errorf("mixed: %d calls, wire alone %d", len(mixed), len(wireRep))
		}
		// Per field: how many calls differ, and one of them.
		fields := []string{"state", "final_code", "auth_challenges", "ended_by", "from_user", "to_user", "dropped",
			"linked_call_ids", "sip_messages", "retransmissions"}
		n := map[string]int{}
		ex := map[string]string{}
		for _, cid := range sortedKeys(wireRep) {
			w := wireRep[cid]
			m, ok := mixed[cid]
			if !ok {
				t.Errorf("%s: missing in the mixed view", cid)
				continue
			}
			for _, f := range fields {
				want := w[f]
				if f == "sip_messages" && num(m[f]) == wireSIP[cid].messages+hepSIP[cid].messages {
					// Each copy counted as a message (the ladder shows both) is as right
					// as the mirror's copies dropped (the wire's count).
					want = m[f]
				}
				if fmt.Sprint(want) != fmt.Sprint(m[f]) {
					if n[f]++; n[f] == 1 {
						ex[f] = fmt.Sprintf("%s: %v, want %v", cid, m[f], want)
					}
				}
			}
		}
		for _, f := range fields {
			if n[f] > 0 {
				t.Errorf("wire+HEP in one correlator: %s wrong in %d of %d calls (e.g. %s)", f, n[f], len(wireRep), ex[f])
			}
		}
	})
	if d := time.Since(begin); d > 2*time.Minute {
		t.Logf("TestLab took %v; the target is under 2 minutes", d)
	}
}

// metric returns the value of an unlabelled sample in a Prometheus text exposition.
func metric(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

func scenarioByName(name string) scenario {
	for _, sc := range scenarios {
		if sc.name == name {
			return sc
		}
	}
	panic("no scenario " + name)
}

// uacArgs are the SIPp arguments of sc's caller.
func (l *lab) uacArgs(sc scenario, mport int) []string {
	return []string{proxyIP + ":5060", "-s", sc.callee, "-key", "caller", sc.caller,
		"-au", sc.caller, "-ap", sc.password, "-auth_uri", sc.callee + "@" + proxyIP + ":5060",
		"-i", uaIP, "-p", strconv.Itoa(sc.uacPort), "-mi", uaIP, "-mp", strconv.Itoa(mport),
		"-m", strconv.Itoa(sc.calls), "-cid_str", "lab-" + sc.name + "-%u-%p@%s",
		"-timeout", "60s", "-nostdin", "-trace_stat", "-trace_counts", "-trace_err", "-stf", "stat.csv"}
}

// checkScenario checks one call against its scenario and SIPp's count of 407s.
func checkScenario(view string, sc scenario, challenges int, c map[string]any) []string {
	want := map[string]any{
		"state": sc.state, "final_code": float64(sc.finalCode), "from_user": sc.caller, "to_user": sc.callee,
		"ended_by": sc.endedBy, "dropped": false,
		// auth_challenges: one per challenged INVITE, as many as the caller got 407s.
		"auth_challenges": float64(challenges),
	}
	var bad []string
	for _, f := range []string{"state", "final_code", "auth_challenges", "ended_by", "from_user", "to_user", "dropped"} {
		got, ok := c[f]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: no field %s (want %v)", view, f, want[f]))
		} else if fmt.Sprint(got) != fmt.Sprint(want[f]) {
			bad = append(bad, fmt.Sprintf("%s: %s = %v, want %v", view, f, got, want[f]))
		}
	}
	return bad
}

// diff lists the fields in which a and b differ (or that either lacks).
func diff(what string, a, b map[string]any, fields ...string) []string {
	var bad []string
	for _, f := range fields {
		av, aok := a[f]
		bv, bok := b[f]
		if !aok || !bok {
			bad = append(bad, fmt.Sprintf("%s: field %s missing (in first: %v, in second: %v)", what, f, aok, bok))
		} else if fmt.Sprint(av) != fmt.Sprint(bv) {
			bad = append(bad, fmt.Sprintf("%s: %s %v vs %v", what, f, av, bv))
		}
	}
	return bad
}

// tally collects mismatches by message, so many calls failing alike report once.
type tally struct {
	t     *testing.T
	n     map[string]int
	ex    map[string]string
	order []string
}

func newTally(t *testing.T) *tally {
	return &tally{t: t, n: map[string]int{}, ex: map[string]string{}}
}

func (ta *tally) add(cid string, msgs ...string) {
	for _, m := range msgs {
		if ta.n[m] == 0 {
			ta.order = append(ta.order, m)
			ta.ex[m] = cid
		}
		ta.n[m]++
	}
}

func (ta *tally) report() {
	ta.t.Helper()
	for _, m := range ta.order {
		if ta.n[m] == 1 {
			ta.t.Errorf("%s: %s", ta.ex[m], m)
		} else {
			ta.t.Errorf("%d calls (e.g. %s): %s", ta.n[m], ta.ex[m], m)
		}
	}
}

func byPrefix(calls map[string]map[string]any, prefix string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for cid, c := range calls {
		if strings.HasPrefix(cid, prefix) {
			out[cid] = c
		}
	}
	return out
}

func sortedKeys(m map[string]map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func only(m map[string]map[string]any) map[string]any {
	if len(m) != 1 {
		return nil
	}
	for _, c := range m {
		return c
	}
	return nil
}

func hasString(list any, s any) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func num(v any) float64 { f, _ := v.(float64); return f }
func str(v any) string  { s, _ := v.(string); return s }

func timeDiff(a, b any) time.Duration {
	if a == nil || b == nil {
		if a == nil && b == nil {
			return 0
		}
		return time.Hour
	}
	ta, err1 := time.Parse(time.RFC3339Nano, str(a))
	tb, err2 := time.Parse(time.RFC3339Nano, str(b))
	if err1 != nil || err2 != nil {
		return time.Hour
	}
	return ta.Sub(tb).Abs()
}

// sipCount is what tshark decodes of one Call-ID: its SIP messages, and how many of
// them repeat an earlier one on the same hop (same addresses and ports, request method or
// status code, CSeq, top Via branch and To tag: a retransmission, or the ACK a UAC sends
// again for each retransmitted 200). tshark's own sip.resend is not used: it does not
// flag repeated ACKs.
type sipCount struct{ messages, resent float64 }

// tsharkSIPCount counts SIP messages per Call-ID in file, as tshark decodes them; addr
// names the fields of a message's source and destination address and port. SIP quoted
// in ICMP errors (a late 200 to a SIPp that has exited) is not a message.
func tsharkSIPCount(t *testing.T, file string, addr [4]string, opts ...string) map[string]sipCount {
	t.Helper()
	args := append([]string{"-n", "-r", file}, opts...)
	args = append(args, "-Y", "sip && !icmp", "-T", "fields", "-E", "separator=;", "-E", "occurrence=f",
		"-e", "sip.Call-ID", "-e", addr[0], "-e", addr[1], "-e", addr[2], "-e", addr[3],
		"-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.CSeq", "-e", "sip.Via.branch", "-e", "sip.to.tag")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	n := map[string]sipCount{}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		cid, _, _ := strings.Cut(line, ";")
		if cid == "" {
			continue
		}
		c := n[cid]
		c.messages++
		if seen[line] {
			c.resent++
		}
		seen[line] = true
		n[cid] = c
	}
	return n
}

// prepare fills the work directory: Kamailio's config and db with this lab's addresses,
// the SIPp scenarios, the HEP dissector for tshark.
func (l *lab) prepare() {
	t := l.t
	for _, d := range []string{"run", "db", "sipp"} {
		if err := os.MkdirAll(filepath.Join(l.work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fill := func(src, dst string) {
		b, err := os.ReadFile(filepath.Join("testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.NewReplacer("@IP@", proxyIP, "@DB@", filepath.Join(l.work, "db"), "@HEP@", hepAddr, "@NG@", ngAddr).Replace(string(b)))
		if err := os.WriteFile(filepath.Join(l.work, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fill("kamailio.cfg", "kamailio.cfg")
	fill("db/subscriber", "db/subscriber")
	fill("db/version", "db/version")
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".xml") || strings.HasSuffix(n, ".csv") || strings.HasSuffix(n, ".lua") {
			fill(n, n)
		}
	}
}

func (l *lab) file(name string) string { return filepath.Join(l.work, name) }

// netnsUp creates the three namespaces and the bridge, removing a crashed run's first.
func (l *lab) netnsUp() {
	t := l.t
	l.netnsDown()
	t.Cleanup(l.netnsDown)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{nsUA, nsPX, nsUB} {
		run("netns", "add", ns)
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", nsPX, "link", "add", bridge, "type", "bridge")
	run("-n", nsPX, "addr", "add", proxyIP+"/24", "dev", bridge)
	run("-n", nsPX, "link", "set", bridge, "up")
	for _, side := range []struct{ ns, ip, port string }{{nsUA, uaIP, "cst-ua"}, {nsUB, ubIP, "cst-ub"}} {
		run("link", "add", "eth0", "netns", side.ns, "type", "veth", "peer", "name", side.port, "netns", nsPX)
		run("-n", nsPX, "link", "set", side.port, "master", bridge, "up")
		run("-n", side.ns, "addr", "add", side.ip+"/24", "dev", "eth0")
		run("-n", side.ns, "link", "set", "eth0", "up")
	}
}

// netnsDown kills what still runs in the lab's namespaces (only this test starts
// processes there) and deletes them.
func (l *lab) netnsDown() {
	for _, ns := range []string{nsUA, nsPX, nsUB} {
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// start runs name in namespace ns ('ip netns exec' execs, so the PID is the program's).
func (l *lab) start(name, ns, bin string, args ...string) *proc {
	return l.startIn(name, "", ns, bin, args...)
}

func (l *lab) startIn(name, dir, ns, bin string, args ...string) *proc {
	t := l.t
	t.Helper()
	p := &proc{name: name, log: filepath.Join(l.work, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr, p.cmd.Dir = f, f, dir
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	l.procs = append(l.procs, p)
	return p
}

func (l *lab) sippDir(name string) string {
	dir := filepath.Join(l.work, "sipp", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatal(err)
	}
	return dir
}

// sipp runs one SIPp instance in its own directory (its -trace_* files land there).
func (l *lab) sipp(name, ns string, args ...string) *proc {
	if !strings.HasPrefix(name, "uac-") {
		args = append(args, "-nostdin", "-trace_stat", "-trace_counts", "-trace_err", "-stf", "stat.csv", "-timeout", "60s")
	}
	return l.startIn(name, l.sippDir(name), ns, "sipp", args...)
}

// wait waits for p to exit with status 0.
func (l *lab) wait(p *proc, d time.Duration) {
	l.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		l.t.Fatalf("%s still running after %v", p.name, d)
	}
	if p.err != nil {
		l.t.Errorf("%s: %v (log %s)", p.name, p.err, p.log)
	}
}

// stop ends p by its PID (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (l *lab) stop(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every process in reverse start order and, when the test failed, prints
// the tail of each daemon's log and of each SIPp error file that is not empty (SIPp's
// screen dumps say little). Everything stays in the work directory.
func (l *lab) stopAll() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.stop(l.procs[i])
	}
	if !l.t.Failed() {
		return
	}
	for _, p := range l.procs {
		log := p.log
		if strings.HasPrefix(p.name, "ua") || strings.HasPrefix(p.name, "register-") {
			errs, _ := filepath.Glob(filepath.Join(l.work, "sipp", p.name, "*_errors.log"))
			if len(errs) != 1 {
				continue
			}
			log = errs[0]
		}
		b, _ := os.ReadFile(log)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		l.t.Logf("--- %s (%s), last lines:\n%s", p.name, log, strings.Join(lines, "\n"))
	}
	l.procs = nil
}

func (l *lab) waitLog(p *proc, marker string, d time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(p.log); bytes.Contains(b, []byte(marker)) {
			return
		}
		select {
		case <-p.done:
			l.t.Fatalf("%s exited (%v) before %q", p.name, p.err, marker)
		case <-time.After(100 * time.Millisecond):
		}
	}
	l.t.Fatalf("%s: no %q after %v", p.name, marker, d)
}

func (l *lab) waitFile(path string, d time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			if s := strings.TrimSpace(string(b)); s != "0" {
				l.t.Errorf("%s: exit status %s", path, s)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("no %s after %v", path, d)
}

// waitUDP waits until something in ns listens on UDP addr.
func (l *lab) waitUDP(ns, addr string, d time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-lun").Output()
		if bytes.Contains(out, []byte(addr)) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("nothing listens on udp %s in %s after %v", addr, ns, d)
}

// sippStat is the last line of a SIPp -trace_stat file.
type sippStat struct{ successful, failed, retrans int }

func (l *lab) stat(name string) sippStat {
	l.t.Helper()
	b, err := os.ReadFile(filepath.Join(l.work, "sipp", name, "stat.csv"))
	if err != nil {
		l.t.Fatalf("%s: %v", name, err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) < 2 {
		l.t.Fatalf("%s: stat file has no data row", name)
	}
	col := map[string]int{}
	for i, h := range strings.Split(rows[0], ";") {
		col[h] = i
	}
	last := strings.Split(rows[len(rows)-1], ";")
	get := func(h string) int {
		i, ok := col[h]
		if !ok || i >= len(last) {
			l.t.Fatalf("%s: no column %s in the stat file", name, h)
		}
		n, _ := strconv.Atoi(last[i])
		return n
	}
	return sippStat{get("SuccessfulCall(C)"), get("FailedCall(C)"), get("Retransmissions(C)")}
}

// received sums, over the scenario's lines that receive response code, the messages
// SIPp counted (-trace_counts file: one row per scenario line).
func (l *lab) received(name, code string) int {
	l.t.Helper()
	files, _ := filepath.Glob(filepath.Join(l.work, "sipp", name, "*_counts.csv"))
	if len(files) != 1 {
		l.t.Fatalf("%s: %d -trace_counts files", name, len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		l.t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	hdr := strings.Split(rows[0], ";")
	last := strings.Split(rows[len(rows)-1], ";")
	n := 0
	for i, h := range hdr {
		// Columns are named <line>_<message>_<counter>, e.g. 2_407_Recv.
		if parts := strings.Split(h, "_"); len(parts) == 3 && parts[1] == code && parts[2] == "Recv" && i < len(last) {
			v, _ := strconv.Atoi(last[i])
			n += v
		}
	}
	return n
}

// curl gets url inside the proxy's namespace (serve listens on its loopback).
func (l *lab) curl(url string) []byte {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nsPX, "curl", "-sS", "--fail-with-body", url).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			l.t.Fatalf("curl %s: %v\n%s%s", url, err, out, ee.Stderr)
		}
		l.t.Fatalf("curl %s: %v", url, err)
	}
	return out
}

// waitCalls polls serve's stored calls until there are n (or d passes), by Call-ID.
func (l *lab) waitCalls(listen string, n int, d time.Duration) map[string]map[string]any {
	l.t.Helper()
	deadline := time.Now().Add(d)
	var calls map[string]map[string]any
	for {
		calls = map[string]map[string]any{}
		var page struct {
			Calls []map[string]any `json:"calls"`
			Next  string           `json:"next"`
		}
		if err := json.Unmarshal(l.curl("http://"+listen+"/api/v1/calls?limit=1000"), &page); err != nil {
			l.t.Fatalf("GET %s/api/v1/calls: %v", listen, err)
		}
		for _, c := range page.Calls {
			calls[str(c["call_id"])] = c
		}
		if len(calls) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(calls) != n {
		l.t.Errorf("%s stored %d calls; SIPp made %d", listen, len(calls), n)
	}
	return calls
}

func (l *lab) getCall(listen string, id any) map[string]any {
	l.t.Helper()
	var c map[string]any
	if err := json.Unmarshal(l.curl(fmt.Sprintf("http://%s/api/v1/calls/%v", listen, id)), &c); err != nil {
		l.t.Fatalf("GET call %v: %v", id, err)
	}
	return c
}

// analyze runs callscope analyze --json on files (one correlator, merged in time order).
func (l *lab) analyze(bin string, files ...string) map[string]map[string]any {
	l.t.Helper()
	args := []string{"analyze", "--json"}
	for _, f := range files {
		args = append(args, "-r", f)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		l.t.Fatalf("callscope %v: %v", args, err)
	}
	var rep struct {
		Calls []map[string]any `json:"calls"`
	}
	if err := json.NewDecoder(bufio.NewReader(bytes.NewReader(out))).Decode(&rep); err != nil {
		l.t.Fatalf("analyze json: %v", err)
	}
	calls := map[string]map[string]any{}
	for _, c := range rep.Calls {
		calls[str(c["call_id"])] = c
	}
	return calls
}
