package tcpasm

import (
	"net/netip"
	"slices"
)

// Defaults applied by New for zero Config fields.
const (
	DefaultMaxStreams  = 65536
	DefaultMaxBuffer   = 2 << 20 // a 50,000-line SDP is about 1 MiB
	DefaultMaxOOO      = 64
	DefaultIdleTimeout = int64(5 * 60 * 1e9)
)

// maxPooled bounds the recycled Stream structs kept by an Assembler, and
// maxPooledBuf the buffer capacity a recycled stream may keep.
const (
	maxPooled    = 1024
	maxPooledBuf = 64 << 10
)

// Config bounds an Assembler. Zero fields take the defaults above.
type Config struct {
	MaxStreams  int   // half-streams tracked; new ones beyond are refused (TableFull)
	MaxBuffer   int   // bytes per half-stream, buffered plus out-of-order; overflow skips forward
	MaxOOO      int   // out-of-order segments held per half-stream
	IdleTimeout int64 // ns of packet time; idle streams are dropped by Expire
}

// Stream is one direction of a TCP connection.
type Stream struct {
	Src, Dst netip.AddrPort // direction of this half-stream
	// Mode is owned by the consumer (e.g. 0 unknown, 1 SIP, 2 WebSocket,
	// 3 opaque). tcpasm only zeroes it when the stream is created.
	Mode uint8
	// Gap is set by tcpasm when bytes were skipped (lost, overflowed, or
	// the stream was picked up mid-connection) before the current buffer
	// start; the consumer should resynchronise and clear it.
	Gap bool

	id     uint64 // creation order, for deterministic Expire/FlushAll
	next   uint32 // next expected sequence number
	buf    []byte // buf[head:] is contiguous, unconsumed data
	head   int
	ooo    []segment // held out-of-order segments, ordered by seq relative to next
	oooLen int       // bytes held in ooo
	lastTS int64
	fin    bool   // a FIN was seen beyond next
	finSeq uint32 // sequence number just after the FIN's data
}

type segment struct {
	seq  uint32
	data []byte
}

func (s *Stream) live() int { return len(s.buf) - s.head }

// Consumer receives the contiguous in-order bytes of s not yet consumed and
// returns how many it consumed (values outside [0, len(data)] are clamped).
// data is valid only during the call; ts is the packet time of the segment
// that made it available.
type Consumer func(s *Stream, data []byte, ts int64) (consumed int)

// Counters are cumulative event counts.
type Counters struct {
	Streams         uint64 // half-streams created
	TableFull       uint64 // segments refused because MaxStreams were tracked
	Overflow        uint64 // times unconsumed bytes beyond MaxBuffer were discarded
	Gaps            uint64 // holes skipped (data lost or never captured)
	Retransmissions uint64 // segments carrying no new bytes
	OutOfOrder      uint64 // segments held for later
	Expired         uint64 // half-streams dropped by Expire
}

type key struct{ src, dst netip.AddrPort }

// Assembler tracks half-streams. Create with New.
type Assembler struct {
	cfg     Config
	consume Consumer
	streams map[key]*Stream
	pool    []*Stream
	scratch []*Stream
	nextID  uint64
	c       Counters
}

