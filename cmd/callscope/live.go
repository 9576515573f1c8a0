package main

import (
	"context"
	"reflect"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
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
		Call:         func(r *correlate.Record) { n++; hooks.call(r); wr.Write(r) },
		Registration: func(r *correlate.Registration) { hooks.registration(r); wr.WriteRegistration(*r) },
	})
	dec := decode.New(decode.DefaultConfig())
	var lastPkt int64               // newest packet time seen
	var anchorPkt, anchorWall int64 // lastPkt at the tick that last saw it move, and that tick's wall time
	onEvent := func(ev *decode.Event) {
		lastPkt = max(lastPkt, ev.TS)
		cor.Event(ev)
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
			}
			live.live.publish(cor, dec, true)
		}
		if hepCh == nil && capCh == nil {
			return finish()
		}
	}
}

// registerHEPMetrics exports the listener's counters.
func registerHEPMetrics(reg prometheus.Registerer, l *capture.HEPListener) error {
	st := func(f func(capture.HEPStats) uint64) func() float64 {
		return func() float64 { return float64(f(l.Stats())) }
	}
	for _, m := range []struct {
		name, help string
		f          func(capture.HEPStats) uint64
	}{
		{"callscope_hep_udp_packets_total", "HEP packets received over UDP.", func(s capture.HEPStats) uint64 { return s.UDPPackets }},
		{"callscope_hep_tcp_packets_total", "HEP packets received over TCP.", func(s capture.HEPStats) uint64 { return s.TCPPackets }},
		{"callscope_hep_bytes_total", "Bytes of HEP packets received.", func(s capture.HEPStats) uint64 { return s.Bytes }},
		{"callscope_hep_dropped_total", "HEP packets dropped at the probe because correlation fell behind (not network loss).",
			func(s capture.HEPStats) uint64 { return s.QueueDrops }},
		{"callscope_hep_bad_frames_total", "TCP connections closed because their stream was not HEPv3.", func(s capture.HEPStats) uint64 { return s.BadFrames }},
		{"callscope_hep_connections_rejected_total", "TCP connections refused over the connection cap.",
			func(s capture.HEPStats) uint64 { return s.ConnsRejected }},
	} {
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, st(m.f))); err != nil {
			return err
		}
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "callscope_hep_connections", Help: "HEP TCP connections open.",
	}, func() float64 { return float64(l.Stats().Conns) }))
}

// registerLiveMetrics exports the live capture's counters.
func registerLiveMetrics(reg prometheus.Registerer, l *capture.Live) error {
	for _, m := range []struct {
		name, help string
		f          func(capture.LiveStats) uint64
	}{
		{"callscope_capture_live_packets_total", "Frames captured on the live interfaces.", func(s capture.LiveStats) uint64 { return s.Packets }},
		{"callscope_capture_live_bytes_total", "Bytes of frames captured on the live interfaces.", func(s capture.LiveStats) uint64 { return s.Bytes }},
		{"callscope_capture_kernel_drops_total", "Frames the kernel dropped because the capture ring was full (capture loss, not network loss).",
			func(s capture.LiveStats) uint64 { return s.KernelDrops }},
		{"callscope_capture_queue_drops_total", "Captured frames dropped because correlation fell behind (capture loss, not network loss).",
			func(s capture.LiveStats) uint64 { return s.QueueDrops }},
	} {
		f := m.f
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help},
			func() float64 { return float64(f(l.Stats())) })); err != nil {
			return err
		}
	}
	return nil
}

// addCounters sums two correlator counter sets field by field (both sources feed the
// same metrics). Reflection keeps it right as fields are added; it runs per scrape.
func addCounters(a, b correlate.Counters) correlate.Counters {
	va, vb := reflect.ValueOf(&a).Elem(), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		f := va.Field(i)
		switch f.Kind() {
		case reflect.Uint64:
			f.SetUint(f.Uint() + vb.Field(i).Uint())
		case reflect.Int:
			f.SetInt(f.Int() + vb.Field(i).Int())
		}
	}
	return a
}
