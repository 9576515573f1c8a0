package gen

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"
)

// codec describes an RTP payload format as announced in SDP (RFC 3551 section 6
// for the static types; opus per RFC 7587 uses a 48000 Hz RTP clock; G.722 uses
// an 8000 Hz RTP clock although it samples at 16 kHz, RFC 3551 section 4.5.2).
type codec struct {
	pt       uint8
	clock    uint32
	rtpmap   string
	bytes    func(ptimeMs int) int
	fill     byte
	dtmfRate uint32
}

var codecs = map[string]codec{
	"PCMU": {pt: 0, clock: 8000, rtpmap: "PCMU/8000", bytes: func(p int) int { return 8 * p }, fill: 0xFF, dtmfRate: 8000},
	"PCMA": {pt: 8, clock: 8000, rtpmap: "PCMA/8000", bytes: func(p int) int { return 8 * p }, fill: 0xD5, dtmfRate: 8000},
	"G729": {pt: 18, clock: 8000, rtpmap: "G729/8000", bytes: func(p int) int { return p }, fill: 0x5A, dtmfRate: 8000},
	"G722": {pt: 9, clock: 8000, rtpmap: "G722/8000", bytes: func(p int) int { return 8 * p }, fill: 0x7E, dtmfRate: 8000},
	"opus": {pt: 111, clock: 48000, rtpmap: "opus/48000/2", bytes: func(p int) int { return 4 * p }, fill: 0x3C, dtmfRate: 48000},
}

const dtmfPT = 101

// dtmf layout: each digit takes dtmfSlots packets (5 in progress, 3 end
// packets per RFC 4733 section 2.5.1.4), followed by dtmfGap voice packets.
const (
	dtmfProgress = 5
	dtmfEnds     = 3
	dtmfSlots    = dtmfProgress + dtmfEnds
	dtmfGap      = 5
)

func dtmfCode(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c == '*':
		return 10, true
	case c == '#':
		return 11, true
	case c >= 'A' && c <= 'D':
		return 12 + c - 'A', true
	}
	return 0, false
}

type segTruth struct {
	StreamTruth
	minN, maxN int
	have       bool
	uniq       uint64
	digits     []bool
}

func (s *segTruth) final() StreamTruth {
	st := s.StreamTruth
	if s.have {
		st.Expected = uint64(s.maxN - s.minN + 1)
		if st.Expected > s.uniq {
			st.Lost = st.Expected - s.uniq
		}
	}
	return st
}

type pkt struct {
	n, slot int
	t       time.Duration
	dup     bool
}

// rtpStream generates one RTP sender's packets lazily (RFC 3550 section 5.1):
// slot i is sent at start+i*ptime; seq counts packets actually put on the
// wire by the sender (paused slots do not consume a sequence number, lost ones
// do), timestamp counts slots.
type rtpStream struct {
	ssrc        uint32
	pt          uint8
	samples     uint32
	dtmfSamples uint32
	ptime       time.Duration
	payload     []byte
	start, end  time.Duration
	pauses      [][2]time.Duration
	stalls      [][2]time.Duration // packets due inside arrive in a burst at the end
	moveAt      time.Duration
	src, dst    [2]netip.AddrPort
	loss, dups  map[int]bool
	reorder     map[int]bool
	jitter      float64 // ms
	rng         *rand.Rand
	dtmf        []byte
	dtmfStartN  int
	seq0        uint16
	ts0         uint32

	slot, n   int
	q         []pkt
	qi        int
	last      time.Duration
	buf       []byte
	segs      [2]*segTruth
	evSlot    int
	hasMove   bool
	sentCount uint32
	octets    uint32
}

