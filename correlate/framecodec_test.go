package correlate

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/klauspost/compress/zstd"
)

// demoStreams reads the demo capture (SIPp calls with RTP both ways) and returns its
// UDP packets other than SIP as frame streams cut into chunks of at most packChunk
// bytes, in the packer's layout (a file header, then a 16-byte record header and the
// frame, cut to cut bytes when cut > 0).
func demoStreams(t *testing.T, cut int) (chunks [][]byte) {
	t.Helper()
	src, err := capture.OpenFiles([]string{filepath.Join(testutil.RepoRoot(t), "testdata", "demo", "sipp-calls.pcap")})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	le := binary.LittleEndian
	var open []byte
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		d := pkt.Data
		if len(d) < 42 || d[23] != 17 || binary.BigEndian.Uint16(d[34:]) == 5060 || binary.BigEndian.Uint16(d[36:]) == 5060 {
			continue
		}
		data := d
		if cut > 0 && len(data) > cut {
			data = data[:cut]
		}
		n := pcapRecHeader + len(data)
		if len(open) == 0 {
			n += pcapFileHeader
		}
		if len(open)+n > packChunk && len(open) > 0 {
			chunks = append(chunks, open)
			open = nil
		}
		if len(chunks) == 0 && len(open) == 0 {
			var h [pcapFileHeader]byte
			le.PutUint32(h[0:], pcapMagicNS)
			le.PutUint16(h[4:], 2)
			le.PutUint16(h[6:], 4)
			le.PutUint32(h[16:], pcapSnaplen)
			le.PutUint32(h[20:], pkt.LinkType)
			open = append(open, h[:]...)
		}
		var h [pcapRecHeader]byte
		le.PutUint32(h[0:], uint32(pkt.TS/1e9))
		le.PutUint32(h[4:], uint32(pkt.TS%1e9))
		le.PutUint32(h[8:], uint32(len(data)))
		le.PutUint32(h[12:], uint32(len(d)))
		open = append(append(open, h[:]...), data...)
	}
	if len(open) > 0 {
		chunks = append(chunks, open)
	}
	if len(chunks) < 10 {
		t.Fatalf("demo capture: %d chunks of RTP/RTCP", len(chunks))
	}
	return chunks
}

func testZstd(t *testing.T) (*zstd.Encoder, *zstd.Decoder) {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithZeroFrames(true))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close(); dec.Close() })
	return enc, dec
}

// chunkKinds counts the chunks of seg by kind.
func chunkKinds(t *testing.T, seg []byte) map[byte]int {
	kinds := map[byte]int{}
	if _, err := walkChunks(seg, maxPackDecoded, func(kind byte, _ int, _ []byte) error {
		kinds[kind]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return kinds
}

// Sealed chunks of real RTP frames open to exactly the bytes put in (the expectation is
// the input), one chunk or the whole segment at once. Headers (the packer's 54 bytes of
// Ethernet, IPv4, UDP and RTP header) are delta-coded and come to less than half their
// size: a stream's record differs from its previous one only in the timestamps, IP
// identification and checksum, UDP checksum and RTP sequence and timestamp (about 16 of
// 70 bytes). Whole frames round-trip too (the demo's audio repeats, so most still
// delta-code); frames of noise do not shrink that way and go to zstd.
func TestSealChunkRoundTrip(t *testing.T) {
	enc, dec := testZstd(t)
	for _, tc := range []struct {
		name string
		cut  int
		kind byte
	}{{"headers", 54, chunkDelta}, {"full", 0, 0}, {"noise", -1, chunkZstd}} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := demoStreams(t, max(tc.cut, 0))
			if tc.cut < 0 { // the payload after the RTP header replaced by noise
				r := rand.New(rand.NewPCG(5, 6))
				for _, c := range chunks {
					for p := 0; p < len(c); {
						n := itemLen(c[p:])
						if n > pcapRecHeader+54 {
							for i := p + pcapRecHeader + 54; i < p+n; i++ {
								c[i] = byte(r.Uint32())
							}
						}
						p += n
					}
				}
			}
			var seg, want []byte
			for _, c := range chunks {
				one := SealChunk(nil, c, enc)
				got, err := OpenSegment(nil, one, dec, maxPackDecoded)
				if err != nil || !bytes.Equal(got, c) {
					t.Fatalf("chunk of %d bytes opens to %d (%v)", len(c), len(got), err)
				}
				seg = append(seg, one...)
				want = append(want, c...)
			}
			got, err := OpenSegment(nil, seg, dec, maxPackDecoded)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("segment opens to %d bytes (%v), want the %d put in", len(got), err, len(want))
			}
			kinds := chunkKinds(t, seg)
			if tc.kind != 0 && kinds[tc.kind] < len(chunks)*9/10 {
				t.Errorf("chunk kinds %v, want most of the %d %q", kinds, len(chunks), tc.kind)
			}
			if tc.kind == chunkDelta && 2*len(seg) > len(want) {
				t.Errorf("headers sealed to %d of %d bytes, want under half", len(seg), len(want))
			}
			t.Logf("%d chunks, %d -> %d bytes (%.2f:1), kinds %v", len(chunks), len(want), len(seg), float64(len(want))/float64(len(seg)), kinds)
			// Without a zstd encoder every chunk is delta-coded and still round-trips.
			var nz []byte
			for _, c := range chunks {
				nz = SealChunk(nz, c, nil)
			}
			if got, err := OpenSegment(nil, nz, nil, maxPackDecoded); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("delta-only segment opens to %d bytes (%v), want %d", len(got), err, len(want))
			}
		})
	}
}

