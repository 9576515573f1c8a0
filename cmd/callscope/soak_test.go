//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
)

// Soak parameters. The floods run at soakRate packets/s each for soakFor; the rate is
// chosen so the Call-ID flood outgrows the call table (correlate.DefaultConfig: MaxCalls
// 200,000, SIPTimeout 32 s: 8,000/s × 32 s = 256,000 open calls before the first INVITE
// times out), so evictions must happen and be counted.
const (
	soakRate    = 8000
	soakFor     = 60 * time.Second
	soakService = "7770001" // SIPp's -s: the To user of every normal call; no flood uses it
	// soakMemoryLimit is serve's memory_limit (the Go soft memory limit, memory.go) here.
	// With the default caps the entry caps bind first: the table holds at most 200,000
	// calls and 400,000 streams, and the flood's ~330-byte INVITEs keep ~116 MB retained,
	// far below max_retained_bytes (1 GiB). Measured without a limit (BENCHMARKS.md "Soak
	// (issue 13)"): VmHWM 1,888 MiB with 196,887 calls and 240,000 orphan streams in the
	// table, of which ~0.93 GB live after a GC: GOGC 100 let the heap reach twice that.
	// 2 GiB leaves the live tables (~1 GB at their peak) twice as much headroom: at
	// 1.5 GiB (VmHWM 1,514 MiB once, BENCHMARKS.md) a heavily loaded host once saw the
	// collector's extra CPU make serve fall behind the floods and drop the normal calls'
	// BYEs (counted as capture queue drops), which this test must not see.
	soakMemoryLimit = 2048 << 20
	// soakRSSBudget bounds the serve process's peak RSS (VmHWM): the Go limit plus 512 MiB
	// for what the limit does not cover (DuckDB's own allocations, goroutine stacks, the
	// AF_PACKET ring, binary text). A cap not holding (the 3.2 GB of issue 13 at 1M
	// INVITEs) goes past it. It is NOT
	// derived from the documented per-entry costs (1,608 B per call, 471 B per stream,
	// BENCHMARKS.md "Memory"), which would predict well under 1 GiB: see the report there.
	soakRSSBudget = soakMemoryLimit + 512<<20
)

