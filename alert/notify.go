package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Notifier sends firing and resolved alerts to Alertmanager (API v2) and to a JSON
// webhook. Notify never blocks: each receiver has a bounded queue, and a change that
// does not fit is dropped and counted. Run delivers, with retries and back-off, until
// its ctx ends.
type Notifier struct {
	cfg    NotifyConfig
	rules  Config
	client *http.Client
	log    *slog.Logger
	recvs  []*receiver
	res    *prometheus.CounterVec
}

type receiver struct {
	name string
	url  string
	q    chan store.AlertEvent
}

// Receiver names, the receiver label of callscope_alert_notifications_total.
const (
	ReceiverAlertmanager = "alertmanager"
	ReceiverWebhook      = "webhook"
)

// NewNotifier registers callscope_alert_notifications_total{receiver,result} on reg.
// cfg must have passed Validate; rules gives the runbook base. It returns nil (a
// Notifier that does nothing) when no receiver is configured.
func NewNotifier(cfg NotifyConfig, rules Config, reg prometheus.Registerer, log *slog.Logger) (*Notifier, error) {
	if cfg.Alertmanager == "" && cfg.Webhook == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rules.Defaults()
	n := &Notifier{cfg: cfg, rules: rules, client: &http.Client{Timeout: time.Duration(cfg.Timeout)}, log: log,
		res: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_alert_notifications_total",
			Help: "Alert notifications by receiver and result: sent, failed (an attempt that failed and is retried), dropped (queue full or retries exhausted).",
		}, []string{"receiver", "result"})}
	if err := reg.Register(n.res); err != nil {
		return nil, err
	}
	if cfg.Alertmanager != "" {
		n.recvs = append(n.recvs, &receiver{name: ReceiverAlertmanager,
			url: strings.TrimRight(cfg.Alertmanager, "/") + "/api/v2/alerts", q: make(chan store.AlertEvent, cfg.Queue)})
	}
	if cfg.Webhook != "" {
		n.recvs = append(n.recvs, &receiver{name: ReceiverWebhook, url: cfg.Webhook, q: make(chan store.AlertEvent, cfg.Queue)})
	}
	for _, r := range n.recvs {
		for _, res := range []string{"sent", "failed", "dropped"} {
			n.res.WithLabelValues(r.name, res)
		}
	}
	return n, nil
}

// Notify queues a firing or resolved change for every receiver (other states are not
// sent). Safe for concurrent use; never blocks.
func (n *Notifier) Notify(ev store.AlertEvent) {
	if n == nil || (ev.State != "firing" && ev.State != "resolved") {
		return
	}
	for _, r := range n.recvs {
		select {
		case r.q <- ev:
		default:
			n.res.WithLabelValues(r.name, "dropped").Inc()
		}
	}
}

// Run delivers until ctx ends; one goroutine per receiver, joined before it returns.
func (n *Notifier) Run(ctx context.Context) error {
	if n == nil {
		return nil
	}
	done := make(chan struct{}, len(n.recvs))
	for _, r := range n.recvs {
		go func() {
			defer func() { done <- struct{}{} }()
			if r.name == ReceiverAlertmanager {
				n.runAlertmanager(ctx, r)
			} else {
				n.runWebhook(ctx, r)
			}
		}()
	}
	for range n.recvs {
		<-done
	}
	return nil
}

// amAlert is one alert of Alertmanager's API v2 (postableAlert).
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func key(ev *store.AlertEvent) string { return ev.Rule + "\x00" + ev.Peer }

// Labels are the Alertmanager labels of an alert: alertname, peer, severity, metric and
// source="callscope".
func Labels(ev *store.AlertEvent) map[string]string {
	return map[string]string{"alertname": ev.Rule, "peer": ev.Peer, "severity": ev.Severity,
		"metric": ev.Metric, "source": "callscope"}
}

func (n *Notifier) toAM(ev *store.AlertEvent, now time.Time) amAlert {
	start := time.Unix(0, int64(ev.Since))
	if ev.Since == 0 || start.After(now) {
		start = now
	}
	end := now.Add(4 * time.Duration(n.cfg.ResendInterval))
	if ev.State == "resolved" {
		end = now
	}
	return amAlert{
		Labels: Labels(ev),
		Annotations: map[string]string{
			"summary":     ev.Summary,
			"description": fmt.Sprintf("%s %s %g over the window (threshold %g, %d calls) at packet time %s.", ev.Metric, ev.Op, ev.Value, ev.Threshold, ev.Calls, time.Unix(0, int64(ev.At)).UTC().Format(time.RFC3339)),
			"runbook":     n.rules.RunbookFor(ev.Rule),
		},
		StartsAt: start, EndsAt: end,
	}
}

func (n *Notifier) runAlertmanager(ctx context.Context, r *receiver) {
	firing := map[string]store.AlertEvent{}
	t := time.NewTicker(time.Duration(n.cfg.ResendInterval))
	defer t.Stop()
	for {
		var batch []amAlert
		select {
		case <-ctx.Done():
			return
		case ev := <-r.q:
			if ev.State == "firing" {
				firing[key(&ev)] = ev
			} else {
				delete(firing, key(&ev))
			}
			batch = append(batch, n.toAM(&ev, time.Now()))
		case <-t.C:
			now := time.Now()
			for _, ev := range firing {
				batch = append(batch, n.toAM(&ev, now))
			}
		}
		if len(batch) > 0 {
			n.post(ctx, r, batch)
		}
	}
}

// webhookBody is what the webhook receives for each change.
type webhookBody struct {
	Source  string            `json:"source"` // "callscope"
	Alert   store.AlertEvent  `json:"alert"`
	Labels  map[string]string `json:"labels"`
	Runbook string            `json:"runbook"`
}

func (n *Notifier) runWebhook(ctx context.Context, r *receiver) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.q:
			n.post(ctx, r, webhookBody{Source: "callscope", Alert: ev, Labels: Labels(&ev), Runbook: n.rules.RunbookFor(ev.Rule)})
		}
	}
}

// post sends body, retrying with back-off (500 ms doubling, at most 30 s) up to
// cfg.Retries times.
func (n *Notifier) post(ctx context.Context, r *receiver, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		n.res.WithLabelValues(r.name, "dropped").Inc()
		return
	}
	wait := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := n.send(ctx, r.url, b)
		if err == nil {
			n.res.WithLabelValues(r.name, "sent").Inc()
			return
		}
		n.res.WithLabelValues(r.name, "failed").Inc()
		if attempt >= *n.cfg.Retries || ctx.Err() != nil {
			n.res.WithLabelValues(r.name, "dropped").Inc()
			n.log.Warn("alert notification dropped after retries", "receiver", r.name, "err", err,
				"metric", "callscope_alert_notifications_total", "knob", "notify.retries")
			return
		}
		select {
		case <-ctx.Done():
			n.res.WithLabelValues(r.name, "dropped").Inc()
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (n *Notifier) send(ctx context.Context, url string, b []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for reuse
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}
