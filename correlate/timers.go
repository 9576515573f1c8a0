package correlate

import (
	"container/heap"
	"sort"
)

// Advance runs packet-time timers up to now: SIP and RTP timeouts, lingering calls,
// idle orphan streams.
func (c *Correlator) Advance(now int64) {
	c.lastTick = now
	var emit []*call
	for _, cl := range c.calls {
		if !cl.done {
			c.checkTimeouts(cl, now)
			if k := cl.sip; k != nil && k.confirmed && !cl.done && now-cl.lastSIP >= packQuiet {
				k.confirmed = false
				c.packMessages(cl, k) // keep.go
			}
		}
		if cl.done && now-cl.lastActivity() >= int64(c.cfg.Linger) && now-cl.end >= int64(c.cfg.Linger) {
			emit = append(emit, cl)
		}
	}
	sort.Slice(emit, func(i, j int) bool { return lessCall(emit[i], emit[j]) })
	for _, cl := range emit {
		c.emit(cl)
	}
	c.streams.each(func(s *stream) {
		if s.call == nil && now-s.q.Last() >= int64(c.cfg.RTPTimeout) {
			c.dropStream(s)
			c.emitOrphan(s)
		}
	})
	c.compactOrphanQ()
	for k, f := range c.regs {
		if now-f.started >= int64(c.cfg.SIPTimeout) {
			c.emitReg(k, f)
		}
	}
}

func lessCall(a, b *call) bool {
	if a.start != b.start {
		return a.start < b.start
	}
	return a.id < b.id
}

// callHeap is a min-heap of calls by (start, id) for Snapshot.
type callHeap []*call

func (h callHeap) Len() int { return len(h) }

func (h callHeap) Less(i, j int) bool { return lessCall(h[i], h[j]) }

func (h callHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *callHeap) Push(x any) { *h = append(*h, x.(*call)) }

func (h *callHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Finish ends the input at the time of the last event. Timers run first: an answered
// call whose media stopped at least RTPTimeout before the last packet (with no BYE and no
// SIP since) ends rtp_timeout and is dropped, an INVITE left unanswered longer than the SIP
// timers ends sip_timeout. Every call still open then ends capture_end (so a capture
// that stops less than RTPTimeout after a call's media stopped gives capture_end, not
// rtp_timeout: the probe cannot know the call would not have resumed) and is emitted,
// then every orphan stream and open registration.
func (c *Correlator) Finish() {
	c.Advance(c.now)
	all := make([]*call, 0, len(c.calls))
	for _, cl := range c.calls {
		c.finishCall(cl, EndCaptureEnd)
		all = append(all, cl)
	}
	sort.Slice(all, func(i, j int) bool { return lessCall(all[i], all[j]) })
	for i, cl := range all {
		all[i] = nil // an emitted call is garbage: with a full table this halves the peak heap
		c.emit(cl)
	}
	var orphans []*stream
	c.streams.each(func(s *stream) {
		if s.call == nil {
			orphans = append(orphans, s)
		}
	})
	sort.Slice(orphans, func(i, j int) bool { return lessStream(orphans[i], orphans[j]) })
	for i, s := range orphans {
		orphans[i] = nil
		c.dropStream(s)
		c.emitOrphan(s)
	}
	keys := make([]string, 0, len(c.regs))
	for k := range c.regs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := c.regs[keys[i]], c.regs[keys[j]]
		if a.started != b.started {
			return a.started < b.started
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		c.emitReg(k, c.regs[k])
	}
	c.shrinkTables()
	if c.sealer != nil && c.sealer.spill != nil {
		// Every call was emitted and so settled: nothing is in flight, and the sealer
		// goroutine touches the spill no more.
		c.sealer.spill.close()
	}
}

// shrinkTables replaces the indexes Finish emptied by new ones: a Go map keeps the
// buckets of the largest size it reached, and the caller (analyze) still holds the
// Correlator while it builds its report. At 20,000 concurrent calls that frees 10 MB.
// An index that is not empty is left as it is.
func (c *Correlator) shrinkTables() {
	if len(c.calls) == 0 {
		c.calls = make(map[string]*call)
	}
	if len(c.media) == 0 {
		c.media = make(map[mediaKey]mediaEntry)
	}
	if len(c.bySSRC) == 0 {
		c.bySSRC = make(map[uint32]*stream)
	}
	if len(c.regs) == 0 {
		c.regs = make(map[string]*regFlow)
	}
	if len(c.links.byKey) == 0 && len(c.links.byNumber) == 0 {
		c.links = newLinkIndex()
	}
}

func (c *Correlator) emitOrphan(s *stream) {
	if c.out.Orphan == nil || !plausibleOrphan(s) {
		return
	}
	s.q.Finish(s.q.Last())
	out, _ := s.export(false, c.codecs.name(s.codec))
	c.out.Orphan(&out)
}

func (c *Correlator) emit(cl *call) {
	if cl.keep != nil {
		c.settle(cl.keep) // its last full chunk's result counts against cl before release
	}
	delete(c.calls, cl.id)
	c.unindexLinks(cl)
	for _, s := range cl.streams {
		c.dropStream(s)
	}
	c.unindexMedia(cl)
	c.release(cl)
	if c.out.Call == nil {
		return
	}
	rec := &Record{Call: c.export(cl, false), LinkKeys: cl.linkKeys}
	if c.cfg.PackedRecords {
		rec.packed, rec.Messages = cl.sip.held()
	} else {
		rec.Messages = cl.sip.all()
	}
	if cl.keep != nil {
		rec.Pack = c.final(cl.keep)
	}
	if c.cfg.LinkByNumber {
		rec.LinkWindow = int64(c.cfg.LinkWindow)
	}
	c.out.Call(rec)
}

// Snapshot exports up to max calls still in progress (not yet ended), newest start
// first, from what is known so far: state answered or in_progress, end null, duration
// up to the latest packet time, streams without intervals. It does not change the
// correlator and, like every method, must be called from the goroutine feeding it.
func (c *Correlator) Snapshot(max int) []Call {
	if max <= 0 {
		return nil
	}
	// The newest max calls by a min-heap on (start, id): O(n log max), not a sort of all.
	open := make(callHeap, 0, min(max, len(c.calls)))
	for _, cl := range c.calls {
		switch {
		case cl.done:
		case len(open) < max:
			heap.Push(&open, cl)
		case lessCall(open[0], cl):
			open[0] = cl
			heap.Fix(&open, 0)
		}
	}
	sort.Slice(open, func(i, j int) bool { return lessCall(open[j], open[i]) })
	out := make([]Call, len(open))
	for i, cl := range open {
		out[i] = c.export(cl, true)
	}
	return out
}
