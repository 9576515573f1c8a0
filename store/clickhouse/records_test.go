package clickhouse_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/callscope/callscope/correlate"
)

// synthCall builds call i of a synthetic load: 7 SIP messages (INVITE, 100, 180, 200,
// ACK, BYE, 200) with realistic raw bytes and frames, and 2 RTP streams with 5 s
// quality intervals. Numbers, peers, outcomes and MOS vary with i so searches have
// something to find; the same i always gives the same call (and the same id).
func synthCall(i int, base time.Time, spread time.Duration) *correlate.Record {
	ms := max(int64(spread/time.Millisecond), 1)
	start := base.Add(time.Duration(int64(i)*7919%ms)*time.Millisecond + time.Duration(i%1000)*time.Microsecond)
	callID := fmt.Sprintf("%08x-%04x@probe.example.net", uint32(i)*2654435761, i%65536)
	from := fmt.Sprintf("49301%06d", i%200000)
	to := fmt.Sprintf("49892%06d", (i*31)%50000)
	peer := netip.AddrFrom4([4]byte{10, 20, byte(i % 7), byte(1 + i%200)})
	caller := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(1 + i%50)}), 5060)
	callee := netip.AddrPortFrom(peer, 5060)
	ns := start.UnixNano()
	states := []correlate.State{"answered", "answered", "answered", "answered", "busy", "cancelled", "failed", "no_answer"}
	codes := []int{200, 200, 200, 200, 486, 487, 503, 480}
	k := i % len(states)
	durMs := float64(30000 + i%120000)
	pdd := float64(100 + i%900)
	mos := 1.5 + float64(i%300)/100
	c := correlate.Call{
		CallID: callID, From: "sip:" + from + "@example.net", To: "sip:" + to + "@carrier.example",
		FromUser: from, ToUser: to, Caller: caller.String(), Callee: callee.String(),
		Transport: "udp", State: states[k], FinalCode: codes[k], FinalReason: "OK",
		Start: correlate.Time(ns), Ringing: correlate.Time(ns + int64(pdd)*1e6),
		PDDMs: &pdd, EndReason: "bye", SIPMessages: 7, LinkedCallIDs: []string{},
		UserAgents: []string{"PBX/1.0", "Carrier-SBC"}, Streams: []correlate.Stream{},
	}
	if states[k] == "answered" {
		c.Answer = correlate.Time(ns + int64(pdd+500)*1e6)
		c.End = c.Answer + correlate.Time(durMs*1e6)
		c.DurationMs = &durMs
		c.MOSMin = &mos
		c.Dropped = i%50 == 0
	} else {
		c.End = correlate.Time(ns + int64(pdd+2000)*1e6)
	}
	c.ID = correlate.CallUID(c.CallID, c.Start)
	rec := &correlate.Record{Call: c, LinkKeys: []string{"x-cid:" + callID}}
	msgs := []struct {
		req    bool
		method string
		status int
		dir    bool
	}{{true, "INVITE", 0, true}, {false, "INVITE", 100, false}, {false, "INVITE", 180, false},
		{false, "INVITE", 200, false}, {true, "ACK", 0, true}, {true, "BYE", 0, true}, {false, "BYE", 200, false}}
	for j, m := range msgs {
		src, dst := caller, callee
		if !m.dir {
			src, dst = dst, src
		}
		first := m.method + " sip:" + to + "@" + peer.String() + " SIP/2.0"
		if !m.req {
			first = fmt.Sprintf("SIP/2.0 %d Reason", m.status)
		}
		raw := []byte(first + "\r\nVia: SIP/2.0/UDP " + src.String() + ";branch=z9hG4bK" + fmt.Sprint(i, j) +
			"\r\nFrom: <sip:" + from + "@example.net>;tag=" + fmt.Sprint(i) + "\r\nTo: <sip:" + to + "@carrier.example>" +
			"\r\nCall-ID: " + callID + "\r\nCSeq: 1 " + m.method + "\r\nMax-Forwards: 70\r\nUser-Agent: PBX/1.0" +
			"\r\nContact: <sip:" + from + "@" + src.String() + ">\r\nContent-Length: 0\r\n\r\n")
		frame := append(make([]byte, 42, 42+len(raw)), raw...)
		rec.Messages = append(rec.Messages, correlate.Message{
			TS: ns + int64(j)*int64(pdd)*1e5, Src: src, Dst: dst, Transport: "udp", Request: m.req,
			Method: m.method, Status: m.status, CSeq: 1, Raw: raw, Frame: frame, LinkType: 1,
		})
	}
	for d := 0; d < 2; d++ {
		st := correlate.Stream{
			SSRC: fmt.Sprintf("0x%08X", uint32(i*2+d)), Src: fmt.Sprintf("192.168.1.%d:%d", 1+i%50, 10000+2*d),
			Dst: fmt.Sprintf("%s:%d", peer, 20000+2*d), PayloadType: 8, Codec: "PCMA", ClockRate: 8000,
			First: c.Answer, Last: c.End, Packets: 3000, Expected: 3000 + uint64(i%7), Lost: uint64(i % 7),
			JitterMeanMs: 1.5, JitterMaxMs: 4.25, MaxDeltaMs: 40, MOS: &mos, MOSMin: &mos,
			Intervals: []correlate.Interval{},
		}
		for iv := 0; iv < 6; iv++ {
			st.Intervals = append(st.Intervals, correlate.Interval{Start: c.Answer + correlate.Time(iv)*5e9, Packets: 250, JitterMs: 1.5, MOS: &mos})
		}
		rec.Call.Streams = append(rec.Call.Streams, st)
	}
	return rec
}

func synthBatch(n int, base time.Time) []*correlate.Record {
	recs := make([]*correlate.Record, n)
	for i := range recs {
		recs[i] = synthCall(i, base, 20*time.Hour)
	}
	return recs
}
