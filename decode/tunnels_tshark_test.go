package decode

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
)

// TestTunnelScenariosAgainstTshark is the independent oracle for the tunnel walkers: the
// generator writes its pptp, gtpu, gtpu-ipv6 and span-duplicates captures, tshark's own
// GRE/PPP and GTP dissectors open them, and the SIP messages and RTP packets per inner
// flow tshark finds must be exactly the ones we decode. tshark must also show every
// frame through the tunnel (frame.protocols), so a capture it cannot open fails rather
// than compares empty with empty. For span-duplicates tshark sees both copies of every
// frame: we must decode half of what it counts and drop the other half as duplicates.
func TestTunnelScenariosAgainstTshark(t *testing.T) {
	bin := testutil.NeedTool(t, "tshark")
	cat := map[string]gen.Scenario{}
	for _, s := range gen.Catalogue() {
		cat[s.Name] = s
	}
	for _, tc := range []struct {
		name, via string // via: the protocol chain tshark must show in every frame
		copies    int
	}{
		{"pptp", "ip:gre:ppp:ip", 1},
		{"gtpu", "ip:udp:gtp:ip:udp", 1},
		{"gtpu-ipv6", "ip:udp:gtp:ipv6:udp", 1},
		{"span-duplicates", "ip:udp", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := cat[tc.name]
			if !ok {
				t.Fatalf("no scenario %s", tc.name)
			}
			file := filepath.Join(t.TempDir(), tc.name+".pcap")
			f, err := os.Create(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write(f); err != nil {
				t.Fatal(err)
			}
			f.Close()

			// tshark: one line per frame; -E occurrence=l takes the innermost address.
			out, err := exec.Command(bin, "-n", "-r", file, "-o", "rtp.heuristic_rtp:TRUE", "-T", "fields",
				"-E", "occurrence=l", "-e", "frame.protocols", "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport",
				"-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport", "-e", "sip.CSeq", "-e", "rtp.seq").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			theirSIP, frames := 0, 0
			theirRTP := map[[2]string]int{}
			for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
				fs := strings.Split(line, "\t")
				if len(fs) != 9 {
					t.Fatalf("tshark line %q", line)
				}
				frames++
				if !strings.Contains(fs[0], tc.via) {
					t.Errorf("tshark did not open frame %d: %s", frames, fs[0])
				}
				src, dst := fs[1], fs[4]
				if strings.Contains(fs[0], ":ipv6:") { // outer IPv4, inner IPv6
					src, dst = fs[2], fs[5]
				}
				switch {
				case fs[7] != "":
					theirSIP++
				case fs[8] != "":
					theirRTP[[2]string{netipJoin(src, fs[3]), netipJoin(dst, fs[6])}]++
				}
			}

			ours, d := decodeFile(t, file)
			if ours.packets != frames {
				t.Fatalf("we read %d frames, tshark %d", ours.packets, frames)
			}
			if ours.sip*tc.copies != theirSIP || ours.sip == 0 {
				t.Errorf("SIP messages: ours %d (x%d), tshark %d", ours.sip, tc.copies, theirSIP)
			}
			if len(ours.rtpFlows) != len(theirRTP) || len(theirRTP) != 2 {
				t.Errorf("RTP flows: ours %v, tshark %v", ours.rtpFlows, theirRTP)
			}
			for k, n := range theirRTP {
				if ours.rtpFlows[k]*tc.copies != n {
					t.Errorf("RTP %s -> %s: ours %d (x%d), tshark %d", k[0], k[1], ours.rtpFlows[k], tc.copies, n)
				}
			}
			if want := uint64(frames - frames/tc.copies); d.Counters().DuplicateFrames != want {
				t.Errorf("duplicate frames %d, want %d", d.Counters().DuplicateFrames, want)
			}
			if m := d.Errors().Map(); len(m) != 0 {
				t.Errorf("decode errors %v", m)
			}
		})
	}
}
