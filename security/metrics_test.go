package security

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two detectors on one registry (serve: files and live) share the series: one scanner
// User-Agent request to each raises one event in each, so scanner counts 2.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var fs [2]*feeder
	for i := range fs {
		fs[i] = &feeder{}
		d, err := New(DefaultConfig(), Output{}, reg)
		if err != nil {
			t.Fatalf("detector %d: %v", i+1, err)
		}
		fs[i].d = d
		fs[i].send(t, t0, "198.51.100.9:5070", "10.0.0.1:5060", request("OPTIONS", "100", "s1", 1, "friendly-scanner", ""))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, mf := range mfs {
		if mf.GetName() != "callscope_security_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == "scanner" {
					got = m.GetCounter().GetValue()
				}
			}
		}
	}
	if got != 2 {
		t.Fatalf("callscope_security_events_total{type=scanner} = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(reg, "callscope_security_active_events"); n != 1 {
		t.Fatalf("%d active gauges, want 1", n)
	}
}
