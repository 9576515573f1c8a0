package tcpasm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/callscope/callscope/internal/testutil"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// testdata returns the shared capture directory (outside the repository).
func testdata(name string) string {
	return filepath.Join("..", "..", "..", "shared", "testdata", name)
}

type dirKey [2]netip.AddrPort

type capturedSeg struct {
	ts            int64
	src, dst      netip.AddrPort
	seq           uint32
	syn, fin, rst bool
	payload       []byte
}

// perturb reorders and duplicates the capture's data segments: within each
// direction, pairs of pure-data segments (after the first, which may be
// what starts a half picked up mid-connection) swap places, and every data
// segment is sent twice, so reassembly must undo reordering and drop
// retransmissions.
func perturb(segs []capturedSeg) (out []capturedSeg, swaps int) {
	plain := func(s capturedSeg) bool { return len(s.payload) > 0 && !s.syn && !s.fin && !s.rst }
	byDir := map[dirKey][]int{}
	for i, s := range segs {
		if plain(s) {
			k := dirKey{s.src, s.dst}
			byDir[k] = append(byDir[k], i)
		}
	}
	for _, idx := range byDir {
		for j := 1; j+1 < len(idx); j += 2 {
			x, y := idx[j], idx[j+1]
			segs[x], segs[y] = segs[y], segs[x]
			swaps++
		}
	}
	for _, s := range segs {
		out = append(out, s)
		if plain(s) {
			out = append(out, s)
		}
	}
	return out, swaps
}

// reassemble feeds every TCP segment of a pcap file to an Assembler whose
// consumer takes everything, and returns the bytes per direction.
func reassemble(t *testing.T, path string, mangle bool) (map[dirKey][]byte, Counters, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		testutil.Missing(t, "capture "+path+": "+err.Error())
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[dirKey][]byte{}
	a := New(Config{}, func(s *Stream, data []byte, ts int64) int {
		k := dirKey{s.Src, s.Dst}
		out[k] = append(out[k], data...)
		return len(data)
	})
	var segs []capturedSeg
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		var src, dst netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		segs = append(segs, capturedSeg{ci.Timestamp.UnixNano(),
			netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort)), netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort)),
			tcp.Seq, tcp.SYN, tcp.FIN, tcp.RST, append([]byte(nil), tcp.Payload...)})
	}
	swaps := 0
	if mangle {
		segs, swaps = perturb(segs)
	}
	for _, s := range segs {
		a.Segment(s.ts, s.src, s.dst, s.seq, s.syn, s.fin, s.rst, s.payload)
	}
	a.FlushAll()
	return out, a.Counters(), swaps
}

// tsharkFollow returns tshark's reassembled bytes per direction, for every
// TCP stream in the capture ("-z follow,tcp,raw,N").
func tsharkFollow(t *testing.T, path string) map[dirKey][]byte {
	t.Helper()
	tshark := testutil.NeedTool(t, "tshark")
	idx, err := exec.Command(tshark, "-r", path, "-Y", "tcp", "-T", "fields", "-e", "tcp.stream").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	seen := map[string]bool{}
	var args []string
	for _, s := range strings.Fields(string(idx)) {
		if !seen[s] {
			seen[s] = true
			args = append(args, "-z", "follow,tcp,raw,"+s)
		}
	}
	outb, err := exec.Command(tshark, append([]string{"-r", path, "-q"}, args...)...).Output()
	if err != nil {
		t.Fatalf("tshark follow: %v", err)
	}
	res := map[dirKey][]byte{}
	var node [2]netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(outb))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Node 0: "), strings.HasPrefix(line, "Node 1: "):
			ap, err := netip.ParseAddrPort(strings.TrimSpace(line[8:]))
			if err != nil {
				t.Fatalf("node line %q: %v", line, err)
			}
			node[line[5]-'0'] = ap
		case line == "" || strings.HasPrefix(line, "===") || strings.HasPrefix(line, "Follow:") || strings.HasPrefix(line, "Filter:"):
		default:
			from, to := node[0], node[1]
			if strings.HasPrefix(line, "\t") {
				from, to = node[1], node[0]
			}
			b, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("hex line %q: %v", line, err)
			}
			k := dirKey{from, to}
			res[k] = append(res[k], b...)
		}
	}
	return res
}

// TestAgainstTshark compares our reassembly of real captures (with
// retransmissions, several connections and a Linux-cooked link layer) with
// tshark's "Follow TCP stream", an independent implementation.
func TestAgainstTshark(t *testing.T) {
	for _, name := range []string{
		"heplify__sip_ipv4_tcp_retrans.pcap",
		"heplify__sip_ipv4_tcp.pcap",
		"suricata-verify__sip-tcp-method_sip-tcp.pcap",
	} {
		path := testdata(name)
		var want map[dirKey][]byte
		for _, mangle := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/reordered=%v", name, mangle), func(t *testing.T) {
				if want == nil {
					want = tsharkFollow(t, path)
				}
				got, c, swaps := reassemble(t, path, mangle)
				if len(want) == 0 {
					t.Fatal("tshark found no TCP data")
				}
				for k, w := range want {
					if g := got[k]; !bytes.Equal(g, w) {
						t.Errorf("%v -> %v: got %d bytes, tshark %d bytes%s", k[0], k[1], len(g), len(w), firstDiff(g, w))
					}
				}
				for k, g := range got {
					if _, ok := want[k]; !ok && len(g) > 0 {
						t.Errorf("%v -> %v: %d bytes tshark does not have", k[0], k[1], len(g))
					}
				}
				t.Logf("%d directions; counters %+v", len(want), c)
				if mangle && (c.Retransmissions == 0 || (swaps > 0 && c.OutOfOrder == 0)) {
					t.Errorf("perturbation did not exercise reordering/retransmission: %+v", c)
				}
			})
		}
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf(" (first difference at %d)", i)
		}
	}
	return ""
}
