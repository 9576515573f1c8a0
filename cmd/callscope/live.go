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
func ingestLive(ctx context.Context, hepIn *capture.HEPListener, capIn *capture.Live, ccfg correlate.Config, wr *store.Writer, live *liveCalls, hooks *callHooks) int {
	n := 0
	cor := correlate.New(ccfg, correlate.Output{
		Call:         func(r *correlate.Record) { n++; hooks.call(r); live.unstored.add(r); wr.Write(r) },
		Registration: func(r *correlate.Registration) { hooks.registration(r); wr.WriteRegistration(live.keepRegistration(r)) },
	})
	dec := decode.New(decode.DefaultConfig())
	var lastPkt int64               // newest packet time seen
	var anchorPkt, anchorWall int64 // lastPkt at the tick that last saw it move, and that tick's wall time
	sec := hooks.sec
	onEvent := func(ev *decode.Event) {
		lastPkt = max(lastPkt, ev.TS)
		cor.Event(ev)
		if sec != nil {
			sec.Event(ev)
		}
	}
	var hepCh <-chan capture.HEPPacket
	if hepIn != nil {
		hepCh = hepIn.Packets()
	}
	var capCh <-chan *capture.Batch
	if capIn != nil {
		capCh = capIn.Batches()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	finish := func() int {
		dec.Flush(onEvent)
		cor.Finish()
		if sec != nil {
			sec.Finish() // the events in progress end, and are stored
		}
		live.live.publish(cor, dec, false)
		live.live.snap.Store(nil)
		return n
	}
	for {
		select {
		case <-ctx.Done():
			return finish()
		case p, ok := <-hepCh:
			if !ok {
				hepCh = nil
				break
			}
			dec.DecodeHEP(p.TS, p.Data, onEvent)
			hepIn.Release(p)
		case b, ok := <-capCh:
			if !ok {
				capCh = nil
				break
			}
			for i, f := range b.Frames {
				dec.Decode(b.LinkType, b.TS[i], f, onEvent)
			}
			capIn.Release(b)
		case now := <-tick.C:
			w := now.UnixNano()
			if lastPkt != anchorPkt {
				anchorPkt, anchorWall = lastPkt, w
			}
			if anchorPkt != 0 {
				cor.Advance(anchorPkt + (w - anchorWall))
				if hooks.engine != nil {
					hooks.engine.Advance(anchorPkt + (w - anchorWall)) // alerts resolve while traffic pauses
				}
				if sec != nil {
					sec.Advance(anchorPkt + (w - anchorWall)) // security events end while traffic pauses
				}
			}
			live.live.publish(cor, dec, true)
		}
		if hepCh == nil && capCh == nil {
			return finish()
		}
	}
}
