package correlate

import "sort"

// LinkCalls fills linked_call_ids of every call from their link keys: two calls are linked
// when one names the other's Call-ID in a link header, or both carry the same icid-value
// or Session-ID. Calls whose Record.LinkWindow is set (Config.LinkByNumber) are also
// linked to calls with the same from_user and to_user (a leading '+' ignored) that also
// have it set and start within the smaller of the two windows. Links are symmetric and
// sorted, and links the Correlator already made (legs linked while both were in its
// call table, see links.go) are kept: LinkCalls adds the links between calls that did
// not overlap, which only a pass over a whole capture can find.
func LinkCalls(recs []*Record) {
	linkCalls(len(recs), func(i int) (*Call, Links) {
		r := recs[i]
		return &r.Call, Links{Keys: r.LinkKeys, Window: r.LinkWindow}
	})
}

// Links is what LinkCalls reads of a call's Record besides the call: its LinkKeys and
// LinkWindow.
type Links struct {
	Keys   []string
	Window int64
}

// LinkCallList is LinkCalls for calls held without their Records (analyze keeps only
// each Call and its Links): links[i] belongs to calls[i].
func LinkCallList(calls []Call, links []Links) {
	linkCalls(len(calls), func(i int) (*Call, Links) { return &calls[i], links[i] })
}

// linkCalls links the n calls that at returns.
func linkCalls(n int, at func(int) (*Call, Links)) {
	byKey := make(map[string][]int)
	byNumber := make(map[string][]int)
	for i := range n {
		cl, l := at(i)
		for _, k := range l.Keys {
			byKey[k] = append(byKey[k], i)
		}
		if k, ok := numberKey(cl, l.Window); ok {
			byNumber[k] = append(byNumber[k], i)
		}
	}
	start := func(i int) int64 { cl, _ := at(i); return int64(cl.Start) }
	for _, idx := range byNumber {
		sort.Slice(idx, func(a, b int) bool { return start(idx[a]) < start(idx[b]) })
	}
	var set map[string]bool
	for i := range n {
		cl, l := at(i)
		if set == nil || len(set) > 0 {
			set = map[string]bool{}
		}
		for _, id := range cl.LinkedCallIDs { // links made live by the Correlator stay
			set[id] = true
		}
		for _, k := range l.Keys {
			for _, j := range byKey[k] {
				if o, _ := at(j); j != i && o.CallID != cl.CallID {
					set[o.CallID] = true
				}
			}
		}
		if k, ok := numberKey(cl, l.Window); ok {
			idx := byNumber[k]
			lo := sort.Search(len(idx), func(m int) bool { return start(idx[m]) >= int64(cl.Start)-l.Window })
			for _, j := range idx[lo:] {
				o, ol := at(j)
				d := int64(o.Start - cl.Start)
				if d > l.Window {
					break
				}
				w := min(l.Window, ol.Window)
				if j != i && o.CallID != cl.CallID && d >= -w && d <= w {
					set[o.CallID] = true
				}
			}
		}
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		cl.LinkedCallIDs = ids
	}
}

// numberKey is the key LinkCalls matches numbers by, when r takes part.
func numberKey(cl *Call, window int64) (string, bool) {
	if window <= 0 || cl.Start == 0 {
		return "", false
	}
	return callNumberKey(cl.FromUser, cl.ToUser)
}
