package correlate

import (
	"fmt"
	"testing"
	"time"
)

// TestSSRCFloodEviction feeds far more unique SSRCs than the stream table holds. The
// table stays within its cap, every eviction is counted, and an orphan stream that keeps
// sending survives the flood (it gets a second chance in the eviction queue), while the
// flood's one-packet streams go.
func TestSSRCFloodEviction(t *testing.T) {
	const capStreams, flood = 1000, 50000
	h := newHarness(t, func(c *Config) { c.MaxStreams = capStreams })
	steady := uint32(0xABCD0001)
	for i := 0; i < flood; i++ {
		d := time.Duration(i) * 20 * time.Microsecond
		h.rtpAt(d, "10.7.0.1:4000", "10.7.0.2:4002", uint32(i+1), 0)
		if i%50 == 0 {
			h.rtpAt(d, "10.7.1.1:5000", "10.7.1.2:5002", steady, 0)
		}
		if n := h.c.ActiveStreams(); n > capStreams {
			t.Fatalf("after %d packets: %d streams, cap %d", i, n, capStreams)
		}
	}
	cnt := h.c.Counters()
	if want := uint64(flood + 1 - capStreams); cnt.StreamsEvicted < want {
		t.Errorf("evicted %d, want at least %d", cnt.StreamsEvicted, want)
	}
	found := false
	h.c.streams.each(func(s *stream) {
		if s.key.ssrc == steady {
			found = true
		}
	})
	if !found {
		t.Error("the steadily sending orphan stream was evicted by the flood")
	}
	if q := len(h.c.orphanQ) - h.c.orphanHead; q > 2*capStreams+1024 {
		t.Errorf("orphan queue holds %d entries for %d streams", q, h.c.ActiveStreams())
	}
}

// BenchmarkSSRCFlood measures the cost per packet of a flood of unique SSRCs through a
// full stream table (eviction included).
func BenchmarkSSRCFlood(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.MaxStreams = 100000 })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.rtpAt(time.Duration(i)*time.Microsecond, "10.7.0.1:4000", "10.7.0.2:4002", uint32(i+1), 0)
	}
	b.StopTimer()
	if b.N > 100000 && h.c.Counters().StreamsEvicted == 0 {
		b.Fatal(fmt.Sprint("no evictions at ", b.N))
	}
}
