package decode

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports the counters of decoders as callscope_decode_* metrics on the
// Registerer given to NewMetrics:
//
//	callscope_decode_errors_total{reason}       ErrorCounts, summed over every decoder
//	callscope_decode_duplicate_frames_total     Counters.DuplicateFrames (capture duplicates)
//
// A Decoder belongs to one goroutine and counts without atomics, so scrapes never read
// it: its owner publishes copies with Publisher.Publish (on its own goroutine), and a
// scrape sums the latest copy of each publisher.
type Metrics struct {
	errors *prometheus.Desc
	dups   *prometheus.Desc
	// A metric read from Counters gets its Desc here, its line in Collect and its row in
	// the README's metric table.

	mu   sync.Mutex
	pubs []*Publisher
}

// Publisher carries one decoder's latest counters to scrapes.
type Publisher struct{ cur atomic.Pointer[published] }

type published struct {
	errs ErrorCounts
	cnt  Counters
}

// NewMetrics registers the decode metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		errors: prometheus.NewDesc("callscope_decode_errors_total",
			"Packets or parts of packets that could not be decoded, by reason.", []string{"reason"}, nil),
		dups: prometheus.NewDesc("callscope_decode_duplicate_frames_total",
			"Frames dropped as capture duplicates (the same IP packet again within 10 ms).", nil, nil),
	}
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return m, nil
}

// NewPublisher adds a decoder's publisher to the sums. Nil-safe: a nil *Metrics returns
// a publisher nobody reads.
func (m *Metrics) NewPublisher() *Publisher {
	p := &Publisher{}
	if m != nil {
		m.mu.Lock()
		m.pubs = append(m.pubs, p)
		m.mu.Unlock()
	}
	return p
}

// Publish copies d's counters for scrapes (one small allocation: publish a few times a
// second, not per packet). Called on the goroutine that owns d.
func (p *Publisher) Publish(d *Decoder) {
	p.cur.Store(&published{errs: *d.Errors(), cnt: d.Counters()})
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.errors; ch <- m.dups }

// Collect implements prometheus.Collector: the sums over every publisher. A reason is
// exported once some decoder has counted it.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	var sum published
	m.mu.Lock()
	for _, p := range m.pubs {
		if c := p.cur.Load(); c != nil {
			sum.errs.Add(&c.errs)
			sum.cnt.DuplicateFrames += c.cnt.DuplicateFrames
		}
	}
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.dups, prometheus.CounterValue, float64(sum.cnt.DuplicateFrames))
	for reason, n := range sum.errs.Map() {
		ch <- prometheus.MustNewConstMetric(m.errors, prometheus.CounterValue, float64(n), reason)
	}
}
