package main

// The two-stage file pipeline (--workers 2 and more).
//
// # Shape
//
//	goroutine A (decodeStage)            goroutine B (the caller of run)
//	capture.Merger → decode.Decoder  ──▶  correlate.Correlator (+ quality) and security.Detector
//	           copies each Event into a batch; batches travel through a ring of
//	           pipeRing reusable buffers (free and full channels, both bounded)
//
// A reads the capture files and decodes (pcap read, L2–L4, defragmentation, TCP
// reassembly, SIP classification, RTP header parse); for every event the decoder emits it
// copies what the correlator reads into the current batch's own arena. B takes full
// batches in the order A filled them, rebuilds each Event from the batch and calls the
// correlator and the detector exactly as the single-goroutine path does.
//
// # Why the output is byte-identical to --workers 1
//
//  1. Same decoder input: A is the only user of the Merger and the Decoder and calls
//     Decode for every packet in the Merger's order, then Flush, exactly as pipeline.run
//     does; so the decoder emits the same sequence of events (its timers run on packet
//     time and see the same packets).
//  2. Same order: events are appended to a batch in emission order, batches are filled
//     one at a time and handed over through a FIFO channel; B consumes them in that
//     order. No event is dropped: A blocks when the ring is full (backpressure, no loss).
//  3. Same content: an Event's fields are values (Kind, TS, addresses, transport, flags,
//     lengths) copied as they are, or views (Payload, Frame, SIP, RTP) whose bytes are
//     copied into the batch arena. B rebuilds the views over the copies: Payload and Frame
//     hold the same bytes (nil stays nil); the RTP header's fields travel as values (one
//     with CSRCs or extensions is parsed again from the copied datagram, exactly the bytes
//     the decoder's Unmarshal parsed; TestPipeRTPHeader); the SIP
//     message is parsed again by sip.Parse from the copied payload, which is exactly the
//     byte slice the decoder parsed (emitSIP: Payload is the parsed msg), and Parse is a
//     function of its input only (it resets the message first), so B's Message holds the
//     same values. TestPipeEventFields fails when decode.Event gains a field not carried.
//  4. Same consumers: the correlator and the detector run on B alone, called in the same
//     order per event (cor.Event then sec.Event), then Finish on both after the last
//     event, as in the single path. They never see a decoder or capture pointer.
//
// # Buffer lifetimes and concurrency
//
// A batch belongs to A from the moment it leaves the free channel until it is sent on the
// full channel, then to B until B sends it back on free; a rebuilt Event is valid while B
// calls the consumers (the Event contract), and the batch is reused only after B returned
// it. Arenas grow to the largest batch seen and are then reused: no allocation per packet
// in steady state (one grows only when an event is larger than any before).
//
// The Merger and the Decoder are A's, but tick (the live view, serve's file replay) reads
// their counters from B: A decodes each batch holding pipeline.mu and B takes mu around
// tick, so tick sees them between two batches. B checks for tick once per batch, when the
// packets read pass a multiple of 4096 (the single path: every 4096 packets).
//
// Stop paths: on ctx's end or a read error A stops and closes full; B then returns the
// error without finishing the correlator, as the single path does. If B stops on ctx's
// end first, it closes stop, A returns, and run waits for A before returning.

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

const (
	prefetchAhead = 4 // B prefetches the stream of the event this far ahead (Correlator.Prefetch)
	// prefetchFrameSteps are Correlator.PrefetchFrames's steps, for the events
	// prefetchAhead-1 … prefetchAhead-3 ahead.
	prefetchFrameSteps = 3
	pipeRing           = 8       // batches in flight between A and B
	pipeBatchEvents    = 512     // a batch leaves A with this many events ...
	pipeBatchBytes     = 1 << 20 // ... or this many arena bytes, whichever first
	pipeBatchPkts      = 4096    // ... or after this many packets (few events: SIP-only captures)
)

