// Package alert is callscope's built-in alerting: rules from the config (a metric over
// a window of finished calls, per peer group or over all traffic, a threshold,
// min_calls, for, severity) evaluated on packet time, and the notifiers that send the
// resulting state changes to Alertmanager (API v2) and to a JSON webhook.
//
// Time: the engine's clock is the newest call time it has seen (a call's end, or its
// start when it has none) or a time given to Advance. Rules are evaluated at every
// multiple b of Config.EvalInterval, over the calls that ended in (b-window, b], once the
// clock is Config.Settle past b (calls are reported after they end), so a replayed
// capture raises the same alerts at the same packet times as the live traffic did.
//
// States: inactive → pending (the condition holds) → firing (it held for `for`) →
// resolved (the value came back past the threshold by the rule's hysteresis, or the
// window emptied). A pending alert whose condition stops holding returns to inactive.
// Every change is reported to Engine's OnChange and kept in a bounded history.
//
// Concurrency: Engine is safe for concurrent use (one mutex; it is called once per
// finished call, never per packet). OnChange is called after the mutex is released, on
// the goroutine that fed the engine; it must not block (cmd hands changes to bounded
// queues). Notifier.Run is one goroutine per process, owned by cmd.
package alert

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

// AllTraffic is the peer label of a rule that is not per peer.
const AllTraffic = "all"

// maxScopes bounds the peer groups the engine tracks (the config bounds them anyway).
const maxScopes = 2048

// sample is what the rules need of one finished call.
type sample struct {
	t          int64
	flags      uint8
	pdd        float32    // seconds, NaN when unknown
	mos        [2]float32 // the first two streams with a MOS, NaN when absent
	lost, expd uint32
}

const (
	fAttempt uint8 = 1 << iota
	fAnswered
	fDelivered // NER numerator
	f5xx
	fDropped
	fOneWay
)

type scope struct {
	name    string
	samples []sample // ring order: appended at the end, evicted from the front
	head    int
}

func (s *scope) live() []sample { return s.samples[s.head:] }

func (s *scope) push(x sample, max int) (evicted int) {
	if len(s.samples)-s.head >= max {
		s.head++
		evicted = 1
	}
	if s.head > 0 && s.head >= len(s.samples)/2 {
		n := copy(s.samples, s.samples[s.head:])
		s.samples = s.samples[:n]
		s.head = 0
	}
	s.samples = append(s.samples, x)
	return evicted
}

func (s *scope) evictBefore(t int64) {
	for s.head < len(s.samples) && s.samples[s.head].t <= t {
		s.head++
	}
	if s.head == len(s.samples) {
		s.samples, s.head = s.samples[:0], 0
	}
}

type phase uint8

const (
	inactive phase = iota
	pending
	firing
)

type stateKey struct {
	rule  int
	scope string
}

type state struct {
	phase phase
	since int64
	last  store.AlertEvent // the newest evaluation while pending or firing
}

// Metrics are the engine's own counters, shared by every engine of a process.
type Metrics struct {
	changes *prometheus.CounterVec
	firing  *prometheus.GaugeVec
	evicted prometheus.Counter
}

// NewMetrics registers the engine metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_alert_state_changes_total", Help: "Built-in alert state changes, by new state.",
		}, []string{"state"}),
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "callscope_alerts_firing", Help: "Built-in alerts firing now, by rule.",
		}, []string{"rule"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callscope_alert_samples_evicted_total", Help: "Calls evicted from alert windows because alerts.max_samples was reached.",
		}),
	}
	for _, c := range []prometheus.Collector{m.changes, m.firing, m.evicted} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Engine evaluates the rules of one Config over the calls fed to it.
type Engine struct {
	mu        sync.Mutex
	cfg       Config
	iv        int64
	maxWin    int64
	onChange  func(store.AlertEvent)
	m         *Metrics
	scopes    map[string]*scope
	order     []*scope // scopes in creation order: evaluation order is deterministic
	states    map[stateKey]*state
	now, next int64
	history   []store.AlertEvent // ring of cfg.History
	hpos      int
	hfull     bool
	pendingEv []store.AlertEvent
	scratch   []float64
}

