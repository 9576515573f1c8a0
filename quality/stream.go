package quality

import "math"

// RFC 3550 Appendix A.1 constants.
const (
	maxDropout    = 3000 // largest forward jump still treated as loss
	maxMisorder   = 100  // largest backward step still treated as reordering
	minSequential = 2    // in-sequence packets needed to validate a source (probation)
	seqMod        = 1 << 16

	windowBits = 1024 // duplicate-detection window (bitmap of the last 1024 ext seqs)

	tsJumpNs   = 1e9 // |D(i-1,i)| above this is a timestamp jump, not jitter
	lateResync = 50  // consecutive late packets after which the jitter buffer re-anchors
	srHistory  = 8   // SRs remembered per stream for LSR matching
)

type srRec struct {
	mid     uint32 // middle 32 bits of the SR NTP timestamp (what LSR echoes)
	arrival int64  // probe arrival time, Unix ns
}

// conf returns the stream's configuration (DefaultConfig for a Stream never Init'ed).
func (s *Stream) conf() *Config {
	if s.cfg == nil {
		c := DefaultConfig()
		s.cfg = &c
	}
	return s.cfg
}

// rtcpState is what RTCP and RTCP-XR told about a stream.
type rtcpState struct {
	sr     [srHistory]srRec
	srN    int
	rtcp   RTCPSummary
	rttSum float64
	hasXR  bool
	xr     XRSummary
}

// ivRec accumulates one interval; Summary turns it into an Interval.
type ivRec struct {
	start           int64
	packets, unique uint64
	expected, audio uint64
	late, bursts    uint64
	jSum            float64
	jN              uint64
	oneWayMs        float64
}

// wsState mirrors Wireshark's tap_rtp_stat_t for WiresharkStats.
type wsState struct {
	lastSeq        uint16
	lastTS         uint32
	extSeq, maxExt int64
	extTS, seqTS   int64
	time           float64 // ns since the stream's first packet
	lastNominal    float64 // ns
	jitter, sum    float64
	max, maxDelta  float64
	total, samples uint64
	prevCN         bool
}

// Stream is the quality state of one RTP stream (one SSRC in one direction). It is not
// safe for concurrent use: the goroutine that owns the stream feeds it. Packet does not
// allocate except when a new interval or DTMF event is appended (amortised). The payload
// passed to Packet is only read during the call and never retained.
type Stream struct {
	cfg       *Config // normalized; shared by every stream Init was given it for
	ssrc      uint32
	codec     Codec
	clock     uint32
	nsPerTick float64 // 1e9 / clock, 0 when unknown
	evClock   uint32  // telephone-event clock (0: stream clock)
	jbDepthNs float64

	first, last                int64
	packets, unique, dups, ooo uint64
	audio, events, cn          uint64
	expected                   uint64
	strays, restarts           uint64
	started, validated         bool

	// RFC 3550 A.1 sequence state; extended numbers start in cycle 1 so they stay positive.
	maxSeq  uint16
	badSeq  int32 // -1: none
	cycles  int64
	baseExt int64
	maxExt  int64
	win     [windowBits / 64]uint64

	lossEvents uint64 // gaps seen when the highest sequence advanced (loss bursts)

	prevArr  int64
	havePrev bool
	maxDelta int64

	// RFC 3550 A.8 jitter over audio packets, in ns.
	jInit    bool
	jPrevRel int64
	jPrevTS  uint32
	jitter   float64
	jSum     float64
	jN       uint64
	jMax     float64
	tsJumps  uint64

	// Fixed jitter-buffer model.
	jbOrigin  int64
	jbExtTS   int64
	jbRef     float64
	jbLateRun int
	late      uint64

	// Intervals.
	ivLen     int64
	ivOpen    bool
	ivEnd     int64
	iv        ivRec
	ivExp0    uint64
	intervals []ivRec
	merges    uint64

	// RFC 4733 events.
	dtmf        []DTMFEvent
	evTS        uint32
	evActive    bool
	evSkip      bool
	dtmfDropped uint64

	// RTCP state, allocated at the first RTCP packet about the stream (most streams of a
	// busy probe have little or none), and Wireshark's mirror statistics, allocated only
	// with Config.WiresharkStats: both kept out of line to keep a Stream small.
	rc *rtcpState
	ws *wsState
}

