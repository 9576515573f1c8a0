package audio

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/internal/testutil"
)

// ffmpegG722 decodes raw G.722 bytes with ffmpeg's decoder (libavcodec adpcm_g722,
// written independently from the ITU-T reference), the oracle for our decoder.
func ffmpegG722(t *testing.T, g722 []byte) []int16 {
	t.Helper()
	ff := testutil.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.g722"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(in, g722, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "g722", "-i", in, "-f", "s16le", "-acodec", "pcm_s16le", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(raw)/2)
	_ = binary.Read(bytes.NewReader(raw), binary.LittleEndian, s)
	return s
}

// ffmpegEncodeG722 encodes 16 kHz PCM to G.722 with ffmpeg's encoder, giving a stream a
// real encoder produced (speech-like input exercises the predictor, unlike noise).
func ffmpegEncodeG722(t *testing.T, pcm []int16) []byte {
	t.Helper()
	ff := testutil.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.g722")
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, pcm)
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", in,
		"-c:a", "g722", "-f", "g722", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg encode: %v\n%s", err, o)
	}
	g, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestG722AgainstFFmpeg decodes the same G.722 bytes with our decoder and ffmpeg's and
// wants identical samples: both implement the recommendation's fixed-point arithmetic,
// so no tolerance is allowed.
func TestG722AgainstFFmpeg(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 16000) // 1 s: every code word, any order
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	// 2 s of a two-tone signal with a swelling envelope, encoded by ffmpeg.
	pcm := make([]int16, 32000)
	for i := range pcm {
		env := float64(i) / float64(len(pcm))
		x := 0.6*sin(2*3.14159265*440*float64(i)/16000) + 0.3*sin(2*3.14159265*5200*float64(i)/16000)
		pcm[i] = int16(12000 * env * x)
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"random code words", noise},
		{"ffmpeg-encoded tones", ffmpegEncodeG722(t, pcm)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := ffmpegG722(t, tc.in)
			got := NewG722Decoder().Decode(nil, tc.in)
			if len(got) != 2*len(tc.in) {
				t.Fatalf("%d samples from %d bytes, want 2 per byte", len(got), len(tc.in))
			}
			if len(want) != len(got) {
				t.Fatalf("ffmpeg gave %d samples, we %d", len(want), len(got))
			}
			diffs := 0
			for i := range got {
				if got[i] != want[i] {
					if diffs < 5 {
						t.Errorf("sample %d: %d, ffmpeg %d", i, got[i], want[i])
					}
					diffs++
				}
			}
			if diffs > 0 {
				t.Errorf("%d of %d samples differ", diffs, len(got))
			}
		})
	}
}

func sin(x float64) float64 { return math.Sin(x) }
