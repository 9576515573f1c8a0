package correlate

import "github.com/prometheus/client_golang/prometheus"

// metric is one exported counter or gauge: its description and how it reads Counters.
type metric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Counters) float64
	label string // the const label value, when desc has one
}

// collector exports Counters as callscope_correlate_* metrics. It reads them through
// get once per scrape; get runs on the scraping goroutine, so it must return a copy the
// correlator's goroutine published (e.g. through a mutex or an atomic pointer), never
// call Correlator.Counters directly from another goroutine.
type collector struct {
	get     func() Counters
	metrics []metric
}

// RegisterMetrics registers the correlator's counters with reg:
//
//	callscope_correlate_sip_messages_total, _rtp_packets_total, _rtcp_packets_total
//	callscope_correlate_non_call_sip_total, _unmatched_rtcp_total, _non_rtp_media_total
//	callscope_correlate_bad_input_total{reason="sdp|rtcp"}
//	callscope_correlate_evictions_total{table="calls|streams|media|registrations"}
//	callscope_correlate_dropped_total{what="messages|streams|media_frames|seen_hashes|
//	    media_addrs|payload_types|user_agents|dtmf|codec_names|links|sdp_parts|retained_bytes"}
//	callscope_correlate_retained_bytes (gauge)
//	callscope_correlate_active{table="calls|streams|media|registrations"} (gauge)
//
// get is called once per scrape (see collector for its concurrency rule).
func RegisterMetrics(reg prometheus.Registerer, get func() Counters) error {
	return reg.Register(newCollector(get))
}