// Init resets s for a new stream; it also serves as Reset and keeps the capacity of the
// interval and DTMF slices. cfg may be nil (DefaultConfig). clockRate 0 takes the
// codec's clock rate; if both are 0 jitter is not computed until SetClock.
func (s *Stream) Init(cfg *Config, ssrc uint32, clockRate uint32, codec Codec) {
	ivs, dtmf := s.intervals[:0], s.dtmf[:0]
	*s = Stream{intervals: ivs, dtmf: dtmf}
	switch {
	case cfg != nil && *cfg == cfg.normalized():
		s.cfg = cfg // the common case: one shared, already normalized config
	case cfg != nil:
		c := cfg.normalized()
		s.cfg = &c
	default:
		c := DefaultConfig()
		s.cfg = &c
	}
	s.ssrc = ssrc
	s.badSeq = -1
	s.ivLen = s.cfg.Interval
	s.jbDepthNs = s.conf().JitterBufferMs * 1e6
	s.SetClock(clockRate, codec)
}

// SetClock sets the codec and RTP clock rate, e.g. when the SDP becomes known after the
// first packets. A changed clock rate restarts the jitter estimate (A.8 needs one clock).
func (s *Stream) SetClock(clockRate uint32, codec Codec) {
	if clockRate == 0 {
		clockRate = codec.ClockRate
	}
	codec.ClockRate = clockRate
	s.codec = codec
	if clockRate == s.clock {
		return
	}
	s.clock = clockRate
	s.nsPerTick = 0
	if clockRate != 0 {
		s.nsPerTick = 1e9 / float64(clockRate)
	}
	s.jInit = false
}

// SetEventClock sets the clock rate of the stream's telephone-event payload type when
// it differs from the audio clock (e.g. Opus/48000 with telephone-event/8000).
func (s *Stream) SetEventClock(clockRate uint32) { s.evClock = clockRate }

// First is the arrival time of the stream's first packet (Unix ns; 0 before any).
func (s *Stream) First() int64 { return s.first }

// Last is the latest arrival time seen on the stream (Unix ns; 0 before any packet).
func (s *Stream) Last() int64 { return s.last }

// Packet feeds one RTP packet: arrival is the probe timestamp (Unix ns), seq, rtpTS and
// marker come from the RTP header, kind from the payload type, payload is the RTP
// payload (read for RFC 4733 events only, not retained).
func (s *Stream) Packet(arrival int64, seq uint16, rtpTS uint32, marker bool, kind PacketKind, payload []byte) {
	if s.packets == 0 {
		s.first, s.last = arrival, arrival
	} else if arrival > s.last {
		s.last = arrival
	}
	if s.ivLen > 0 && (!s.ivOpen || arrival >= s.ivEnd) {
		s.rollInterval(arrival)
	}
	s.packets++
	s.iv.packets++
	switch kind {
	case Event:
		s.events++
	case ComfortNoise:
		s.cn++
	default:
		s.audio++
		s.iv.audio++
	}
	dup := s.sequence(seq)
	if s.cfg != nil && s.cfg.WiresharkStats {
		s.wireshark(arrival, seq, rtpTS, marker, kind)
	}
	if dup {
		s.dups++
		return
	}
	s.unique++
	s.iv.unique++
	if s.havePrev {
		if d := arrival - s.prevArr; d > s.maxDelta {
			s.maxDelta = d
		}
	}
	s.prevArr, s.havePrev = arrival, true
	switch kind {
	case Audio:
		s.timing(arrival, rtpTS, marker)
	case Event:
		s.event(arrival, rtpTS, payload)
	}
}

func (s *Stream) setBit(ext int64)       { s.win[(ext>>6)&(windowBits/64-1)] |= 1 << (ext & 63) }
func (s *Stream) clearBit(ext int64)     { s.win[(ext>>6)&(windowBits/64-1)] &^= 1 << (ext & 63) }
func (s *Stream) testBit(ext int64) bool { return s.win[(ext>>6)&(windowBits/64-1)]&(1<<(ext&63)) != 0 }