// A segment written before the delta coding (concatenated zstd frames of the stream)
// still opens; a zstd chunk without a decoder is an error, not a panic.
func TestOpenSegmentZstd(t *testing.T) {
	enc, dec := testZstd(t)
	chunks := demoStreams(t, 0)
	var old, want []byte
	for _, c := range chunks[:5] {
		old = enc.EncodeAll(c, old)
		want = append(want, c...)
	}
	got, err := OpenSegment(nil, old, dec, maxPackDecoded)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("zstd segment opens to %d bytes (%v), want %d", len(got), err, len(want))
	}
	if _, err := OpenSegment(nil, old, nil, maxPackDecoded); err == nil {
		t.Fatal("zstd segment opened without a decoder")
	}
	if _, err := OpenSegment(nil, SealChunk(nil, chunks[0], enc), nil, maxPackDecoded); err == nil {
		t.Fatal("zstd chunk opened without a decoder")
	}
}

// Damaged segments are errors, never panics, and never open to more than the limit
// or to more than their chunks declare.
func TestOpenSegmentDamaged(t *testing.T) {
	enc, dec := testZstd(t)
	chunks := demoStreams(t, 54)
	var seg []byte
	total := 0
	for _, c := range chunks[:4] {
		seg = SealChunk(seg, c, enc)
		total += len(c)
	}
	for cut := range len(seg) {
		if out, err := OpenSegment(nil, seg[:cut], dec, maxPackDecoded); err == nil && len(out) > total {
			t.Fatalf("cut at %d: %d bytes, more than the %d declared", cut, len(out), total)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		b := append([]byte(nil), seg...)
		for range 1 + r.IntN(3) {
			b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
		}
		if out, err := OpenSegment(nil, b, dec, maxPackDecoded); err == nil && len(out) > 2*total {
			t.Fatalf("damaged segment opens to %d bytes", len(out))
		}
	}
	if _, err := OpenSegment(nil, seg, dec, total-1); err == nil {
		t.Fatalf("segment of %d bytes opened under a limit of %d", total, total-1)
	}
	for _, b := range [][]byte{{'C', 'S', 'F'}, {'C', 'S', 'F', 'X', 1, 1, 0}, {'C', 'S', 'F', 'D', 5, 2, 0xff, 9}, {'C', 'S', 'F', 'D', 1, 2, 0, 0}} {
		if _, err := OpenSegment(nil, b, dec, maxPackDecoded); err == nil {
			t.Errorf("% x opened", b)
		}
	}
}

// The word mask trick: nonZeroBytes marks exactly the non-zero bytes.
func TestNonZeroBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		var x uint64
		var want byte
		for i := range 8 {
			if r.IntN(2) == 0 {
				b := uint64(1 + r.IntN(255))
				x |= b << (8 * i)
				want |= 1 << i
			}
		}
		if got := nonZeroBytes(x); got != want {
			t.Fatalf("nonZeroBytes(%#x) = %08b, want %08b", x, got, want)
		}
	}
}

