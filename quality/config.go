package quality

// Config holds the per-stream quality knobs. The zero value is not useful; start from
// DefaultConfig. A Config is read by Stream.Init and must not change while streams use it.
type Config struct {
	// Interval is the length of one quality interval in nanoseconds of packet time
	// (default 5 s). Intervals are aligned to multiples of Interval since the Unix epoch,
	// so intervals of different streams line up on the dashboard. Values under 1 ms are
	// raised to 1 ms.
	Interval int64
	// JitterBufferMs is the depth of the simulated fixed de-jitter buffer: a packet whose
	// transit time exceeds the reference transit by more than this is counted as a late
	// discard, and the depth is part of the one-way delay Ta fed to the E-model
	// (default 60 ms).
	JitterBufferMs float64
	// MaxIntervals caps the intervals kept per stream (default 1440, 2 h at 5 s). When the
	// cap is reached, adjacent intervals are merged pairwise (the interval length doubles)
	// and Problems.IntervalMerges counts it.
	MaxIntervals int
	// DefaultRTTMs is the network round-trip time assumed when neither RTCP nor RTCP-XR
	// gives one (default 0: Ta is then jitter buffer plus codec delay only).
	DefaultRTTMs float64
	// AssumePLC selects the packet-loss robustness Bpl for codecs whose G.113 value
	// depends on receiver packet-loss concealment (G.711: 25.1 with G.711 Appendix I PLC,
	// 4.3 without). A passive probe cannot see the receiver, so the default is false, the
	// conservative value that is also G.107's default Bpl.
	AssumePLC bool
	// MaxDTMFEvents caps RFC 4733 events kept per stream (default 256); extra events are
	// counted in Problems.DTMFDropped.
	MaxDTMFEvents int
	// WiresharkStats also computes Summary.Wireshark, Wireshark's own lost/jitter/max-delta
	// numbers, per packet (for oracle tests and side-by-side debugging; off by default,
	// it roughly doubles the per-packet cost).
	WiresharkStats bool
}

// minInterval is the shortest Config.Interval (1 ms).
const minInterval = int64(1e6)

// DefaultConfig returns the documented defaults (docs/quality.md).
func DefaultConfig() Config {
	return Config{
		Interval:       5e9,
		JitterBufferMs: 60,
		MaxIntervals:   1440,
		DefaultRTTMs:   0,
		MaxDTMFEvents:  256,
	}
}

// normalized returns cfg with zero or negative fields replaced by defaults.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.Interval < minInterval {
		c.Interval = minInterval
	}
	if c.JitterBufferMs <= 0 {
		c.JitterBufferMs = d.JitterBufferMs
	}
	if c.MaxIntervals < 2 {
		c.MaxIntervals = d.MaxIntervals
	}
	if c.DefaultRTTMs < 0 {
		c.DefaultRTTMs = 0
	}
	if c.MaxDTMFEvents <= 0 {
		c.MaxDTMFEvents = d.MaxDTMFEvents
	}
	return c
}
