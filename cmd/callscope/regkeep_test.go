package main

import (
	"strconv"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRegLaddersBounded: a sixth flow of one AOR evicts its oldest (4 per AOR kept), and
// 5000 flows of other AORs then push out the oldest flows, each eviction counted by
// reason. Expectations are the caps worked by hand.
func TestRegLaddersBounded(t *testing.T) {
	l, err := newRegLadders(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	flow := func(aor string, i int) *correlate.Registration {
		return &correlate.Registration{AOR: aor, CallID: "reg-" + aor + "-" + strconv.Itoa(i), Time: correlate.Time(i),
			Messages: []correlate.Message{{Raw: []byte("REGISTER sip:x SIP/2.0\r\n\r\n")}}}
	}
	var ids []string
	for i := range 6 {
		r := flow("sip:2001@x", i)
		l.add(r)
		ids = append(ids, correlate.RegistrationID(r))
	}
	for i, id := range ids {
		if _, ok := l.RegistrationLadder(id); ok != (i >= 2) {
			t.Errorf("flow %d of 6 of one AOR kept=%v, want the last 4 kept", i, ok)
		}
	}
	if n := testutil.ToFloat64(l.evicted.WithLabelValues("aor")); n != 2 {
		t.Errorf("aor evictions %v, want 2", n)
	}
	l.add(&correlate.Registration{AOR: "none", CallID: "no-msgs"}) // nothing to keep
	for i := range regKeepFlows {
		l.add(flow("sip:u"+strconv.Itoa(i)+"@x", 100+i))
	}
	// 4 + 5000 flows for room for 5000: the 4 of sip:2001@x went first.
	if n := testutil.ToFloat64(l.evicted.WithLabelValues("table")); n != 4 {
		t.Errorf("table evictions %v, want 4", n)
	}
	if _, ok := l.RegistrationLadder(ids[5]); ok || len(l.byID) != regKeepFlows || len(l.order) > 2*regKeepFlows+64 {
		t.Errorf("after 5000 more flows: newest of the first AOR kept=%v, %d flows, order %d", ok, len(l.byID), len(l.order))
	}
}

// TestUnstoredBounded: stored calls leave the table (and are remembered as stored, so a
// snapshot a second old does not list them again); beyond unstoredMax waiting calls
// the oldest is dropped from the view and counted.
func TestUnstoredBounded(t *testing.T) {
	u, err := newUnstoredCalls(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rec := func(i int) *correlate.Record {
		return &correlate.Record{Call: correlate.Call{ID: "c" + strconv.Itoa(i)}}
	}
	a, b := rec(-1), rec(-2)
	u.add(a)
	u.add(b)
	u.stored([]*correlate.Record{a})
	if _, ok := u.get(a.Call.ID); ok || !u.wasStored(a.Call.ID) || u.wasStored(b.Call.ID) {
		t.Error("a stored call is still listed as not stored, or not remembered as stored")
	}
	for i := range unstoredMax {
		u.add(rec(i))
	}
	// b and 5000 more for room for 5000: b went.
	if _, ok := u.get(b.Call.ID); ok || len(u.calls()) != unstoredMax || testutil.ToFloat64(u.evicted) != 1 {
		t.Errorf("b kept=%v, %d listed, %v evicted; want false, %d, 1", ok, len(u.calls()), testutil.ToFloat64(u.evicted), unstoredMax)
	}
}

// TestUnstoredHeld: the writer's frameless copy (store.WriterConfig.Held) replaces the
// waiting record it was made from, and only that one: not a newer record of the same
// call added since, and not a call already stored (it is not listed again).
func TestUnstoredHeld(t *testing.T) {
	u, err := newUnstoredCalls(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := &correlate.Record{Call: correlate.Call{ID: "a"}}
	aHeld := &correlate.Record{Call: a.Call}
	u.add(a)
	u.held(a, aHeld)
	if got, _ := u.get("a"); got != aHeld {
		t.Error("the held copy did not replace the waiting record")
	}
	b1, b2 := &correlate.Record{Call: correlate.Call{ID: "b"}}, &correlate.Record{Call: correlate.Call{ID: "b"}}
	u.add(b1)
	u.add(b2) // the call again, newer
	u.held(b1, &correlate.Record{Call: b1.Call})
	if got, _ := u.get("b"); got != b2 {
		t.Error("a held copy of an older record replaced the newer one")
	}
	c := &correlate.Record{Call: correlate.Call{ID: "c"}}
	u.add(c)
	u.stored([]*correlate.Record{c})
	u.held(c, &correlate.Record{Call: c.Call})
	if _, ok := u.get("c"); ok {
		t.Error("a held copy listed a stored call again")
	}
}
