package clickhouse

// Write phase: calls with their messages, streams, intervals and frames, and
// registrations, in batches (idempotent by Call.ID: see WriteCalls).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

func nowVer() uint64 { return uint64(time.Now().UnixMicro()) }

// WriteCalls inserts calls with their messages, streams, intervals and media frames.
// Child rows are written before the calls, so a call visible to a search has its detail.
// Idempotent by Call.ID (ReplacingMergeTree, FINAL on read).
//
// Rows go out in primary-key order (children by call id, calls by start then id), so
// the server finds every block already sorted and skips its sort and permutation. The
// three child tables are sent concurrently (the server uses a core per insert) while
// the calls block is built and buffered on its own connection; it is sent once every
// child insert has succeeded, and aborted otherwise.
func (s *Store) WriteCalls(ctx context.Context, recs []*correlate.Record) error {
	return s.WriteCallsSegments(ctx, recs, nil)
}

// WriteCallsSegments is WriteCalls with the media frames of recs[i] already encoded as
// segs[i] (store.FrameCodec; nil or a zero element: encoded here), as the writer's
// write-ahead log has them (store.SegmentWriter): a segment in the log's file is read
// for the batch's block only, so the writer's queue need not hold any call's frames.
func (s *Store) WriteCallsSegments(ctx context.Context, recs []*correlate.Record, segs []store.Segment) error {
	if len(recs) == 0 {
		return nil
	}
	var segOf map[*correlate.Record]store.Segment
	if len(segs) == len(recs) {
		segOf = make(map[*correlate.Record]store.Segment, len(recs))
		for i, r := range recs {
			if !segs[i].IsZero() {
				segOf[r] = segs[i]
			}
		}
	}
	ver := nowVer()
	byID := make([]*correlate.Record, len(recs))
	copy(byID, recs)
	ids := make(map[*correlate.Record]string, len(recs))
	for _, r := range recs {
		ids[r] = callUID(&r.Call)
	}
	sort.SliceStable(byID, func(i, j int) bool { return ids[byID[i]] < ids[byID[j]] })
	var (
		wg    sync.WaitGroup
		errs  [4]error
		calls driver.Batch
	)
	writeFrames := func(ctx context.Context, recs []*correlate.Record, ver uint64) error {
		return s.writeFrames(ctx, recs, segOf, ver)
	}
	for i, fn := range []func(context.Context, []*correlate.Record, uint64) error{s.writeMessages, s.writeStreams, writeFrames} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx, byID, ver)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		calls, errs[3] = s.prepareCallRows(ctx, recs, ids, ver)
	}()
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		if calls != nil {
			_ = calls.Abort()
		}
		return err
	}
	return s.send("calls", calls)
}

func callUID(c *correlate.Call) string {
	if c.ID != "" {
		return c.ID
	}
	return correlate.CallUID(c.CallID, c.Start)
}