// pipeEvent is one decode.Event with its views replaced by places in the batch. It holds
// the Event's values field by field and, for RTP, the fixed header's fields (not an
// rtp.Header by value, whose slices and padding make it 88 bytes): an event crosses from
// one core to the other in 112 bytes instead of the 280 of an Event and a header.
type pipeEvent struct {
	ts       int64
	src, dst netip.AddrPort
	payOff   int32 // Payload = arena[payOff:payOff+payLen]; payLen -1: nil
	payLen   int32
	frameOff int32 // Frame likewise
	frameLen int32
	rtpLen   int32 // Event.RTPPayloadLen
	linkType uint32
	// Kind RTP: the stream table's hash of the packet's key (rtpHashed; see add) and the
	// fixed header.
	hash     uint64
	ssrc     uint32
	rtpTS    uint32
	seq      uint16
	pt       uint8
	rtpFlags uint8 // rtpPadding, rtpExtension, rtpMarker, rtpLists; the version above them
	kind     decode.Kind
	tr       decode.Transport
	fromHEP  bool
}

// pipeEvent.rtpFlags bits; the header's version is rtpFlags>>rtpVersionShift.
const (
	rtpPadding = 1 << iota
	rtpExtension
	rtpMarker
	rtpLists        // CSRCs or extensions: B parses the copied header again (rebuild)
	rtpHashed       // hash holds the stream table's hash (Correlator.EventHashed)
	rtpVersionShift = 6
)

// pipeBatch is one unit handed from A to B.
type pipeBatch struct {
	events  []pipeEvent
	arena   []byte
	packets int  // packets read while filling this batch
	last    bool // A's final batch: it ends with the events of the decoder's Flush
	// slim: the correlator keeps no media frames (Correlator.KeepsFrames), so a plain RTP
	// event (see add) travels as its header and first slimPayload payload bytes only.
	slim bool
}

// slimPayload is what a slim RTP event keeps of its payload: all an RFC 4733 event
// reads (quality.Stream, dtmf.go); audio payload bytes are not read at all.
const slimPayload = 4

// slimEventBytes is what a slim RTP event puts in the arena: its 12-byte header and
// slimPayload payload bytes.
const slimEventBytes = 12 + slimPayload

func (b *pipeBatch) reset() {
	b.events, b.arena = b.events[:0], b.arena[:0]
	b.packets, b.last = 0, false
}

// put copies data into the arena; it returns the offset and length (-1 for nil).
func (b *pipeBatch) put(data []byte) (int32, int32) {
	if data == nil {
		return 0, -1
	}
	off := len(b.arena)
	b.arena = append(b.arena, data...)
	return int32(off), int32(len(data))
}

// add copies ev into the batch. In a slim batch a plain RTP event (a 12-byte header:
// no CSRC, extension or padding) with more than slimPayload payload bytes is cut: no
// frame, the payload its header and first slimPayload bytes, RTPPayloadLen
// slimPayload. What the correlator reads of it is then unchanged: the header length
// (12, from the first byte), the payload slice (audio: never read; an RFC 4733 event:
// its first 4 bytes, and at least 4 bytes either way), and the frame only to keep it,
// which a slim correlator does not. It saves copying the frame (214 bytes of G.711)
// from one core's cache to the other's per packet.
//
// With a hasher (the correlator's, taken before A started) an RTP event also carries its
// stream-table hash: computing it here moves that work, twice per packet (the prefetch
// ahead and the lookup), from B, the busier stage, to A.
func (b *pipeBatch) add(ev *decode.Event, hs *correlate.StreamHasher) {
	b.events = append(b.events, pipeEvent{})
	pe := &b.events[len(b.events)-1]
	pe.ts, pe.src, pe.dst, pe.linkType = ev.TS, ev.Src, ev.Dst, ev.LinkType
	pe.kind, pe.tr, pe.fromHEP, pe.rtpLen = ev.Kind, ev.Transport, ev.FromHEP, int32(ev.RTPPayloadLen)
	var h *rtp.Header // the RTP header, for an RTP event
	if ev.Kind == decode.KindRTP {
		h = ev.RTP
		pe.ssrc, pe.rtpTS, pe.seq, pe.pt = h.SSRC, h.Timestamp, h.SequenceNumber, h.PayloadType
		f := h.Version << rtpVersionShift
		if h.Padding {
			f |= rtpPadding
		}
		if h.Extension {
			f |= rtpExtension
		}
		if h.Marker {
			f |= rtpMarker
		}
		if len(h.CSRC) > 0 || len(h.Extensions) > 0 {
			f |= rtpLists
		}
		if hs != nil {
			pe.hash = hs.Hash(h.SSRC, ev.Src, ev.Dst)
			f |= rtpHashed
		}
		pe.rtpFlags = f
	}
	if b.slim && h != nil && len(h.CSRC) == 0 && !h.Extension && !h.Padding &&
		ev.RTPPayloadLen > slimPayload && len(ev.Payload) == 12+ev.RTPPayloadLen {
		pe.frameOff, pe.frameLen = 0, -1
		pe.payOff, pe.payLen = b.put(ev.Payload[:slimEventBytes])
		pe.rtpLen = slimPayload
		return
	}
	pe.frameOff, pe.frameLen = b.put(ev.Frame)
	if off, ok := within(ev.Frame, ev.Payload); ok {
		// The usual case (a datagram in its frame): one copy serves both.
		pe.payOff, pe.payLen = pe.frameOff+int32(off), int32(len(ev.Payload))
	} else {
		pe.payOff, pe.payLen = b.put(ev.Payload)
	}
}