// sequence runs the RFC 3550 A.1 update_seq logic on a passive stream and reports
// whether the packet is a duplicate. Unlike A.1 it never discards a packet: probation
// only sets the validated flag, and a packet far out of sequence is counted as a stray
// (it adds one to both expected and received) unless the next packet confirms a restart.
func (s *Stream) sequence(seq uint16) (dup bool) {
	if !s.started {
		s.started = true
		s.reseq(seq)
		s.expected++
		s.iv.expected++
		return false
	}
	udelta := seq - s.maxSeq
	switch {
	case udelta == 0:
		return true
	case udelta < maxDropout:
		if seq < s.maxSeq {
			s.cycles += seqMod
		}
		s.advance(s.cycles + int64(seq))
		s.maxSeq = seq
		s.badSeq = -1
		if udelta == 1 {
			s.validated = true // MIN_SEQUENTIAL (2) packets in sequence
		}
		return false
	case int(udelta) <= seqMod-maxMisorder:
		if int32(seq) == s.badSeq {
			// A.1: two sequential packets after a jump — the source restarted. The
			// stray before this one starts the new sequence.
			s.restarts++
			s.strays--
			s.reseq(seq - 1)
			if seq == 0 {
				s.cycles += seqMod
			}
			s.advance(s.cycles + int64(seq))
			s.maxSeq = seq
			s.validated = true
			return false
		}
		s.badSeq = int32(seq + 1)
		s.strays++
		s.expected++
		s.iv.expected++
		return false
	default:
		ext := s.cycles + int64(seq)
		if seq > s.maxSeq {
			ext -= seqMod
		}
		if s.testBit(ext) {
			return true
		}
		s.setBit(ext)
		s.ooo++
		if ext < s.baseExt {
			n := uint64(s.baseExt - ext)
			s.expected += n
			s.iv.expected += n
			s.baseExt = ext
		}
		return false
	}
}

// reseq starts a new sequence at seq (A.1 init_seq).
func (s *Stream) reseq(seq uint16) {
	s.win = [windowBits / 64]uint64{}
	s.cycles = seqMod
	s.maxSeq = seq
	s.baseExt = seqMod + int64(seq)
	s.maxExt = s.baseExt
	s.badSeq = -1
	s.setBit(s.maxExt)
}

// advance moves the highest extended sequence number to ext (> maxExt).
func (s *Stream) advance(ext int64) {
	d := ext - s.maxExt
	if d <= 0 {
		return
	}
	if d > 1 {
		s.lossEvents++
		s.iv.bursts++
		if d >= windowBits {
			s.win = [windowBits / 64]uint64{}
		} else {
			for e := s.maxExt + 1; e < ext; e++ {
				s.clearBit(e)
			}
		}
	}
	s.setBit(ext)
	s.maxExt = ext
	s.expected += uint64(d)
	s.iv.expected += uint64(d)
}

// timing updates the RFC 3550 A.8 jitter and the jitter-buffer model for an audio packet.
func (s *Stream) timing(arrival int64, ts uint32, marker bool) {
	if s.nsPerTick == 0 {
		return
	}
	rel := arrival - s.first
	if !s.jInit {
		s.jInit = true
		s.jPrevRel, s.jPrevTS = rel, ts
		s.jbOrigin, s.jbExtTS, s.jbRef, s.jbLateRun = rel, 0, 0, 0
		return
	}
	dts := int32(ts - s.jPrevTS)
	d := float64(rel-s.jPrevRel) - float64(dts)*s.nsPerTick // D(i-1,i), eq. A.8
	s.jPrevRel, s.jPrevTS = rel, ts
	if d > tsJumpNs || d < -tsJumpNs {
		// A source discontinuity, not network jitter: re-anchor both models.
		s.tsJumps++
		s.jbOrigin, s.jbExtTS, s.jbRef, s.jbLateRun = rel, 0, 0, 0
		return
	}
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) * (1.0 / 16) // J(i) = J(i-1) + (|D(i-1,i)| - J(i-1))/16
	j := s.jitter
	s.jSum += j
	s.jN++
	if j > s.jMax {
		s.jMax = j
	}
	s.iv.jSum += j
	s.iv.jN++

	// Fixed jitter buffer: playout reference = lowest transit of the talkspurt.
	s.jbExtTS += int64(dts)
	transit := float64(rel-s.jbOrigin) - float64(s.jbExtTS)*s.nsPerTick
	switch {
	case marker:
		s.jbRef, s.jbLateRun = transit, 0
	case transit < s.jbRef:
		s.jbRef, s.jbLateRun = transit, 0
	case transit-s.jbRef > s.jbDepthNs:
		s.late++
		s.iv.late++
		s.jbLateRun++
		if s.jbLateRun >= lateResync {
			s.jbRef, s.jbLateRun = transit, 0
		}
	default:
		s.jbLateRun = 0
	}
}