func setOf(xs []int) map[int]bool {
	m := make(map[int]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func newRTPStream(c codec, ptimeMs int, ssrc uint32, src, dst netip.AddrPort, start, end time.Duration, rng *rand.Rand) *rtpStream {
	s := &rtpStream{
		ssrc:        ssrc,
		pt:          c.pt,
		samples:     c.clock * uint32(ptimeMs) / 1000,
		dtmfSamples: c.dtmfRate * uint32(ptimeMs) / 1000,
		ptime:       time.Duration(ptimeMs) * time.Millisecond,
		start:       start,
		end:         end,
		src:         [2]netip.AddrPort{src, src},
		dst:         [2]netip.AddrPort{dst, dst},
		rng:         rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())),
		seq0:        uint16(rng.Uint32()),
		ts0:         rng.Uint32(),
		dtmfStartN:  -1,
	}
	s.payload = make([]byte, c.bytes(ptimeMs))
	for i := range s.payload {
		s.payload[i] = c.fill
	}
	s.buf = make([]byte, 12+len(s.payload)+4)
	for i := range s.segs {
		s.segs[i] = &segTruth{StreamTruth: StreamTruth{SSRC: ssrc, PT: c.pt}}
	}
	return s
}

// move makes packets from time at on go between src and dst (a new stream
// for an analyser keyed by addresses, same SSRC and sequence space).
func (s *rtpStream) move(at time.Duration, src, dst netip.AddrPort) {
	s.moveAt, s.hasMove = at, true
	s.src[1], s.dst[1] = src, dst
}

func (s *rtpStream) truths() []*StreamTruth {
	out := []*StreamTruth{&s.segs[0].StreamTruth}
	if s.hasMove {
		out = append(out, &s.segs[1].StreamTruth)
	}
	return out
}

func (s *rtpStream) finalTruths() []StreamTruth {
	s.segs[0].Src, s.segs[0].Dst = s.src[0], s.dst[0]
	s.segs[1].Src, s.segs[1].Dst = s.src[1], s.dst[1]
	out := []StreamTruth{s.segs[0].final()}
	if s.hasMove {
		out = append(out, s.segs[1].final())
	}
	return out
}

func (s *rtpStream) slotTime(slot int) time.Duration { return s.start + time.Duration(slot)*s.ptime }

func (s *rtpStream) seg(slot int) int {
	if s.hasMove && s.slotTime(slot) >= s.moveAt {
		return 1
	}
	return 0
}

// nextDesc returns the next packet the sender puts on the wire.
func (s *rtpStream) nextDesc() (pkt, bool) {
	for {
		t := s.slotTime(s.slot)
		if t >= s.end {
			return pkt{}, false
		}
		paused := false
		for _, p := range s.pauses {
			if t >= p[0] && t < p[1] {
				paused = true
				break
			}
		}
		if paused {
			s.slot++
			continue
		}
		d := pkt{n: s.n, slot: s.slot, t: t}
		for _, p := range s.stalls {
			if t >= p[0] && t < p[1] {
				// Held by the network: delivered back to back when the stall ends.
				d.t = p[1] + time.Duration(s.slot-int((p[0]-s.start)/s.ptime))*100*time.Microsecond
			}
		}
		s.n++
		s.slot++
		return d, true
	}
}

func (s *rtpStream) jit() time.Duration {
	if s.jitter <= 0 {
		return 0
	}
	return time.Duration(s.rng.Float64() * s.jitter * float64(time.Millisecond))
}

func (s *rtpStream) push(p pkt) {
	s.q = append(s.q, p)
	if s.dups[p.n] {
		d := p
		d.dup = true
		d.t += 500 * time.Microsecond
		s.q = append(s.q, d)
	}
}

func (s *rtpStream) fill() {
	if s.qi < len(s.q) {
		return
	}
	s.q, s.qi = s.q[:0], 0
	for len(s.q) == 0 {
		d, ok := s.nextDesc()
		if !ok {
			return
		}
		s.countSent(d)
		if s.loss[d.n] {
			continue
		}
		d.t += s.jit()
		if s.reorder[d.n] {
			e, ok := s.nextDesc()
			if ok {
				s.countSent(e)
				if !s.loss[e.n] {
					e.t += s.jit()
					td, te := d.t, e.t
					d.t, e.t = te, td
					if d.t < e.t {
						d.t = e.t
					}
					s.push(e)
				}
			}
		}
		s.push(d)
	}
}

func (s *rtpStream) countSent(d pkt) {
	s.sentCount++
	s.octets += uint32(len(s.payload))
	s.dtmfSlotInfo(d) // keep event slot tracking in sender order
}

