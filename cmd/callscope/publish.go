package main

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
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
//
// Calls that have left a correlator but are not stored yet stay visible through
// unstored (unstored.go), so a call is always in /api/v1/active or /api/v1/calls.
type liveCalls struct {
	files, live published
	capture     *capture.Metrics
	unstored    *unstoredCalls
	regs        *regLadders // REGISTER ladders (regkeep.go)
}

// published is what one ingesting goroutine, with its own decoder and correlator, makes
// visible to the others. snap holds the calls in the correlator's table (in progress and
// lingering after their end) with their messages and kept frames so far
// (correlate.LiveRecords: views the correlator only appends beyond); the atomic store
// publishes them, and readers only read.
type published struct {
	snap atomic.Pointer[[]correlate.Record]
	cor  atomic.Pointer[correlate.Counters]
	dec  *decode.Publisher
}

// newLiveCalls registers the pipeline's metrics on reg: capture packets and bytes,
// decode errors by reason, and the correlator's callscope_correlate_* metrics.
func newLiveCalls(reg prometheus.Registerer) (*liveCalls, error) {
	l := &liveCalls{}
	var err error
	if l.unstored, err = newUnstoredCalls(reg); err != nil {
		return nil, err
	}
	if l.regs, err = newRegLadders(reg); err != nil {
		return nil, err
	}
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
	p.publishCorrelator(cor, snapshot)
	p.dec.Publish(dec)
}

// publishCorrelator is publish without the decoder, for a correlator whose decoder runs
// on another goroutine (live_parallel.go publishes that one under its lock).
func (p *published) publishCorrelator(cor *correlate.Correlator, snapshot bool) {
	if snapshot {
		snap := cor.LiveRecords(liveSnapshotMax)
		p.snap.Store(&snap)
	}
	cc := cor.Counters()
	p.cor.Store(&cc)
}

func (l *liveCalls) sources() [2]*published { return [2]*published{&l.files, &l.live} }

// publishFiles publishes the file replay's counters and capture statistics.
func (l *liveCalls) publishFiles(pl *pipeline, snapshot bool) {
	l.files.publish(pl.cor, pl.dec, snapshot)
	l.capture.PublishFiles(pl.src.Stats())
}

// ActiveCalls lists the calls not stored yet, newest start first: in progress, ended
// but lingering in a correlator, and handed to the writer but not yet stored.
func (l *liveCalls) ActiveCalls() []correlate.Call {
	all := l.unstored.calls()
	seen := make(map[string]bool, len(all))
	for _, c := range all {
		seen[c.ID] = true
	}
	for _, src := range l.sources() {
		if s := src.snap.Load(); s != nil {
			for i := range *s {
				if c := &(*s)[i].Call; !seen[c.ID] && !(c.End != 0 && l.unstored.wasStored(c.ID)) {
					seen[c.ID] = true
					all = append(all, *c)
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b correlate.Call) int {
		if a.Start != b.Start {
			return cmp.Compare(b.Start, a.Start)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return all
}

// ActiveCall returns the call with this id (web.LiveRecords) if it is not stored yet,
// with its messages and frames so far; the record is shared and read-only.
func (l *liveCalls) ActiveCall(id string) (*correlate.Record, bool) {
	if r, ok := l.unstored.get(id); ok {
		return r, true
	}
	for _, src := range l.sources() {
		if s := src.snap.Load(); s != nil {
			for i := range *s {
				if (*s)[i].Call.ID == id {
					return &(*s)[i], !l.unstored.wasStored(id)
				}
			}
		}
	}
	return nil, false
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

// RegistrationLadder is web.RegistrationLadders: the kept messages of a recent REGISTER flow.
func (l *liveCalls) RegistrationLadder(id string) (*correlate.Registration, bool) {
	return l.regs.RegistrationLadder(id)
}

// keepRegistration keeps r's messages for its ladder and returns r without them, as
// the store takes it.
func (l *liveCalls) keepRegistration(r *correlate.Registration) correlate.Registration {
	l.regs.add(r)
	out := *r
	out.Messages = nil
	return out
}