// rollInterval closes the open interval (if any) and opens the one holding arrival.
func (s *Stream) rollInterval(arrival int64) {
	prevEnd := s.ivEnd
	wasOpen := s.ivOpen
	if s.ivOpen {
		s.closeInterval()
	}
	start := arrival - arrival%s.ivLen
	if arrival%s.ivLen < 0 {
		start -= s.ivLen
	}
	if wasOpen && start < prevEnd {
		start = prevEnd
	}
	s.iv = ivRec{start: start}
	s.ivEnd = start + s.ivLen
	s.ivOpen = true
}

func (s *Stream) closeInterval() {
	if !s.ivOpen {
		return
	}
	s.ivOpen = false
	if s.iv.packets == 0 {
		return
	}
	if len(s.intervals) >= s.conf().MaxIntervals {
		s.mergeIntervals()
	}
	s.iv.oneWayMs = s.oneWayMs()
	s.intervals = append(s.intervals, s.iv)
}

// mergeIntervals halves the interval list by merging neighbours pairwise and doubles
// the interval length for what follows.
func (s *Stream) mergeIntervals() {
	n := len(s.intervals)
	for i := 0; i < n/2; i++ {
		a, b := s.intervals[2*i], s.intervals[2*i+1]
		a.packets += b.packets
		a.unique += b.unique
		a.expected += b.expected
		a.audio += b.audio
		a.late += b.late
		a.bursts += b.bursts
		a.jSum += b.jSum
		a.jN += b.jN
		if b.oneWayMs > a.oneWayMs {
			a.oneWayMs = b.oneWayMs
		}
		s.intervals[i] = a
	}
	if n%2 == 1 {
		s.intervals[n/2] = s.intervals[n-1]
	}
	s.intervals = s.intervals[:(n+1)/2]
	s.ivLen *= 2
	s.merges++
}

// Finish closes the open interval at the end of the stream. It is idempotent; end is
// the caller's notion of the stream end (unused beyond closing, kept for the API).
func (s *Stream) Finish(end int64) {
	_ = end
	s.closeInterval()
}

// oneWayMs is Ta: half the round trip (RTCP-XR round-trip delay, else the probe-side
// RTCP RTT, else Config.DefaultRTTMs) + jitter-buffer depth + packetisation + look-ahead.
func (s *Stream) oneWayMs() float64 {
	rtt := s.conf().DefaultRTTMs
	switch {
	case s.rc != nil && s.rc.hasXR && s.rc.xr.RoundTripDelayMs > 0:
		rtt = s.rc.xr.RoundTripDelayMs
	case s.rc != nil && s.rc.rtcp.HasRTT:
		rtt = s.rc.rtcp.RTTMeanMs
	}
	return rtt/2 + s.conf().JitterBufferMs + s.codec.FrameMs + s.codec.LookaheadMs
}

// burstR estimates G.107 BurstR = 1/(p+q) from a two-state Markov model of the loss
// pattern: bursts loss runs among received packets and lost packets.
func burstR(bursts, received, lost uint64) float64 {
	if lost == 0 || bursts == 0 || received == 0 {
		return 1
	}
	if bursts > lost {
		bursts = lost
	}
	p := float64(bursts) / float64(received) // P(loss | previous received)
	q := float64(bursts) / float64(lost)     // P(received | previous lost)
	r := 1 / (p + q)
	if r < 1 || math.IsNaN(r) {
		return 1
	}
	return r
}

func sub0(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func pct(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	v := float64(n) / float64(d) * 100
	if v > 100 {
		v = 100
	}
	return v
}
