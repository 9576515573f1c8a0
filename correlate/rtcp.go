package correlate

import (
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/quality"
	"github.com/pion/rtcp"
)

func (c *Correlator) rtcpEvent(ev *decode.Event) {
	var cl *call
	if e, ok := c.media[ev.Dst]; ok {
		cl = e.call
	} else if e, ok := c.media[ev.Src]; ok {
		cl = e.call
	}
	pkts, err := rtcp.Unmarshal(ev.Payload)
	if err != nil && len(pkts) == 0 {
		c.cnt.BadRTCP++
		return
	}
	matched := false
	for _, p := range pkts {
		switch r := p.(type) {
		case *rtcp.SenderReport:
			if st := c.streamBySSRC(cl, r.SSRC); st != nil {
				st.q.SenderReport(ev.TS, r.NTPTime, r.RTPTime)
				matched = true
			}
			matched = c.reports(cl, ev.TS, r.Reports) || matched
		case *rtcp.ReceiverReport:
			matched = c.reports(cl, ev.TS, r.Reports) || matched
		case *rtcp.ExtendedReport:
			for _, b := range r.Reports {
				if v, ok := b.(*rtcp.VoIPMetricsReportBlock); ok {
					if st := c.streamBySSRC(cl, v.SSRC); st != nil {
						st.q.XRVoIPMetrics(quality.XRVoIP{
							LossRate: v.LossRate, DiscardRate: v.DiscardRate,
							BurstDensity: v.BurstDensity, GapDensity: v.GapDensity,
							RoundTripDelay: v.RoundTripDelay, EndSystemDelay: v.EndSystemDelay,
							RFactor: v.RFactor, MOSLQ: v.MOSLQ, MOSCQ: v.MOSCQ,
						})
						matched = true
					}
				}
			}
		}
	}
	if !matched {
		c.cnt.UnmatchedRTCP++
	}
	if cl != nil && c.keepMode != keepNone {
		c.keepFrame(cl, ev, 0)
	}
}

func (c *Correlator) reports(cl *call, ts int64, rr []rtcp.ReceptionReport) bool {
	matched := false
	for i := range rr {
		b := &rr[i]
		if st := c.streamBySSRC(cl, b.SSRC); st != nil {
			st.q.ReportBlock(ts, b.FractionLost, int32(b.TotalLost), b.LastSequenceNumber, b.Jitter, b.LastSenderReport, b.Delay)
			matched = true
		}
	}
	return matched
}

func (c *Correlator) streamBySSRC(cl *call, ssrc uint32) *stream {
	if cl != nil {
		for _, s := range cl.streams {
			if s.key.ssrc == ssrc {
				return s
			}
		}
	}
	return c.bySSRC[ssrc]
}
