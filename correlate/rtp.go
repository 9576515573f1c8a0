package correlate

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/quality"

	"github.com/pion/rtp"
)

// stream is one RTP stream. Fields are chosen and sized so that the struct (most of it
// the quality state) fits the runtime's 416-byte size class: with 100k calls of two
// streams each, every byte is 200 kB (BenchmarkMemory100k; TestStreamSize guards it).
type stream struct {
	// The key and the fields every packet reads come first, next to the start of the
	// quality state, so that finding a stream and updating it touch few cache lines.
	key       streamKey
	call      *call
	ptcClock  uint32 // the payload-type cache: ptcPT's clock and encoding when ptcKnown
	ptcEnc    uint16
	ptcPT     uint8  // the last payload type resolved
	codec     uint16 // codecNames id of the main payload type's encoding
	clock     uint32
	advancing uint16 // of the first 65535 packets, those whose sequence number advanced by 1..10
	repeats   uint16 // of those, the ones that repeated the previous number (RFC 4733 end packets)
	pt        int16  // main payload type: the first audio one, else the first seen; -1 none
	lastSeq   uint16
	side      uint8 // sending side
	ptcState  uint8 // 0 (stale) or ptcValid with ptcKnown, ptcEvent, ptcCN
	nonRTP    bool  // the call's SDP named non-RTP addresses (call.nonRTP must be asked)
	mismatch  bool
	audio     bool // an audio (not event or comfort noise) packet was seen
	newSSRC   bool // another SSRC already flowed on this source→destination in the call
	gone      bool // dropped from the table (orphan queue entries skip it)
	q         quality.Stream
}

// ptcState bits: the stream's payload-type cache. The call's SDP (media.go) is the
// only input of the resolution besides the static table, and Correlator.sdp marks the
// caches of the call's streams stale, so a packet reads the call only when its payload
// type differs from the previous packet's or the SDP changed.
const (
	ptcValid = 1 << iota
	ptcKnown
	ptcEvent
	ptcCN
)

// rtpEvent handles one RTP packet; hash is the stream table's hash of its key when hashed.
func (c *Correlator) rtpEvent(ev *decode.Event, hash uint64, hashed bool) {
	h := ev.RTP
	if h == nil {
		return
	}
	var key streamKey
	key.set(h.SSRC, ev.Src, ev.Dst)
	if !hashed {
		hash = c.streams.hash(&key)
	}
	st := c.streams.getHashed(&key, hash)
	if st == nil {
		st = c.newStream(&key, ev)
		if st == nil {
			return
		}
	}
	c.rtpPacket(st, ev)
}

func (c *Correlator) newStream(key *streamKey, ev *decode.Event) *stream {
	var cl *call
	side := sideNone
	mismatch := false
	if e, ok := c.media[mkey(ev.Dst)]; ok {
		cl, side = e.call, 1-e.side
		if other := cl.media[side].addrs; len(other) > 0 && !containsAP(other, ev.Src) {
			mismatch = true
		}
	} else if e, ok := c.media[mkey(ev.Src)]; ok {
		cl, side = e.call, e.side
		mismatch = true
	}
	if cl != nil && (len(cl.media[0].nonRTP) > 0 || len(cl.media[1].nonRTP) > 0) && cl.nonRTP(ev.Src, ev.Dst) {
		c.cnt.NonRTPMedia++ // T.38 after a fax re-INVITE: no stream of 0 packets
		return nil
	}
	if cl != nil && len(cl.streams) >= c.cfg.MaxStreamsPerCall {
		c.cnt.StreamsDroppedPerCall++
		return nil
	}
	if c.streams.len() >= c.cfg.MaxStreams {
		c.evictStream()
	}
	st := &stream{key: *key, call: cl, side: side, mismatch: mismatch, pt: -1}
	if cl != nil {
		st.nonRTP = cl.hasNonRTP()
		for _, o := range cl.streams {
			if o.key.sameFlow(key) && o.key.ssrc != key.ssrc {
				st.newSSRC = true // the source changed SSRC mid-call (RFC 3550 §8.2)
				break
			}
		}
	}
	st.q.Init(&c.cfg.Quality, key.ssrc, 0, quality.LookupCodec(nil, 0))
	c.streams.add(st)
	c.bySSRC[key.ssrc] = st
	if cl != nil {
		cl.streams = append(cl.streams, st)
	} else {
		c.orphanQ = append(c.orphanQ, orphanEntry{s: st})
	}
	return st
}