// prepareCallRows builds the calls block, sorted by (start second, id), and buffers it
// in a batch that is ready to Send.
func (s *Store) prepareCallRows(ctx context.Context, in []*correlate.Record, ids map[*correlate.Record]string, ver uint64) (driver.Batch, error) {
	n := len(in)
	recs := make([]*correlate.Record, n)
	copy(recs, in)
	sec := func(r *correlate.Record) int64 { s, _ := split(int64(r.Call.Start)); return s }
	sort.SliceStable(recs, func(i, j int) bool {
		si, sj := sec(recs[i]), sec(recs[j])
		return si < sj || si == sj && ids[recs[i]] < ids[recs[j]]
	})
	var (
		start, ringing, answer, endAt                 = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		startUS, ringingUS, answerUS, endUS           = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
		id, callID, from, to, fromUser, toUser        = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		caller, callee, callerIP, calleeIP, transport = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		state, finalReason, endReason, dtmf           = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		finalCode                                     = make([]uint16, 0, n)
		pdd, setup, dur, mos                          = make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n)
		endedBy, dropReason                           = make([]*string, 0, n), make([]*string, 0, n)
		q850                                          = make([]*int32, 0, n)
		dropped, oneWay                               = make([]uint8, 0, n), make([]uint8, 0, n)
		sipMsgs, retrans                              = make([]uint32, 0, n), make([]uint32, 0, n)
		linked, uas, linkKeys                         = make([][]string, 0, n), make([][]string, 0, n), make([][]string, 0, n)
		vers                                          = make([]uint64, 0, n)
		extra                                         = make([]string, 0, n)
		peer                                          = make([]string, 0, n)
	)
	for _, r := range recs {
		c := &r.Call
		extra = append(extra, callExtra(c))
		t, us := split(int64(c.Start))
		start, startUS = append(start, t), append(startUS, us)
		t, us = split(int64(c.Ringing))
		ringing, ringingUS = append(ringing, t), append(ringingUS, us)
		t, us = split(int64(c.Answer))
		answer, answerUS = append(answer, t), append(answerUS, us)
		t, us = split(int64(c.End))
		endAt, endUS = append(endAt, t), append(endUS, us)
		id = append(id, ids[r])
		callID = append(callID, c.CallID)
		from, to = append(from, c.From), append(to, c.To)
		fromUser, toUser = append(fromUser, c.FromUser), append(toUser, c.ToUser)
		caller, callee = append(caller, c.Caller), append(callee, c.Callee)
		callerIP, calleeIP = append(callerIP, store.HostOf(c.Caller)), append(calleeIP, store.HostOf(c.Callee))
		transport, state = append(transport, c.Transport), append(state, string(c.State))
		finalCode, finalReason = append(finalCode, uint16(c.FinalCode)), append(finalReason, c.FinalReason)
		pdd, setup, dur, mos = append(pdd, c.PDDMs), append(setup, c.SetupMs), append(dur, c.DurationMs), append(mos, c.MOSMin)
		endedBy, endReason = append(endedBy, c.EndedBy), append(endReason, string(c.EndReason))
		q850 = append(q850, nullInt32(c.Q850Cause))
		dropped, dropReason = append(dropped, b2u(c.Dropped)), append(dropReason, (*string)(c.DropReason))
		oneWay = append(oneWay, b2u(c.OneWayAudio))
		sipMsgs, retrans = append(sipMsgs, uint32(c.SIPMessages)), append(retrans, uint32(c.Retrans))
		linked, uas = append(linked, strs(c.LinkedCallIDs)), append(uas, strs(c.UserAgents))
		dtmf, linkKeys = append(dtmf, c.DTMF), append(linkKeys, strs(r.LinkKeys))
		vers, peer = append(vers, ver), append(peer, c.Peer)
	}
	return s.prepare(ctx, "calls", callColumnsW,
		start, startUS, id, callID, from, to, fromUser, toUser,
		caller, callee, callerIP, calleeIP, transport, state, finalCode, finalReason,
		ringing, ringingUS, answer, answerUS, endAt, endUS,
		pdd, setup, dur, endedBy, endReason, q850, dropped, dropReason, oneWay,
		sipMsgs, retrans, linked, uas, dtmf, mos, linkKeys, vers, peer, extra)
}

var callColumnsW = []string{
	"start", "start_ns", "id", "call_id", "from_uri", "to_uri", "from_user", "to_user",
	"caller", "callee", "caller_ip", "callee_ip", "transport", "state", "final_code", "final_reason",
	"ringing", "ringing_ns", "answer", "answer_ns", "end_at", "end_at_ns",
	"pdd_ms", "setup_ms", "duration_ms", "ended_by", "end_reason", "q850_cause", "dropped", "drop_reason", "one_way_audio",
	"sip_messages", "retransmissions", "linked_call_ids", "user_agents", "dtmf", "mos_min", "link_keys", "ver", "peer", "call_extra",
}

// callExtraJSON is what the call_extra column holds.
type callExtraJSON struct {
	AuthChallenges int      `json:"auth_challenges,omitempty"`
	RTTMs          *float64 `json:"rtt_ms,omitempty"`
	TransferredTo  *string  `json:"transferred_to,omitempty"`
}

