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

// timing updates the RFC 3550 A.8 jitter, the stall and clock-drift detectors and the
// jitter-buffer model for an audio packet.
func (s *Stream) timing(arrival int64, seq uint16, ts uint32, marker bool) {
	if s.nsPerTick == 0 {
		return
	}
	rel := arrival - s.first
	if !s.jInit {
		s.jInit = true
		s.jPrevRel, s.jPrevTS, s.jPrevSeq = rel, ts, seq
		s.anchor(rel)
		return
	}
	gap := rel - s.jPrevRel
	dts := int32(ts - s.jPrevTS)
	media := float64(dts) * s.nsPerTick
	d := float64(gap) - media // D(i-1,i), eq. A.8
	prevSeq := s.jPrevSeq
	s.jPrevRel, s.jPrevTS, s.jPrevSeq = rel, ts, seq
	// One test for both rare cases: a stall has D > gap/2 ≥ stallNs/2, a jump |D| > 1 s.
	if d > stallNs/2 || d < -tsJumpNs {
		dseq := int16(seq - prevSeq)
		if d > tsJumpNs && s.rebased(media, dseq) || d < -tsJumpNs && -d > s.jbTransit-s.jbRef+jumpSlackNs {
			// The source re-based its RTP clock, or skipped ahead: not network jitter;
			// re-anchor the models.
			if s.tsJumps < math.MaxUint16 {
				s.tsJumps++
			}
			s.anchor(rel)
			return
		}
		if gap >= stallNs && dseq == 1 && media < float64(gap)/2 {
			s.stall(gap)
		}
	}
	transit := s.jbTransit + d // T_i = T_{i-1} + D(i-1,i)
	s.jbTransit = transit
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
	switch {
	case marker:
		s.jbRef, s.jbLateRun = transit, 0
	case transit < s.jbRef:
		s.jbRef, s.jbLateRun = transit, 0
	case transit-s.jbRef > s.cfg.JitterBufferMs*1e6:
		s.late++
		s.iv.late++
		s.jbLateRun++
		if s.jbLateRun >= lateResync {
			s.jbRef, s.jbLateRun = transit, 0
		}
	default:
		s.jbLateRun = 0
	}

	// Clock drift: track the delay floor (the lowest transit) of the interval.
	if tr := float32(transit); tr <= s.iv.floor {
		s.driftFloor(rel, transit, tr)
	}
}

// anchor (re)starts the jitter-buffer model and the drift anchors at the audio packet
// arriving at rel (first audio packet, new clock, or re-based timestamps).
func (s *Stream) anchor(rel int64) {
	s.jbOrigin, s.jbTransit, s.jbRef, s.jbLateRun = rel, 0, 0, 0
	s.driftT, s.driftTr, s.iv.floor = 0, 0, 0
}

// rebased reports whether an RTP timestamp step of media ns disagrees with a sequence
// step of dseq packets (of the codec's packet time) by more than tsJumpNs.
func (s *Stream) rebased(media float64, dseq int16) bool {
	frame := s.codecOrUnknown().FrameMs
	if frame <= 0 {
		frame = 20
	}
	off := media - float64(dseq)*frame*1e6
	return off > tsJumpNs || off < -tsJumpNs
}

// stall records a network stall of gap ns.
func (s *Stream) stall(gap int64) {
	rc := s.rtcpState() // rare: kept out of line
	rc.stalls++
	if ms := float64(gap) / 1e6; ms > rc.stallMaxMs {
		rc.stallMaxMs = ms
	}
}

// driftFloor records a new lowest transit of the current block. In the first 2 s of
// a stream whose clock was never re-based, a transit below the origin's (0) means the
// first packet was delayed: the origin (the start anchor) moves to this packet. Every
// transit shifts by the same amount, so the jitter-buffer reference follows.
func (s *Stream) driftFloor(rel int64, transit float64, tr float32) {
	if tr < 0 && rel < driftOriginNs && s.tsJumps == 0 {
		s.jbRef -= transit
		s.jbOrigin, s.jbTransit = rel, 0
		s.driftT, s.driftTr, s.iv.floor = 0, 0, 0
		return
	}
	if u := (rel - s.jbOrigin) >> driftUnitShift; uint64(u) <= math.MaxUint32 { // else backwards, or 52 days
		s.driftT, s.driftTr, s.iv.floor = uint32(u), tr, tr
	}
}

// measuredClock is the sender's RTP clock rate measured from the delay floor, Hz, or 0
// when the anchors are less than 10 s apart.
func (s *Stream) measuredClock() float64 {
	if s.driftT < driftMinUnits || s.clock == 0 {
		return 0
	}
	// transit(t) = t − ts(t)/nominal = t·(1 − actual/nominal): the slope σ of the floor
	// gives actual = nominal·(1 − σ).
	slope := float64(s.driftTr) / (float64(s.driftT) * driftUnitNs)
	return float64(s.clock) * (1 - slope)
}

