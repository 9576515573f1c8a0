package security

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

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
	if reg != nil {
		// Detectors of several ingest sources (serve: files and live) share one registry:
		// the second finds the series registered and adds to them.
		var err error
		if ev, err = register(reg, ev); err != nil {
			return nil, err
		}
		if evict, err = register(reg, evict); err != nil {
			return nil, err
		}
		if active, err = register(reg, active); err != nil {
			return nil, err
		}
		if msgs, err = register(reg, msgs); err != nil {
			return nil, err
		}
	}
	m := &metrics{active: active, messages: msgs}
	for i, t := range Types {
		m.events[i] = ev.WithLabelValues(string(t))
	}
	for i, n := range tableNames {
		m.evictions[i] = evict.WithLabelValues(n)
	}
	return m, nil
}

// register registers c on reg, or returns the collector of the same description
// registered before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, err
	}
	return c, nil
}