func callExtra(c *correlate.Call) string {
	x := callExtraJSON{AuthChallenges: c.AuthChallenges, RTTMs: c.RTTMs, TransferredTo: c.TransferredTo}
	if x == (callExtraJSON{}) {
		return ""
	}
	b, _ := json.Marshal(x)
	return string(b)
}

// setCallExtra restores the fields of the call_extra column.
func setCallExtra(c *correlate.Call, extra string) error {
	if extra == "" {
		return nil
	}
	var x callExtraJSON
	if err := json.Unmarshal([]byte(extra), &x); err != nil {
		return fmt.Errorf("clickhouse: call extra: %w", err)
	}
	c.AuthChallenges, c.RTTMs, c.TransferredTo = x.AuthChallenges, x.RTTMs, x.TransferredTo
	return nil
}

func (s *Store) writeMessages(ctx context.Context, recs []*correlate.Record, ver uint64) error {
	n := 0
	for _, r := range recs {
		n += len(r.Messages)
	}
	if n == 0 {
		return nil
	}
	var (
		uid, callID, src, dst, transport, method, raw, frame = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		callStart, ts                                        = make([]int64, 0, n), make([]int64, 0, n)
		seq, tsUS, cseq, linkType, rawOff                    = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
		request, retrans                                     = make([]uint8, 0, n), make([]uint8, 0, n)
		status                                               = make([]uint16, 0, n)
		vers                                                 = make([]uint64, 0, n)
	)
	for _, r := range recs {
		id := callUID(&r.Call)
		cs, _ := split(int64(r.Call.Start))
		for i := range r.Messages {
			m := &r.Messages[i]
			t, us := split(m.TS)
			uid, callID, callStart = append(uid, id), append(callID, r.Call.CallID), append(callStart, cs)
			seq, ts, tsUS = append(seq, uint32(i)), append(ts, t), append(tsUS, us)
			src, dst = append(src, m.Src.String()), append(dst, m.Dst.String())
			transport, request = append(transport, m.Transport), append(request, b2u(m.Request))
			method, status, cseq = append(method, m.Method), append(status, uint16(m.Status)), append(cseq, m.CSeq)
			retrans = append(retrans, b2u(m.Retrans))
			if m.RawInFrame() {
				raw, rawOff = append(raw, ""), append(rawOff, uint32(len(m.Frame)-len(m.Raw)+1))
			} else {
				raw, rawOff = append(raw, view(m.Raw)), append(rawOff, 0)
			}
			frame, linkType = append(frame, view(m.Frame)), append(linkType, m.LinkType)
			vers = append(vers, ver)
		}
	}
	return s.insert(ctx, "sip_messages", []string{"call_uid", "call_start", "seq", "call_id", "ts", "ts_ns",
		"src", "dst", "transport", "request", "method", "status", "cseq", "retrans", "raw", "frame", "raw_off", "link_type", "ver"},
		uid, callStart, seq, callID, ts, tsUS, src, dst, transport, request, method, status, cseq, retrans, raw, frame, rawOff, linkType, vers)
}

