package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/callscope/callscope/alert"
	"github.com/callscope/callscope/callmetrics"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/peers"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

// callHooks is what happens to every finished call besides being stored: it gets its
// peer group, is counted in the call metrics and feeds the alert engine and the
// security detector of its ingest source (serve also feeds sec every decoder event).
// Called on the correlator's goroutine; any field may be nil.
type callHooks struct {
	peers   *peers.Classifier
	metrics *callmetrics.Metrics
	engine  *alert.Engine
	// oldest, when not nil, keeps the earliest call or registration time seen (Unix
	// ns; 0 none): retention never cuts after it (store.RetentionConfig.Floor).
	oldest *oldestIngested
	sec    *security.Detector
	// finishing, if not nil, is called once the input is read, before the correlator
	// finishes (pipeline.finishing; analyze bounds its memory there).
	finishing func()
}

func (h *callHooks) call(r *correlate.Record) {
	r.Call.Peer = h.peers.Classify(r.Call.Caller, r.Call.Callee)
	h.oldest.see(int64(r.Call.Start))
	if h.metrics != nil {
		h.metrics.CallEnded(r)
	}
	if h.engine != nil {
		h.engine.Observe(&r.Call)
	}
	if h.sec != nil {
		h.sec.Call(r)
	}
}

func (h *callHooks) registration(r *correlate.Registration) {
	h.oldest.see(int64(r.Time))
	if h.metrics != nil {
		h.metrics.RegistrationEnded(r)
	}
}

// alerting is serve's built-in alerting: one engine per ingest source (files replay
// their own packet time, live input its own), each state change logged, queued for the
// store and handed to the notifier. Nothing here blocks ingest.
type alerting struct {
	cfg      alert.Config
	m        *alert.Metrics
	log      *slog.Logger
	notifier *alert.Notifier
	toStore  chan store.AlertEvent
	dropped  prometheus.Counter
	engines  []*alert.Engine
}

// alertStoreQueue bounds the state changes waiting for the store.
const alertStoreQueue = 1024

func newAlerting(cfg *serveConfig, reg prometheus.Registerer, log *slog.Logger) (*alerting, error) {
	a := &alerting{cfg: cfg.Alerts, log: log, toStore: make(chan store.AlertEvent, alertStoreQueue),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_alert_store_dropped_total", Help: "Alert state changes not stored because the store queue was full.",
		})}
	if err := reg.Register(a.dropped); err != nil {
		return nil, err
	}
	var err error
	if a.m, err = alert.NewMetrics(reg); err != nil {
		return nil, err
	}
	if a.notifier, err = alert.NewNotifier(cfg.Notify, cfg.Alerts, reg, log); err != nil {
		return nil, err
	}
	return a, nil
}

// engine returns a new engine for one ingest source, or nil when alerting is off.
func (a *alerting) engine() *alert.Engine {
	if a == nil || a.cfg.Disabled {
		return nil
	}
	e := alert.New(a.cfg, a.m, a.change)
	a.engines = append(a.engines, e)
	return e
}

func (a *alerting) change(ev store.AlertEvent) {
	a.log.Info("alert", "rule", ev.Rule, "peer", ev.Peer, "state", ev.State, "severity", ev.Severity,
		"value", ev.Value, "threshold", ev.Threshold, "calls", ev.Calls,
		"at", time.Unix(0, int64(ev.At)).UTC().Format(time.RFC3339), "summary", ev.Summary)
	select {
	case a.toStore <- ev:
	default:
		a.dropped.Inc()
	}
	a.notifier.Notify(ev)
}

// active lists the alerts pending or firing in every engine (web.Config.Alerts).
func (a *alerting) active() []store.AlertEvent {
	var all []store.AlertEvent
	for _, e := range a.engines {
		all = append(all, e.Active()...)
	}
	alert.SortActive(all)
	return all
}

// storeLoop writes queued state changes until ctx ends, then the rest.
func (a *alerting) storeLoop(ctx context.Context, st store.Store) {
	write := func(evs []store.AlertEvent) {
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.WriteAlertEvents(wctx, evs); err != nil {
			a.log.Warn("storing alert state changes", "err", err, "changes", len(evs))
		}
	}
	for {
		select {
		case <-ctx.Done():
			var rest []store.AlertEvent
			for {
				select {
				case ev := <-a.toStore:
					rest = append(rest, ev)
				default:
					write(rest)
					return
				}
			}
		case ev := <-a.toStore:
			batch := []store.AlertEvent{ev}
			for len(batch) < 256 {
				select {
				case ev := <-a.toStore:
					batch = append(batch, ev)
					continue
				default:
				}
				break
			}
			write(batch)
		}
	}
}

// AlertReport is the `analyze --alerts CONFIG --json` document.
type AlertReport struct {
	Capture CaptureInfo        `json:"capture"`
	Calls   int                `json:"calls"`
	Peers   map[string]int     `json:"peers"`   // calls per peer group
	Changes []store.AlertEvent `json:"changes"` // every state change, in packet-time order
	Active  []store.AlertEvent `json:"active"`  // still pending or firing at the capture's end
}

// analyzeAlerts replays files with the peers and alert rules of the config file and
// prints the alert state changes they raise.
func analyzeAlerts(ctx context.Context, files []string, path string, ccfg correlate.Config, asJSON bool, w io.Writer) error {
	cfg := defaultServeConfig()
	if err := loadConfigFile(path, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Alerts.Disabled {
		return fmt.Errorf("%s: alerts.disabled is set: no rules to evaluate", path)
	}
	out := AlertReport{Peers: map[string]int{}, Changes: []store.AlertEvent{}}
	eng := alert.New(cfg.Alerts, nil, func(ev store.AlertEvent) { out.Changes = append(out.Changes, ev) })
	rep, err := analyzeFilesWith(ctx, files, decode.DefaultConfig(), ccfg, &callHooks{peers: cfg.peers, engine: eng})
	if rep == nil {
		return err
	}
	out.Capture, out.Calls, out.Active = rep.Capture, len(rep.Calls), eng.Active()
	for _, c := range rep.Calls {
		out.Peers[c.Peer]++
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(out); werr != nil {
			return werr
		}
		return err
	}
	fmt.Fprintf(w, "%d calls, %d alert state changes, %d still active at the end\n", out.Calls, len(out.Changes), len(out.Active))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nAT\tRULE\tPEER\tSTATE\tSEVERITY\tVALUE\tTHRESHOLD\tCALLS\tSUMMARY")
	for _, ev := range out.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g\t%s %g\t%d\t%s\n", time.Unix(0, int64(ev.At)).UTC().Format("2006-01-02T15:04:05Z"),
			ev.Rule, ev.Peer, ev.State, ev.Severity, ev.Value, ev.Op, ev.Threshold, ev.Calls, ev.Summary)
	}
	tw.Flush()
	return err
}