// clockDrift reports whether the measured clock rate is off nominal by more than
// driftLimit and the delay floor moved that way in at least 3/4 of the intervals since
// the origin, each move more than half a 1 % drift over the interval: a drifting clock
// moves the floor in every interval, while a delay step (a queue that builds up and
// stays, a sender that holds its clock during a DTMF event) moves it in a few, and is
// not drift.
func (s *Stream) clockDrift(rate float64) bool {
	if rate == 0 {
		return false
	}
	dev := rate/float64(s.clock) - 1
	if dev <= driftLimit && dev >= -driftLimit {
		return false
	}
	origin := s.first + s.jbOrigin
	var prev float32
	var prevStart int64
	have := false
	blocks, moved := 0, 0
	visit := func(r *ivRec) {
		start := s.ivStart(r)
		if math.IsInf(float64(r.floor), 1) || start+s.ivLen() <= origin {
			return // no audio, or before a re-base
		}
		if have {
			step := float64(r.floor - prev)
			limit := driftLimit * float64(start-prevStart) / 2
			blocks++
			if dev < 0 && step > limit || dev > 0 && step < -limit { // slow clock: transit rises
				moved++
			}
		}
		prev, prevStart, have = r.floor, start, true
	}
	for i := range s.intervals {
		visit(&s.intervals[i])
	}
	if s.ivOpen {
		visit(&s.iv)
	}
	return blocks > 0 && 4*moved >= 3*blocks
}

// rollInterval closes the open interval (if any) and opens the one holding arrival.
func (s *Stream) rollInterval(arrival int64) {
	prevEnd := s.ivEnd
	wasOpen := s.ivOpen
	if s.ivOpen {
		s.closeInterval()
	}
	ivLen := s.ivLen()
	start := arrival - arrival%ivLen
	if arrival%ivLen < 0 {
		start -= ivLen
	}
	if wasOpen && start < prevEnd {
		start = prevEnd
	}
	s.iv = ivRec{slot: s.slotOf(start), floor: float32(math.Inf(1))}
	s.ivEnd = start + ivLen
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
	s.iv.oneWayMs = float32(s.oneWayMs())
	if len(s.intervals) == cap(s.intervals) {
		// Grow by a quarter, not append's doubling: the history of a long call is most
		// of its stream's memory, and a doubled slice is half empty on average.
		// (append, and slices.Grow, double a small slice whatever they are asked for.)
		grown := make([]ivRec, len(s.intervals), len(s.intervals)+max(4, len(s.intervals)/4))
		copy(grown, s.intervals)
		s.intervals = grown
	}
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
		a.oneWayMs = max(a.oneWayMs, b.oneWayMs)
		a.floor = min(a.floor, b.floor)
		s.intervals[i] = a
	}
	if n%2 == 1 {
		s.intervals[n/2] = s.intervals[n-1]
	}
	s.intervals = s.intervals[:(n+1)/2]
	if s.merges < math.MaxUint8 {
		s.merges++
	}
}

// Finish closes the open interval at the end of the stream. It is idempotent; end is
// the caller's notion of the stream end (unused beyond closing, kept for the API).
func (s *Stream) Finish(end int64) {
	_ = end
	s.closeInterval()
}

// oneWayMs is Ta: half the round trip (see rtt) + jitter-buffer depth + packetisation
// + look-ahead.
func (s *Stream) oneWayMs() float64 {
	rtt, _ := s.rtt()
	codec := s.codecOrUnknown()
	return rtt/2 + s.conf().JitterBufferMs + codec.FrameMs + codec.LookaheadMs
}

// rtt is the round trip for Ta, best source first: the receiver's RTCP-XR round-trip
// delay, the end-to-end RTT set by SetEndToEndRTT, this stream's probe-side RTCP RTT
// (the probe↔receiver segment only), Config.DefaultRTTMs.
func (s *Stream) rtt() (float64, RTTSource) {
	switch {
	case s.rc != nil && s.rc.hasXR && s.rc.xr.RoundTripDelayMs > 0:
		return s.rc.xr.RoundTripDelayMs, RTTXR
	case s.rc != nil && s.rc.hasE2E:
		return s.rc.e2eRTT, RTTEndToEnd
	case s.rc != nil && s.rc.rtcp.HasRTT:
		return s.rc.rtcp.RTTMeanMs, RTTProbeSegment
	}
	return s.conf().DefaultRTTMs, RTTDefault
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
