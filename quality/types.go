package quality

// PacketKind tells the Stream what an RTP packet carries; the caller derives it from
// the payload type (SDP rtpmap or the RFC 3551 static table).
type PacketKind uint8

const (
	// Audio is codec payload: it enters jitter, the jitter-buffer model and MOS.
	Audio PacketKind = iota
	// Event is an RFC 4733 telephone-event packet: counted, sequence-checked, decoded
	// as DTMF, but kept out of jitter (its RTP timestamp is the event start, not the
	// sampling instant of the packet).
	Event
	// ComfortNoise is an RFC 3389 CN packet (PT 13 or a CN rtpmap): counted and
	// sequence-checked, kept out of jitter.
	ComfortNoise
)

// DTMFEvent is one RFC 4733 event (or a SIP INFO digit, filled by the caller).
type DTMFEvent struct {
	Digit      byte    // '0'-'9', '*', '#', 'A'-'D'; '?' for other event codes
	Start      int64   // arrival of the first packet of the event, Unix ns
	DurationMs float64 // largest duration field seen, converted with the clock rate
	Event      uint8   // RFC 4733 §3.2 event code
	Volume     uint8   // power level in -dBm0 (0..63), last packet
	Ended      bool    // an end (E bit) packet was seen
}

// Interval is the quality of one Config.Interval slice of packet time.
type Interval struct {
	Start    int64   // interval start, Unix ns (aligned to Interval since the epoch)
	Packets  uint64  // packets that arrived in the interval (all kinds, duplicates too)
	Lost     uint64  // sequence numbers expected in the interval minus unique received, ≥ 0
	Late     uint64  // late discards of the simulated jitter buffer
	JitterMs float64 // mean of the RFC 3550 jitter estimate over audio packets in the interval
	HasMOS   bool    // the interval had audio packets
	MOS      float64 // E-model MOS for the interval
	RFactor  float64 // E-model R for the interval
}

// XRVoIP carries the RFC 3611 §4.7 VoIP Metrics report block values as sent.
type XRVoIP struct {
	LossRate, DiscardRate          uint8  // fraction ×256 (§4.7.1)
	BurstDensity, GapDensity       uint8  // fraction ×256 (§4.7.2)
	BurstDuration, GapDuration     uint16 // ms (§4.7.2)
	RoundTripDelay                 uint16 // ms (§4.7.3)
	EndSystemDelay                 uint16 // ms (§4.7.3)
	SignalLevel, NoiseLevel        int8   // dBm0, 127 = unavailable (§4.7.4)
	RERL, Gmin                     uint8  // dB, 127 = unavailable; Gmin default 16 (§4.7.4)
	RFactor, ExtRFactor            uint8  // 0..120, 127 = unavailable (§4.7.5)
	MOSLQ, MOSCQ                   uint8  // MOS ×10, 127 = unavailable (§4.7.5)
	RXConfig                       uint8  // PLC / jitter buffer type flags (§4.7.6)
	JBNominal, JBMaximum, JBAbsMax uint16 // ms (§4.7.7)
}

// XRSummary is the last RFC 3611 VoIP Metrics block about a stream, converted to units.
type XRSummary struct {
	Raw                XRVoIP
	LossRatePct        float64
	DiscardRatePct     float64
	BurstDensityPct    float64
	GapDensityPct      float64
	RoundTripDelayMs   float64 // 0 = unreported
	EndSystemDelayMs   float64
	HasRFactor         bool
	RFactor            float64
	HasMOSLQ, HasMOSCQ bool
	MOSLQ, MOSCQ       float64
	Blocks             uint64 // number of XR VoIP blocks seen
}

// RTCPSummary is what RTCP told us about a stream: the reports of its receiver (loss,
// jitter, RTT via LSR/DLSR) side by side with our own observation.
type RTCPSummary struct {
	SenderReports uint64 // SRs sent by this stream's source
	Reports       uint64 // report blocks about this stream

	HasReport       bool
	FractionLostPct float64 // last block: fraction lost ×100/256
	FractionLostMax float64 // worst block
	CumulativeLost  int64   // last block: cumulative number of packets lost (signed, RFC 3550 §6.4.1)
	ExtHighestSeq   uint32  // last block
	JitterMs        float64 // last block: interarrival jitter / clock rate, ms
	JitterMaxMs     float64

	HasRTT     bool
	RTTMs      float64 // last RTT sample, ms (see docs/quality.md: probe-side RTT)
	RTTMinMs   float64
	RTTMaxMs   float64
	RTTMeanMs  float64
	RTTSamples uint64

	XR *XRSummary // nil when no RTCP-XR VoIP metrics block was seen
}

