package main

import (
	"slices"
	"sync"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
)

// unstoredMax caps the calls that have left a correlator but are not stored yet (they
// wait in the writer's queue, batch or spool) that the dashboard keeps showing.
const unstoredMax = 5000

// unstoredCalls bridges the gap between a call leaving the correlator (after its linger)
// and the store having it: the ingest goroutines add each call as they hand it to the
// writer, the writer's goroutine removes a batch once stored (store.WriterConfig.Stored),
// and the web handlers read it; a mutex guards it. Beyond unstoredMax the oldest entry
// is dropped from the view (not from the writer):
// callscope_dashboard_unstored_evictions_total. Records are read-only once added: the
// writer reads them too.
type unstoredCalls struct {
	mu      sync.Mutex
	byID    map[string]*correlate.Record
	order   []string // insertion order; ids removed from byID are skipped lazily
	evicted prometheus.Counter
	// recent are the ids stored lately (a ring of recentStored), so a published snapshot
	// up to a second old does not list a call the store already has.
	recent    map[string]bool
	recentIDs [recentStored]string
	recentPos int
}

// recentStored is how many stored ids are remembered: more than a second of calls
// at any rate the writer's 5000-entry batches allow within a publish interval.
const recentStored = 8192

func newUnstoredCalls(reg prometheus.Registerer) (*unstoredCalls, error) {
	u := &unstoredCalls{byID: map[string]*correlate.Record{}, recent: map[string]bool{}, evicted: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callscope_dashboard_unstored_evictions_total",
		Help: "Finished calls not yet stored that the dashboard stopped listing because more than 5000 were waiting for the store.",
	})}
	if reg != nil {
		if err := reg.Register(u.evicted); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// add keeps r visible until stored.
func (u *unstoredCalls) add(r *correlate.Record) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.byID[r.Call.ID]; !ok {
		u.order = append(u.order, r.Call.ID)
	}
	u.byID[r.Call.ID] = r
	for len(u.byID) > unstoredMax {
		id := u.order[0]
		u.order = u.order[1:]
		if _, ok := u.byID[id]; ok {
			delete(u.byID, id)
			u.evicted.Inc()
		}
	}
	u.compact()
}

// stored forgets the calls the store now has.
func (u *unstoredCalls) stored(recs []*correlate.Record) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range recs {
		id := r.Call.ID
		delete(u.byID, id)
		if old := u.recentIDs[u.recentPos]; old != "" {
			delete(u.recent, old)
		}
		u.recentIDs[u.recentPos], u.recent[id] = id, true
		u.recentPos = (u.recentPos + 1) % recentStored
	}
	u.compact()
}

// held swaps a waiting call's record for the writer's copy whose frames are read from
// its write-ahead log (store.WriterConfig.Held), so the frames of up to unstoredMax
// calls are not held in memory twice; a record added again since is left alone.
func (u *unstoredCalls) held(rec, h *correlate.Record) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byID[rec.Call.ID] == rec {
		u.byID[rec.Call.ID] = h
	}
}

// wasStored reports whether the call with this id was stored lately.
func (u *unstoredCalls) wasStored(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.recent[id]
}

// compact drops removed ids from order once they are most of it (O(1) amortized).
func (u *unstoredCalls) compact() {
	if len(u.order) <= 2*len(u.byID)+64 {
		return
	}
	u.order = slices.DeleteFunc(u.order, func(id string) bool { _, ok := u.byID[id]; return !ok })
}

func (u *unstoredCalls) get(id string) (*correlate.Record, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, ok := u.byID[id]
	return r, ok
}

// calls returns the waiting calls (without streams).
func (u *unstoredCalls) calls() []correlate.Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]correlate.Call, 0, len(u.byID))
	for _, r := range u.byID {
		out = append(out, r.Call)
	}
	return out
}
