package security

import "github.com/prometheus/client_golang/prometheus"

// Tables whose evictions are counted (callscope_security_evictions_total{table}).
const (
	tableSources = iota
	tableAORs
	tableEvents
	tableAccounts
	tablePeers
	numTables
)

var tableNames = [numTables]string{"sources", "aors", "events", "accounts", "peers"}

// metrics are the detector's Prometheus series, resolved once so that counting costs an
// atomic add.
type metrics struct {
	events    [len(Types)]prometheus.Counter
	evictions [numTables]prometheus.Counter
	active    prometheus.Gauge
	messages  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	ev := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callscope_security_events_total",
		Help: "Security events raised, by type (scanner, brute_force, flood, toll_fraud, anomaly).",
	}, []string{"type"})
	evict := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callscope_security_evictions_total",
		Help: "Entries recycled from a full security table (sources, aors, events, accounts, peers); raise security.max_<table> if this grows.",
	}, []string{"table"})
	active := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "callscope_security_active_events",
		Help: "Security events in progress (raised, not yet ended).",
	})
	msgs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callscope_security_sip_messages_total",
		Help: "SIP messages the security detector examined.",
	})
	m := &metrics{active: active, messages: msgs}
	for i, t := range Types {
		m.events[i] = ev.WithLabelValues(string(t))
	}
	for i, n := range tableNames {
		m.evictions[i] = evict.WithLabelValues(n)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{ev, evict, active, msgs} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