// FuzzOpenSegment: any bytes open or fail with ErrBadFrameStream, never panic, and never
// give more than the limit.
func FuzzOpenSegment(f *testing.F) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		f.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	rec := func(seq byte) []byte {
		b := make([]byte, pcapRecHeader+54)
		binary.LittleEndian.PutUint32(b[8:], 54)
		binary.LittleEndian.PutUint32(b[12:], 214)
		b[4], b[pcapRecHeader+45] = seq, seq
		return b
	}
	raw := append(append(rec(1), rec(2)...), rec(3)...)
	f.Add(SealChunk(nil, raw, nil))
	f.Add(SealChunk(nil, bytes.Repeat([]byte{7, 1, 9}, 300), enc))
	f.Add(enc.EncodeAll(raw, nil))
	f.Add([]byte("CSFD\x05\x03\xff\x03abc"))
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := OpenSegment(nil, b, dec, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
	})
}

// FuzzSealChunk: any bytes (a frame stream or not) seal to a chunk that opens to them.
func FuzzSealChunk(f *testing.F) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		f.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		f.Fatal(err)
	}
	b := make([]byte, 2*(pcapRecHeader+54))
	binary.LittleEndian.PutUint32(b[8:], 54)
	binary.LittleEndian.PutUint32(b[pcapRecHeader+54+8:], 54)
	b[pcapRecHeader+54+20] = 1
	f.Add(b)
	f.Add([]byte{0xa1, 0xb2})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, e := range []*zstd.Encoder{nil, enc} {
			seg := SealChunk([]byte("prefix"), raw, e)
			got, err := OpenSegment(nil, seg[len("prefix"):], dec, maxPackDecoded)
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("%d bytes seal and open to %d (%v)", len(raw), len(got), err)
			}
		}
	})
}

// BenchmarkSealChunk seals the demo's RTP/RTCP headers (54 bytes, the packer's
// headers mode) in 2 KiB chunks: the delta coding against zstd's fastest level without
// entropy coding (the packer's former sealing). Bytes per second count the raw chunks.
func BenchmarkSealChunk(b *testing.B) {
	t := &testing.T{}
	chunks := demoStreams(t, 54)
	raw := 0
	for _, c := range chunks {
		raw += len(c)
	}
	pc := newPackCodec()
	for _, bc := range []struct {
		name string
		seal func(dst, c []byte) []byte
	}{
		{"delta", func(dst, c []byte) []byte { return SealChunk(dst, c, pc.enc) }},
		{"zstd", func(dst, c []byte) []byte { return pc.enc.EncodeAll(c, dst) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(raw))
			out := make([]byte, 0, 2*packChunk)
			sealed := 0
			for b.Loop() {
				sealed = 0
				for _, c := range chunks {
					out = bc.seal(out[:0], c)
					sealed += len(out)
				}
			}
			b.ReportMetric(float64(raw)/float64(sealed), "ratio")
		})
	}
}

// BenchmarkOpenSegment opens the demo's headers sealed as one segment (delta chunks).
func BenchmarkOpenSegment(b *testing.B) {
	t := &testing.T{}
	pc := newPackCodec()
	var seg []byte
	raw := 0
	for _, c := range demoStreams(t, 54) {
		seg = SealChunk(seg, c, pc.enc)
		raw += len(c)
	}
	b.ReportAllocs()
	b.SetBytes(int64(raw))
	out := make([]byte, 0, raw)
	for b.Loop() {
		var err error
		if out, err = OpenSegment(out[:0], seg, pc.dec, maxPackDecoded); err != nil {
			b.Fatal(err)
		}
	}
}
