package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

// securityFeed is serve's security analytics: one detector per ingest source (files
// replay their own packet time, live input its own; each owned by its correlator's
// goroutine, fed through callHooks), every event queued for the store when raised and
// again, with its final counts, when it ends. The queue is bounded and never blocks
// ingest: beyond it events are dropped and counted.
type securityFeed struct {
	cfg     security.Config
	reg     prometheus.Registerer
	log     *slog.Logger
	toStore chan security.Event
	dropped prometheus.Counter
	// notify, when set, turns each event into an alert (alertAt): raised is firing,
	// ended is resolved. It queues and never blocks (alert.Notifier).
	notify func(store.AlertEvent)
}

// alertAt is the alert a security event raises through the alerting notifiers
// (Alertmanager, webhook): alertname CallscopeSecurity_<type>, the offending source in
// the peer label (so each source is its own alert), the event's severity, metric
// security:<rule>, value its count. The runbook is docs/alerts.md like every alert.
func alertAt(e *security.Event, state string) store.AlertEvent {
	return store.AlertEvent{
		Rule: "CallscopeSecurity_" + string(e.Type), Peer: e.Source, Severity: string(e.Severity), State: state,
		Metric: "security:" + string(e.Rule), Op: "above", Value: float64(e.Count), At: e.Last, Since: e.First,
		WindowStart: e.First,
		Summary:     fmt.Sprintf("%s (%s) from %s%s: %d requests", e.Type, e.Rule, e.Source, targetText(e.Target), e.Count),
	}
}

func targetText(t string) string {
	if t == "" {
		return ""
	}
	return " against " + t
}

// securityStoreQueue bounds the events waiting for the store.
const securityStoreQueue = 4096

func newSecurityFeed(cfg security.Config, reg prometheus.Registerer, log *slog.Logger) (*securityFeed, error) {
	f := &securityFeed{cfg: cfg, reg: reg, log: log, toStore: make(chan security.Event, securityStoreQueue),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_security_store_dropped_total",
			Help: "Security events (raised or ended) not stored because the store queue was full.",
		})}
	if err := reg.Register(f.dropped); err != nil {
		return nil, err
	}
	return f, nil
}

// detector returns a new detector for one ingest source (its metrics on serve's
// registry, shared with the other source's), or nil when the detector is off.
func (f *securityFeed) detector() (*security.Detector, error) {
	if !f.cfg.Enabled {
		return nil, nil
	}
	return security.New(f.cfg, security.Output{
		Raised: func(e *security.Event) { // a view that keeps changing: copy
			cp := *e
			cp.CallIDs = append([]string{}, e.CallIDs...)
			f.queue(cp)
			if f.notify != nil {
				f.notify(alertAt(e, "firing"))
			}
		},
		Ended: func(e *security.Event) {
			f.queue(*e)
			if f.notify != nil {
				f.notify(alertAt(e, "resolved"))
			}
		},
	}, f.reg)
}

func (f *securityFeed) queue(e security.Event) {
	select {
	case f.toStore <- e:
	default:
		f.dropped.Inc()
	}
}

// storeLoop writes queued events until ctx ends, then the rest.
func (f *securityFeed) storeLoop(ctx context.Context, st store.Store) {
	write := func(evs []security.Event) {
		if len(evs) == 0 {
			return
		}
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.WriteSecurityEvents(wctx, evs); err != nil {
			f.log.Warn("storing security events", "err", err, "events", len(evs))
		}
	}
	for {
		select {
		case <-ctx.Done():
			var rest []security.Event
			for {
				select {
				case e := <-f.toStore:
					rest = append(rest, e)
				default:
					write(rest)
					return
				}
			}
		case e := <-f.toStore:
			batch := []security.Event{e}
			for len(batch) < 256 {
				select {
				case e := <-f.toStore:
					batch = append(batch, e)
					continue
				default:
				}
				break
			}
			write(batch)
		}
	}
}
