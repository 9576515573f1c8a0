package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "15m", "90s" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML reads "15m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("duration %q: %w", n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON reads "15m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "15m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// MarshalYAML writes "15m0s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Metric is what a rule measures over its window. Percentages are 0..100.
type Metric string

// Metrics a rule may use.
const (
	MetricASR         Metric = "asr"           // % answered of attempts (correlate.Aggregate.ASR)
	MetricNER         Metric = "ner"           // % delivered to the user of attempts (correlate.Aggregate.NER)
	MetricServerError Metric = "5xx_ratio"     // % of attempts whose final response was 5xx
	MetricMOSP50      Metric = "mos_p50"       // median stream MOS
	MetricLoss        Metric = "loss_pct"      // % RTP packets lost of expected, all streams of the window's calls
	MetricPDDP95      Metric = "pdd_p95"       // 95th percentile PDD, seconds
	MetricDropped     Metric = "dropped_ratio" // % of answered calls that dropped
	MetricOneWay      Metric = "one_way_ratio" // % of answered calls with one-way audio
)

var metrics = map[Metric]bool{MetricASR: true, MetricNER: true, MetricServerError: true, MetricMOSP50: true,
	MetricLoss: true, MetricPDDP95: true, MetricDropped: true, MetricOneWay: true}

// Rule is one built-in alert rule.
type Rule struct {
	Name      string   `json:"name" yaml:"name"`
	Metric    Metric   `json:"metric" yaml:"metric"`
	Op        string   `json:"op" yaml:"op"` // "below" or "above" the threshold breaches
	Threshold float64  `json:"threshold" yaml:"threshold"`
	Window    Duration `json:"window" yaml:"window"`
	// PerPeer evaluates the rule for every peer group (and other) on its own; otherwise
	// once over all traffic (peer label "all").
	PerPeer  bool     `json:"per_peer" yaml:"per_peer"`
	MinCalls int      `json:"min_calls" yaml:"min_calls"`
	For      Duration `json:"for" yaml:"for"`
	Severity string   `json:"severity" yaml:"severity"` // critical, warning, info
	// Hysteresis is how far back past the threshold the value must come before a firing
	// alert resolves (same unit as the threshold).
	Hysteresis  float64 `json:"hysteresis" yaml:"hysteresis"`
	Summary     string  `json:"summary" yaml:"summary"`
	Description string  `json:"description" yaml:"description"`
}

// Config is the built-in alerting of the `alerts:` config key.
type Config struct {
	// Disabled turns built-in alerting off. It is on by default with DefaultRules.
	Disabled bool `json:"disabled" yaml:"disabled"`
	// Rules replace DefaultRules when given.
	Rules []Rule `json:"rules" yaml:"rules"`
	// EvalInterval is how often, in packet time, rules are evaluated (default 10s).
	EvalInterval Duration `json:"eval_interval" yaml:"eval_interval"`
	// Settle is how long after a boundary it is evaluated (default 12s): the correlator
	// reports a call up to its linger (10 s) after the call ended, and a window must hold
	// the calls that ended in it.
	Settle Duration `json:"settle" yaml:"settle"`
	// MaxSamples bounds the calls kept per peer group for windows (default 50000);
	// older ones are evicted and counted.
	MaxSamples int `json:"max_samples" yaml:"max_samples"`
	// History is how many state changes are kept in memory for the API (default 1000).
	History int `json:"history" yaml:"history"`
	// Runbook is the base URL of the runbook annotation (default the docs/alerts.md of
	// the project).
	Runbook string `json:"runbook" yaml:"runbook"`
}

// DefaultRunbook is where runbook annotations point unless configured.
const DefaultRunbook = "https://github.com/callscope/callscope/blob/main/docs/alerts.md"