// evictStream makes room in a full stream table, a batch at once (as for calls).
// Orphan candidates go first, oldest first, from a queue in creation order with a second
// chance: an orphan that received packets since it was queued goes to the back once. That
// is O(1) amortised per eviction, so a flood of unique SSRCs costs no sort. Only when
// fewer orphans than a batch are left are the least recently active attached streams
// chosen by a sort (a table full of streams of live calls, a sizing problem).
func (c *Correlator) evictStream() {
	want := min(evictBatch(c.cfg.MaxStreams), c.streams.len())
	n := 0
	for passes := len(c.orphanQ) - c.orphanHead; n < want && c.orphanHead < len(c.orphanQ); passes-- {
		e := c.orphanQ[c.orphanHead]
		c.orphanQ[c.orphanHead] = orphanEntry{}
		c.orphanHead++
		s := e.s
		if s.gone || s.call != nil {
			continue
		}
		if passes > 0 && s.q.Last() > e.at {
			c.orphanQ = append(c.orphanQ, orphanEntry{s: s, at: s.q.Last()})
			continue
		}
		c.cnt.StreamsEvicted++
		c.dropStream(s)
		c.emitOrphan(s)
		n++
	}
	c.compactOrphanQ()
	if n >= want {
		return
	}
	all := make([]*stream, 0, c.streams.len())
	c.streams.each(func(st *stream) { all = append(all, st) })
	slices.SortFunc(all, func(a, b *stream) int {
		if d := cmp.Compare(a.q.Last(), b.q.Last()); d != 0 {
			return d
		}
		return cmp.Compare(a.key.ssrc, b.key.ssrc)
	})
	for _, victim := range all[:min(want-n, len(all))] {
		c.cnt.StreamsEvicted++
		c.dropStream(victim)
		if victim.call == nil {
			c.emitOrphan(victim)
		}
	}
}

// orphanEntry is a stream in the orphan eviction queue and the time of its last packet
// when it was queued.
type orphanEntry struct {
	s  *stream
	at int64
}

// compactOrphanQ drops the consumed head of the queue and entries of streams already
// gone (timed out, attached, evicted), once they are the bigger part of it, so the queue
// stays within about twice the stream table.
func (c *Correlator) compactOrphanQ() {
	queued := len(c.orphanQ) - c.orphanHead
	if (c.orphanHead < 1024 || c.orphanHead < len(c.orphanQ)/2) && queued <= 2*c.streams.len()+1024 {
		return
	}
	live := c.orphanQ[:0]
	for _, e := range c.orphanQ[c.orphanHead:] {
		if !e.s.gone && e.s.call == nil {
			live = append(live, e)
		}
	}
	clear(c.orphanQ[len(live):])
	c.orphanQ, c.orphanHead = live, 0
}

func (c *Correlator) dropStream(s *stream) {
	s.gone = true
	c.streams.del(s)
	if c.bySSRC[s.key.ssrc] == s {
		delete(c.bySSRC, s.key.ssrc)
	}
}

// ptFor resolves a payload type through the receiver's SDP, then the sender's.
func (cl *call) ptFor(sender uint8, pt uint8) (ptInfo, bool) {
	if cl == nil || sender > sideCallee {
		return ptInfo{}, false
	}
	for _, side := range [2]uint8{1 - sender, sender} {
		for _, p := range cl.media[side].pts {
			if p.pt == pt {
				return p, true
			}
		}
	}
	return ptInfo{}, false
}

// resolvePT is ptFor and then the RFC 3551 static table, through the stream's cache.
// It fills *info (the zero ptInfo when it reports false): returned by value, the
// 5-field struct came back in registers, was stored byte by byte and reloaded by the
// caller as one 8-byte word, a load the CPU cannot forward from those stores (a stall
// on every RTP packet, 230 ms of a 2-worker analyze profile).
func (c *Correlator) resolvePT(st *stream, pt uint8, info *ptInfo) bool {
	if f := st.ptcState; f&ptcValid != 0 && st.ptcPT == pt {
		if f&ptcKnown == 0 {
			*info = ptInfo{}
			return false
		}
		info.pt, info.tevent, info.cn, info.enc, info.clock = pt, f&ptcEvent != 0, f&ptcCN != 0, st.ptcEnc, st.ptcClock
		return true
	}
	var known bool
	*info, known = st.call.ptFor(st.side, pt)
	if !known {
		if _, clock, ok := sdp.StaticPayload(pt); ok {
			*info = ptInfo{pt: pt, enc: c.static[pt&0x7f], clock: clock, cn: pt == 13}
			known = true
		}
	}
	f := uint8(ptcValid)
	if known {
		f |= ptcKnown
	}
	if info.tevent {
		f |= ptcEvent
	}
	if info.cn {
		f |= ptcCN
	}
	st.ptcPT, st.ptcState, st.ptcEnc, st.ptcClock = pt, f, info.enc, info.clock
	return known
}

