package correlate

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterMetrics(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCalls = 1 })
	h.answer(newDialog("c1"), 0)
	h.answer(newDialog("c2"), 2*sec)
	h.both(3*sec, 4*sec)
	reg := prometheus.NewPedanticRegistry()
	if err := RegisterMetrics(reg, h.c.Counters); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP callscope_correlate_evictions_total Entries evicted because a table was full (raise the Max* setting of that table).
# TYPE callscope_correlate_evictions_total counter
callscope_correlate_evictions_total{table="calls"} 1
callscope_correlate_evictions_total{table="media"} 0
callscope_correlate_evictions_total{table="registrations"} 0
callscope_correlate_evictions_total{table="streams"} 0
# HELP callscope_correlate_rtp_packets_total RTP packets correlated.
# TYPE callscope_correlate_rtp_packets_total counter
callscope_correlate_rtp_packets_total 100
# HELP callscope_correlate_active Entries in the correlator's tables.
# TYPE callscope_correlate_active gauge
callscope_correlate_active{table="calls"} 1
callscope_correlate_active{table="media"} 4
callscope_correlate_active{table="registrations"} 0
callscope_correlate_active{table="streams"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"callscope_correlate_evictions_total", "callscope_correlate_rtp_packets_total", "callscope_correlate_active"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 34 {
		t.Errorf("%d series, %v", n, err)
	}
}