func newCollector(get func() Counters) *collector {
	c := &collector{get: get}
	counter := func(name, help string, v func(*Counters) float64) {
		c.metrics = append(c.metrics, metric{
			desc:  prometheus.NewDesc("callscope_correlate_"+name, help, nil, nil),
			typ:   prometheus.CounterValue,
			value: v,
		})
	}
	labelled := func(name, help, label string, typ prometheus.ValueType, vals map[string]func(*Counters) float64, order []string) {
		d := prometheus.NewDesc("callscope_correlate_"+name, help, []string{label}, nil)
		for _, l := range order {
			c.metrics = append(c.metrics, metric{desc: d, typ: typ, value: vals[l], label: l})
		}
	}
	u := func(f func(*Counters) uint64) func(*Counters) float64 {
		return func(n *Counters) float64 { return float64(f(n)) }
	}
	i := func(f func(*Counters) int) func(*Counters) float64 {
		return func(n *Counters) float64 { return float64(f(n)) }
	}
	counter("sip_messages_total", "SIP messages correlated.", u(func(n *Counters) uint64 { return n.SIPMessages }))
	counter("rtp_packets_total", "RTP packets correlated.", u(func(n *Counters) uint64 { return n.RTPPackets }))
	counter("rtcp_packets_total", "RTCP compounds correlated.", u(func(n *Counters) uint64 { return n.RTCPPackets }))
	counter("non_call_sip_total", "SIP messages outside INVITE dialogs and REGISTER flows (OPTIONS, SUBSCRIBE...).",
		u(func(n *Counters) uint64 { return n.NonCallSIP }))
	counter("duplicate_sip_total", "SIP messages seen twice by the capture (within 10 ms, or 250 ms between wire and HEP copies), not counted as retransmissions.",
		u(func(n *Counters) uint64 { return n.DuplicateSIP }))
	counter("unmatched_rtcp_total", "RTCP compounds naming no known stream.", u(func(n *Counters) uint64 { return n.UnmatchedRTCP }))
	counter("non_rtp_media_total", "RTP-looking datagrams on media the SDP declared non-RTP (T.38).",
		u(func(n *Counters) uint64 { return n.NonRTPMedia }))
	labelled("bad_input_total", "Undecodable SDP bodies and RTCP compounds.", "reason", prometheus.CounterValue,
		map[string]func(*Counters) float64{
			"sdp":  u(func(n *Counters) uint64 { return n.BadSDP }),
			"rtcp": u(func(n *Counters) uint64 { return n.BadRTCP }),
		}, []string{"sdp", "rtcp"})
	labelled("evictions_total", "Entries evicted because a table was full (raise the Max* setting of that table).", "table",
		prometheus.CounterValue, map[string]func(*Counters) float64{
			"calls":         u(func(n *Counters) uint64 { return n.CallsEvicted }),
			"streams":       u(func(n *Counters) uint64 { return n.StreamsEvicted }),
			"media":         u(func(n *Counters) uint64 { return n.MediaEvicted }),
			"registrations": u(func(n *Counters) uint64 { return n.RegistrationsEvicted }),
		}, []string{"calls", "streams", "media", "registrations"})
	labelled("dropped_total", "Items not kept because a cap was reached (per call; codec_names: the correlator's encoding-name table).", "what", prometheus.CounterValue,
		map[string]func(*Counters) float64{
			"messages":       u(func(n *Counters) uint64 { return n.MessagesDropped }),
			"streams":        u(func(n *Counters) uint64 { return n.StreamsDroppedPerCall }),
			"media_frames":   u(func(n *Counters) uint64 { return n.MediaFramesDropped }),
			"seen_hashes":    u(func(n *Counters) uint64 { return n.SeenHashesDropped }),
			"media_addrs":    u(func(n *Counters) uint64 { return n.MediaAddrsDropped }),
			"payload_types":  u(func(n *Counters) uint64 { return n.PayloadTypesDropped }),
			"user_agents":    u(func(n *Counters) uint64 { return n.UserAgentsDropped }),
			"dtmf":           u(func(n *Counters) uint64 { return n.DTMFDropped }),
			"codec_names":    u(func(n *Counters) uint64 { return n.CodecNamesDropped }),
			"links":          u(func(n *Counters) uint64 { return n.LinksDropped }),
			"sdp_parts":      u(func(n *Counters) uint64 { return n.SDPPartsDropped }),
			"retained_bytes": u(func(n *Counters) uint64 { return n.RetainedBytesDropped }),
		}, []string{"messages", "streams", "media_frames", "seen_hashes", "media_addrs", "payload_types", "user_agents", "dtmf", "codec_names", "links", "sdp_parts", "retained_bytes"})
	labelled("active", "Entries in the correlator's tables.", "table", prometheus.GaugeValue,
		map[string]func(*Counters) float64{
			"calls":         i(func(n *Counters) int { return n.ActiveCalls }),
			"streams":       i(func(n *Counters) int { return n.ActiveStreams }),
			"media":         i(func(n *Counters) int { return n.ActiveMedia }),
			"registrations": i(func(n *Counters) int { return n.ActiveRegistrations }),
		}, []string{"calls", "streams", "media", "registrations"})
	counter("frame_spill_errors_total", "Frame spill files that could not be created, written or read back (a failed read loses that call's frames).",
		u(func(n *Counters) uint64 { return n.FrameSpillErrors }))
	counter("frame_spill_written_bytes_total", "Sealed frame chunk bytes written to the frame spill files.",
		u(func(n *Counters) uint64 { return n.FrameSpillWritten }))
	counter("frame_spill_full_total", "Sealed frame chunks kept in memory because frame_spill_max_bytes was reached.",
		u(func(n *Counters) uint64 { return n.FrameSpillFull }))
	c.metrics = append(c.metrics, metric{
		desc: prometheus.NewDesc("callscope_correlate_frame_spill_bytes",
			"Sealed frame chunks of running calls in the frame spill files (their memory is not retained_bytes).", nil, nil),
		typ:   prometheus.GaugeValue,
		value: func(n *Counters) float64 { return float64(n.FrameSpillBytes) },
	})
	c.metrics = append(c.metrics, metric{
		desc: prometheus.NewDesc("callscope_correlate_retained_bytes",
			"SIP text and media frames kept by the calls in the table, against max_retained_bytes.", nil, nil),
		typ:   prometheus.GaugeValue,
		value: func(n *Counters) float64 { return float64(n.RetainedBytes) },
	})
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	seen := make(map[*prometheus.Desc]bool, len(c.metrics))
	for _, m := range c.metrics {
		if !seen[m.desc] {
			seen[m.desc] = true
			ch <- m.desc
		}
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := c.get()
	for _, m := range c.metrics {
		if m.label != "" {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&n), m.label)
		} else {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&n))
		}
	}
}
