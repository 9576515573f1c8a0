// Package callmetrics exports how the calls are doing as Prometheus metrics: calls by
// outcome and peer group, SIP final responses, PDD and setup time, stream quality,
// dropped and one-way-audio calls, registrations. Everything is counted when a call (or
// a REGISTER flow) ends, from the finished call as the JSON contract describes it, so a
// replayed capture gives the same numbers as the live traffic did.
//
// The only per-peer label is the call's peer group (package peers), so cardinality is
// bounded by the config. Metrics is safe for concurrent use (the collectors are); it is
// called once per finished call, never per packet.
package callmetrics

import (
	"slices"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcome values of callscope_calls_total: the call states, except failed calls the
// user rejected (final 403, 404, 484 or 603), which count as OutcomeRejected so that NER
// can be computed in PromQL the way correlate.Aggregate.NER does.
const OutcomeRejected = "rejected"

// Outcome returns the outcome label of a finished call.
func Outcome(c *correlate.Call) string {
	if c.State == correlate.StateFailed {
		switch c.FinalCode {
		case 403, 404, 484, 603:
			return OutcomeRejected
		}
	}
	return string(c.State)
}

// Buckets, chosen around the thresholds the shipped rules use (PDD 6 s, MOS 3.6, loss 2 %).
var (
	pddBuckets    = []float64{0.5, 1, 2, 3, 4, 6, 8, 12, 20}
	setupBuckets  = []float64{0.1, 0.25, 0.5, 1, 2, 5}
	mosBuckets    = []float64{1.5, 2, 2.5, 3, 3.3, 3.6, 3.8, 4, 4.2, 4.4}
	lossBuckets   = []float64{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2}
	jitterBuckets = []float64{0.002, 0.005, 0.01, 0.02, 0.04, 0.08}
)

// Metrics are the call metrics of one process.
type Metrics struct {
	calls     *prometheus.CounterVec
	responses *prometheus.CounterVec
	pdd       *prometheus.HistogramVec
	setup     prometheus.Histogram
	mos       *prometheus.HistogramVec
	loss      prometheus.Histogram
	jitter    prometheus.Histogram
	expected  *prometheus.CounterVec
	lost      *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	oneWay    *prometheus.CounterVec
	regs      *prometheus.CounterVec
}

// New registers the metrics on reg. active, if not nil, reports the calls in progress
// (callscope_calls_active).
func New(reg prometheus.Registerer, active func() float64) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_calls_total",
			Help: "Finished calls by outcome (answered, busy, cancelled, no_answer, redirected, failed, rejected) and peer group.",
		}, []string{"peer", "outcome"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_sip_final_responses_total",
			Help: "Final SIP responses (not retransmissions) of finished calls, by peer group, CSeq method and class (2xx..6xx).",
		}, []string{"peer", "method", "class"}),
		pdd: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callscope_call_pdd_seconds", Help: "Post-dial delay of finished calls (INVITE to first ringing or answer), by peer group.",
			Buckets: pddBuckets,
		}, []string{"peer"}),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "callscope_call_setup_seconds", Help: "Setup time of answered calls (200 OK to ACK).", Buckets: setupBuckets,
		}),
		mos: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callscope_stream_mos", Help: "MOS (E-model, ITU-T G.107) of the RTP streams of finished calls, by peer group.",
			Buckets: mosBuckets,
		}, []string{"peer"}),
		loss: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "callscope_stream_loss_ratio", Help: "Packet loss ratio (lost/expected) of the RTP streams of finished calls.",
			Buckets: lossBuckets,
		}),
		jitter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "callscope_stream_jitter_seconds", Help: "Mean interarrival jitter (RFC 3550) of the RTP streams of finished calls.",
			Buckets: jitterBuckets,
		}),
		expected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_rtp_packets_expected_total", Help: "RTP packets expected (sequence range) in the streams of finished calls, by peer group.",
		}, []string{"peer"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_rtp_packets_lost_total", Help: "RTP packets lost in the streams of finished calls, by peer group.",
		}, []string{"peer"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_calls_dropped_total", Help: "Answered calls that dropped, by peer group and reason (CALL.drop_reason).",
		}, []string{"peer", "reason"}),
		oneWay: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_calls_one_way_audio_total", Help: "Answered calls with media in one direction only, by peer group.",
		}, []string{"peer"}),
		regs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_registrations_total", Help: "REGISTER flows by outcome (registered, unregistered, failed, challenged, no_response).",
		}, []string{"outcome"}),
	}
	cs := []prometheus.Collector{m.calls, m.responses, m.pdd, m.setup, m.mos, m.loss, m.jitter,
		m.expected, m.lost, m.dropped, m.oneWay, m.regs}
	if active != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callscope_calls_active", Help: "Calls in progress.",
		}, active))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Init creates the call and INVITE response series of every peer group (and other) at
