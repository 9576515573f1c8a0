package correlate

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/callscope/callscope/quality"
)

func ms(ns int64) *float64 {
	v := float64(ns) / 1e6
	return &v
}

// export renders the stream. live (Snapshot) leaves the quality state untouched and
// omits the intervals.
func (s *stream) export(live bool, codec string) (Stream, []quality.DTMFEvent) {
	if !live {
		s.q.Finish(s.q.Last())
	}
	sum := s.q.Summary()
	out := Stream{
		SSRC:                 fmt.Sprintf("0x%08X", s.key.ssrc),
		Src:                  s.key.src().String(),
		Dst:                  s.key.dst().String(),
		PayloadType:          int(s.pt),
		Codec:                codec,
		ClockRate:            int(s.clock),
		First:                Time(s.q.First()),
		Last:                 Time(s.q.Last()),
		Packets:              sum.Packets,
		Expected:             sum.Expected,
		Lost:                 sum.Lost,
		Duplicates:           sum.Duplicates,
		OutOfOrder:           sum.OutOfOrder,
		JitterMeanMs:         round3(sum.JitterMeanMs),
		JitterMaxMs:          round3(sum.JitterMaxMs),
		MaxDeltaMs:           round3(sum.MaxDeltaMs),
		DTMF:                 sum.DTMF,
		MediaAddressMismatch: s.mismatch,
		Intervals:            make([]Interval, 0, len(sum.Intervals)),
		Problems:             []string{},
		DTMFEvents:           make([]DTMFEvent, 0, len(sum.DTMFEvents)),
	}
	if sum.Audio == 0 && sum.Events == 0 {
		out.Problems = append(out.Problems, string(ProblemSilent))
	}
	if s.newSSRC {
		out.Problems = append(out.Problems, string(ProblemSSRCChange))
	}
	if sum.Problems.Restarts > 0 {
		out.Problems = append(out.Problems, string(ProblemSequenceRestart))
	}
	if sum.Problems.TimestampJumps > 0 {
		out.Problems = append(out.Problems, string(ProblemTimestampJump))
	}
	if sum.Problems.NetworkStalls > 0 {
		out.Problems = append(out.Problems, string(ProblemNetworkStall))
	}
	if sum.Problems.ClockDrift {
		out.Problems = append(out.Problems, string(ProblemClockDrift))
	}
	out.NetworkStalls, out.LongestStallMs = sum.Problems.NetworkStalls, round3(sum.LongestStallMs)
	if sum.MeasuredClockRate > 0 {
		out.MeasuredClockRate = f3(sum.MeasuredClockRate)
	}
	for _, d := range sum.DTMFEvents {
		out.DTMFEvents = append(out.DTMFEvents, DTMFEvent{Digit: string(d.Digit), Start: Time(d.Start), DurationMs: round3(d.DurationMs)})
	}
	if sum.HasMOS {
		out.MOS, out.MOSMin, out.RFactor = f2(sum.MOS), f2(sum.MOSMin), f2(sum.RFactor)
	}
	if r := sum.RTCP; r != nil {
		info := &RTCPInfo{}
		if r.HasRTT {
			info.RTTMs = f3(r.RTTMs)
		}
		if r.HasReport {
			info.ReportedFractionLost = f3(r.FractionLostPct)
			cl := r.CumulativeLost
			info.ReportedCumulativeLost = &cl
			info.ReportedJitterMs = f3(r.JitterMs)
		}
		out.RTCP = info
	}
	if live {
		return out, sum.DTMFEvents
	}
	for _, iv := range sum.Intervals {
		o := Interval{Start: Time(iv.Start), Packets: iv.Packets, Lost: iv.Lost, JitterMs: round3(iv.JitterMs)}
		if iv.HasMOS {
			o.MOS = f2(iv.MOS)
		}
		out.Intervals = append(out.Intervals, o)
	}
	return out, sum.DTMFEvents
}

