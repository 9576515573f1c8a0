package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNotifierRetries: the Alertmanager stand-in (a real HTTP server) refuses the first
// two POSTs with 503; the notifier must retry with back-off and deliver the firing alert
// on the third attempt (2 failed, 1 sent), with the API v2 shape and labels; the webhook
// gets the change once. Pending changes are not sent.
func TestNotifierRetries(t *testing.T) {
	var mu sync.Mutex
	var amBodies, hookBodies [][]byte
	fails := 2
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if fails > 0 {
			fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		amBodies = append(amBodies, b)
	}))
	defer am.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hookBodies = append(hookBodies, b)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := NotifyConfig{Alertmanager: am.URL, Webhook: hook.URL, ResendInterval: Duration(time.Hour)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := NewNotifier(cfg, Config{}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	n.Notify(store.AlertEvent{Rule: "R", Peer: "p", Severity: "warning", State: "pending"})
	n.Notify(store.AlertEvent{Rule: "R", Peer: "p", Severity: "warning", State: "firing", Metric: "asr", Summary: "s"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := len(amBodies) == 1 && len(hookBodies) == 1
		mu.Unlock()
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if got := testutil.ToFloat64(n.res.WithLabelValues(ReceiverAlertmanager, "failed")); got != 2 {
		t.Errorf("failed = %v, want 2", got)
	}
	if got := testutil.ToFloat64(n.res.WithLabelValues(ReceiverAlertmanager, "sent")); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if len(amBodies) != 1 || len(hookBodies) != 1 {
		t.Fatalf("alertmanager got %d, webhook %d", len(amBodies), len(hookBodies))
	}
	var alerts []amAlert
	if err := json.Unmarshal(amBodies[0], &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("%s: %v", amBodies[0], err)
	}
	a := alerts[0]
	if a.Labels["alertname"] != "R" || a.Labels["peer"] != "p" || a.Labels["severity"] != "warning" || a.Annotations["summary"] != "s" ||
		!a.EndsAt.After(time.Now()) || a.Annotations["runbook"] != DefaultRunbook+"#r" {
		t.Errorf("alert %+v", a)
	}
}

// TestNotifyNeverBlocks: with nothing draining, Notify beyond the queue drops and counts.
func TestNotifyNeverBlocks(t *testing.T) {
	cfg := NotifyConfig{Webhook: "http://127.0.0.1:9/", Queue: 2}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := NewNotifier(cfg, Config{}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 10 {
		n.Notify(store.AlertEvent{Rule: "R", State: "firing"})
	}
	if time.Since(start) > time.Second {
		t.Error("Notify blocked")
	}
	if got := testutil.ToFloat64(n.res.WithLabelValues(ReceiverWebhook, "dropped")); got != 8 {
		t.Errorf("dropped = %v, want 8 (10 changes, queue of 2)", got)
	}
}
