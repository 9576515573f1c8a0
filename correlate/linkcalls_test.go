package correlate

import (
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
			LinkCalls(tc.recs)
			for _, r := range tc.recs {
				if got := strings.Join(r.Call.LinkedCallIDs, ","); got != tc.want[r.Call.CallID] {
					t.Errorf("%s linked to %q, want %q", r.Call.CallID, got, tc.want[r.Call.CallID])
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
