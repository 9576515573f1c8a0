package callmetrics

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

func f(v float64) *float64 { return &v }

// TestMetricsSize50Peers: with 50 peer groups plus other, every group having seen every
// kind of call (answered with PDD, setup, MOS, loss and jitter; busy; 503; dropped; one
// way; and every final response class), /metrics in the text format — with the Go and
// process collectors serve also registers — stays under 200 KB.
func TestMetricsSize50Peers(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := New(reg, func() float64 { return 3 })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 50 {
		names = append(names, fmt.Sprintf("carrier-%02d", i))
	}
	m.Init(names)
	drop := string(correlate.DropRTPTimeout)
	for _, p := range append(names, "other") {
		for _, c := range []correlate.Call{
			{Peer: p, State: "answered", FinalCode: 200, PDDMs: f(1200), SetupMs: f(40), Dropped: true, DropReason: (*correlate.DropReason)(&drop), OneWayAudio: true,
				Streams: []correlate.Stream{{MOS: f(4.1), Expected: 500, Lost: 3, Packets: 497, JitterMeanMs: 4}}},
			{Peer: p, State: "busy", FinalCode: 486}, {Peer: p, State: "failed", FinalCode: 503}, {Peer: p, State: "failed", FinalCode: 404},
			{Peer: p, State: "redirected", FinalCode: 302}, {Peer: p, State: "failed", FinalCode: 603},
		} {
			r := correlate.Record{Call: c, Messages: []correlate.Message{{Method: "INVITE", Status: c.FinalCode}, {Method: "BYE", Status: 200}}}
			m.CallEnded(&r)
		}
	}
	m.RegistrationEnded(&correlate.Registration{Outcome: "registered"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("/metrics with 50 peer groups: %d bytes", buf.Len())
	if buf.Len() > 200_000 {
		t.Errorf("/metrics is %d bytes, want <= 200000", buf.Len())
	}
}
