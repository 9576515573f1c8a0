package main

import (
	"reflect"
	"sync/atomic"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/prometheus/client_golang/prometheus"
)

// liveSnapshotMax caps the in-progress calls published to the dashboard.
const liveSnapshotMax = 500

// liveCalls holds what the ingesting goroutines publish for other goroutines: the file
// replay and the live sources (live.go) each publish their calls in progress
// (web.LiveSource lists both) and their counters (/metrics sums both); the file replay
// also its capture statistics. The metrics themselves are defined by their packages.
type liveCalls struct {
	files, live published
	capture     *capture.Metrics
}

// published is what one ingesting goroutine, with its own decoder and correlator, makes
// visible to the others.
type published struct {
	snap atomic.Pointer[[]correlate.Call]
	cor  atomic.Pointer[correlate.Counters]
	dec  *decode.Publisher
}

// newLiveCalls registers the pipeline's metrics on reg: capture packets and bytes,
// decode errors by reason, and the correlator's callscope_correlate_* metrics.
func newLiveCalls(reg prometheus.Registerer) (*liveCalls, error) {
	l := &liveCalls{}
	if err := correlate.RegisterMetrics(reg, func() correlate.Counters {
		var sum correlate.Counters
		for _, src := range l.sources() {
			if c := src.cor.Load(); c != nil {
				sum = addCounters(sum, *c)
			}
		}
		return sum
	}); err != nil {
		return nil, err
	}
	var err error
	if l.capture, err = capture.NewMetrics(reg); err != nil {
		return nil, err
	}
	dm, err := decode.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	l.files.dec, l.live.dec = dm.NewPublisher(), dm.NewPublisher()
	return l, nil
}

// publish copies the counters of cor and dec for scrapes and, with snapshot, the calls
// in progress for the dashboard. Called on the goroutine that owns cor and dec.
func (p *published) publish(cor *correlate.Correlator, dec *decode.Decoder, snapshot bool) {
	if snapshot {
		snap := cor.Snapshot(liveSnapshotMax)
		p.snap.Store(&snap)
	}
	cc := cor.Counters()
	p.cor.Store(&cc)
	p.dec.Publish(dec)
}

func (l *liveCalls) sources() [2]*published { return [2]*published{&l.files, &l.live} }

// publishFiles publishes the file replay's counters and capture statistics.
func (l *liveCalls) publishFiles(pl *pipeline, snapshot bool) {
	l.files.publish(pl.cor, pl.dec, snapshot)
	l.capture.PublishFiles(pl.src.Stats())
}

func (l *liveCalls) ActiveCalls() []correlate.Call {
	var all []correlate.Call
	for _, src := range l.sources() {
		if s := src.snap.Load(); s != nil {
			all = append(all, *s...)
		}
	}
	return all
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
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + vb.Field(i).Int())
		}
	}
	return a
}

// activeCalls is callscope_calls_active: the calls in the correlators' tables.
func (l *liveCalls) activeCalls() float64 {
	n := 0
	for _, src := range l.sources() {
		if c := src.cor.Load(); c != nil {
			n += c.ActiveCalls
		}
	}
	return float64(n)
}
