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
	byKey := make(map[string][]int)
	byNumber := make(map[string][]int)
	for i, r := range recs {
		for _, k := range r.LinkKeys {
			byKey[k] = append(byKey[k], i)
		}
		if k, ok := numberKey(r); ok {
			byNumber[k] = append(byNumber[k], i)
		}
	}
	for _, idx := range byNumber {
		sort.Slice(idx, func(a, b int) bool { return recs[idx[a]].Call.Start < recs[idx[b]].Call.Start })
	}
	for i, r := range recs {
		set := map[string]bool{}
		for _, id := range r.Call.LinkedCallIDs { // links made live by the Correlator stay
			set[id] = true
		}
		for _, k := range r.LinkKeys {
			for _, j := range byKey[k] {
				if j != i && recs[j].Call.CallID != r.Call.CallID {
					set[recs[j].Call.CallID] = true
				}
			}
		}
		if k, ok := numberKey(r); ok {
			idx := byNumber[k]
			lo := sort.Search(len(idx), func(n int) bool { return int64(recs[idx[n]].Call.Start) >= int64(r.Call.Start)-r.LinkWindow })
			for _, j := range idx[lo:] {
				o := recs[j]
				d := int64(o.Call.Start - r.Call.Start)
				if d > r.LinkWindow {
					break
				}
				w := min(r.LinkWindow, o.LinkWindow)
				if j != i && o.Call.CallID != r.Call.CallID && d >= -w && d <= w {
					set[o.Call.CallID] = true
				}
			}
		}
		ids := make([]string, 0, len(set))
		for id := range set {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		r.Call.LinkedCallIDs = ids
	}
}

// numberKey is the key LinkCalls matches numbers by, when r takes part.
func numberKey(r *Record) (string, bool) {
	if r.LinkWindow <= 0 || r.Call.Start == 0 {
		return "", false
	}
	return callNumberKey(r.Call.FromUser, r.Call.ToUser)
}