func round3(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

func f3(v float64) *float64 { r := round3(v); return &r }

func f2(v float64) *float64 { r := float64(int64(v*100+0.5)) / 100; return &r }

// export renders cl. live (Snapshot) renders a call still in progress: end null, no end
// reason or drop diagnosis, duration up to the latest packet time, quality state untouched.
func (c *Correlator) export(cl *call, live bool) Call {
	out := Call{
		CallID: cl.id, From: cl.from, To: cl.to, FromUser: cl.fromUser, ToUser: cl.toUser,
		Transport: cl.transport, FinalCode: cl.finalCode, FinalReason: cl.finalReason,
		Start: Time(cl.start), Ringing: Time(cl.ringing), Answer: Time(cl.answer), End: Time(cl.end),
		EndReason: cl.endReason, SIPMessages: cl.msgs, Retrans: cl.retrans,
		LinkedCallIDs: append([]string{}, cl.few().linked...), UserAgents: append([]string{}, cl.userAgents...),
	}
	slices.Sort(out.LinkedCallIDs)
	if cl.caller.IsValid() {
		out.Caller = cl.caller.String()
	}
	if cl.callee.IsValid() {
		out.Callee = cl.callee.String()
	}
	out.ID = CallUID(out.CallID, out.Start)
	out.State = cl.state()
	if cl.hasInvite {
		switch {
		case cl.ringing != 0:
			out.PDDMs = ms(cl.ringing - cl.inviteTS)
		case cl.finalTS != 0:
			out.PDDMs = ms(cl.finalTS - cl.inviteTS)
		}
		if cl.answer != 0 {
			out.SetupMs = ms(cl.answer - cl.inviteTS)
		}
		out.AuthChallenges = cl.challenges
	}
	if cl.answer != 0 {
		end := cl.byeTS
		if end == 0 {
			end = cl.lastMedia()
			if end == 0 {
				end = cl.end
			}
		}
		if live && cl.byeTS == 0 {
			end = c.now
		}
		if end >= cl.answer {
			out.DurationMs = ms(end - cl.answer)
		}
	}
	if cl.byeTS != 0 {
		by := "caller"
		if cl.byeSide == sideCallee {
			by = "callee"
		}
		out.EndedBy = &by
	}
	if a, b := cl.mainStreams(); a != nil && b != nil {
		if rtt, ok := quality.EndToEndRTT(&a.q, &b.q); ok {
			out.RTTMs = f3(rtt)
		}
	}
	if t := cl.transferredTo(); t != "" {
		out.TransferredTo = &t
	}
	if cl.hasQ850 {
		q := int(cl.q850) // at most 65535 (sip.Q850Cause)
		out.Q850Cause = &q
	}
	// Streams, quality and DTMF.
	sts := append([]*stream(nil), cl.streams...)
	sort.Slice(sts, func(i, j int) bool { return lessStream(sts[i], sts[j]) })
	var dtmf []quality.DTMFEvent
	dtmf = append(dtmf, cl.few().infoDTMF...)
	var dirs [3]bool
	var mosMin *float64
	out.Streams = make([]Stream, 0, len(sts))
	for _, s := range sts {
		so, events := s.export(live, c.codecs.name(s.codec))
		out.Streams = append(out.Streams, so)
		if s.q.Packets() >= 1 {
			dirs[s.side] = true
		}
		if so.MOSMin != nil && (mosMin == nil || *so.MOSMin < *mosMin) {
			v := *so.MOSMin
			mosMin = &v
		}
		dtmf = append(dtmf, events...)
	}
	out.MOSMin = mosMin
	sort.SliceStable(dtmf, func(i, j int) bool { return dtmf[i].Start < dtmf[j].Start })
	var db strings.Builder
	var prev quality.DTMFEvent
	for i, d := range dtmf {
		// The same key press seen in both directions (a media server or an echo relays
		// it) or as both RFC 4733 and SIP INFO counts once.
		if i > 0 && d.Digit == prev.Digit && d.Start-prev.Start < dtmfSameKey {
			continue
		}
		db.WriteByte(d.Digit)
		prev = d
	}
	out.DTMF = db.String()
	if live {
		out.End, out.EndReason = 0, ""
		if cl.answer != 0 && dirs[sideCaller] != dirs[sideCallee] && c.now-cl.answer > int64(c.cfg.OneWayAfter) &&
			!cl.media[0].hold && !cl.media[1].hold {
			out.OneWayAudio = true
		}
		return out
	}
	c.dropDiagnosis(cl, &out, dirs)
	return out
}

// dropDiagnosis sets dropped, drop_reason and one_way_audio on an answered call.
func (c *Correlator) dropDiagnosis(cl *call, out *Call, dirs [3]bool) {
	if cl.answer == 0 {
		return
	}
	lastMedia := cl.lastMedia()
	var reason DropReason
	switch {
	case cl.hasQ850 && cl.q850 != 16 && cl.q850 != 31:
		reason = DropAbnormalQ850
	case cl.endReason == EndRTPTimeout:
		reason = DropRTPTimeout
	case cl.byeTS != 0 && lastMedia != 0 && cl.transferredTo() == "" && !cl.media[0].hold && !cl.media[1].hold &&
		cl.byeTS-lastMedia >= int64(c.cfg.MediaStopBeforeBye):
		reason = DropMediaStoppedEarly
	case cl.deadCode == 408:
		reason = DropInDialog408
	case cl.deadCode == 481:
		reason = DropInDialog481
	}
	if reason != "" {
		out.Dropped = true
		out.DropReason = &reason
	}
	mediaEnd := lastMedia
	if cl.byeTS != 0 && cl.byeTS > mediaEnd {
		mediaEnd = cl.byeTS
	}
	if (dirs[sideCaller] != dirs[sideCallee]) && mediaEnd-cl.answer > int64(c.cfg.OneWayAfter) &&
		!cl.media[0].hold && !cl.media[1].hold {
		out.OneWayAudio = true
	}
}
