package correlate_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
)

// BenchmarkMemoryKeptFrames is the correlator's live heap per kept RTP/RTCP frame with
// `--keep-rtp headers`: a generated load of 2,000 concurrent 4-s calls is replayed up to
// the middle of its packets (every call open, about half its media seen), once keeping
// headers and once keeping none (SIP messages kept both times), and the difference in
// heap after GC is divided by the media packets fed. Public API only, so the same file
// measures an older correlator. Run it with -benchtime=1x.
func BenchmarkMemoryKeptFrames(b *testing.B) {
	path := filepath.Join(b.TempDir(), "load.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	sc := gen.Load(2000, 4, 1)
	n, err := sc.Write(f)
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	_ = n
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	run := func(keep string) (uint64, uint64) {
		src, err := capture.OpenFiles([]string{path})
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		var total int
		var pkt capture.Packet
		for src.Next(&pkt) == nil {
			total++
		}
		src.Close()
		src, err = capture.OpenFiles([]string{path})
		if err != nil {
			b.Fatal(err)
		}
		h0 := heap()
		cfg := correlate.DefaultConfig()
		cfg.KeepMessages, cfg.KeepRTP = true, keep
		c := correlate.New(cfg, correlate.Output{})
		dec := decode.New(decode.DefaultConfig())
		for i := 0; i < total/2 && src.Next(&pkt) == nil; i++ {
			dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, c.Event)
		}
		h1 := heap()
		n := c.Counters()
		runtime.KeepAlive(c)
		if n.ActiveCalls < 1900 {
			b.Fatalf("%d calls open at the middle, want about 2000", n.ActiveCalls)
		}
		return h1 - h0, n.RTPPackets + n.RTCPPackets
	}
	for i := 0; i < b.N; i++ {
		none, _ := run(correlate.KeepRTPNone)
		hdrs, frames := run(correlate.KeepRTPHeaders)
		b.ReportMetric(float64(hdrs-none)/float64(frames), "B/frame")
		b.ReportMetric(float64(frames), "frames")
		b.ReportMetric(float64(hdrs)/(1<<20), "MiB-heap-headers")
		b.ReportMetric(float64(none)/(1<<20), "MiB-heap-none")
	}
}
