package correlate

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLinkCalls(t *testing.T) {
	mk := func(id, from, to string, start time.Duration, window time.Duration, keys ...string) *Record {
		return &Record{Call: Call{CallID: id, FromUser: from, ToUser: to, Start: Time(at(start))},
			LinkKeys: append([]string{"cid:" + id}, keys...), LinkWindow: int64(window)}
	}
	cases := []struct {
		name string
		recs []*Record
		want map[string]string // call id -> comma-joined links
	}{
		{"by X-CID header", []*Record{mk("a", "1", "2", 0, 0), mk("b", "1", "2", 0, 0, "cid:a")},
			map[string]string{"a": "b", "b": "a"}},
		{"by icid", []*Record{mk("a", "1", "2", 0, 0, "icid:x"), mk("b", "3", "4", 0, 0, "icid:x"), mk("c", "3", "4", 0, 0)},
			map[string]string{"a": "b", "b": "a", "c": ""}},
		{"by number off", []*Record{mk("a", "1", "2", 0, 0), mk("b", "1", "2", sec, 0)},
			map[string]string{"a": "", "b": ""}},
		{"by number within the window", []*Record{
			mk("a", "+4930123", "555", 0, 2*sec), mk("b", "4930123", "555", 1500*time.Millisecond, 2*sec),
			mk("c", "4930123", "555", 3500*time.Millisecond, 2*sec), mk("d", "4930123", "556", 0, 2*sec),
		}, map[string]string{"a": "b", "b": "a,c", "c": "b", "d": ""}},
		{"by number needs both sides to opt in", []*Record{mk("a", "1", "2", 0, 2*sec), mk("b", "1", "2", sec, 0)},
			map[string]string{"a": "", "b": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// LinkCallList (analyze's form: the calls without their records) on copies.
			calls := make([]Call, len(tc.recs))
			links := make([]Links, len(tc.recs))
			for i, r := range tc.recs {
				calls[i], links[i] = r.Call, Links{Keys: r.LinkKeys, Window: r.LinkWindow}
			}
			LinkCalls(tc.recs)
			LinkCallList(calls, links)
			for i, r := range tc.recs {
				if got := strings.Join(r.Call.LinkedCallIDs, ","); got != tc.want[r.Call.CallID] {
					t.Errorf("%s linked to %q, want %q", r.Call.CallID, got, tc.want[r.Call.CallID])
				}
				if got := strings.Join(calls[i].LinkedCallIDs, ","); got != tc.want[r.Call.CallID] {
					t.Errorf("LinkCallList: %s linked to %q, want %q", r.Call.CallID, got, tc.want[r.Call.CallID])
				}
			}
		})
	}
}

func TestLinkByNumberConfig(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LinkByNumber = true })
	a, b := newDialog("leg-a"), newDialog("leg-b")
	h.answer(a, 0)
	h.answer(b, 50*time.Millisecond)
	h.finish()
	LinkCalls(h.recs)
	if got := h.call("leg-a").LinkedCallIDs; len(got) != 1 || got[0] != "leg-b" {
		t.Errorf("leg-a linked to %v", got)
	}
	bad := DefaultConfig()
	bad.LinkByNumber, bad.LinkWindow = true, 0
	if bad.Validate() == nil {
		t.Error("LinkByNumber without a window validated")
	}
	bad = DefaultConfig()
	bad.KeepRTP = "some"
	if bad.Validate() == nil {
		t.Error("KeepRTP \"some\" validated")
	}
}

// TestFinishShrinksTables: Finish leaves the correlator's indexes empty and replaces them
// by new maps, so the buckets of 40 calls' media, links and streams can be collected
// while analyze still holds the correlator; a call after Finish is correlated as before.
func TestFinishShrinksTables(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 40 {
		d := newDialog(fmt.Sprintf("call-%d", i))
		h.answer(d, time.Duration(i)*10*time.Millisecond)
	}
	h.both(0, time.Second)
	if len(h.c.media) == 0 || len(h.c.calls) != 40 {
		t.Fatalf("before Finish: %d media entries, %d calls", len(h.c.media), len(h.c.calls))
	}
	old := reflect.ValueOf(h.c.media).UnsafePointer()
	h.finish()
	if len(h.recs) != 40 {
		t.Fatalf("%d calls emitted, want 40", len(h.recs))
	}
	if len(h.c.media) != 0 || len(h.c.calls) != 0 || len(h.c.bySSRC) != 0 || len(h.c.links.byKey) != 0 {
		t.Fatalf("after Finish: %d media, %d calls, %d ssrcs, %d link keys", len(h.c.media), len(h.c.calls), len(h.c.bySSRC), len(h.c.links.byKey))
	}
	if reflect.ValueOf(h.c.media).UnsafePointer() == old {
		t.Error("the media index is the map that held 40 calls")
	}
	d := newDialog("after")
	h.answer(d, 2*time.Second)
	h.finish()
	if h.call("after") == nil || len(h.recs) != 41 {
		t.Errorf("a call after Finish: %d records", len(h.recs))
	}
}