// correlate hands ev, rebuilt from pe, to cor: with the stream hash when A computed it.
func (pe *pipeEvent) correlate(cor *correlate.Correlator, ev *decode.Event) {
	if pe.rtpFlags&rtpHashed != 0 {
		cor.EventHashed(ev, pe.hash)
	} else {
		cor.Event(ev)
	}
}

// within reports whether inner lies inside outer, and where. Both are live slices for the
// duration of the call, so comparing their addresses is sound.
func within(outer, inner []byte) (int, bool) {
	if len(outer) == 0 || len(inner) == 0 {
		return 0, false
	}
	o := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	i := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	if i < o || i+uintptr(len(inner)) > o+uintptr(len(outer)) {
		return 0, false
	}
	return int(i - o), true
}

func (b *pipeBatch) full() bool {
	limit := pipeBatchBytes
	if b.slim {
		limit = pipeArenaCap(true)
	}
	return len(b.events) >= pipeBatchEvents || len(b.arena) >= limit || b.packets >= pipeBatchPkts
}

// slice returns arena[off:off+n:off+n], or nil for n == -1.
func (b *pipeBatch) slice(off, n int32) []byte {
	if n < 0 {
		return nil
	}
	return b.arena[off : off+n : off+n]
}

// rebuild fills ev (and B's scratch header and message) from pe; ev is then the event the
// decoder emitted, its views pointing into b.
func (b *pipeBatch) rebuild(pe *pipeEvent, ev *decode.Event, hdr *rtp.Header, msg *sip.Message) {
	ev.Kind, ev.TS, ev.Src, ev.Dst, ev.Transport, ev.FromHEP = pe.kind, pe.ts, pe.src, pe.dst, pe.tr, pe.fromHEP
	ev.Payload = b.slice(pe.payOff, pe.payLen)
	ev.Frame = b.slice(pe.frameOff, pe.frameLen)
	ev.LinkType, ev.RTPPayloadLen = pe.linkType, int(pe.rtpLen)
	ev.SIP, ev.RTP = nil, nil
	switch ev.Kind {
	case decode.KindRTP:
		f := pe.rtpFlags
		if f&rtpLists != 0 {
			// CSRC list or header extensions (rare): parse the copied header again.
			// Unmarshal of the same bytes succeeded in the decoder (it checked the
			// length first) and sets every field it parsed there.
			_, _ = hdr.Unmarshal(ev.Payload)
		} else {
			hdr.Version, hdr.Padding, hdr.Extension, hdr.Marker = f>>rtpVersionShift, f&rtpPadding != 0, f&rtpExtension != 0, f&rtpMarker != 0
			hdr.PayloadType, hdr.SequenceNumber, hdr.Timestamp, hdr.SSRC = pe.pt, pe.seq, pe.rtpTS, pe.ssrc
			hdr.CSRC, hdr.Extensions = hdr.CSRC[:0], hdr.Extensions[:0]
		}
		ev.RTP = hdr
	case decode.KindSIP:
		// The decoder emitted this message after sip.Parse of exactly these bytes returned
		// nil or ErrTruncated; parsing them again yields the same Message.
		_ = sip.Parse(ev.Payload, msg)
		ev.SIP = msg
	}
}

