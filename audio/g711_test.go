package audio

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/internal/testutil"
)

// TestG711Values checks code words worked by hand from G.711 Tables 1 and 2. The
// recommendation gives decoder outputs in 13-bit (A-law, full scale 4096) and 14-bit
// (µ-law, full scale 8159) units; the 16-bit values are those ×8 and ×4.
func TestG711Values(t *testing.T) {
	cases := []struct {
		name string
		law  func([]int16, []byte) []int16
		code byte
		want int16
	}{
		// µ-law: invert the byte; sign bit 0 after inversion is positive; segment s,
		// step q: y = (2q+33)·2^s − 33.
		{"µ 0xFF positive zero", DecodeULaw, 0xFF, 0},
		{"µ 0x7F negative zero", DecodeULaw, 0x7F, 0},
		{"µ 0x00 -max: s=7 q=15, 63·128−33 = 8031", DecodeULaw, 0x00, -32124},
		{"µ 0x80 +max", DecodeULaw, 0x80, 32124},
		{"µ 0xF0 s=0 q=15: 30", DecodeULaw, 0xF0, 120},
		{"µ 0xEF s=1 q=0: 33", DecodeULaw, 0xEF, 132},
		{"µ 0x6F s=1 q=0 negative", DecodeULaw, 0x6F, -132},
		// A-law: XOR 0x55; sign bit 1 is positive; segment 0: 2q+1, above:
		// (2q+33)·2^(s−1).
		{"A 0xD5 s=0 q=0: 1", DecodeALaw, 0xD5, 8},
		{"A 0x55 negative", DecodeALaw, 0x55, -8},
		{"A 0xD4 s=0 q=1: 3", DecodeALaw, 0xD4, 24},
		{"A 0xC5 s=1 q=0: 33", DecodeALaw, 0xC5, 264},
		{"A 0xE5 s=3 q=0: 132", DecodeALaw, 0xE5, 1056},
		{"A 0xAA +max: s=7 q=15, 63·64 = 4032", DecodeALaw, 0xAA, 32256},
		{"A 0x2A -max", DecodeALaw, 0x2A, -32256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.law(nil, []byte{tc.code}); len(got) != 1 || got[0] != tc.want {
				t.Errorf("0x%02X → %v, want %d", tc.code, got, tc.want)
			}
		})
	}
}

// TestG711AgainstSox decodes all 256 code words of each law with sox, an independent
// implementation, and wants the same samples.
func TestG711AgainstSox(t *testing.T) {
	sox := testutil.NeedTool(t, "sox")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		typ string
		law func([]int16, []byte) []int16
	}{{"ul", DecodeULaw}, {"al", DecodeALaw}} {
		t.Run(tc.typ, func(t *testing.T) {
			want := soxDecode(t, sox, tc.typ, all)
			got := tc.law(nil, all)
			if len(want) != 256 {
				t.Fatalf("sox gave %d samples", len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("0x%02X: %d, sox %d", i, got[i], want[i])
				}
			}
		})
	}
}

func soxDecode(t *testing.T, sox, typ string, in []byte) []int16 {
	t.Helper()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "in."+typ), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(src, in, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(sox, "-t", typ, "-r", "8000", "-c", "1", src, "-t", "raw", "-e", "signed", "-b", "16", "-L", dst).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, b)
	}
	raw, _ := os.ReadFile(dst)
	s := make([]int16, len(raw)/2)
	_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, s)
	return s
}