// sdpChanged refreshes what cl's streams cached of its SDP (Correlator.sdp calls it).
func (cl *call) sdpChanged() {
	nonRTP := cl.hasNonRTP()
	for _, st := range cl.streams {
		st.ptcState, st.nonRTP = 0, nonRTP
	}
}

func (cl *call) hasNonRTP() bool { return len(cl.media[0].nonRTP) > 0 || len(cl.media[1].nonRTP) > 0 }

func (c *Correlator) rtpPacket(st *stream, ev *decode.Event) {
	if st.nonRTP && st.call.nonRTP(ev.Src, ev.Dst) {
		c.cnt.NonRTPMedia++
		return
	}
	h := ev.RTP
	pt := h.PayloadType
	kind := quality.Audio
	var info ptInfo
	known := c.resolvePT(st, pt, &info)
	switch {
	case info.tevent:
		kind = quality.Event
		st.q.SetEventClock(info.clock)
	case info.cn || pt == 13:
		kind = quality.ComfortNoise
	}
	seen := st.packets()
	if seen == 0 || (kind == quality.Audio && !st.audio) {
		st.pt = int16(pt)
		st.codec, st.clock = info.enc, info.clock
	}
	if kind == quality.Audio && !st.audio {
		st.audio = true
		if known {
			st.codec, st.clock = info.enc, info.clock
			st.q.SetClock(info.clock, quality.LookupCodec([]byte(c.codecs.name(info.enc)), info.clock))
		}
	}
	if seen > 0 && seen < math.MaxUint16 {
		switch d := h.SequenceNumber - st.lastSeq; {
		case d >= 1 && d <= 10:
			st.advancing++
		case d == 0:
			st.repeats++
		}
	}
	st.lastSeq = h.SequenceNumber
	var payload []byte
	hl := rtpHeaderSize(ev.Payload, h)
	if hl <= len(ev.Payload) && hl+ev.RTPPayloadLen <= len(ev.Payload) && ev.RTPPayloadLen >= 0 {
		payload = ev.Payload[hl : hl+ev.RTPPayloadLen]
	}
	st.q.Packet(ev.TS, h.SequenceNumber, h.Timestamp, h.Marker, kind, payload)
	if st.call != nil && c.keepMode != keepNone {
		c.keepFrame(st.call, ev, hl)
	}
}

// rtpHeaderSize is the length of the RTP header at the start of b (fixed part, CSRCs,
// extension), read from the bytes the decoder checked; h.MarshalSize recomputes it
// from the parsed extensions at several times the cost. For a payload too short to
// hold its header (an event built without the datagram) it falls back to h.
func rtpHeaderSize(b []byte, h *rtp.Header) int {
	if len(b) < 12 {
		return h.MarshalSize()
	}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return h.MarshalSize()
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	return n
}

func lessStream(a, b *stream) bool {
	if af, bf := a.q.First(), b.q.First(); af != bf {
		return af < bf
	}
	if as, bs := a.key.ssrc, b.key.ssrc; as != bs {
		return as < bs
	}
	if as, bs := a.key.src(), b.key.src(); as != bs {
		return as.Compare(bs) < 0
	}
	return a.key.dst().Compare(b.key.dst()) < 0
}

// packets is the stream's packet count, saturating at 65535 like advancing.
func (s *stream) packets() int { return int(min(s.q.Packets(), math.MaxUint16)) }

// plausibleOrphan is the heuristic for RTP seen without SIP: enough packets whose
// sequence numbers mostly (80 %) advance in small steps. A packet repeating the previous
// number counts neither way: RFC 4733 senders repeat an event's end packet, some with
// the same sequence number.
func plausibleOrphan(s *stream) bool {
	n := s.packets()
	if n < 8 || int(s.advancing) < 7 {
		return false
	}
	return int(s.advancing)*10 >= (n-1-int(s.repeats))*8
}