// New returns an engine for cfg, which must have passed Validate. onChange and m may be
// nil.
func New(cfg Config, m *Metrics, onChange func(store.AlertEvent)) *Engine {
	cfg.Defaults()
	e := &Engine{cfg: cfg, iv: int64(cfg.EvalInterval), onChange: onChange, m: m,
		scopes: map[string]*scope{}, states: map[stateKey]*state{}}
	for _, r := range cfg.Rules {
		e.maxWin = max(e.maxWin, int64(r.Window))
	}
	return e
}

func sampleOf(c *correlate.Call) sample {
	s := sample{t: max(int64(c.End), int64(c.Start)), pdd: float32(math.NaN()), mos: [2]float32{float32(math.NaN()), float32(math.NaN())}}
	if c.State != correlate.StateInProgress {
		s.flags |= fAttempt
	}
	switch c.State {
	case correlate.StateAnswered:
		s.flags |= fAnswered | fDelivered
		if c.Dropped {
			s.flags |= fDropped
		}
		if c.OneWayAudio {
			s.flags |= fOneWay
		}
	case correlate.StateBusy, correlate.StateNoAnswer, correlate.StateCancelled:
		s.flags |= fDelivered
	case correlate.StateFailed:
		switch c.FinalCode {
		case 403, 404, 484, 603:
			s.flags |= fDelivered
		}
	}
	if c.FinalCode >= 500 && c.FinalCode < 600 {
		s.flags |= f5xx
	}
	if c.PDDMs != nil {
		s.pdd = float32(*c.PDDMs / 1000)
	}
	n := 0
	for i := range c.Streams {
		st := &c.Streams[i]
		if st.MOS != nil && n < 2 {
			s.mos[n] = float32(*st.MOS)
			n++
		}
		s.lost += uint32(min(st.Lost, math.MaxUint32/4))
		s.expd += uint32(min(st.Expected, math.MaxUint32/4))
	}
	return s
}

// Observe adds a finished call (its Peer names the group; "" is other). Calls must come
// in the order they finished.
func (e *Engine) Observe(c *correlate.Call) {
	x := sampleOf(c)
	peer := c.Peer
	if peer == "" {
		peer = "other"
	}
	e.mu.Lock()
	e.advance(x.t)
	ev := 0
	if sc := e.scope(peer); sc != nil {
		ev += sc.push(x, e.cfg.MaxSamples)
	}
	ev += e.scope(AllTraffic).push(x, e.cfg.MaxSamples)
	evs := e.takeEvents()
	e.mu.Unlock()
	if ev > 0 && e.m != nil {
		e.m.evicted.Add(float64(ev))
	}
	e.emit(evs)
}

// Advance moves the clock to t (packet time, Unix ns) and evaluates the boundaries it
// passes by Config.Settle. Live input calls it while traffic pauses.
func (e *Engine) Advance(t int64) {
	e.mu.Lock()
	e.advance(t)
	evs := e.takeEvents()
	e.mu.Unlock()
	e.emit(evs)
}

// Flush evaluates every boundary up to t, the end of the input (a capture's last
// packet), without waiting for Settle: every call has been reported. Boundaries after t
// are not evaluated, so an alert firing at the end of a capture stays firing.
func (e *Engine) Flush(t int64) {
	e.mu.Lock()
	settle := e.cfg.Settle
	e.cfg.Settle = 0
	e.advance(t + 1)
	e.cfg.Settle = settle
	evs := e.takeEvents()
	e.mu.Unlock()
	e.emit(evs)
}

func (e *Engine) takeEvents() []store.AlertEvent {
	evs := e.pendingEv
	e.pendingEv = nil
	return evs
}

func (e *Engine) emit(evs []store.AlertEvent) {
	for _, ev := range evs {
		if e.m != nil {
			e.m.changes.WithLabelValues(ev.State).Inc()
		}
		if e.onChange != nil {
			e.onChange(ev)
		}
	}
}

func (e *Engine) scope(name string) *scope {
	if sc, ok := e.scopes[name]; ok {
		return sc
	}
	if len(e.scopes) >= maxScopes {
		return nil
	}
	sc := &scope{name: name}
	e.scopes[name] = sc
	e.order = append(e.order, sc)
	return sc
}

