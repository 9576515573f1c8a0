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
// packet's payload and timestamp, sox (G.711) or ffmpeg (G.722) decodes the bytes of the
// packets in arrival order. Samples are placed at (timestamp − first timestamp) ×
// samples per RTP tick, gaps left zero; a second packet with a timestamp already seen
// (a duplicate) is left out before decoding. Covered marks the positions a packet
// filled, Packets counts the packets placed.
type OracleAudio struct {
	Samples []int16
	Covered []bool
	Packets int
}

type oraclePkt struct {
	ts      uint32
	payload []byte
}

// tsharkRTPPayloads returns the timestamp and payload of each packet matching filter.
func tsharkRTPPayloads(t testing.TB, file, filter string, opts ...string) []oraclePkt {
	t.Helper()
	tshark := NeedTool(t, "tshark")
	args := append([]string{"-n", "-r", file, "-Y", filter, "-T", "fields", "-e", "rtp.timestamp", "-e", "rtp.payload"}, opts...)
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var pkts []oraclePkt
	seen := map[uint32]bool{}
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
		if seen[uint32(ts)] {
			continue
		}
		seen[uint32(ts)] = true
		pkts = append(pkts, oraclePkt{uint32(ts), b})
	}
	if len(pkts) == 0 {
		t.Fatalf("tshark found no packets for %s", filter)
	}
	return pkts
}

// runDecoder writes in to a file, runs tool with args (IN and OUT replaced by the
// paths) and returns OUT as 16-bit little-endian samples.
func runDecoder(t testing.TB, tool string, in []byte, args ...string) []int16 {
	t.Helper()
	bin := NeedTool(t, tool)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(src, in, 0o644); err != nil {
		t.Fatal(err)
	}
	a := make([]string, len(args))
	for i, x := range args {
		a[i] = strings.NewReplacer("IN", src, "OUT", dst).Replace(x)
	}
	if b, err := exec.Command(bin, a...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, a, err, b)
	}
	raw, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(raw)/2)
	_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, pcm)
	return pcm
}

func place(t testing.TB, pkts []oraclePkt, pcm []int16, perByte, perTick int) OracleAudio {
	t.Helper()
	var o OracleAudio
	off := 0
	for _, p := range pkts {
		n := perByte * len(p.payload)
		if off+n > len(pcm) {
			t.Fatalf("decoder gave %d samples, packets need more", len(pcm))
		}
		pos := int(int32(p.ts-pkts[0].ts)) * perTick
		if pos >= 0 && pos+n <= 1<<24 {
			for len(o.Samples) < pos+n {
				o.Samples = append(o.Samples, 0)
				o.Covered = append(o.Covered, false)
			}
			copy(o.Samples[pos:], pcm[off:off+n])
			for i := pos; i < pos+n; i++ {
				o.Covered[i] = true
			}
			o.Packets++
		}
		off += n
	}
	return o
}

func concat(pkts []oraclePkt) []byte {
	var all []byte
	for _, p := range pkts {
		all = append(all, p.payload...)
	}
	return all
}

// TsharkSoxG711 decodes the stream of file matching the tshark display filter filter
// (e.g. "rtp.ssrc==0x1234 && udp.srcport==27000 && rtp.p_type==8") with sox type
// soxType ("al" A-law, "ul" µ-law). Extra tshark options (e.g. "-o",
// "rtp.heuristic_rtp:TRUE") come last.
func TsharkSoxG711(t testing.TB, file, filter, soxType string, opts ...string) OracleAudio {
	t.Helper()
	pkts := tsharkRTPPayloads(t, file, filter, opts...)
	pcm := runDecoder(t, "sox", concat(pkts), "-t", soxType, "-r", "8000", "-c", "1", "IN", "-t", "raw", "-e", "signed", "-b", "16", "-L", "OUT")
	return place(t, pkts, pcm, 1, 1)
}

// TsharkFFmpegG722 decodes a G.722 stream the same way with ffmpeg's decoder: two
// 16 kHz samples per byte, two per RTP tick (the 8000 Hz RTP clock, RFC 3551 §4.5.2).
func TsharkFFmpegG722(t testing.TB, file, filter string, opts ...string) OracleAudio {
	t.Helper()
	pkts := tsharkRTPPayloads(t, file, filter, opts...)
	pcm := runDecoder(t, "ffmpeg", concat(pkts), "-hide_banner", "-loglevel", "error", "-f", "g722", "-i", "IN", "-f", "s16le", "-acodec", "pcm_s16le", "OUT")
	return place(t, pkts, pcm, 2, 2)
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