// dtmfSlotInfo reports whether packet n carries a telephone-event and which.
func (s *rtpStream) dtmfPos(n int) (digit, pos int, ok bool) {
	if s.dtmfStartN < 0 || n < s.dtmfStartN {
		return 0, 0, false
	}
	k := (n - s.dtmfStartN) / (dtmfSlots + dtmfGap)
	pos = (n - s.dtmfStartN) % (dtmfSlots + dtmfGap)
	if k >= len(s.dtmf) || pos >= dtmfSlots {
		return 0, 0, false
	}
	return k, pos, true
}

func (s *rtpStream) dtmfSlotInfo(d pkt) {
	if _, pos, ok := s.dtmfPos(d.n); ok && pos == 0 {
		s.evSlot = d.slot
	}
}

func (s *rtpStream) head() (time.Duration, bool) {
	s.fill()
	if s.qi >= len(s.q) {
		return 0, false
	}
	t := s.q[s.qi].t
	if t < s.last {
		t = s.last
	}
	return t, true
}

func (s *rtpStream) pop(ev *event) {
	s.fill()
	p := s.q[s.qi]
	s.qi++
	if p.t < s.last {
		p.t = s.last
	}
	s.last = p.t
	seg := s.seg(p.slot)
	tr := s.segs[seg]
	b := s.buf[:12]
	b[0] = 0x80
	pt := s.pt
	marker := p.n == 0
	ts := s.ts0 + uint32(p.slot)*s.samples
	var body []byte
	if k, pos, ok := s.dtmfPos(p.n); ok {
		pt = dtmfPT
		marker = pos == 0
		ts = s.ts0 + uint32(s.evSlot)*s.samples
		code, _ := dtmfCode(s.dtmf[k])
		dur := uint32(pos+1) * s.dtmfSamples
		flags := byte(10) // volume -10 dBm0
		if pos >= dtmfProgress {
			dur = dtmfProgress * s.dtmfSamples
			flags |= 0x80 // E bit
		}
		var e [4]byte
		e[0], e[1] = code, flags
		binary.BigEndian.PutUint16(e[2:], uint16(dur))
		body = append(s.buf[12:12], e[:]...)
		if !p.dup {
			if tr.digits == nil {
				tr.digits = make([]bool, len(s.dtmf))
			}
			if !tr.digits[k] {
				tr.digits[k] = true
				tr.DTMF += string(s.dtmf[k])
			}
		}
	} else {
		body = append(s.buf[12:12], s.payload...)
	}
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], s.seq0+uint16(p.n))
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	pl := s.buf[:12+len(body)]

	tr.Packets++
	if p.dup {
		tr.Duplicates++
	} else {
		if tr.have && p.n < tr.maxN {
			tr.OutOfOrder++
		}
		if !tr.have || p.n < tr.minN {
			tr.minN = p.n
		}
		if !tr.have || p.n > tr.maxN {
			tr.maxN = p.n
		}
		tr.have = true
		tr.uniq++
	}
	*ev = event{t: p.t, src: s.src[seg], dst: s.dst[seg], l4: l4UDP, payload: pl}
}

// highest returns the extended highest sequence number received and the
// cumulative number lost so far, as a receiver would put in a report block.
func (s *rtpStream) highest() (ext uint32, lost uint32) {
	tr := s.segs[s.seg(max(s.slot-1, 0))]
	if !tr.have {
		return uint32(s.seq0), 0
	}
	exp := uint64(tr.maxN - tr.minN + 1)
	if exp > tr.uniq {
		lost = uint32(exp - tr.uniq)
	}
	return uint32(s.seq0) + uint32(tr.maxN), lost
}

func newOrphanStream(sc *Scenario, o *StreamSpec, rng *rand.Rand) *rtpStream {
	c := codec{pt: o.PT, clock: 8000, bytes: func(p int) int { return 8 * p }, fill: 0xFF, dtmfRate: 8000}
	ssrc := o.SSRC
	if ssrc == 0 {
		ssrc = rng.Uint32()
	}
	s := newRTPStream(c, 20, ssrc, o.Src, o.Dst, o.Start, o.Start+time.Duration(o.Packets)*20*time.Millisecond, rng)
	return s
}

