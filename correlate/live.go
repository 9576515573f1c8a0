package correlate

import "sort"

// LiveRecords exports up to max calls still in the table, newest start first, as
// records: the calls in progress (rendered as Snapshot renders them) and the calls that
// have ended but linger for retransmissions (state final, end and end reason set,
// quality as of now). Call it on the correlator's goroutine, like every method.
//
// Messages and Pack of each record are views of the call's own append-only slices,
// capped at their current length: the correlator only ever appends to them (beyond that
// length, or into a new array) and never changes an element or the bytes it points to,
// so another goroutine may read a record once it has been published to it through a
// synchronizing operation (an atomic pointer store, a channel send). Nothing is copied
// but the slice headers, so publishing every second costs O(calls), not O(bytes kept).
func (c *Correlator) LiveRecords(max int) []Record {
	if max <= 0 {
		return nil
	}
	all := make([]*call, 0, len(c.calls))
	for _, cl := range c.calls {
		all = append(all, cl)
	}
	sort.Slice(all, func(i, j int) bool { return lessCall(all[j], all[i]) })
	if len(all) > max {
		all = all[:max]
	}
	out := make([]Record, len(all))
	for i, cl := range all {
		r := &out[i]
		r.Call = c.export(cl, true)
		if cl.done {
			// export(live) leaves the end open; an ended call shows how it ended.
			r.Call.End, r.Call.EndReason = Time(cl.end), cl.endReason
		}
		// The raw messages are a slice the correlator only appends to (or lets go when
		// it packs them): the view is cut at today's length. Packed ones (sippack.go)
		// are immutable bytes, unpacked by AllMessages.
		if k := cl.sip; k != nil {
			r.Messages = k.messages[:len(k.messages):len(k.messages)]
			r.packed = k.packed
		}
		if cl.keep != nil {
			r.Pack = c.packView(cl.keep)
		}
	}
	return out
}