func (e *Engine) advance(t int64) {
	if t <= 0 || len(e.cfg.Rules) == 0 {
		return
	}
	if t > e.now {
		e.now = t
	}
	if e.next == 0 {
		e.next = (t/e.iv + 1) * e.iv
		return
	}
	if (e.now-e.next)/e.iv > 10000 { // a jump in time: evaluate only the newest boundary
		e.next = (e.now - int64(e.cfg.Settle)) / e.iv * e.iv
	}
	// A boundary is evaluated once the clock is Settle past it, so the calls that ended
	// in its window have been reported.
	settle := int64(e.cfg.Settle)
	for e.next+settle < e.now {
		e.evaluate(e.next)
		e.next += e.iv
	}
	for _, sc := range e.order {
		sc.evictBefore(e.now - settle - e.maxWin - e.iv)
	}
}

// agg is a window's aggregate.
type agg struct {
	calls, attempts, answered, delivered, errs, dropped, oneWay int
	lost, expected                                              uint64
}

func (e *Engine) evaluate(b int64) {
	for ri := range e.cfg.Rules {
		r := &e.cfg.Rules[ri]
		if r.PerPeer {
			for _, sc := range e.order {
				if sc.name != AllTraffic {
					e.evalRule(ri, r, sc, b)
				}
			}
		} else if sc := e.scopes[AllTraffic]; sc != nil {
			e.evalRule(ri, r, sc, b)
		}
	}
}

func (e *Engine) evalRule(ri int, r *Rule, sc *scope, b int64) {
	from := b - int64(r.Window)
	var a agg
	vals := e.scratch[:0]
	for _, x := range sc.live() {
		if x.t <= from || x.t > b {
			continue
		}
		a.calls++
		if x.flags&fAttempt != 0 {
			a.attempts++
		}
		if x.flags&fAnswered != 0 {
			a.answered++
		}
		if x.flags&fDelivered != 0 {
			a.delivered++
		}
		if x.flags&f5xx != 0 {
			a.errs++
		}
		if x.flags&fDropped != 0 {
			a.dropped++
		}
		if x.flags&fOneWay != 0 {
			a.oneWay++
		}
		a.lost += uint64(x.lost)
		a.expected += uint64(x.expd)
		switch r.Metric {
		case MetricMOSP50:
			for _, m := range x.mos {
				if !math.IsNaN(float64(m)) {
					vals = append(vals, float64(m))
				}
			}
		case MetricPDDP95:
			if !math.IsNaN(float64(x.pdd)) {
				vals = append(vals, float64(x.pdd))
			}
		}
	}
	e.scratch = vals
	v, known := value(r.Metric, &a, vals)
	known = known && a.calls >= r.MinCalls && a.calls > 0
	breach := known && crosses(r.Op, v, r.Threshold)
	recovered := a.calls == 0 || (known && !crosses(r.Op, v, backoff(r.Op, r.Threshold, r.Hysteresis)))
	key := stateKey{ri, sc.name}
	st := e.states[key]
	if st == nil {
		if !breach {
			return
		}
		st = &state{}
		e.states[key] = st
	}
	ev := store.AlertEvent{Rule: r.Name, Peer: sc.name, Severity: r.Severity, Metric: string(r.Metric), Op: r.Op,
		Value: round(v), Threshold: r.Threshold, Calls: a.calls, At: correlate.Time(b), WindowStart: correlate.Time(from)}
	change := func(p phase, name string) {
		st.phase = p
		ev.State = name
		ev.Since = correlate.Time(st.since)
		ev.Summary = e.summary(r, &ev)
		e.record(ev)
	}
	switch st.phase {
	case inactive:
		if breach {
			st.since = b
			change(pending, "pending")
			if r.For <= 0 {
				change(firing, "firing")
				e.firingDelta(r.Name, 1)
			}
		}
	case pending:
		switch {
		case !breach:
			change(inactive, "inactive")
		case b-st.since >= int64(r.For):
			change(firing, "firing")
			e.firingDelta(r.Name, 1)
		}
	case firing:
		if recovered {
			change(inactive, "resolved")
			e.firingDelta(r.Name, -1)
		}
	}
	if st.phase == inactive {
		delete(e.states, key)
	} else {
		ev.State = phaseName(st.phase)
		ev.Since = correlate.Time(st.since)
		ev.Summary = e.summary(r, &ev)
		st.last = ev
	}
}

func phaseName(p phase) string {
	if p == firing {
		return "firing"
	}
	return "pending"
}