// rtcpSource sends an SR with one report block and an SDES CNAME from each
// side every 5 s (RFC 3550 section 6.4). The DLSR of each report is chosen so
// that a monitor computing arrival - LSR - DLSR (section 6.4.1) at the capture
// point gets exactly rtt.
type rtcpSource struct {
	sc       *Scenario
	a, b     *rtpStream // a: caller→callee, b: callee→caller
	addr     [2][2]netip.AddrPort
	next     [2]time.Duration
	end      time.Duration
	rtt      time.Duration
	lastSR   [2]time.Duration
	lastNTP  [2]uint64
	haveSR   [2]bool
	buf      []byte
	cname    [2]string
	hasMedia bool
}

func newRTCPSource(sc *Scenario, a, b *rtpStream, aSrc, aDst, bSrc, bDst netip.AddrPort, start, end time.Duration, rttMs float64, cnA, cnB string) *rtcpSource {
	p1 := func(x netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(x.Addr(), x.Port()+1) }
	r := &rtcpSource{sc: sc, a: a, b: b, end: end, rtt: time.Duration(rttMs * float64(time.Millisecond)),
		cname: [2]string{cnA, cnB}, buf: make([]byte, 0, 128)}
	r.addr[0] = [2]netip.AddrPort{p1(aSrc), p1(aDst)}
	r.addr[1] = [2]netip.AddrPort{p1(bSrc), p1(bDst)}
	r.next[0] = start + time.Second
	r.next[1] = start + 3500*time.Millisecond
	return r
}

func (r *rtcpSource) side() int {
	if r.next[1] < r.next[0] {
		return 1
	}
	return 0
}

func (r *rtcpSource) head() (time.Duration, bool) {
	t := r.next[r.side()]
	return t, t < r.end
}

func ntpOf(t time.Time) uint64 {
	secs := uint64(t.Unix() + 2208988800)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return secs<<32 | frac
}

func (r *rtcpSource) pop(ev *event) {
	i := r.side()
	t := r.next[i]
	r.next[i] += 5 * time.Second
	me, peer := r.a, r.b
	if i == 1 {
		me, peer = r.b, r.a
	}
	ntp := ntpOf(r.sc.Start.Add(t))
	b := r.buf[:0]
	// SR: header, sender info, one report block (RFC 3550 section 6.4.1).
	b = append(b, 0x81, 200, 0, 12)
	b = binary.BigEndian.AppendUint32(b, me.ssrc)
	b = binary.BigEndian.AppendUint64(b, ntp)
	elapsed := uint32((t - me.start) * time.Duration(me.samples) / me.ptime)
	b = binary.BigEndian.AppendUint32(b, me.ts0+elapsed)
	b = binary.BigEndian.AppendUint32(b, me.sentCount)
	b = binary.BigEndian.AppendUint32(b, me.octets)
	ext, lost := peer.highest()
	b = binary.BigEndian.AppendUint32(b, peer.ssrc)
	b = binary.BigEndian.AppendUint32(b, lost&0xFFFFFF) // fraction 0, cumulative lost
	b = binary.BigEndian.AppendUint32(b, ext)
	b = binary.BigEndian.AppendUint32(b, 0) // interarrival jitter
	var lsr, dlsr uint32
	if o := 1 - i; r.haveSR[o] {
		lsr = uint32(r.lastNTP[o] >> 16)
		d := t - r.lastSR[o] - r.rtt
		if d < 0 {
			d = 0
		}
		dlsr = uint32(d * 65536 / time.Second)
	}
	b = binary.BigEndian.AppendUint32(b, lsr)
	b = binary.BigEndian.AppendUint32(b, dlsr)
	// SDES with one CNAME chunk (section 6.5), padded to a 32-bit boundary.
	cn := r.cname[i]
	chunk := 4 + 2 + len(cn) + 1
	pad := (4 - chunk%4) % 4
	words := (4 + chunk + pad) / 4
	b = append(b, 0x81, 202, byte((words-1)>>8), byte(words-1))
	b = binary.BigEndian.AppendUint32(b, me.ssrc)
	b = append(b, 1, byte(len(cn)))
	b = append(b, cn...)
	b = append(b, make([]byte, 1+pad)...)
	r.buf = b
	r.lastSR[i], r.lastNTP[i], r.haveSR[i] = t, ntp, true
	*ev = event{t: t, src: r.addr[i][0], dst: r.addr[i][1], l4: l4UDP, payload: b, hep: 5}
}