func (s *Store) writeStreams(ctx context.Context, recs []*correlate.Record, ver uint64) error {
	n, ni := 0, 0
	for _, r := range recs {
		n += len(r.Call.Streams)
		for i := range r.Call.Streams {
			ni += len(r.Call.Streams[i].Intervals)
		}
	}
	if n == 0 {
		return nil
	}
	var (
		uid, ssrc, src, dst, codec, dtmf        = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		extra                                   = make([]string, 0, n)
		callStart, first, last                  = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		idx                                     = make([]uint16, 0, n)
		pt                                      = make([]int32, 0, n)
		clock, firstUS, lastUS                  = make([]uint32, 0, n), make([]uint32, 0, n), make([]uint32, 0, n)
		packets, expected, lost, dups, ooo      = make([]uint64, 0, n), make([]uint64, 0, n), make([]uint64, 0, n), make([]uint64, 0, n), make([]uint64, 0, n)
		jmean, jmax, maxDelta                   = make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n)
		mos, mosMin, rf, rtt, fracLost, rJitter = make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n)
		cumLost                                 = make([]*int64, 0, n)
		mismatch, hasRTCP                       = make([]uint8, 0, n), make([]uint8, 0, n)
		vers                                    = make([]uint64, 0, n)
		iUID                                    = make([]string, 0, ni)
		iCallStart, iStart                      = make([]int64, 0, ni), make([]int64, 0, ni)
		iStream                                 = make([]uint16, 0, ni)
		iIdx, iStartUS                          = make([]uint32, 0, ni), make([]uint32, 0, ni)
		iPackets, iLost                         = make([]uint64, 0, ni), make([]uint64, 0, ni)
		iJitter                                 = make([]float64, 0, ni)
		iMOS                                    = make([]*float64, 0, ni)
		iVers                                   = make([]uint64, 0, ni)
	)
	for _, r := range recs {
		id := callUID(&r.Call)
		cs, _ := split(int64(r.Call.Start))
		for si := range r.Call.Streams {
			st := &r.Call.Streams[si]
			uid, callStart, idx = append(uid, id), append(callStart, cs), append(idx, uint16(si))
			ssrc, src, dst = append(ssrc, st.SSRC), append(src, st.Src), append(dst, st.Dst)
			pt, codec, clock = append(pt, int32(st.PayloadType)), append(codec, st.Codec), append(clock, uint32(st.ClockRate))
			t, us := split(int64(st.First))
			first, firstUS = append(first, t), append(firstUS, us)
			t, us = split(int64(st.Last))
			last, lastUS = append(last, t), append(lastUS, us)
			packets, expected, lost = append(packets, st.Packets), append(expected, st.Expected), append(lost, st.Lost)
			dups, ooo = append(dups, st.Duplicates), append(ooo, st.OutOfOrder)
			jmean, jmax, maxDelta = append(jmean, st.JitterMeanMs), append(jmax, st.JitterMaxMs), append(maxDelta, st.MaxDeltaMs)
			mos, mosMin, rf = append(mos, st.MOS), append(mosMin, st.MOSMin), append(rf, st.RFactor)
			dtmf, mismatch = append(dtmf, st.DTMF), append(mismatch, b2u(st.MediaAddressMismatch))
			extra = append(extra, streamExtra(st))
			if st.RTCP != nil {
				hasRTCP = append(hasRTCP, 1)
				rtt, fracLost = append(rtt, st.RTCP.RTTMs), append(fracLost, st.RTCP.ReportedFractionLost)
				cumLost, rJitter = append(cumLost, st.RTCP.ReportedCumulativeLost), append(rJitter, st.RTCP.ReportedJitterMs)
			} else {
				hasRTCP = append(hasRTCP, 0)
				rtt, fracLost, cumLost, rJitter = append(rtt, nil), append(fracLost, nil), append(cumLost, nil), append(rJitter, nil)
			}
			vers = append(vers, ver)
			for ii := range st.Intervals {
				iv := &st.Intervals[ii]
				iUID, iCallStart, iStream, iIdx = append(iUID, id), append(iCallStart, cs), append(iStream, uint16(si)), append(iIdx, uint32(ii))
				t, us := split(int64(iv.Start))
				iStart, iStartUS = append(iStart, t), append(iStartUS, us)
				iPackets, iLost, iJitter, iMOS = append(iPackets, iv.Packets), append(iLost, iv.Lost), append(iJitter, iv.JitterMs), append(iMOS, iv.MOS)
				iVers = append(iVers, ver)
			}
		}
	}
	if ni > 0 {
		if err := s.insert(ctx, "stream_intervals", []string{"call_uid", "call_start", "stream_idx", "idx", "start", "start_ns",
			"packets", "lost", "jitter_ms", "mos", "ver"},
			iUID, iCallStart, iStream, iIdx, iStart, iStartUS, iPackets, iLost, iJitter, iMOS, iVers); err != nil {
			return err
		}
	}
	return s.insert(ctx, "rtp_streams", streamColumns,
		uid, callStart, idx, ssrc, src, dst, pt, codec, clock, first, firstUS, last, lastUS,
		packets, expected, lost, dups, ooo, jmean, jmax, maxDelta, mos, mosMin, rf, dtmf, mismatch, hasRTCP,
		rtt, fracLost, cumLost, rJitter, vers, extra)
}

