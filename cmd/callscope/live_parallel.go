package main

// The two-stage live pipeline (serve -i / --hep with --workers 2 and more).
//
// # Shape
//
//	goroutine A (liveDecodeStage)              goroutine B (the caller of runLive)
//	capture.Live batches, HEP packets    ──▶   correlate.Correlator (+ quality), security.Detector,
//	→ decode.Decoder, events copied             timers on the 1 s tick, live publishing
//	  into pipeBatches                          (batches through the file pipeline's ring)
//
// It is the file pipeline's split (pipeline_parallel.go, whose doc argues why a rebuilt
// event equals the one the decoder emitted) with live inputs: A is the only user of the
// decoder and calls it for every HEP packet and every captured frame in the order it
// receives them, exactly as the single loop does, and gives each capture batch or HEP
// buffer back (Release) as soon as its events are copied. B rebuilds the events in that
// order and calls cor.Event then sec.Event for each, as the single loop's onEvent does.
// So for the same input order the correlator sees the same events; what can differ is
// only where the wall-clock ticks fall between events (as from one run to the next of
// the single loop).
//
// # Latency and backpressure
//
// A takes an empty batch only when an input item arrives, and hands the batch over as
// soon as it is full (pipeBatch.full) or both inputs are momentarily empty: a partial
// batch never waits for more traffic. When B falls behind, every batch is in full or in
// B's hands: A blocks taking a free one and stops reading its inputs; the capture's
// bounded queue and the kernel ring then fill and count their drops (callscope_capture_*
// per reader and in total), and the HEP listener counts its queue drops, as when the
// single loop falls behind. Nothing between A and B grows: pipeRing batches, each arena
// grown at most to the largest batch seen.
//
// # Concurrency
//
// The decoder is A's, but B publishes its counters each second: A decodes each input
// item holding mu and B takes mu around dec's Publish only (the correlator's snapshot is
// taken without it), as the file pipeline's tick does.
//
// Stop path: when ctx ends or both inputs close, A flushes the decoder into one more
// batch marked last (taking a free batch cannot deadlock: B consumes until it sees the
// last batch, giving every batch back), then returns. B, after the last batch, waits for
// A, finishes the correlator and the detector and publishes, as the single loop's finish.

import (
	"context"
	"sync"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

// runLiveParallel is runLive for workers ≥ 2 (see the file doc).
func runLiveParallel(ctx context.Context, in liveInputs, dec *decode.Decoder, cor *correlate.Correlator, pub *published, hooks *callHooks) {
	free, full := newPipeRing(!cor.KeepsFrames())
	var mu sync.Mutex // guards dec between A's decoding and B's publishing
	var wg sync.WaitGroup
	hasher := cor.StreamHasher() // before A starts: it reads the correlator
	wg.Add(1)
	go func() {
		defer wg.Done()
		liveDecodeStage(ctx, in, dec, &mu, free, full, hasher)
	}()

	var (
		clock liveClock
		ev    decode.Event
		hdr   rtp.Header
		msg   = new(sip.Message)
	)
	sec := hooks.sec
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for last := false; !last; {
		select {
		case b := <-full: // A closes nothing: it always ends with a batch marked last
			for i := range b.events {
				pe := &b.events[i]
				b.rebuild(pe, &ev, &hdr, msg)
				clock.see(ev.TS)
				pe.correlate(cor, &ev)
				if sec != nil {
					sec.Event(&ev)
				}
			}
			last = b.last
			b.reset()
			free <- b // never blocks: free holds every batch
		case now := <-tick.C:
			clock.advance(now, cor, hooks)
			pub.publishCorrelator(cor, true)
			mu.Lock()
			pub.dec.Publish(dec)
			mu.Unlock()
		}
	}
	wg.Wait() // A has returned: dec is B's now
	cor.Finish()
	if sec != nil {
		sec.Finish() // the events in progress end, and are stored
	}
	pub.publish(cor, dec, false)
	pub.snap.Store(nil)
}

// liveDecodeStage is goroutine A: it reads in until ctx ends or both inputs close,
// decodes into batches and sends them on full, the last one (marked last) holding the
// events of the decoder's Flush.
func liveDecodeStage(ctx context.Context, in liveInputs, dec *decode.Decoder, mu *sync.Mutex, free <-chan *pipeBatch, full chan<- *pipeBatch, hasher correlate.StreamHasher) {
	var b *pipeBatch
	var hs *correlate.StreamHasher // this batch's (hashFor)
	onEvent := func(ev *decode.Event) { b.add(ev, hs) }
	hepCh, capCh := in.hep, in.cap
loop:
	for hepCh != nil || capCh != nil {
		select {
		case <-ctx.Done():
			break loop
		case p, ok := <-hepCh:
			if !ok {
				hepCh = nil
				continue
			}
			if b == nil {
				b = <-free // blocks while B holds every batch: backpressure
				hs = hashFor(free, &hasher)
			}
			mu.Lock()
			dec.DecodeHEP(p.TS, p.Data, onEvent)
			mu.Unlock()
			in.hepDone(p)
			b.packets++
		case cb, ok := <-capCh:
			if !ok {
				capCh = nil
				continue
			}
			if b == nil {
				b = <-free
				hs = hashFor(free, &hasher)
			}
			mu.Lock()
			for i, f := range cb.Frames {
				dec.Decode(cb.LinkType, cb.TS[i], f, onEvent)
			}
			mu.Unlock()
			b.packets += len(cb.Frames)
			in.capDone(cb)
		}
		if b != nil && (b.full() || len(hepCh) == 0 && len(capCh) == 0) {
			full <- b // never blocks: full can hold every batch
			b = nil
		}
	}
	if b == nil {
		b = <-free
	}
	mu.Lock()
	dec.Flush(onEvent)
	mu.Unlock()
	b.last = true
	full <- b
}
