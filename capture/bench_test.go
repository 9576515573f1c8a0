package capture

import (
	"bytes"
	"io"
	"testing"
)

// rtpLikeFile builds an in-memory capture of n 214-byte frames (an
// Ethernet/IPv4/UDP/RTP G.711 20 ms packet), with records of 230 bytes in
// pcap and 248 bytes in pcapng.
func rtpLikeFile(tb testing.TB, ng bool, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	frame := payload(3, 214)
	ts := int64(1_700_000_000_000_000_000)
	if ng {
		w := NewPcapngWriter(&buf)
		w.AddInterface(LinkEthernet, 0, "eth0")
		for i := range n {
			w.WritePacket(0, ts+int64(i)*20_000_000, frame, 0)
		}
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
	} else {
		w, err := NewPcapWriter(&buf, LinkEthernet, 0, true)
		if err != nil {
			tb.Fatal(err)
		}
		for i := range n {
			w.WritePacket(ts+int64(i)*20_000_000, frame, 0)
		}
	}
	return buf.Bytes()
}

// loopReader reads file forever, reopening it at EOF.
type loopReader struct {
	tb   testing.TB
	file []byte
	r    *FileReader
}

func (l *loopReader) next(p *Packet) {
	for {
		if l.r != nil {
			err := l.r.Next(p)
			if err == nil {
				return
			}
			if err != io.EOF {
				l.tb.Fatal(err)
			}
		}
		r, err := NewFileReader(bytes.NewReader(l.file), "bench")
		if err != nil {
			l.tb.Fatal(err)
		}
		l.r = r
	}
}

func TestZeroAllocsPerPacket(t *testing.T) {
	for _, ng := range []bool{false, true} {
		name := "pcap"
		if ng {
			name = "pcapng"
		}
		t.Run(name, func(t *testing.T) {
			r, err := NewFileReader(bytes.NewReader(rtpLikeFile(t, ng, 5000)), "x")
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			allocs := testing.AllocsPerRun(4000, func() {
				if err := r.Next(&p); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per packet, want 0", allocs)
			}
		})
	}
	t.Run("merger", func(t *testing.T) {
		var rs []*FileReader
		for _, ng := range []bool{false, true, false} {
			r, err := NewFileReader(bytes.NewReader(rtpLikeFile(t, ng, 3000)), "x")
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		m := NewMerger(rs...)
		var p Packet
		allocs := testing.AllocsPerRun(6000, func() {
			if err := m.Next(&p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per packet, want 0", allocs)
		}
	})
}

func benchRead(b *testing.B, ng bool) {
	const n = 20000
	file := rtpLikeFile(b, ng, n)
	l := &loopReader{tb: b, file: file}
	var p Packet
	b.SetBytes(int64(len(file) / n)) // bytes of file per packet
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.next(&p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkReadPcap: one op is one packet; MB/s counts file bytes.
func BenchmarkReadPcap(b *testing.B) { benchRead(b, false) }

// BenchmarkReadPcapng: one op is one packet; MB/s counts file bytes.
func BenchmarkReadPcapng(b *testing.B) { benchRead(b, true) }

// BenchmarkMerge3: merging three in-memory files; one op is one packet.
func BenchmarkMerge3(b *testing.B) {
	const n = 20000
	files := [][]byte{rtpLikeFile(b, false, n), rtpLikeFile(b, true, n), rtpLikeFile(b, false, n)}
	open := func() *Merger {
		var rs []*FileReader
		for _, f := range files {
			r, err := NewFileReader(bytes.NewReader(f), "x")
			if err != nil {
				b.Fatal(err)
			}
			rs = append(rs, r)
		}
		return NewMerger(rs...)
	}
	m := open()
	var p Packet
	b.SetBytes(int64(len(files[0])+len(files[1])+len(files[2])) / (3 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := m.Next(&p); err != nil {
			m = open()
			if err := m.Next(&p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

func BenchmarkPcapWriter(b *testing.B) {
	w, err := NewPcapWriter(io.Discard, LinkEthernet, 0, true)
	if err != nil {
		b.Fatal(err)
	}
	frame := payload(1, 214)
	b.SetBytes(16 + 214)
	b.ReportAllocs()
	for i := range b.N {
		w.WritePacket(int64(i), frame, 0)
	}
}
