package quality

import "math"

// RFC 3550 Appendix A.1 constants.
const (
	maxDropout    = 3000 // largest forward jump still treated as loss
	maxMisorder   = 100  // largest backward step still treated as reordering
	minSequential = 2    // in-sequence packets needed to validate a source (probation)
	seqMod        = 1 << 16

	// windowBits is the duplicate-detection window (a bitmap of the last windowBits
	// extended sequence numbers). A late packet is at most maxMisorder behind the highest
	// number (older ones are strays), so 128 bits cover every packet that can be a duplicate.
	windowBits = 128

	// A timestamp jump is a step whose |D(i-1,i)| exceeds tsJumpNs and that the network
	// cannot explain. D > tsJumpNs is an arrival gap: a network stall (jitter, as in
	// RFC 3550 A.8) unless the RTP timestamp step also disagrees with the sequence step
	// (seq step × the codec's packet time) by more than tsJumpNs — a re-based clock.
	// D < −tsJumpNs puts the media clock ahead of arrival; a network only delays, so
	// that is jitter only if the previous packet was held that much above the delay
	// floor (−D = T(i−1) − T(i) ≤ T(i−1) − floor, e.g. the last packet before a DTX
	// silence arrived late); otherwise the source skipped ahead or re-based.
	tsJumpNs    = 1e9
	jumpSlackNs = 50e6

	// A network stall is an arrival gap of at least stallNs between consecutive audio
	// packets with contiguous sequence numbers whose RTP timestamps advanced by less
	// than half the gap (so the gap is not DTX silence).
	stallNs = 300e6

	// Clock drift: the minimum transit of each quality interval (the drift "block",
	// Config.Interval) is the stream's delay floor; the drift is the slope of that floor
	// from the start anchor to the latest block, measured once they are driftMinUnits
	// apart. Anchor times are kept in units of 2^driftUnitShift ns (1.048576 ms).
	driftUnitShift = 20
	driftUnitNs    = 1 << driftUnitShift
	driftMinUnits  = 9537 // 10.0003 s
	driftLimit     = 0.01 // |measured/nominal − 1| above this is clock_drift
	driftOriginNs  = 2e9  // the start anchor is the lowest transit of the first 2 s

	lateResync = 50 // consecutive late packets after which the jitter buffer re-anchors
	srHistory  = 8  // SRs remembered per stream for LSR matching
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

// rtcpState is what RTCP and RTCP-XR told about a stream, and the other rare records
// not worth bytes in every Stream (network stalls). It is allocated at first use.
type rtcpState struct {
	stalls     uint64  // network stalls
	stallMaxMs float64 // longest network stall

	sr     [srHistory]srRec
	srN    int
	rtcp   RTCPSummary
	rttSum float64
	hasXR  bool
	hasE2E bool
	e2eRTT float64 // ms, SetEndToEndRTT
	xr     XRSummary
}

// ivRec accumulates one interval; Summary turns it into an Interval. Closed intervals
// stay in memory for the stream's life, so the record is kept to 48 bytes.
type ivRec struct {
	jSum            float64
	oneWayMs        float32
	floor           float32 // lowest audio transit since the origin, ns (+Inf: no audio); clock drift
	slot            uint32  // start = ivBase + slot·cfg.Interval (see ivStart)
	packets, unique uint32
	expected, audio uint32
	late, bursts    uint32
	jN              uint32
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
	// Out-of-line and shared state first: the per-stream struct stays small because a
	// probe holds hundreds of thousands of them (docs/quality.md, "Memory").
	cfg   *Config     // normalized; shared by every stream Init was given it for
	codec *Codec      // a codecTable entry (or a private copy for other values); clock wins over its ClockRate
	rc    *rtcpState  // allocated at the first RTCP packet about the stream
	ws    *wsState    // allocated only with Config.WiresharkStats
	ev    *eventState // allocated at the first RFC 4733 packet (most streams carry none)

	first, last int64

	// RFC 3550 A.1 sequence state; extended numbers start in cycle 1 so they stay
	// positive. The highest extended number is cycles + maxSeq.
	cycles  int64
	baseExt int64

	prevArr  int64
	maxDelta int64

	// RFC 3550 A.8 jitter over audio packets, in ns.
	jPrevRel  int64
	nsPerTick float64 // 1e9 / clock, 0 when unknown
	jitter    float64
	jSum      float64
	jMax      float64

	// Fixed jitter-buffer model: the origin (first audio packet, or re-anchor) and the
	// transit of the last audio packet relative to it, ns (transit advances by D).
	jbOrigin  int64
	jbTransit float64
	jbRef     float64

	// Intervals: the open one (iv, ending at ivEnd) and the closed ones.
	ivEnd     int64
	iv        ivRec
	intervals []ivRec

	win [windowBits / 64]uint64 // duplicate window over extended sequence numbers

	ssrc    uint32
	clock   uint32
	jPrevTS uint32
	badSeq  int32 // -1: none

	// Clock drift end anchor: the lowest-transit audio packet of the latest interval
	// with audio (iv.floor is the open interval's), its time since jbOrigin in
	// 2^driftUnitShift ns units and its transit in ns. The start anchor is the origin
	// itself (transit 0).
	driftT  uint32
	driftTr float32

	// Counters are 32-bit: 2^32 packets is 994 days at 50 packets/s. Unique packets
	// are packets − dups; comfort noise is packets − audio − events.
	packets, dups, ooo uint32
	audio, events      uint32
	expected           uint32
	strays             uint32
	lossEvents         uint32 // gaps seen when the highest sequence advanced (loss bursts)
	jN, late           uint32
	restarts, tsJumps  uint16 // rare problems: saturating

	maxSeq    uint16
	jPrevSeq  uint16 // sequence number of the previous audio packet (arrival order)
	merges    uint8  // interval merges (saturating); the interval length doubles at each
	jbLateRun uint8  // consecutive late packets (< lateResync)

	started, validated, havePrev, jInit, ivOpen bool
}

// eventState is the RFC 4733 state of a stream that carries telephone events.
type eventState struct {
	dtmf    []DTMFEvent
	ts      uint32 // RTP timestamp of the current event
	clock   uint32 // telephone-event clock (0: stream clock)
	dropped uint32
	active  bool
	skip    bool
}

// Init resets s for a new stream; it also serves as Reset and keeps the capacity of the
// interval and DTMF slices. cfg may be nil (DefaultConfig). clockRate 0 takes the
// codec's clock rate; if both are 0 jitter is not computed until SetClock.
func (s *Stream) Init(cfg *Config, ssrc uint32, clockRate uint32, codec Codec) {
	ivs, ev := s.intervals[:0], s.ev
	*s = Stream{intervals: ivs}
	if ev != nil {
		*ev = eventState{dtmf: ev.dtmf[:0]}
		s.ev = ev
	}
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
	s.SetClock(clockRate, codec)
}

// internCodec returns a pointer to the codecTable entry equal to c (clock rate aside), so
// that streams share it; other values get a private copy.
func internCodec(c Codec) *Codec {
	c.ClockRate = 0
	for i := range codecTable {
		t := codecTable[i].c
		t.ClockRate = 0
		if t == c {
			return &codecTable[i].c
		}
	}
	if u := unknownCodec; u == c {
		return &unknownCodec
	}
	cp := new(Codec) // only here: returning &c would move every caller's c to the heap
	*cp = c
	return cp
}

// SetClock sets the codec and RTP clock rate, e.g. when the SDP becomes known after the
// first packets. A changed clock rate restarts the jitter estimate (A.8 needs one clock).
func (s *Stream) SetClock(clockRate uint32, codec Codec) {
	if clockRate == 0 {
		clockRate = codec.ClockRate
	}
	s.codec = internCodec(codec)
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
func (s *Stream) SetEventClock(clockRate uint32) {
	if s.ev == nil {
		if clockRate == 0 {
			return
		}
		s.ev = new(eventState)
	}
	s.ev.clock = clockRate
}

// codecOrUnknown is the stream's codec (unknownCodec before Init).
func (s *Stream) codecOrUnknown() *Codec {
	if s.codec == nil {
		return &unknownCodec
	}
	return s.codec
}

// ivLen is the current interval length (0: intervals off, for a Stream never Init'ed).
func (s *Stream) ivLen() int64 {
	if s.cfg == nil {
		return 0
	}
	l := s.cfg.Interval
	for i := uint8(0); i < s.merges && l <= math.MaxInt64/2; i++ {
		l <<= 1
	}
	return l
}

// ivBase is the start of the interval that holds the stream's first packet. Every
// interval start is a multiple of cfg.Interval, so a record keeps it as a 32-bit slot
// number from there (2^32 slots of the shortest interval, 1 ms, are 49 days).
func (s *Stream) ivBase() int64 {
	iv := s.cfg.Interval
	b := s.first - s.first%iv
	if s.first%iv < 0 {
		b -= iv
	}
	return b
}

func (s *Stream) slotOf(start int64) uint32 {
	n := (start - s.ivBase()) / s.cfg.Interval
	return uint32(max(0, min(n, math.MaxUint32)))
}

func (s *Stream) ivStart(r *ivRec) int64 { return s.ivBase() + int64(r.slot)*s.cfg.Interval }

// maxExt is the highest extended sequence number seen.
func (s *Stream) maxExt() int64 { return s.cycles + int64(s.maxSeq) }

// First is the arrival time of the stream's first packet (Unix ns; 0 before any).
func (s *Stream) First() int64 { return s.first }

// Packets is the number of packets fed so far (duplicates included).
func (s *Stream) Packets() uint64 { return uint64(s.packets) }

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
	if (!s.ivOpen || arrival >= s.ivEnd) && s.ivLen() > 0 {
		s.rollInterval(arrival)
	}
	s.packets++
	s.iv.packets++
	switch kind {
	case Event:
		s.events++
	case ComfortNoise: // counted as packets − audio − events
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
	s.iv.unique++
	if s.havePrev {
		if d := arrival - s.prevArr; d > s.maxDelta {
			s.maxDelta = d
		}
	}
	s.prevArr, s.havePrev = arrival, true
	switch kind {
	case Audio:
		s.timing(arrival, seq, rtpTS, marker)
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
		cyc := s.cycles
		if seq < s.maxSeq {
			cyc += seqMod
		}
		s.advance(cyc, seq)
		s.badSeq = -1
		if udelta == 1 {
			s.validated = true // MIN_SEQUENTIAL (2) packets in sequence
		}
		return false
	case int(udelta) <= seqMod-maxMisorder:
		if int32(seq) == s.badSeq {
			// A.1: two sequential packets after a jump — the source restarted. The
			// stray before this one starts the new sequence.
			if s.restarts < math.MaxUint16 {
				s.restarts++
			}
			s.strays--
			s.reseq(seq - 1)
			cyc := s.cycles
			if seq == 0 {
				cyc += seqMod
			}
			s.advance(cyc, seq)
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
			n := uint32(s.baseExt - ext)
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
	s.badSeq = -1
	s.setBit(s.baseExt)
}

// advance moves the highest extended sequence number to cycles+seq (> maxExt).
func (s *Stream) advance(cycles int64, seq uint16) {
	prev, ext := s.maxExt(), cycles+int64(seq)
	d := ext - prev
	if d <= 0 {
		return
	}
	if d > 1 {
		s.lossEvents++
		s.iv.bursts++
		if d >= windowBits {
			s.win = [windowBits / 64]uint64{}
		} else {
			for e := prev + 1; e < ext; e++ {
				s.clearBit(e)
			}
		}
	}
	s.setBit(ext)
	s.cycles, s.maxSeq = cycles, seq
	s.expected += uint32(d)
	s.iv.expected += uint32(d)
}
