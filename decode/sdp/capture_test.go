package sdp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"github.com/callscope/callscope/internal/testutil"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode/sip"
)

var sharedTestdata = filepath.Join("..", "..", "..", "shared", "testdata")

// TestCapturesAgainstTshark takes the SIP datagrams tshark finds SDP in, extracts the SDP
// with our sip package, parses it and compares media ports, payload types and the
// connection address with tshark's dissection (the independent oracle).
func TestCapturesAgainstTshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark")
	}
	testutil.NeedTool(t, "tshark")
	captures := []string{
		"pcapplusplus__sdp.pcap", "wswiki__T38.pcap", "wswiki__sip-rtp-opus-hybrid.pcap",
		"heplify__sip_ipv6_udp.pcap", "wswiki__SIP_DTMF2.cap", "goffinet__sip-2phones-B2BUA-Asterisk.pcapng",
		"suricata-verify__sip-body-frames_public-cloudshark-sip-s0.pcap", "wswiki__sip-rtp-g722.pcap",
		"goffinet__sip-488-Not-Acceptable-Here-codec-null.pcapng", "sngrep__aaa.pcap",
	}
	var m sip.Message
	var s Session
	for _, name := range captures {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("tshark", "-n", "-r", filepath.Join(sharedTestdata, name), "-Y", "sdp && udp && (ipv6 || ip.flags.mf==0 && ip.frag_offset==0)",
				"-T", "fields", "-E", "separator=/t", "-e", "frame.number", "-e", "udp.payload",
				"-e", "sdp.media.port", "-e", "sdp.media.format", "-e", "sdp.connection_info.address").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			n := 0
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				f := strings.Split(sc.Text(), "\t")
				if len(f) != 5 || f[2] == "" {
					continue
				}
				payload, err := hex.DecodeString(f[1])
				if err != nil {
					continue
				}
				if err := sip.Parse(payload, &m); err != nil {
					t.Errorf("frame %s: sip: %v", f[0], err)
					continue
				}
				body := m.SDP()
				if err := Parse(body, &s); err != nil {
					t.Errorf("frame %s: %v", f[0], err)
					continue
				}
				var ports []string
				var pts []string
				for _, md := range s.Media {
					ports = append(ports, strconv.Itoa(int(md.Port)))
					for _, pt := range md.Formats {
						pts = append(pts, strconv.Itoa(int(pt)))
					}
				}
				if strings.Join(ports, ",") != f[2] {
					t.Errorf("frame %s: ports %v, tshark %s", f[0], ports, f[2])
				}
				// tshark lists each format as a name, then the numbers; check our PTs appear.
				for _, pt := range pts {
					if !formatListed(f[3], pt) {
						t.Errorf("frame %s: PT %s not in tshark formats %s", f[0], pt, f[3])
					}
				}
				if a := strings.Split(f[4], ","); len(s.Media) > 0 && f[4] != "" && !sameAddr(s.Media[0].Addr, a[len(a)-1]) && !sameAddr(s.Media[0].Addr, a[0]) {
					t.Errorf("frame %s: addr %v, tshark %s", f[0], s.Media[0].Addr, f[4])
				}
				n++
			}
			if n == 0 {
				t.Errorf("no SDP compared")
			}
			t.Logf("%d SDP bodies agree with tshark", n)
		})
	}
}

func sameAddr(a netip.Addr, s string) bool {
	b, err := netip.ParseAddr(s)
	return err == nil && a == b
}

// formatListed reports whether tshark's format list names pt: as a number, as
// DynamicRTP-Type-N, or by its static encoding name ("ITU-T G.711 PCMU").
func formatListed(list, pt string) bool {
	n, _ := strconv.Atoi(pt)
	name, _, static := StaticPayload(uint8(n))
	for _, x := range strings.Split(list, ",") {
		if x == pt || x == "DynamicRTP-Type-"+pt || static && strings.Contains(x, name) {
			return true
		}
	}
	return false
}
