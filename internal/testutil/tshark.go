package testutil

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TsharkStream is one row of `tshark -q -z rtp,streams`.
type TsharkStream struct {
	Src, Dst     string // ip:port as tshark prints them (IPv6 in brackets, like ours)
	SSRC         string // 0x%08X
	Payload      string
	Packets      int64
	Lost         int64 // expected minus received; negative with duplicates
	MaxDeltaMs   float64
	MeanJitterMs float64
	MaxJitterMs  float64
	Problem      bool
}

// TsharkRTPStreams runs tshark's RTP stream statistics on file, with extra options
// (e.g. "-o", "rtp.heuristic_rtp:TRUE").
func TsharkRTPStreams(t testing.TB, file string, opts ...string) []TsharkStream {
	t.Helper()
	bin := NeedTool(t, "tshark")
	args := append([]string{"-n", "-r", file, "-q", "-z", "rtp,streams"}, opts...)
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return ParseTsharkRTPStreams(out)
}

// ParseTsharkRTPStreams parses the table printed by `tshark -q -z rtp,streams`.
func ParseTsharkRTPStreams(out []byte) []TsharkStream {
	var res []TsharkStream
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 17 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		var s TsharkStream
		if f[len(f)-1] == "X" {
			s.Problem = true
			f = f[:len(f)-1]
		}
		n := len(f)
		s.Src = hostPort(f[2], f[3])
		s.Dst = hostPort(f[4], f[5])
		s.SSRC = "0x" + strings.ToUpper(strings.TrimPrefix(f[6], "0x"))
		s.MaxJitterMs, _ = strconv.ParseFloat(f[n-1], 64)
		s.MeanJitterMs, _ = strconv.ParseFloat(f[n-2], 64)
		s.MaxDeltaMs, _ = strconv.ParseFloat(f[n-4], 64)
		// ... Pkts Lost (pct%) MinDelta ...
		s.Lost, _ = strconv.ParseInt(f[n-8], 10, 64)
		s.Packets, _ = strconv.ParseInt(f[n-9], 10, 64)
		s.Payload = strings.Join(f[7:n-9], " ")
		res = append(res, s)
	}
	return res
}

func hostPort(ip, port string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + port
	}
	return ip + ":" + port
}

// EditcapDedup writes a copy of file without capture duplicates and returns its path:
// Wireshark's editcap -w 0.01 drops a frame whose MD5 equals that of a frame seen up to
// 10 ms before it (the window callscope's decoder uses). editcap hashes the whole frame,
// so it drops a subset of what the decoder drops (the decoder compares from the IP
// header on, so copies under another VLAN tag are duplicates to it, not to editcap).
func EditcapDedup(t testing.TB, file string) string {
	t.Helper()
	bin := NeedTool(t, "editcap")
	out := filepath.Join(t.TempDir(), "dedup.pcapng")
	if b, err := exec.Command(bin, "-F", "pcapng", "-w", "0.01", file, out).CombinedOutput(); err != nil {
		t.Fatalf("editcap %s: %v: %s", file, err, b)
	}
	return out
}