// extraJSON is what the extra column of rtp_streams holds.
type extraJSON struct {
	Problems          []string              `json:"problems"`
	DTMFEvents        []correlate.DTMFEvent `json:"dtmf_events"`
	NetworkStalls     uint64                `json:"network_stalls,omitempty"`
	LongestStallMs    float64               `json:"longest_stall_ms,omitempty"`
	MeasuredClockRate *float64              `json:"measured_clock_rate,omitempty"`
}

func streamExtra(st *correlate.Stream) string {
	if len(st.Problems) == 0 && len(st.DTMFEvents) == 0 && st.NetworkStalls == 0 && st.LongestStallMs == 0 && st.MeasuredClockRate == nil {
		return ""
	}
	b, _ := json.Marshal(extraJSON{Problems: st.Problems, DTMFEvents: st.DTMFEvents, NetworkStalls: st.NetworkStalls,
		LongestStallMs: st.LongestStallMs, MeasuredClockRate: st.MeasuredClockRate})
	return string(b)
}

// setStreamExtra restores Problems and DTMFEvents from the extra column.
func setStreamExtra(st *correlate.Stream, extra string) error {
	st.Problems, st.DTMFEvents = []string{}, []correlate.DTMFEvent{}
	if extra == "" {
		return nil
	}
	var x extraJSON
	if err := json.Unmarshal([]byte(extra), &x); err != nil {
		return fmt.Errorf("clickhouse: stream extra: %w", err)
	}
	if x.Problems != nil {
		st.Problems = x.Problems
	}
	if x.DTMFEvents != nil {
		st.DTMFEvents = x.DTMFEvents
	}
	st.NetworkStalls, st.LongestStallMs, st.MeasuredClockRate = x.NetworkStalls, x.LongestStallMs, x.MeasuredClockRate
	return nil
}

var streamColumns = []string{"call_uid", "call_start", "idx", "ssrc", "src", "dst", "payload_type", "codec", "clock_rate",
	"first_ts", "first_ns", "last_ts", "last_ns", "packets", "expected", "lost", "duplicates", "out_of_order",
	"jitter_mean_ms", "jitter_max_ms", "max_delta_ms", "mos", "mos_min", "r_factor", "dtmf", "media_address_mismatch",
	"has_rtcp", "rtcp_rtt_ms", "rtcp_fraction_lost", "rtcp_cumulative_lost", "rtcp_jitter_ms", "ver", "extra"}

// WriteRegistrations inserts REGISTER flows, idempotent by call_id + time.
func (s *Store) WriteRegistrations(ctx context.Context, regs []correlate.Registration) error {
	n := len(regs)
	if n == 0 {
		return nil
	}
	var (
		ts                                    = make([]int64, 0, n)
		tsUS                                  = make([]uint32, 0, n)
		callID, aor, contact, source, outcome = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		expires                               = make([]*int32, 0, n)
		code                                  = make([]uint16, 0, n)
		vers                                  = make([]uint64, 0, n)
	)
	ver := nowVer()
	for i := range regs {
		r := &regs[i]
		t, us := split(int64(r.Time))
		ts, tsUS = append(ts, t), append(tsUS, us)
		callID, aor, contact, source = append(callID, r.CallID), append(aor, r.AOR), append(contact, r.Contact), append(source, r.Source)
		expires, outcome, code = append(expires, nullInt32(r.Expires)), append(outcome, r.Outcome), append(code, uint16(r.FinalCode))
		vers = append(vers, ver)
	}
	return s.insert(ctx, "registrations", []string{"time", "time_ns", "call_id", "aor", "contact", "source", "expires", "outcome", "final_code", "ver"},
		ts, tsUS, callID, aor, contact, source, expires, outcome, code, vers)
}