func (e *Engine) firingDelta(rule string, d float64) {
	if e.m != nil {
		e.m.firing.WithLabelValues(rule).Add(d)
	}
}

func (e *Engine) record(ev store.AlertEvent) {
	e.pendingEv = append(e.pendingEv, ev)
	if len(e.history) < e.cfg.History {
		e.history = append(e.history, ev)
		return
	}
	e.history[e.hpos] = ev
	e.hpos = (e.hpos + 1) % len(e.history)
	e.hfull = true
}

func crosses(op string, v, th float64) bool {
	if op == "below" {
		return v < th
	}
	return v > th
}

// backoff is the threshold a firing alert must come back past to resolve.
func backoff(op string, th, h float64) float64 {
	if op == "below" {
		return th + h
	}
	return th - h
}

func pct(n, d int) float64 { return float64(n) * 100 / float64(d) }

// value computes metric over a window; known is false when the window has nothing to
// measure it on.
func value(m Metric, a *agg, vals []float64) (float64, bool) {
	switch m {
	case MetricASR, MetricNER, MetricServerError:
		if a.attempts == 0 {
			return 0, false
		}
		n := a.answered
		if m == MetricNER {
			n = a.delivered
		} else if m == MetricServerError {
			n = a.errs
		}
		return pct(n, a.attempts), true
	case MetricDropped, MetricOneWay:
		if a.answered == 0 {
			return 0, false
		}
		n := a.dropped
		if m == MetricOneWay {
			n = a.oneWay
		}
		return pct(n, a.answered), true
	case MetricLoss:
		if a.expected == 0 {
			return 0, false
		}
		return float64(a.lost) * 100 / float64(a.expected), true
	case MetricMOSP50:
		return quantile(vals, 0.5)
	case MetricPDDP95:
		return quantile(vals, 0.95)
	}
	return 0, false
}

// quantile is the nearest-rank quantile (the smallest value with at least q of the
// values at or below it).
func quantile(vals []float64, q float64) (float64, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	slices.Sort(vals)
	i := int(math.Ceil(q*float64(len(vals)))) - 1
	return vals[max(i, 0)], true
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func (e *Engine) summary(r *Rule, ev *store.AlertEvent) string {
	s := r.Summary
	if s == "" {
		s = r.Name + " {{peer}}: " + string(r.Metric) + " {{value}} " + r.Op + " {{threshold}}"
	}
	return strings.NewReplacer("{{peer}}", ev.Peer,
		"{{value}}", strconv.FormatFloat(math.Round(ev.Value*100)/100, 'f', -1, 64),
		"{{threshold}}", strconv.FormatFloat(ev.Threshold, 'f', -1, 64),
		"{{calls}}", strconv.Itoa(ev.Calls)).Replace(s)
}

// Active returns the alerts pending or firing now, firing first, with their newest
// evaluation.
func (e *Engine) Active() []store.AlertEvent {
	e.mu.Lock()
	out := make([]store.AlertEvent, 0, len(e.states))
	for _, st := range e.states {
		out = append(out, st.last)
	}
	e.mu.Unlock()
	SortActive(out)
	return out
}

// SortActive orders alerts firing first, then by severity, then by rule and peer.
func SortActive(a []store.AlertEvent) {
	rank := func(ev *store.AlertEvent) int {
		r := 0
		if ev.State != "firing" {
			r += 10
		}
		switch ev.Severity {
		case "warning":
			r++
		case "info":
			r += 2
		}
		return r
	}
	slices.SortFunc(a, func(x, y store.AlertEvent) int {
		if d := rank(&x) - rank(&y); d != 0 {
			return d
		}
		if c := strings.Compare(x.Rule, y.Rule); c != 0 {
			return c
		}
		return strings.Compare(x.Peer, y.Peer)
	})
}

// History returns the kept state changes, oldest first.
func (e *Engine) History() []store.AlertEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.hfull {
		return slices.Clone(e.history)
	}
	return append(slices.Clone(e.history[e.hpos:]), e.history[:e.hpos]...)
}

// Runbook returns the runbook URL of a rule: the configured base with the rule's
// anchor.
func (c *Config) RunbookFor(rule string) string {
	return c.Runbook + "#" + strings.ToLower(rule)
}