// zero, so Prometheus's rate() sees a group's first calls instead of a series that
// appears already at 1.
func (m *Metrics) Init(peers []string) {
	for _, p := range append(slices.Clone(peers), "other") {
		for _, st := range correlate.States {
			if st != correlate.StateInProgress {
				m.calls.WithLabelValues(p, string(st))
			}
		}
		m.calls.WithLabelValues(p, OutcomeRejected)
		for _, cl := range classes[1:] {
			m.responses.WithLabelValues(p, "INVITE", cl)
		}
	}
}

// methods bounds the method label; anything else is "other".
var methods = map[string]string{"INVITE": "INVITE", "BYE": "BYE", "CANCEL": "CANCEL", "UPDATE": "UPDATE",
	"INFO": "INFO", "PRACK": "PRACK", "REFER": "REFER", "NOTIFY": "NOTIFY", "ACK": "ACK"}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}

// Class returns "2xx".."6xx" for a SIP status code, or "" outside 100..699.
func Class(code int) string {
	if code < 100 || code > 699 {
		return ""
	}
	return classes[code/100-1]
}

// CallEnded counts one finished call. r.Call.Peer names its group ("" counts as other).
// Final responses are taken from r's messages (AllMessages: some may be packed) when the
// correlator kept them; otherwise the call's own final response to its INVITE is
// counted.
func (m *Metrics) CallEnded(r *correlate.Record) {
	c := &r.Call
	peer := c.Peer
	if peer == "" {
		peer = "other"
	}
	if c.State == correlate.StateInProgress {
		return
	}
	m.calls.WithLabelValues(peer, Outcome(c)).Inc()
	if msgs, _ := r.AllMessages(); len(msgs) > 0 {
		for i := range msgs {
			msg := &msgs[i]
			if msg.Request || msg.Retrans || msg.Status < 200 {
				continue
			}
			meth, ok := methods[msg.Method]
			if !ok {
				meth = "other"
			}
			if cl := Class(msg.Status); cl != "" {
				m.responses.WithLabelValues(peer, meth, cl).Inc()
			}
		}
	} else if cl := Class(c.FinalCode); cl != "" && c.FinalCode >= 200 {
		m.responses.WithLabelValues(peer, "INVITE", cl).Inc()
	}
	if c.PDDMs != nil {
		m.pdd.WithLabelValues(peer).Observe(*c.PDDMs / 1000)
	}
	if c.SetupMs != nil {
		m.setup.Observe(*c.SetupMs / 1000)
	}
	for i := range c.Streams {
		s := &c.Streams[i]
		if s.MOS != nil {
			m.mos.WithLabelValues(peer).Observe(*s.MOS)
		}
		if s.Expected > 0 {
			m.loss.Observe(float64(s.Lost) / float64(s.Expected))
			m.expected.WithLabelValues(peer).Add(float64(s.Expected))
			m.lost.WithLabelValues(peer).Add(float64(s.Lost))
		}
		if s.Packets > 1 {
			m.jitter.Observe(s.JitterMeanMs / 1000)
		}
	}
	if c.Dropped {
		reason := "unknown"
		if c.DropReason != nil {
			reason = string(*c.DropReason)
		}
		m.dropped.WithLabelValues(peer, reason).Inc()
	}
	if c.OneWayAudio {
		m.oneWay.WithLabelValues(peer).Inc()
	}
}

// RegistrationEnded counts one REGISTER flow.
func (m *Metrics) RegistrationEnded(r *correlate.Registration) {
	m.regs.WithLabelValues(r.Outcome).Inc()
}