// TestSoak: a HEP Call-ID flood, an RTP SSRC flood and normal SIPp calls with RTP, in
// parallel, into one serve process (the built binary, so its RSS is its own). Its peak
// RSS stays under soakRSSBudget, every call SIPp reports successful is stored answered
// and ended by BYE, and the floods show in /metrics counted by reason.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: ~4 minutes (60 s of floods, then a slow shutdown: BENCHMARKS.md)")
	}
	sipp := testutil.NeedTool(t, "sipp")
	if os.Geteuid() != 0 {
		testutil.Missing(t, "root (AF_PACKET on lo)")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "callscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(work, "pcap"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/usr/share/sip-tester/g711a.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "pcap", "g711a.pcap"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// SIPp's built-in uac_pcap plays 8 s of G.711 (g711a.pcap) and then 1 s of RFC 4733
	// DTMF (dtmf_2833_1.pcap, not copied: only the audio is wanted), then BYE.
	xml, err := exec.Command(sipp, "-sd", "uac_pcap").Output()
	if !strings.Contains(string(xml), "play_pcap_audio") { // SIPp exits 99 after -sd
		t.Fatalf("sipp -sd uac_pcap: %v\n%s", err, xml)
	}
	xml = []byte(strings.ReplaceAll(string(xml), `<exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/>`, ``))
	if err := os.WriteFile(filepath.Join(work, "uac_pcap.xml"), xml, 0o644); err != nil {
		t.Fatal(err)
	}

	hepPort, httpPort := soakPort(t, "udp"), soakPort(t, "tcp")
	const (
		uasPort, uacPort = 5070, 5061
		uasMedia         = 30000 // -mp: SIPp's RTP (echo on the UAS, pcap play on the UAC)
		uacMedia         = 31000
		floodPort        = 40000
	)
	filter := fmt.Sprintf("udp port %d or udp port %d or udp portrange %d-%d or udp portrange %d-%d or udp port %d",
		uasPort, uacPort, uasMedia, uasMedia+10, uacMedia, uacMedia+10, floodPort)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	cfgFile := filepath.Join(work, "serve.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, "memory_limit: %d\n", soakMemoryLimit), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "serve", "--hep", fmt.Sprintf("127.0.0.1:%d", hepPort), "--hep-max-skew", "0",
		"-i", "lo", "--filter", filter, "--store", "duckdb:"+filepath.Join(work, "x.duckdb"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--retention", "0", "--config", cfgFile)
	srvLog, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srvLog.Close()
	srv.Stdout, srv.Stderr = srvLog, srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-srvDone
	})
	waitHTTP(t, base+"/metrics")

	// RSS sampler: VmHWM is the kernel's own peak; VmRSS sampled for the log.
	var peakRSS atomic.Int64
	var series []string // VmRSS every 5 s, MiB: shows whether it levels off once the tables are full
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			v := procStatusKB(srv.Process.Pid, "VmRSS")
			if v*1024 > peakRSS.Load() {
				peakRSS.Store(v * 1024)
			}
			if i%10 == 0 {
				series = append(series, strconv.FormatInt(v>>10, 10))
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), soakFor)
	defer cancel()
	var hepSent, rtpSent int64
	var floods sync.WaitGroup
	floods.Add(2)
	start := time.Now()
	go func() { defer floods.Done(); hepSent = floodHEP(ctx, t, hepPort) }()
	go func() { defer floods.Done(); rtpSent = floodSSRC(ctx, t, floodPort) }()

	// Normal traffic: SIPp UAS echoing RTP, UAC playing 8 s of G.711 per call,
	// 100 calls at 5/s, started 5 s into the floods.
	time.Sleep(5 * time.Second)
	uas := exec.Command(sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-mp", strconv.Itoa(uasMedia),
		"-rtp_echo", "-nostdin")
	uas.Dir = work
	uasLog, _ := os.Create(filepath.Join(work, "uas.log"))
	defer uasLog.Close()
	uas.Stdout, uas.Stderr = uasLog, uasLog
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = uas.Process.Kill(); _ = uas.Wait() }()
	time.Sleep(500 * time.Millisecond)
	stat := filepath.Join(work, "uac_stat.csv")
	uctx, ucancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer ucancel()
	uac := exec.CommandContext(uctx, sipp, "-sf", "uac_pcap.xml", "-s", soakService, "-i", "127.0.0.1",
		"-p", strconv.Itoa(uacPort), "-mp", strconv.Itoa(uacMedia), fmt.Sprintf("127.0.0.1:%d", uasPort),
		"-r", "5", "-m", "100", "-l", "60", "-cid_str", "soak-%u-%p@%s", "-trace_stat", "-stf", stat, "-fd", "1", "-nostdin")
	uac.Dir = work
	if out, err := uac.CombinedOutput(); err != nil {
		// SIPp exits 1 when some calls failed; the stat file still says how many succeeded.
		t.Logf("sipp uac: %v\n%s", err, lastLines(string(out), 20))
	}
	okCalls := sippSuccessful(t, stat)
	floods.Wait()
	elapsed := time.Since(start)
	atEnd := scrape(t, base)
	t.Logf("at the end of the floods:\n%s", grepLines(atEnd, "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_next_gc_bytes", "go_memstats_heap_sys", "go_memstats_heap_released",
		"process_resident_memory_bytes", "callscope_correlate_active", "callscope_correlate_retained_bytes",
		"callscope_store_queue_depth", "callscope_store_spool_bytes", "callscope_correlate_evictions_total", "callscope_store_calls_written_total"))
	t.Logf("floods over %v: %d HEP INVITEs (%.0f/s), %d RTP packets with unique SSRCs (%.0f/s); SIPp: %d successful calls",
		elapsed, hepSent, float64(hepSent)/elapsed.Seconds(), rtpSent, float64(rtpSent)/elapsed.Seconds(), okCalls)
	if okCalls < 90 {
		t.Errorf("SIPp reports only %d of 100 calls successful: the normal traffic itself failed", okCalls)
	}

	// The normal calls end their 10 s linger after the BYE; the live clock moves on with
	// the wall clock, so they are stored while serve runs.
	var stored int
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		var page struct{ Calls []correlate.Call }
		if err := getJSON(t, base+"/api/v1/calls?number="+soakService+"&limit=1000", &page); err == nil {
			if stored = len(page.Calls); stored >= okCalls {
				break
			}
		}
		time.Sleep(time.Second)
	}
	t.Logf("%d SIPp calls stored while serve runs", stored)
	metrics := scrape(t, base)
	close(stopSampling)
	wg.Wait()
	hwm := procStatusKB(srv.Process.Pid, "VmHWM") * 1024
	_ = srv.Process.Signal(syscall.SIGTERM)
	stopAt := time.Now()
	defer func() {
		log, _ := os.ReadFile(filepath.Join(work, "serve.log"))
		t.Logf("serve stopped %v after SIGTERM; its log ends:\n%s", time.Since(stopAt), lastLines(string(log), 15))
	}()
	select {
	case err := <-srvDone:
		srvDone <- err
		if err != nil {
			t.Errorf("serve exited: %v", err)
		}
	case <-time.After(180 * time.Second):
		t.Fatal("serve did not stop within 180 s of SIGTERM")
	}
	t.Logf("serve peak RSS (VmHWM) %.0f MiB, highest sampled VmRSS %.0f MiB; budget %d MiB; VmRSS every 5 s (MiB): %s",
		float64(hwm)/(1<<20), float64(peakRSS.Load())/(1<<20), soakRSSBudget>>20, strings.Join(series, " "))
	if hwm > soakRSSBudget {
		t.Errorf("serve peak RSS %d MiB, budget %d MiB", hwm>>20, soakRSSBudget>>20)
	}

	// Every call SIPp counted successful is stored answered, ended by BYE. SIPp's
	// Call-IDs carry -cid_str's "soak-" prefix; the floods' never do.
	st, err := duckdb.Open(filepath.Join(work, "x.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.SearchCalls(context.Background(), store.CallQuery{Number: soakService, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	good := 0
	for _, c := range page.Calls {
		if !strings.HasPrefix(c.CallID, "soak-") {
			t.Errorf("call %s matched number %s but is not SIPp's", c.CallID, soakService)
			continue
		}
		if c.State != correlate.StateAnswered || c.EndReason != correlate.EndBye {
			t.Errorf("SIPp call %s stored %s / %s, want answered / bye", c.CallID, c.State, c.EndReason)
			continue
		}
		good++
	}
	t.Logf("stored SIPp calls: %d (answered, bye: %d); SIPp successful: %d", len(page.Calls), good, okCalls)
	if good != okCalls {
		t.Errorf("%d SIPp calls stored answered/bye, SIPp reports %d successful", good, okCalls)
	}

	// The floods are counted. Each must be non-zero: the Call-ID flood outgrew the call
	// table (see soakRate) and its INVITEs all came over HEP/UDP; the SSRC flood's packets
	// were captured on lo and correlated as RTP.
	t.Logf("metrics:\n%s", grepLines(metrics, "callscope_correlate_evictions_total", "callscope_correlate_active",
		"callscope_hep_", "callscope_capture_", "callscope_correlate_rtp_packets_total", "callscope_correlate_sip_messages_total",
		"callscope_correlate_dropped_total", "callscope_store_"))
	// Every flood INVITE is accounted for: read by the listener or dropped by the kernel
	// (socket_drops); of those read, each is correlated or dropped by the full queue
	// (hep_dropped). Loopback loses nothing else.
	hepRead, hepSock, hepQueue := metricValue(metrics, "callscope_hep_udp_packets_total"),
		metricValue(metrics, "callscope_hep_socket_drops_total"), metricValue(metrics, "callscope_hep_dropped_total")
	if got := hepRead + hepSock; got < float64(hepSent)*0.999 || got > float64(hepSent) {
		t.Errorf("HEP: sent %d, read %.0f + socket drops %.0f = %.0f: not every packet is counted", hepSent, hepRead, hepSock, got)
	}
	// Flood INVITEs that reached the correlator, per second: above MaxCalls / SIPTimeout
	// (200,000 / 32 s = 6,250/s) the table fills before the first INVITE times out, so
	// calls must have been evicted. On a loaded machine serve may read fewer (counted
	// above as drops) and then none need be.
	if rate := (hepRead - hepQueue) / elapsed.Seconds(); rate > 6250*1.1 {
		if v := metricValue(metrics, `callscope_correlate_evictions_total{table="calls"}`); v <= 0 {
			t.Errorf("%.0f flood INVITEs/s correlated, yet no call evicted (evictions_total{table=\"calls\"} %v)", rate, v)
		}
	} else {
		t.Logf("only %.0f flood INVITEs/s correlated (%.0f read, %.0f dropped by the queue): the call table need not fill", rate, hepRead, hepQueue)
	}
	// Every call in the table kept its INVITE (serve keeps messages): retained bytes > 0.
	if v := metricValue(atEnd, "callscope_correlate_retained_bytes"); v <= 0 {
		t.Errorf("callscope_correlate_retained_bytes = %v at the end of the floods with calls in the table, want > 0", v)
	}
	for _, name := range []string{
		"callscope_hep_udp_packets_total",
		"callscope_capture_live_packets_total",
		"callscope_correlate_rtp_packets_total",
	} {
		if v := metricValue(metrics, name); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
}

// floodHEP sends HEPv3/UDP INVITEs with random Call-IDs, stamped now, at soakRate/s
// until ctx ends, and returns how many it sent.
func floodHEP(ctx context.Context, t *testing.T, port int) int64 {
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	const idLen = 24
	msg := []byte("INVITE sip:flood@10.9.0.2 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.9.0.1:5060;branch=z9hG4bK-flood\r\n" +
		"From: <sip:attacker@10.9.0.1>;tag=f1\r\n" +
		"To: <sip:flood@10.9.0.2>\r\n" +
		"Call-ID: " + strings.Repeat("x", idLen) + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:attacker@10.9.0.1:5060>\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n")
	at := strings.Index(string(msg), "Call-ID: ") + len("Call-ID: ")
	p := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1,
		Src: netip.MustParseAddrPort("10.9.0.1:5060"), Dst: netip.MustParseAddrPort("10.9.0.2:5060"), CaptureID: 9}
	var raw [idLen / 2]byte
	var buf []byte
	return paced(ctx, func() bool {
		for i := range raw {
			raw[i] = byte(rand.Uint32())
		}
		hex.Encode(msg[at:at+idLen], raw[:])
		now := time.Now()
		p.TSSec, p.TSUsec, p.Payload = uint32(now.Unix()), uint32(now.Nanosecond()/1000), msg
		buf = hep.Append(buf[:0], &p)
		_, err := c.Write(buf)
		return err == nil
	})
}

// floodSSRC sends RTP-looking datagrams (version 2, PT 0, 160 bytes of payload), a new
// SSRC each, to 127.0.0.1:port at soakRate/s until ctx ends; a local socket takes them.
func floodSSRC(ctx context.Context, t *testing.T, port int) int64 {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Error(err)
		return 0
	}
	defer sink.Close()
	go func() {
		b := make([]byte, 2048)
		for {
			if _, err := sink.Read(b); err != nil {
				return
			}
		}
	}()
	c, err := net.DialUDP("udp", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0
	var seq uint32
	return paced(ctx, func() bool {
		seq++
		binary.BigEndian.PutUint16(pkt[2:], uint16(seq))
		binary.BigEndian.PutUint32(pkt[4:], seq*160)
		binary.BigEndian.PutUint32(pkt[8:], seq*2654435761) // a new SSRC every packet (odd multiplier: a bijection)
		_, err := c.Write(pkt)
		return err == nil
	})
}

// paced calls send soakRate times a second, in 10 ms slots, until ctx ends, and returns
// how many sends succeeded.
func paced(ctx context.Context, send func() bool) int64 {
	var n, ok int64
	start := time.Now()
	for ctx.Err() == nil {
		due := int64(time.Since(start).Seconds() * soakRate)
		for ; n < due; n++ {
			if send() {
				ok++
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ok
}

func soakPort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		port := c.LocalAddr().(*net.UDPAddr).Port
		// serve listens on TCP as well: the port must be free there too.
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
		return soakPort(t, network)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue is the value of the sample named exactly name (with its labels), or -1.
func metricValue(metrics, name string) float64 {
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// procStatusKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status, 0 when absent.
func procStatusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// sippSuccessful reads SuccessfulCall(C) from the last row of SIPp's -trace_stat file.
func sippSuccessful(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord = ';', -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("SIPp stat file %s: %v (%d rows)", path, err, len(rows))
	}
	for i, h := range rows[0] {
		if h == "SuccessfulCall(C)" {
			n, err := strconv.Atoi(rows[len(rows)-1][i])
			if err != nil {
				t.Fatalf("SIPp stat SuccessfulCall(C) %q: %v", rows[len(rows)-1][i], err)
			}
			return n
		}
	}
	t.Fatalf("SIPp stat file %s has no SuccessfulCall(C) column", path)
	return 0
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
