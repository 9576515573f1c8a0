package store_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// walBenchRec is shaped like a generated 20-s call kept with --keep-rtp headers: 7 SIP
// messages of ~800 bytes (text and frame) and 2000 RTP header frames of 54 bytes (a 20-s call).
func walBenchRec(i int) store.SpoolEntry {
	r := mediaRec(i, 2000, 54)
	for j := 0; j < 7; j++ {
		raw := bytes.Repeat([]byte("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK"), 18)
		r.Messages = append(r.Messages, correlate.Message{TS: int64(j), Raw: raw, Frame: append(make([]byte, 42), raw...), Method: "INVITE"})
	}
	return store.SpoolEntry{Rec: r}
}

// BenchmarkWALAppend: the committer's cost per call (encode, write, one fsync per group
// of 50), the part of the write-ahead path that can fall behind a burst of finished calls.
func BenchmarkWALAppend(b *testing.B) {
	wal, _, err := store.OpenWAL(filepath.Join(b.TempDir(), "wal"), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	defer wal.Close()
	group := make([]store.SpoolEntry, 50)
	for i := range group {
		group[i] = walBenchRec(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, n, err := wal.Append(group, nil, nil, nil)
		if err != nil || n != len(group) {
			b.Fatal(err)
		}
		seqs := make([]uint64, n)
		for j := range seqs {
			seqs[j] = first + uint64(j)
		}
		wal.Done(seqs...)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(group)), "ns/call")
}
