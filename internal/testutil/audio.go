package testutil

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// OracleAudio is one RTP stream decoded by independent tools: tshark extracts each
// packet's payload and timestamp, sox decodes the G.711 bytes. Samples are placed at
// (timestamp − first timestamp), gaps left zero; Covered marks the positions a packet
// filled, Packets counts them.
type OracleAudio struct {
	Samples []int16
	Covered []bool
	Packets int
}

// TsharkSoxG711 decodes the stream of file matching the tshark display filter filter
// (e.g. "rtp.ssrc==0x1234 && udp.srcport==27000 && rtp.p_type==8") with sox type
// soxType ("al" A-law, "ul" µ-law). Extra tshark options (e.g. "-o",
// "rtp.heuristic_rtp:TRUE") come last.
func TsharkSoxG711(t testing.TB, file, filter, soxType string, opts ...string) OracleAudio {
	t.Helper()
	tshark := NeedTool(t, "tshark")
	sox := NeedTool(t, "sox")
	args := append([]string{"-n", "-r", file, "-Y", filter, "-T", "fields", "-e", "rtp.timestamp", "-e", "rtp.payload"}, opts...)
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	type pkt struct {
		ts  uint32
		off int // into the concatenated payload
		n   int
	}
	var pkts []pkt
	var all []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 2 || f[1] == "" {
			continue
		}
		ts, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			t.Fatalf("tshark timestamp %q", f[0])
		}
		b, err := hex.DecodeString(strings.ReplaceAll(f[1], ":", ""))
		if err != nil {
			t.Fatalf("tshark payload %q: %v", f[1], err)
		}
		pkts = append(pkts, pkt{uint32(ts), len(all), len(b)})
		all = append(all, b...)
	}
	if len(pkts) == 0 {
		t.Fatalf("tshark found no packets for %s", filter)
	}
	dir := t.TempDir()
	in, dec := filepath.Join(dir, "in."+soxType), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(in, all, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(sox, "-t", soxType, "-r", "8000", "-c", "1", in, "-t", "raw", "-e", "signed", "-b", "16", "-L", dec).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(dec)
	if err != nil || len(raw) != 2*len(all) {
		t.Fatalf("sox gave %d bytes for %d samples: %v", len(raw), len(all), err)
	}
	pcm := make([]int16, len(all))
	_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, pcm)
	var o OracleAudio
	for _, p := range pkts {
		pos := int(int32(p.ts - pkts[0].ts))
		if pos < 0 || pos+p.n > 1<<24 {
			continue
		}
		for len(o.Samples) < pos+p.n {
			o.Samples = append(o.Samples, 0)
			o.Covered = append(o.Covered, false)
		}
		copy(o.Samples[pos:], pcm[p.off:p.off+p.n])
		for i := pos; i < pos+p.n; i++ {
			o.Covered[i] = true
		}
		o.Packets++
	}
	return o
}

// WAVSamples returns the rate and 16-bit mono samples of a canonical PCM WAV file.
func WAVSamples(t testing.TB, b []byte) (int, []int16) {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" ||
		le.Uint16(b[20:]) != 1 || le.Uint16(b[22:]) != 1 || le.Uint16(b[34:]) != 16 {
		t.Fatalf("not a mono 16-bit PCM WAV: % x", b[:min(len(b), 44)])
	}
	n := int(le.Uint32(b[40:]))
	if n != len(b)-44 {
		t.Fatalf("WAV data size %d, file has %d", n, len(b)-44)
	}
	s := make([]int16, n/2)
	_ = binary.Read(bytes.NewReader(b[44:]), le, s)
	return int(le.Uint32(b[24:])), s
}
