package callmetrics

import (
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCallEnded: three calls of peer "a", counted by hand: one answered (INVITE 200,
// BYE 200, PDD 1.5 s, a stream with MOS 4.2 and 10 of 1000 packets lost), one 503,
// one rejected with 603 (a user decision, so outcome rejected); plus a call still in
// progress, which is not counted.
func TestCallEnded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.CallEnded(&correlate.Record{Call: correlate.Call{Peer: "a", State: "answered", FinalCode: 200, PDDMs: f(1500),
		Streams: []correlate.Stream{{MOS: f(4.2), Expected: 1000, Lost: 10, Packets: 990, JitterMeanMs: 3}}},
		Messages: []correlate.Message{{Request: true, Method: "INVITE"}, {Method: "INVITE", Status: 180}, {Method: "INVITE", Status: 200},
			{Method: "INVITE", Status: 200, Retrans: true}, {Request: true, Method: "BYE"}, {Method: "BYE", Status: 200}}})
	m.CallEnded(&correlate.Record{Call: correlate.Call{Peer: "a", State: "failed", FinalCode: 503}})
	m.CallEnded(&correlate.Record{Call: correlate.Call{Peer: "a", State: "failed", FinalCode: 603}})
	m.CallEnded(&correlate.Record{Call: correlate.Call{State: "in_progress"}})
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"answered", testutil.ToFloat64(m.calls.WithLabelValues("a", "answered")), 1},
		{"failed", testutil.ToFloat64(m.calls.WithLabelValues("a", "failed")), 1},
		{"rejected", testutil.ToFloat64(m.calls.WithLabelValues("a", "rejected")), 1},
		{"INVITE 2xx (retransmission not counted)", testutil.ToFloat64(m.responses.WithLabelValues("a", "INVITE", "2xx")), 1},
		{"BYE 2xx", testutil.ToFloat64(m.responses.WithLabelValues("a", "BYE", "2xx")), 1},
		{"INVITE 5xx from final_code", testutil.ToFloat64(m.responses.WithLabelValues("a", "INVITE", "5xx")), 1},
		{"INVITE 6xx", testutil.ToFloat64(m.responses.WithLabelValues("a", "INVITE", "6xx")), 1},
		{"lost", testutil.ToFloat64(m.lost.WithLabelValues("a")), 10},
		{"expected", testutil.ToFloat64(m.expected.WithLabelValues("a")), 1000},
		{"other untouched", float64(testutil.CollectAndCount(m.calls)), 3},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestCallEndedPacked: a record whose messages are packed (correlate.Config.PackedRecords,
// here packed by correlate.MessagePacker) counts its final responses from them, as
// the same record unpacked does: INVITE 200 and BYE 200, by hand.
func TestCallEndedPacked(t *testing.T) {
	m, err := New(prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(req bool, method string, status int) correlate.Message {
		text := []byte("SIP/2.0 200 OK\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n")
		frame := append(make([]byte, 42), text...)
		return correlate.Message{Request: req, Method: method, Status: status, Transport: "udp", Frame: frame, Raw: frame[42:]}
	}
	r := &correlate.Record{Call: correlate.Call{Peer: "p", State: "answered", FinalCode: 200},
		Messages: []correlate.Message{msg(true, "INVITE", 0), msg(false, "INVITE", 180), msg(false, "INVITE", 200),
			msg(true, "ACK", 0), msg(true, "BYE", 0), msg(false, "BYE", 200)}}
	var mp correlate.MessagePacker
	mp.Pack(r)
	if len(r.Messages) != 0 {
		t.Fatalf("the record's %d messages were not packed", len(r.Messages))
	}
	m.CallEnded(r)
	if got := testutil.ToFloat64(m.responses.WithLabelValues("p", "INVITE", "2xx")); got != 1 {
		t.Errorf("INVITE 2xx = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.responses.WithLabelValues("p", "BYE", "2xx")); got != 1 {
		t.Errorf("BYE 2xx = %v, want 1", got)
	}
}
