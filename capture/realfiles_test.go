package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// tsharkPackets runs tshark as an independent oracle and returns, per
// frame, its epoch time in ns, captured length and original length.
func tsharkPackets(t *testing.T, tshark, path string) [][3]int64 {
	t.Helper()
	cmd := exec.Command(tshark, "-n", "-r", path, "-T", "fields",
		"-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var res [][3]int64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("tshark line %q", line)
		}
		sec, frac, _ := strings.Cut(f[0], ".")
		frac = (frac + "000000000")[:9]
		s, err1 := strconv.ParseInt(sec, 10, 64)
		ns, err2 := strconv.ParseInt(frac, 10, 64)
		cl, err3 := strconv.ParseInt(f[1], 10, 64)
		ol, err4 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			t.Fatalf("tshark line %q", line)
		}
		res = append(res, [3]int64{s*1e9 + ns, cl, ol})
	}
	return res
}

// pcapgoPackets reads a file with gopacket's pcapgo, the second oracle. It
// returns the packets read before pcapgo gave up, and why it gave up.
func pcapgoPackets(t *testing.T, path string) ([]rec, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var r src
	if binary.LittleEndian.Uint32(b) == blockSHB {
		r, err = pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	} else {
		r, err = pcapgo.NewReader(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	var out []rec
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec{TS: ci.Timestamp.UnixNano(), Data: data, Orig: ci.Length, Iface: ci.InterfaceIndex})
	}
}

// TestRealFiles reads every shared capture and checks each packet against
// tshark (timestamps to the ns, lengths) and pcapgo (bytes).
func TestRealFiles(t *testing.T) {
	files := realCaptures(t)
	tshark, lookErr := exec.LookPath("tshark")
	if lookErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tshark not installed and CI=true: %v", lookErr)
		}
		t.Logf("tshark not installed: skipping the tshark comparison")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			r, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatal("no packets")
			}
			for i := 1; i < len(got); i++ {
				if got[i].Offset <= got[i-1].Offset {
					t.Fatalf("packet %d: offset %d not after %d", i, got[i].Offset, got[i-1].Offset)
				}
			}
			ref, perr := pcapgoPackets(t, path)
			if perr != nil {
				// pcapgo is stricter than we mean to be (it rejects a
				// captured length above the original length, which
				// tshark accepts): compare what it did read.
				t.Logf("pcapgo stops after %d packets: %v", len(ref), perr)
			} else if len(ref) != len(got) {
				t.Fatalf("pcapgo reads %d packets, we read %d", len(ref), len(got))
			}
			for i := range min(len(got), len(ref)) {
				if !bytes.Equal(got[i].Data, ref[i].Data) || got[i].TS != ref[i].TS || got[i].Orig != ref[i].Orig || got[i].Iface != ref[i].Iface {
					t.Fatalf("packet %d differs from pcapgo: ts %d/%d len %d/%d orig %d/%d", i,
						got[i].TS, ref[i].TS, len(got[i].Data), len(ref[i].Data), got[i].Orig, ref[i].Orig)
				}
			}
			if lookErr != nil {
				return
			}
			ts := tsharkPackets(t, tshark, path)
			if len(ts) != len(got) {
				t.Fatalf("tshark counts %d packets, we read %d", len(ts), len(got))
			}
			for i, w := range ts {
				g := got[i]
				if g.TS != w[0] || int64(len(g.Data)) != w[1] || int64(g.Orig) != w[2] {
					t.Fatalf("packet %d: ts=%d caplen=%d len=%d; tshark ts=%d caplen=%d len=%d",
						i, g.TS, len(g.Data), g.Orig, w[0], w[1], w[2])
				}
			}
		})
	}
}