// New returns an Assembler with cfg's zero fields defaulted. consume may be
// nil (data is then discarded as consumed).
func New(cfg Config, consume Consumer) *Assembler {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxBuffer <= 0 {
		cfg.MaxBuffer = DefaultMaxBuffer
	}
	if cfg.MaxOOO <= 0 {
		cfg.MaxOOO = DefaultMaxOOO
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return &Assembler{cfg: cfg, consume: consume, streams: make(map[key]*Stream)}
}

// Counters returns a snapshot of the counters.
func (a *Assembler) Counters() Counters { return a.c }

// Len returns the number of half-streams tracked.
func (a *Assembler) Len() int { return len(a.streams) }

// seqDiff returns x - y as a signed distance modulo 2^32 (negative: x
// is before y).
func seqDiff(x, y uint32) int32 { return int32(x - y) }

// Segment processes one TCP segment captured at packet time ts. payload is
// copied if it must be kept.
func (a *Assembler) Segment(ts int64, src, dst netip.AddrPort, seq uint32, syn, fin, rst bool, payload []byte) {
	k := key{src, dst}
	s := a.streams[k]
	if s != nil && syn && seq+1 != s.next {
		// A SYN that is not a retransmission of the one that opened this
		// half: the port pair is being reused by a new connection.
		a.close(s, ts)
		s = nil
	}
	if s == nil {
		if rst || (len(payload) == 0 && !syn) {
			return // nothing to track: pure ACK, FIN or RST of an unknown half
		}
		if len(a.streams) >= a.cfg.MaxStreams {
			a.c.TableFull++
			return
		}
		s = a.newStream(k, ts)
		s.next = seq
		if syn {
			s.next = seq + 1
		} else {
			s.Gap = true // picked up mid-connection
		}
	}
	if ts > s.lastTS {
		s.lastTS = ts
	}
	dseq := seq
	if syn {
		dseq++
	}
	if len(payload) > 0 {
		a.data(s, dseq, payload, ts)
	}
	if rst {
		a.close(s, ts)
		return
	}
	if fin {
		end := dseq + uint32(len(payload))
		if seqDiff(end, s.next) <= 0 {
			a.close(s, ts)
			return
		}
		s.fin, s.finSeq = true, end
	}
	if s.fin && seqDiff(s.finSeq, s.next) <= 0 {
		a.close(s, ts)
	}
}

func (a *Assembler) newStream(k key, ts int64) *Stream {
	var s *Stream
	if n := len(a.pool); n > 0 {
		s = a.pool[n-1]
		a.pool[n-1] = nil
		a.pool = a.pool[:n-1]
		buf, ooo := s.buf[:0], s.ooo[:0]
		*s = Stream{buf: buf, ooo: ooo}
	} else {
		s = &Stream{}
	}
	s.Src, s.Dst = k.src, k.dst
	s.lastTS = ts
	a.nextID++
	s.id = a.nextID
	a.streams[k] = s
	a.c.Streams++
	return s
}

// data handles a segment's payload starting at sequence number dseq.
func (a *Assembler) data(s *Stream, dseq uint32, payload []byte, ts int64) {
	if len(payload) >= 1<<30 {
		// Not a real segment (sequence space is 2^32); never let it
		// confuse the modular arithmetic.
		a.c.Overflow++
		return
	}
	end := dseq + uint32(len(payload))
	if seqDiff(end, s.next) <= 0 {
		a.c.Retransmissions++
		return
	}
	d := seqDiff(dseq, s.next)
	if d > 0 {
		if !a.hold(s, dseq, payload) {
			a.c.Retransmissions++
			return
		}
		a.c.OutOfOrder++
		gaps := a.c.Gaps
		for len(s.ooo) > a.cfg.MaxOOO || s.live()+s.oooLen > a.cfg.MaxBuffer {
			a.skipGap(s)
		}
		if a.c.Gaps != gaps {
			a.deliver(s, ts) // skipping the hole made data available
		}
		return
	}
	a.appendData(s, payload[-d:])
	a.drain(s)
	a.deliver(s, ts)
}

// hold stores a copy of an out-of-order segment, keeping s.ooo ordered by
// sequence number relative to s.next. It returns false when an identical
// or longer segment at the same sequence number is already held.
func (a *Assembler) hold(s *Stream, seq uint32, payload []byte) bool {
	rel := seq - s.next
	i := len(s.ooo)
	for i > 0 && s.ooo[i-1].seq-s.next > rel {
		i--
	}
	if i > 0 {
		if p := s.ooo[i-1]; p.seq == seq && len(p.data) >= len(payload) {
			return false
		}
	}
	var data []byte
	if len(s.ooo) < cap(s.ooo) {
		// Reuse the backing array parked in the first slot past len.
		data = s.ooo[: len(s.ooo)+1 : len(s.ooo)+1][len(s.ooo)].data[:0]
	}
	data = append(data, payload...)
	s.ooo = slices.Insert(s.ooo, i, segment{seq: seq, data: data})
	s.oooLen += len(payload)
	return true
}

// drain moves held segments that are now contiguous into the buffer.
func (a *Assembler) drain(s *Stream) {
	n := 0
	for n < len(s.ooo) {
		e := s.ooo[n]
		d := seqDiff(e.seq, s.next)
		if d > 0 {
			break
		}
		end := e.seq + uint32(len(e.data))
		if seqDiff(end, s.next) > 0 {
			a.appendData(s, e.data[-d:])
		}
		s.oooLen -= len(e.data)
		n++
	}
	if n > 0 {
		a.removeHeld(s, n)
	}
}

// removeHeld drops the first n held segments, keeping their backing arrays
// in the slots past len for reuse.
func (a *Assembler) removeHeld(s *Stream, n int) {
	var tmp [8]segment
	for n > 0 {
		m := min(n, len(tmp))
		copy(tmp[:m], s.ooo[:m])
		copy(s.ooo, s.ooo[m:])
		l := len(s.ooo) - m
		for j := range m {
			s.ooo[l+j] = segment{data: tmp[j].data[:0]}
		}
		s.ooo = s.ooo[:l]
		n -= m
	}
}

// skipGap declares the hole before the earliest held segment lost.
func (a *Assembler) skipGap(s *Stream) {
	if len(s.ooo) == 0 {
		return
	}
	s.buf, s.head = s.buf[:0], 0
	s.next = s.ooo[0].seq
	s.Gap = true
	a.c.Gaps++
	a.drain(s)
}

// appendData adds in-order bytes to the buffer and advances next.
func (a *Assembler) appendData(s *Stream, p []byte) {
	s.next += uint32(len(p))
	if s.live()+len(p) > a.cfg.MaxBuffer {
		a.c.Overflow++
		s.Gap = true
		s.buf, s.head = s.buf[:0], 0
		if len(p) > a.cfg.MaxBuffer {
			p = p[len(p)-a.cfg.MaxBuffer:]
		}
	}
	if s.head > 0 && len(s.buf)+len(p) > cap(s.buf) {
		n := copy(s.buf, s.buf[s.head:])
		s.buf, s.head = s.buf[:n], 0
	}
	s.buf = append(s.buf, p...)
}

// deliver offers the buffered bytes to the consumer.
func (a *Assembler) deliver(s *Stream, ts int64) {
	if s.live() == 0 {
		return
	}
	n := s.live()
	if a.consume != nil {
		n = a.consume(s, s.buf[s.head:], ts)
		n = max(0, min(n, s.live()))
	}
	s.head += n
	if s.head == len(s.buf) {
		s.buf, s.head = s.buf[:0], 0
	}
}

// close flushes s (skipping holes) and deletes it.
func (a *Assembler) close(s *Stream, ts int64) {
	a.flush(s, ts)
	a.remove(s)
}

func (a *Assembler) flush(s *Stream, ts int64) {
	for len(s.ooo) > 0 {
		a.skipGap(s)
		a.deliver(s, ts)
	}
}

func (a *Assembler) remove(s *Stream) {
	delete(a.streams, key{s.Src, s.Dst})
	if len(a.pool) < maxPooled {
		if cap(s.buf) > maxPooledBuf {
			s.buf = nil
		}
		clear(s.ooo[:cap(s.ooo)]) // drop parked segment copies
		s.ooo = s.ooo[:0]
		a.pool = append(a.pool, s)
	}
}

// sorted fills a.scratch with the streams selected by keep, in creation
// order.
func (a *Assembler) sorted(keep func(*Stream) bool) []*Stream {
	a.scratch = a.scratch[:0]
	for _, s := range a.streams {
		if keep == nil || keep(s) {
			a.scratch = append(a.scratch, s)
		}
	}
	slices.SortFunc(a.scratch, func(x, y *Stream) int {
		switch {
		case x.id < y.id:
			return -1
		case x.id > y.id:
			return 1
		}
		return 0
	})
	return a.scratch
}

// Expire drops half-streams whose last segment is older than IdleTimeout
// before now (packet time), first giving their consumer any held data.
// It walks the whole table: call it periodically (e.g. once per second of
// packet time), not per packet.
func (a *Assembler) Expire(now int64) {
	for _, s := range a.sorted(func(s *Stream) bool { return now-s.lastTS > a.cfg.IdleTimeout }) {
		a.close(s, s.lastTS)
		a.c.Expired++
	}
	clear(a.scratch)
}

// FlushAll gives every consumer what is left (holes skipped) and drops all
// half-streams. Use at the end of input.
func (a *Assembler) FlushAll() {
	for _, s := range a.sorted(nil) {
		a.close(s, s.lastTS)
	}
	clear(a.scratch)
}
