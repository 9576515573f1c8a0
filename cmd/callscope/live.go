package main

import (
	"context"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/store"
)

// ingestLive correlates the live sources, HEP agents and captured interfaces, in one
// decoder and correlator (SIP mirrored over HEP and RTP seen on a span port make one
// call), until ctx ends or every source closes; then it finishes the calls still open
// (they end capture_end) and returns the number of calls written. Either source may be
// nil.
//
// Timers run on packet time, as everywhere. When traffic pauses, packet time is carried
// forward by the wall-clock time elapsed since the tick that last saw it move (so no
// clock is read per packet), so SIP and RTP timeouts still fire, and an agent whose
// clock is off from ours does not make calls time out early.
//
// workers ≤ 1 decodes and correlates on this goroutine; 2 or more decode on a second
// one (live_parallel.go), with the same calls.
func ingestLive(ctx context.Context, hepIn *capture.HEPListener, capIn *capture.Live, ccfg correlate.Config, workers int, wr *store.Writer, live *liveCalls, hooks *callHooks) int {
	n := 0
	cor := correlate.New(ccfg, correlate.Output{
		Call:         func(r *correlate.Record) { n++; hooks.call(r); live.unstored.add(r); wr.Write(r) },
		Registration: func(r *correlate.Registration) { hooks.registration(r); wr.WriteRegistration(live.keepRegistration(r)) },
	})
	var in liveInputs
	if hepIn != nil {
		in.hep, in.hepDone = hepIn.Packets(), hepIn.Release
	}
	if capIn != nil {
		in.cap, in.capDone = capIn.Batches(), capIn.Release
	}
	runLive(ctx, in, cor, workers, &live.live, hooks)
	return n
}

// liveInputs are the live sources as the live loop reads them: each channel with the
// function that gives a consumed item back (HEPListener.Release, Live.Release). A nil
// channel is a source not configured.
type liveInputs struct {
	hep     <-chan capture.HEPPacket
	hepDone func(capture.HEPPacket)
	cap     <-chan *capture.Batch
	capDone func(*capture.Batch)
}

// runLive is ingestLive's loop: it decodes in, feeds cor and hooks.sec, publishes to pub
// and returns after finishing cor (and hooks.sec) once ctx ends or every input closes.
func runLive(ctx context.Context, in liveInputs, cor *correlate.Correlator, workers int, pub *published, hooks *callHooks) {
	dec := decode.New(decode.DefaultConfig())
	if workers >= 2 {
		runLiveParallel(ctx, in, dec, cor, pub, hooks)
		return
	}
	var clock liveClock
	sec := hooks.sec
	onEvent := func(ev *decode.Event) {
		clock.see(ev.TS)
		cor.Event(ev)
		if sec != nil {
			sec.Event(ev)
		}
	}
	hepCh, capCh := in.hep, in.cap
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	finish := func() {
		dec.Flush(onEvent)
		cor.Finish()
		if sec != nil {
			sec.Finish() // the events in progress end, and are stored
		}
		pub.publish(cor, dec, false)
		pub.snap.Store(nil)
	}
	for {
		select {
		case <-ctx.Done():
			finish()
			return
		case p, ok := <-hepCh:
			if !ok {
				hepCh = nil
				break
			}
			dec.DecodeHEP(p.TS, p.Data, onEvent)
			in.hepDone(p)
		case b, ok := <-capCh:
			if !ok {
				capCh = nil
				break
			}
			for i, f := range b.Frames {
				dec.Decode(b.LinkType, b.TS[i], f, onEvent)
			}
			in.capDone(b)
		case now := <-tick.C:
			clock.advance(now, cor, hooks)
			pub.publish(cor, dec, true)
		}
		if hepCh == nil && capCh == nil {
			finish()
			return
		}
	}
}

// liveClock carries packet time forward while traffic pauses (see ingestLive). It is
// owned by the correlator's goroutine.
type liveClock struct {
	lastPkt               int64 // newest packet time seen
	anchorPkt, anchorWall int64 // lastPkt at the tick that last saw it move, and that tick's wall time
}

// see takes the packet time of one event.
func (c *liveClock) see(ts int64) { c.lastPkt = max(c.lastPkt, ts) }

// advance runs the timers of cor, the alert engine and the security detector to the
// packet time that corresponds to the wall time now (nothing before the first packet).
func (c *liveClock) advance(now time.Time, cor *correlate.Correlator, hooks *callHooks) {
	w := now.UnixNano()
	if c.lastPkt != c.anchorPkt {
		c.anchorPkt, c.anchorWall = c.lastPkt, w
	}
	if c.anchorPkt == 0 {
		return
	}
	t := c.anchorPkt + (w - c.anchorWall)
	cor.Advance(t)
	if hooks.engine != nil {
		hooks.engine.Advance(t) // alerts resolve while traffic pauses
	}
	if hooks.sec != nil {
		hooks.sec.Advance(t) // security events end while traffic pauses
	}
}