// pipeArenaCap is a batch arena's initial capacity: room for a full batch of whole
// frames, or in a slim ring for a full batch of slim RTP events and 64 KiB of SIP. A
// slim batch also ends there (full): a SIP-heavy one grows its arena by one frame at
// most, where it grew up to pipeBatchBytes (the eight arenas held 2.6 MB of analyze's
// live heap at 20,000 calls, mostly the SIP bursts of call set-up). Sized for frames,
// the eight slim arenas held 8.5 MiB of heap that RTP never fills; their pages were
// hardly ever faulted in, so that lowered the heap the collector paces by, not peak
// RSS (BENCHMARKS.md, session 11).
func pipeArenaCap(slim bool) int {
	if slim {
		return pipeBatchEvents*slimEventBytes + 64<<10
	}
	return pipeBatchBytes + 64<<10
}

// newPipeRing returns the ring between the stages: free holds pipeRing empty batches,
// full is empty; each can hold every batch, so a send on either never blocks.
func newPipeRing(slim bool) (free, full chan *pipeBatch) {
	free = make(chan *pipeBatch, pipeRing)
	full = make(chan *pipeBatch, pipeRing)
	for range pipeRing {
		free <- &pipeBatch{
			slim:   slim,
			events: make([]pipeEvent, 0, pipeBatchEvents),
			arena:  make([]byte, 0, pipeArenaCap(slim)),
		}
	}
	return free, full
}

// runParallel is run for workers ≥ 2: decode on a second goroutine (see the file doc).
func (p *pipeline) runParallel(ctx context.Context, tick func()) error {
	free, full := newPipeRing(!p.cor.KeepsFrames())
	stop := make(chan struct{})
	var aErr error                 // written by A before it closes full
	hasher := p.cor.StreamHasher() // taken here, before A starts: it reads the correlator
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(full)
		aErr = p.decodeStage(ctx, free, full, stop, hasher)
	}()
	defer wg.Wait()
	defer close(stop)

	var (
		ev       decode.Event
		hdr      rtp.Header
		msg      = new(sip.Message)
		packets  int
		nextTick int
		hashes   [2 * prefetchAhead]uint64 // of events i+1 ... i+2·prefetchAhead (0: none)
	)
	cor, sec := p.cor, p.sec
	frameSteps := 0
	if cor.KeepsFrames() {
		frameSteps = prefetchFrameSteps
	}
	tickNow := func() {
		if tick != nil {
			p.mu.Lock()
			tick()
			p.mu.Unlock()
		}
	}
	for {
		var b *pipeBatch
		var ok bool
		select {
		case b, ok = <-full:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			if aErr != nil {
				return aErr
			}
			return errors.New("pipeline: decode stage ended without its last batch")
		}
		if packets >= nextTick {
			// The single path ticks before packets 0, 4096, 8192, ...: here before the
			// first batch that starts at or past each multiple.
			tickNow()
			nextTick = (packets/4096 + 1) * 4096
		}
		for i := range b.events {
			// Cache hints for the events ahead (Correlator.PrefetchSlot): the stream
			// table's slot 2·prefetchAhead events ahead, the stream prefetchAhead ahead.
			if i == 0 {
				for j := 0; j < min(2*prefetchAhead, len(b.events)); j++ {
					hashes[j%len(hashes)] = prefetchSlot(cor, &b.events[j])
				}
			}
			if j := i + 2*prefetchAhead; j < len(b.events) {
				hashes[j%len(hashes)] = prefetchSlot(cor, &b.events[j])
			}
			if j := i + prefetchAhead; j < len(b.events) && hashes[j%len(hashes)] != 0 {
				cor.PrefetchStream(hashes[j%len(hashes)])
			}
			// With frames kept, the call, its mediaKeep and its open chunk follow, one
			// step per event (Correlator.PrefetchFrames).
			for step := range frameSteps {
				if j := i + prefetchAhead - 1 - step; j > i && j < len(b.events) && hashes[j%len(hashes)] != 0 {
					cor.PrefetchFrames(hashes[j%len(hashes)], step)
				}
			}
			pe := &b.events[i]
			b.rebuild(pe, &ev, &hdr, msg)
			pe.correlate(cor, &ev)
			if sec != nil {
				sec.Event(&ev)
			}
		}
		packets += b.packets
		last := b.last
		b.reset()
		free <- b // never blocks: pipeRing batches exist and free holds pipeRing
		if last {
			break
		}
	}
	if p.finishing != nil {
		p.finishing()
	}
	cor.Finish()
	if sec != nil {
		sec.Finish()
	}
	return nil
}

