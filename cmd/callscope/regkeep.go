package main

import (
	"slices"
	"sync"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of the REGISTER ladders kept in memory (web.RegistrationLadders).
const (
	regKeepPerAOR = 4        // recent flows kept per AOR
	regKeepFlows  = 5000     // flows kept in all
	regKeepBytes  = 32 << 20 // bytes of SIP text and frames kept in all
)

// regLadders keeps the SIP messages of recent REGISTER flows, by
// correlate.RegistrationID, for their ladders: at most regKeepPerAOR per AOR (the
// oldest of the AOR goes: evictions{reason="aor"}), regKeepFlows and regKeepBytes in all
// (the oldest goes: evictions{reason="table"}). Registrations are not stored with their
// messages, so the ladders of a restarted probe are gone. The ingest goroutines add, web
// handlers read; a mutex guards it. Added messages are read-only.
type regLadders struct {
	mu      sync.Mutex
	byID    map[string]*correlate.Registration
	byAOR   map[string][]string // ids, oldest first
	order   []string            // insertion order; removed ids are skipped lazily
	bytes   int64
	evicted *prometheus.CounterVec
}

func newRegLadders(reg prometheus.Registerer) (*regLadders, error) {
	l := &regLadders{byID: map[string]*correlate.Registration{}, byAOR: map[string][]string{},
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_dashboard_register_ladder_evictions_total",
			Help: "REGISTER flows whose kept messages (their ladder) were dropped: aor (more than 4 for one AOR) or table (more than 5000 flows or 32 MiB in all).",
		}, []string{"reason"})}
	l.evicted.WithLabelValues("aor")
	l.evicted.WithLabelValues("table")
	if reg != nil {
		if err := reg.Register(l.evicted); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func regBytes(r *correlate.Registration) int64 {
	n := int64(0)
	for i := range r.Messages {
		n += int64(len(r.Messages[i].Raw) + len(r.Messages[i].Frame))
	}
	return n
}

// add keeps r (with its messages) when it has any.
func (l *regLadders) add(r *correlate.Registration) {
	if len(r.Messages) == 0 {
		return
	}
	id := correlate.RegistrationID(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.byID[id]; ok {
		l.remove(id)
	}
	l.byID[id] = r
	l.byAOR[r.AOR] = append(l.byAOR[r.AOR], id)
	l.order = append(l.order, id)
	l.bytes += regBytes(r)
	if ids := l.byAOR[r.AOR]; len(ids) > regKeepPerAOR {
		l.remove(ids[0])
		l.evicted.WithLabelValues("aor").Inc()
	}
	for len(l.byID) > regKeepFlows || l.bytes > regKeepBytes && len(l.byID) > 1 {
		old := l.order[0]
		l.order = l.order[1:]
		if _, ok := l.byID[old]; ok {
			l.remove(old)
			l.evicted.WithLabelValues("table").Inc()
		}
	}
	if len(l.order) > 2*len(l.byID)+64 {
		l.order = slices.DeleteFunc(l.order, func(id string) bool { _, ok := l.byID[id]; return !ok })
	}
}

// remove forgets id (order is cleaned lazily).
func (l *regLadders) remove(id string) {
	r := l.byID[id]
	delete(l.byID, id)
	l.bytes -= regBytes(r)
	ids := slices.DeleteFunc(l.byAOR[r.AOR], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(l.byAOR, r.AOR)
	} else {
		l.byAOR[r.AOR] = ids
	}
}

// RegistrationLadder returns the registration with this id and its messages, if kept.
func (l *regLadders) RegistrationLadder(id string) (*correlate.Registration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.byID[id]
	return r, ok
}