// DefaultRules are on out of the box; docs/alerts.md explains each.
func DefaultRules() []Rule {
	m := func(d time.Duration) Duration { return Duration(d) }
	return []Rule{
		{Name: "CallscopeASRDrop", Metric: MetricASR, Op: "below", Threshold: 40, Window: m(15 * time.Minute), PerPeer: true,
			MinCalls: 20, For: m(2 * time.Minute), Severity: "warning", Hysteresis: 5,
			Summary: "ASR of {{peer}} is {{value}} % (below {{threshold}} %)"},
		{Name: "CallscopeNERDrop", Metric: MetricNER, Op: "below", Threshold: 90, Window: m(15 * time.Minute), PerPeer: true,
			MinCalls: 20, For: m(2 * time.Minute), Severity: "critical", Hysteresis: 3,
			Summary: "NER of {{peer}} is {{value}} % (below {{threshold}} %): the network is failing calls"},
		{Name: "CallscopeSIP5xxBurst", Metric: MetricServerError, Op: "above", Threshold: 10, Window: m(5 * time.Minute), PerPeer: true,
			MinCalls: 10, For: m(1 * time.Minute), Severity: "critical", Hysteresis: 3,
			Summary: "{{value}} % of calls to {{peer}} end with a 5xx (above {{threshold}} %)"},
		{Name: "CallscopeMOSLow", Metric: MetricMOSP50, Op: "below", Threshold: 3.6, Window: m(5 * time.Minute), PerPeer: true,
			MinCalls: 10, For: m(2 * time.Minute), Severity: "warning", Hysteresis: 0.1,
			Summary: "Median MOS of {{peer}} is {{value}} (below {{threshold}})"},
		{Name: "CallscopePacketLoss", Metric: MetricLoss, Op: "above", Threshold: 2, Window: m(5 * time.Minute), PerPeer: true,
			MinCalls: 10, For: m(2 * time.Minute), Severity: "warning", Hysteresis: 0.5,
			Summary: "RTP loss of {{peer}} is {{value}} % (above {{threshold}} %)"},
		{Name: "CallscopePDDHigh", Metric: MetricPDDP95, Op: "above", Threshold: 6, Window: m(15 * time.Minute), PerPeer: true,
			MinCalls: 20, For: m(5 * time.Minute), Severity: "warning", Hysteresis: 1,
			Summary: "PDD p95 of {{peer}} is {{value}} s (above {{threshold}} s)"},
		{Name: "CallscopeDroppedCalls", Metric: MetricDropped, Op: "above", Threshold: 5, Window: m(15 * time.Minute), PerPeer: true,
			MinCalls: 20, For: m(5 * time.Minute), Severity: "warning", Hysteresis: 1,
			Summary: "{{value}} % of answered calls of {{peer}} dropped (above {{threshold}} %)"},
	}
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Rules == nil {
		c.Rules = DefaultRules()
	}
	if c.EvalInterval == 0 {
		c.EvalInterval = Duration(10 * time.Second)
	}
	if c.Settle == 0 {
		c.Settle = Duration(12 * time.Second)
	}
	if c.MaxSamples == 0 {
		c.MaxSamples = 50000
	}
	if c.History == 0 {
		c.History = 1000
	}
	if c.Runbook == "" {
		c.Runbook = DefaultRunbook
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Severity == "" {
			r.Severity = "warning"
		}
		if r.Window == 0 {
			r.Window = Duration(5 * time.Minute)
		}
	}
}

var ruleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Validate fills defaults and checks the config.
func (c *Config) Validate() error {
	c.Defaults()
	var errs []error
	if c.EvalInterval < Duration(time.Second) {
		errs = append(errs, fmt.Errorf("alerts.eval_interval %v: want at least 1s", time.Duration(c.EvalInterval)))
	}
	if c.Settle < 0 || c.Settle > Duration(10*time.Minute) {
		errs = append(errs, fmt.Errorf("alerts.settle %v: want 0 to 10m", time.Duration(c.Settle)))
	}
	if c.MaxSamples < 100 || c.MaxSamples > 10_000_000 {
		errs = append(errs, fmt.Errorf("alerts.max_samples %d: want 100 to 10000000", c.MaxSamples))
	}
	if c.History < 1 || c.History > 1_000_000 {
		errs = append(errs, fmt.Errorf("alerts.history %d: want 1 to 1000000", c.History))
	}
	names := map[string]bool{}
	for i, r := range c.Rules {
		p := fmt.Sprintf("alerts.rules[%d] %q", i, r.Name)
		if !ruleName.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("%s: name: want letters, digits and '_' (an alertname)", p))
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", p))
		}
		names[r.Name] = true
		if !metrics[r.Metric] {
			errs = append(errs, fmt.Errorf("%s: metric %q: want asr, ner, 5xx_ratio, mos_p50, loss_pct, pdd_p95, dropped_ratio or one_way_ratio", p, r.Metric))
		}
		if r.Op != "below" && r.Op != "above" {
			errs = append(errs, fmt.Errorf("%s: op %q: want below or above", p, r.Op))
		}
		switch r.Severity {
		case "critical", "warning", "info":
		default:
			errs = append(errs, fmt.Errorf("%s: severity %q: want critical, warning or info", p, r.Severity))
		}
		if r.Window < Duration(time.Second) || r.Window > Duration(24*time.Hour) {
			errs = append(errs, fmt.Errorf("%s: window %v: want 1s to 24h", p, time.Duration(r.Window)))
		}
		if r.For < 0 || r.MinCalls < 0 || r.Hysteresis < 0 {
			errs = append(errs, fmt.Errorf("%s: for, min_calls and hysteresis must not be negative", p))
		}
	}
	return errors.Join(errs...)
}

// NotifyConfig is the `notify:` config key: where state changes are sent.
type NotifyConfig struct {
	// Alertmanager is a base URL (http://host:9093); alerts are POSTed to
	// /api/v2/alerts and re-sent while firing.
	Alertmanager string `json:"alertmanager" yaml:"alertmanager"`
	// Webhook receives every state change as one JSON object (see docs/alerts.md).
	Webhook string `json:"webhook" yaml:"webhook"`
	// Queue bounds the changes waiting per receiver (default 1024); beyond it changes
	// are dropped and counted.
	Queue int `json:"queue" yaml:"queue"`
	// Retries per notification after the first attempt (default 5), with back-off from
	// 500 ms doubling to at most 30 s.
	Retries *int `json:"retries" yaml:"retries"`
	// ResendInterval re-sends firing alerts to Alertmanager (default 1m); endsAt is set
	// to four intervals ahead, as Prometheus does.
	ResendInterval Duration `json:"resend_interval" yaml:"resend_interval"`
	// Timeout per HTTP request (default 10s).
	Timeout Duration `json:"timeout" yaml:"timeout"`
}

// Validate fills defaults and checks the config.
func (c *NotifyConfig) Validate() error {
	if c.Queue == 0 {
		c.Queue = 1024
	}
	if c.Retries == nil {
		n := 5
		c.Retries = &n
	}
	if c.ResendInterval == 0 {
		c.ResendInterval = Duration(time.Minute)
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(10 * time.Second)
	}
	var errs []error
	for _, u := range []struct{ key, v string }{{"notify.alertmanager", c.Alertmanager}, {"notify.webhook", c.Webhook}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an http(s) URL", u.key, u.v))
		}
	}
	if c.Queue < 1 || c.Queue > 1_000_000 {
		errs = append(errs, fmt.Errorf("notify.queue %d: want 1 to 1000000", c.Queue))
	}
	if *c.Retries < 0 || *c.Retries > 100 {
		errs = append(errs, fmt.Errorf("notify.retries %d: want 0 to 100", *c.Retries))
	}
	if c.ResendInterval < Duration(time.Second) {
		errs = append(errs, errors.New("notify.resend_interval: want at least 1s"))
	}
	return errors.Join(errs...)
}
