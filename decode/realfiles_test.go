package decode

import (
	"bufio"
	"bytes"
	"github.com/callscope/callscope/internal/testutil"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// testdataDir is the shared capture directory, read in place (never copied).
var testdataDir = filepath.Join("..", "..", "shared", "testdata")

type fileCounts struct {
	packets, sip, rtp, rtcp int
	sipTransport            map[Transport]int
	rtpFlows                map[[2]string]int
}

// readCapture calls fn for every packet of a pcap or pcapng file, read with gopacket's
// pcapgo (an implementation independent of ours).
func readCapture(t testing.TB, path string, fn func(link uint32, ts int64, data []byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				if err != io.EOF {
					t.Logf("%s: stopped: %v", path, err)
				}
				return
			}
			link := uint32(1)
			if ci.InterfaceIndex >= 0 && ci.InterfaceIndex < r.NInterfaces() {
				intf, _ := r.Interface(ci.InterfaceIndex)
				link = uint32(intf.LinkType)
			}
			fn(link, ci.Timestamp.UnixNano(), data)
		}
	}
	r, err := pcapgo.NewReader(br)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	link := uint32(r.LinkType())
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			if err != io.EOF {
				t.Logf("%s: stopped: %v", path, err)
			}
			return
		}
		fn(link, ci.Timestamp.UnixNano(), data)
	}
}

func decodeFile(t testing.TB, path string) (fileCounts, *Decoder) {
	c := fileCounts{sipTransport: map[Transport]int{}, rtpFlows: map[[2]string]int{}}
	d := New(DefaultConfig())
	fn := func(ev *Event) {
		switch ev.Kind {
		case KindSIP:
			c.sip++
			c.sipTransport[ev.Transport]++
		case KindRTP:
			c.rtp++
			c.rtpFlows[[2]string{ev.Src.String(), ev.Dst.String()}]++
		case KindRTCP:
			c.rtcp++
		}
	}
	readCapture(t, path, func(link uint32, ts int64, data []byte) {
		c.packets++
		d.Decode(link, ts, data, fn)
	})
	d.Flush(fn)
	return c, d
}

func captureFiles(t testing.TB) []string {
	var out []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.cap"} {
		m, _ := filepath.Glob(filepath.Join(testdataDir, pat))
		out = append(out, m...)
	}
	if len(out) == 0 {
		testutil.Missing(t, "captures in "+testdataDir)
	}
	return out
}

// TestRealCaptures decodes every shared capture (no panic) and checks files known to
// carry SIP give SIP events over the expected transport.
func TestRealCaptures(t *testing.T) {
	known := map[string]Transport{
		"heplify__sip_ipv4_tcp.pcap":                              TransportTCP,
		"heplify__sip_sctp.pcap":                                  TransportSCTP,
		"heplify__sip_ipv6_udp.pcap":                              TransportUDP,
		"heplify__ipip0.pcap":                                     TransportUDP,
		"sngrep__ipip.pcap":                                       TransportTCP, // SIP over TCP inside IP-in-IP
		"pcapplusplus__sip_non_default_port.pcap":                 TransportUDP,
		"goffinet__sip-2phones-B2BUA-Asterisk.pcapng":             TransportUDP,
		"suricata-verify__sip-tcp-method_sip-tcp.pcap":            TransportTCP,
		"suricata-verify__sip-compact-form_sip_compact_form.pcap": TransportUDP,
	}
	for _, f := range captureFiles(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, d := decodeFile(t, f)
			t.Logf("packets %d sip %d %v rtp %d (%d flows) rtcp %d errors %v", c.packets, c.sip, c.sipTransport, c.rtp, len(c.rtpFlows), c.rtcp, d.Errors().Map())
			if tr, ok := known[name]; ok && c.sipTransport[tr] == 0 {
				t.Errorf("no SIP over %v in %s", tr, name)
			}
		})
	}
}

// tsharkSIP counts SIP messages tshark finds in a file, decoding SIP on every port we
// saw it on (tshark only dissects port 5060 by default).
func tshark(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return string(out)
}

// TestRealCapturesAgainstTshark compares our SIP message count per file with tshark's,
// run on a copy without capture duplicates (testutil.EditcapDedup; several shared
// captures, the wswiki T.38 calls, hold every frame of one direction twice, 5 µs apart).
// tshark counts frames with -Y sip; a frame can carry several SIP messages (TCP
// coalescing), so we compare with sip.Method occurrences, which tshark reports once per
// message. Heuristic SIP on any UDP/TCP port is enabled so non-5060 ports are dissected.
func TestRealCapturesAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark missing")
		}
		t.Skip("tshark not installed")
	}
	if testing.Short() {
		t.Skip("short")
	}
	files := captureFiles(t)
	for _, f := range files {
		name := filepath.Base(f)
		if strings.Contains(name, "TLS") || strings.Contains(name, "tls") {
			continue // tshark decrypts nothing here either; both give 0
		}
		t.Run(name, func(t *testing.T) {
			c, _ := decodeFile(t, f)
			out := tshark(t, "-r", testutil.EditcapDedup(t, f),
				"--enable-heuristic", "sip_udp", "--enable-heuristic", "sip_tcp", "--enable-heuristic", "sip_sctp",
				"-Y", "sip", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "sip.CSeq")
			ts := 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				ts += strings.Count(line, ",") + 1
			}
			t.Logf("ours %d tshark %d", c.sip, ts)
			if c.sip < ts {
				t.Errorf("we found %d SIP messages, tshark %d", c.sip, ts)
			}
		})
	}
	_ = strconv.Itoa
}

// TestRealCapturesRTPAgainstTshark compares RTP packets per flow with tshark's RTP
// streams (tshark only knows flows an SDP announced; we classify by content, so we must
// find at least as many per flow).
func TestRealCapturesRTPAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark missing")
		}
		t.Skip("tshark not installed")
	}
	if testing.Short() {
		t.Skip("short")
	}
	for _, f := range captureFiles(t) {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			out := tshark(t, "-r", testutil.EditcapDedup(t, f), "-q", "-z", "rtp,streams")
			theirs := map[[2]string]int{}
			for _, line := range strings.Split(out, "\n") {
				fs := strings.Fields(line)
				if len(fs) < 9 || !strings.HasPrefix(fs[6], "0x") {
					continue
				}
				n, err := strconv.Atoi(fs[8])
				if err != nil {
					continue
				}
				k := [2]string{netipJoin(fs[2], fs[3]), netipJoin(fs[4], fs[5])}
				theirs[k] += n
			}
			if len(theirs) == 0 {
				return
			}
			c, _ := decodeFile(t, f)
			for k, n := range theirs {
				if c.rtpFlows[k] < n {
					t.Errorf("flow %s -> %s: ours %d RTP packets, tshark %d", k[0], k[1], c.rtpFlows[k], n)
				} else {
					t.Logf("flow %s -> %s: ours %d tshark %d", k[0], k[1], c.rtpFlows[k], n)
				}
			}
		})
	}
}

func netipJoin(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