// prefetchSlot hints the stream-table slot of pe if it is RTP; it returns the hash for
// Correlator.PrefetchStream, 0 for none.
func prefetchSlot(cor *correlate.Correlator, pe *pipeEvent) uint64 {
	switch {
	case pe.kind != decode.KindRTP:
		return 0
	case pe.rtpFlags&rtpHashed != 0:
		cor.PrefetchSlotHash(pe.hash)
		return pe.hash
	}
	return cor.PrefetchSlot(pe.ssrc, pe.src, pe.dst)
}

// hashFor returns the hasher for A to hash the RTP events of the batch it just took from
// free, or nil to leave the hashing to B: A takes that work on only while B is the
// slower stage, which shows as most batches waiting for B (few left in free). Analyze's
// stages are about even, and A hashing every packet made A the slower one (pprof,
// 5,000 calls: A 6.7 → 7.3 s, B 6.9 → 5.6 s, no faster); with frames kept B has more to
// do. Either way the correlator's answers are the same (Correlator.EventHashed).
func hashFor(free <-chan *pipeBatch, h *correlate.StreamHasher) *correlate.StreamHasher {
	if len(free) < pipeRing/2 {
		return h
	}
	return nil
}

// decodeStage is goroutine A: read, decode, copy into batches. It returns nil after it
// sent the batch marked last (holding Flush's events), or the read error or ctx's error.
func (p *pipeline) decodeStage(ctx context.Context, free <-chan *pipeBatch, full chan<- *pipeBatch, stop <-chan struct{}, hasher correlate.StreamHasher) error {
	var pkt capture.Packet
	src, dec := p.src, p.dec
	var b *pipeBatch
	take := func() bool {
		select {
		case b = <-free:
			return true
		case <-stop:
			return false
		case <-ctx.Done():
			return false
		}
	}
	send := func() bool {
		select {
		case full <- b: // room always: at most pipeRing batches exist
			b = nil
			return true
		case <-stop:
			return false
		}
	}
	var hs *correlate.StreamHasher // this batch's: see hashFor
	onEvent := func(ev *decode.Event) { b.add(ev, hs) }
	for {
		if !take() {
			if err := ctx.Err(); err != nil {
				return err
			}
			return nil
		}
		hs = hashFor(free, &hasher)
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.Lock()
		var rerr error
		eof := false
		for !b.full() {
			if err := src.Next(&pkt); err != nil {
				if errors.Is(err, io.EOF) {
					eof = true
				} else {
					rerr = err
				}
				break
			}
			b.packets++
			dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, onEvent)
		}
		if eof {
			dec.Flush(onEvent)
			b.last = true
		}
		p.mu.Unlock()
		if rerr != nil {
			return rerr
		}
		if !send() || eof {
			return nil
		}
	}
}