// Problems are media conditions worth a flag on the dashboard.
type Problems struct {
	Silent         bool   // no audio packets at all (only events/CN, or nothing)
	NotValidated   bool   // never saw MIN_SEQUENTIAL (2) in-sequence packets (RFC 3550 A.1 probation)
	Restarts       uint64 // sequence restarts (RFC 3550 A.1 bad_seq confirmed)
	Strays         uint64 // packets far outside the sequence that did not start a restart
	TimestampJumps uint64 // |D| > 1 s the network cannot explain: re-based clock or source skip (docs/quality.md)
	NetworkStalls  uint64 // arrival gaps ≥ 300 ms between contiguous audio packets (network_stall)
	ClockDrift     bool   // sender RTP clock off nominal by > 1 % over ≥ 10 s (clock_drift)
	IntervalMerges uint64 // times the interval list hit MaxIntervals and was merged pairwise
	DTMFDropped    uint64 // RFC 4733 events beyond MaxDTMFEvents
	ClockUnknown   bool   // no clock rate: jitter and jitter-buffer model not computed
}

// WiresharkStats reproduces the numbers of Wireshark's RTP stream analysis (tshark -z
// rtp,streams, ui/tap-rtp-analysis.c) so a user can reconcile the two tools.
type WiresharkStats struct {
	Lost         int64   // expected − packets, may be negative (duplicates)
	JitterMeanMs float64 // Wireshark's running mean (divides by all packets so far)
	JitterMaxMs  float64
	MaxDeltaMs   float64
}

// RTTSource says which round trip entered the E-model delay Ta (docs/quality.md).
type RTTSource uint8

const (
	RTTDefault      RTTSource = iota // Config.DefaultRTTMs: nothing measured
	RTTProbeSegment                  // only this stream's probe-side RTCP RTT (a lower bound)
	RTTEndToEnd                      // both directions' probe-side segments (SetEndToEndRTT)
	RTTXR                            // the receiver's RTCP-XR round-trip delay (RFC 3611 §4.7.3)
)

// String is the name used in JSON and docs.
func (r RTTSource) String() string {
	switch r {
	case RTTProbeSegment:
		return "probe_segment"
	case RTTEndToEnd:
		return "end_to_end"
	case RTTXR:
		return "rtcp_xr"
	}
	return "default"
}

// Summary is the final quality of one stream (see docs/quality.md for every field).
type Summary struct {
	SSRC        uint32
	First, Last int64 // first and last packet arrival, Unix ns
	Packets     uint64
	Expected    uint64
	Lost        uint64 // Expected − unique packets, never negative
	Duplicates  uint64
	OutOfOrder  uint64
	Audio       uint64 // packets of kind Audio
	Events      uint64 // packets of kind Event
	CN          uint64 // packets of kind ComfortNoise

	JitterMeanMs float64
	JitterMaxMs  float64
	MaxDeltaMs   float64

	HasMOS       bool
	MOS, MOSMin  float64
	RFactor      float64
	LateDiscards uint64
	BurstR       float64
	Ppl          float64 // percent: (lost + late discards) / expected
	OneWayMs     float64 // Ta used for Id
	RTTMs        float64 // round trip that entered Ta (0 with RTTSource RTTDefault and DefaultRTTMs 0)
	RTTSource    RTTSource

	LongestStallMs    float64 // longest network stall (0: none)
	MeasuredClockRate float64 // sender RTP clock from the delay floor, Hz (0: under 10 s measured)
	Codec             Codec

	DTMF       string
	DTMFEvents []DTMFEvent
	RTCP       *RTCPSummary
	Intervals  []Interval
	Problems   Problems
	Wireshark  WiresharkStats
}
