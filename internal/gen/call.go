package gen

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

var q850Text = map[int]string{16: "Normal call clearing", 17: "User busy", 31: "Normal, unspecified", 34: "No circuit/channel available",
	38: "Network out of order", 41: "Temporary failure", 102: "Recovery on timer expiry"}

// callGen produces one call: its SIP messages (precomputed, small) and its
// RTP and RTCP (generated lazily).
type callGen struct {
	c       *CallSpec
	state   string
	code    int
	h       *hopper
	sip     *listSource
	streams []*rtpStream
	rtcp    *rtcpSource
	// transferredTo is the Refer-To target of an accepted REFER.
	transferredTo string
}

func outcomeOf(c *CallSpec) (string, int) {
	code := func(d int) int {
		if c.FinalCode != 0 {
			return c.FinalCode
		}
		return d
	}
	if c.AuthChallenge != 0 && c.AuthNoRetry {
		return "failed", c.AuthChallenge
	}
	switch c.Outcome {
	case Busy:
		return "busy", code(486)
	case Cancelled:
		return "cancelled", 487
	case NoAnswer:
		return "no_answer", code(480)
	case Timeout:
		return "no_answer", code(408)
	case Redirected:
		return "redirected", code(302)
	case Failed:
		return "failed", code(503)
	}
	return "answered", 200
}

// proxyAddrs returns the proxy's addresses facing caller and callee.
func proxyAddrs(a netip.AddrPort) (netip.AddrPort, netip.AddrPort) {
	if a.Addr().Is6() {
		return netip.MustParseAddrPort("[2001:db8:0:1::100]:5060"), netip.MustParseAddrPort("[2001:db8:0:2::100]:5060")
	}
	return netip.MustParseAddrPort("192.0.2.100:5060"), netip.MustParseAddrPort("198.18.0.100:5060")
}

func natAddr(a netip.AddrPort, idx int) netip.AddrPort {
	port := a.Port() + 1000
	if a.Addr().Is6() {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 14: byte(idx >> 8), 15: byte(idx) + 1}), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(idx%250) + 1}), port)
}

func newCallGen(sc *Scenario, c *CallSpec, idx int, rng *rand.Rand) *callGen {
	g := &callGen{c: c}
	g.state, g.code = outcomeOf(c)
	h := &hopper{sc: sc, caller: c.Caller, callee: c.Callee, proxy: c.ProxyHop, cid: c.CallID}
	h.proxyA, h.proxyB = proxyAddrs(c.Caller)
	g.h = h
	cd := codecs[c.Codec]
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	proto := viaProto(sc.Transport)
	via := func(a netip.AddrPort) string {
		return "SIP/2.0/" + proto + " " + hostport(a) + ";branch=z9hG4bK" + randHex(rng, 16) + ";rport"
	}
	addBranch := func(x *tx) {
		if c.ProxyHop {
			pa := h.proxyB
			if !x.fromCaller {
				pa = h.proxyA
			}
			x.proxyVia = "SIP/2.0/" + proto + " " + hostport(pa) + ";branch=z9hG4bK" + randHex(rng, 16)
		}
	}
	transportParam := ""
	if sc.Transport != UDP && sc.Transport != HEP {
		transportParam = ";transport=" + map[Transport]string{TCP: "tcp", SCTP: "sctp", WS: "ws"}[sc.Transport]
	}
	callerContact := "<sip:" + c.FromUser + "@" + hostport(c.Caller) + transportParam + ">"
	calleeContact := "<sip:" + c.ToUser + "@" + hostport(c.Callee) + transportParam + ">"
	callerURI := "sip:" + c.FromUser + "@" + hostport(c.Caller) + transportParam
	calleeURI := "sip:" + c.ToUser + "@" + hostport(c.Callee) + transportParam
	fromTag, toTag := randHex(rng, 10), randHex(rng, 10)
	fromHdr := `"` + c.FromUser + `" <sip:` + c.FromUser + "@" + host(c.Caller) + ">;tag=" + fromTag
	toHdr := "<sip:" + c.ToUser + "@" + host(c.Callee) + ">"
	sessA, sessB := uint64(rng.Uint32()), uint64(rng.Uint32())
	verA, verB := uint64(1), uint64(1)

	var extra []string
	if c.LinkTo != "" {
		extra = append(extra, "X-CID: "+c.LinkTo)
	}
	var invOnly []string
	if c.ReferredBy != "" {
		invOnly = append(invOnly, "Referred-By: <sip:"+c.ReferredBy+"@"+host(c.Caller)+">")
	}
	t := c.Start
	inv := &tx{method: "INVITE", cseq: 1, fromCaller: true, via: via(c.Caller), from: fromHdr, to: toHdr, ruri: "sip:" + c.ToUser + "@" + hostport(c.Callee)}
	addBranch(inv)
	offer := sdp(c.FromUser, sessA, verA, c.CallerMedia, cd, c.PtimeMs, "sendrecv", c.Payload)
	invExtra := append([]string{"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER", "Supported: replaces, timer"}, extra...)
	invExtra = append(invExtra, invOnly...)
	h.request(t, inv, "", callerContact, invExtra, "application/sdp", offer)
	ack := func(at time.Duration, x *tx, tag string) {
		// ACK for a non-2xx final response is part of the INVITE transaction (same branch, RFC 3261 section 17.1.1.3).
		a := *x
		a.method = "ACK"
		h.request(at, &a, tag, "", nil, "", nil)
	}
	if c.AuthChallenge != 0 || c.RedirectFollow {
		// The first INVITE is challenged (RFC 3261 §22.2) or redirected (§8.1.3.4); the
		// follow-up INVITE has the same Call-ID and From tag and CSeq 2.
		code, hdr, cred := c.AuthChallenge, "", ""
		nonce := randHex(rng, 16)
		switch {
		case c.RedirectFollow:
			code, hdr = 302, "Contact: <sip:"+c.ToUser+"@"+hostport(c.Callee)+">"
		case code == 401:
			hdr = `WWW-Authenticate: Digest realm="callscope.test", nonce="` + nonce + `", algorithm=MD5`
			cred = "Authorization: "
		default:
			hdr = `Proxy-Authenticate: Digest realm="callscope.test", nonce="` + nonce + `", algorithm=MD5`
			cred = "Proxy-Authorization: "
		}
		ctag := randHex(rng, 10)
		h.response(t+ms(4), inv, code, ctag, "", []string{hdr}, "", nil)
		ack(t+ms(8), inv, ctag)
		if c.AuthChallenge != 0 && c.AuthNoRetry {
			g.sip = &listSource{evs: transportEvents(sc, h.msgs, rng)}
			return g
		}
		inv2 := &tx{method: "INVITE", cseq: 2, fromCaller: true, via: via(c.Caller), from: fromHdr, to: toHdr, ruri: inv.ruri}
		addBranch(inv2)
		ex := invExtra
		if cred != "" {
			ex = append(append([]string{}, invExtra...), cred+`Digest username="`+c.FromUser+`", realm="callscope.test", nonce="`+nonce+
				`", uri="`+inv.ruri+`", response="`+md5hex(c.FromUser+nonce)+`", algorithm=MD5`)
		}
		t += ms(12)
		h.request(t, inv2, "", callerContact, ex, "application/sdp", offer)
		inv = inv2
	}
	trying := t + ms(5)
	if c.RetransmitInvite {
		h.request(t+ms(500), inv, "", callerContact, invExtra, "application/sdp", offer)
		h.retrans = 1 // the copy, seen once per hop
		if c.ProxyHop {
			h.retrans = 2
		}
		trying = t + ms(510)
	}
	h.response(trying, inv, 100, "", "", nil, "", nil)
	ring := trying + ms(30)
	answer := sdp(c.ToUser, sessB, verB, c.CalleeMedia, cd, c.PtimeMs, "sendrecv", c.Payload)
	if c.EarlyMedia {
		h.response(ring, inv, 183, toTag, calleeContact, extra, "application/sdp", answer)
	} else {
		h.response(ring, inv, 180, toTag, calleeContact, extra, "", nil)
	}
	if c.Fork {
		h.response(ring+ms(15), inv, 180, randHex(rng, 10), "<sip:"+c.ToUser+"@"+hostport(c.Callee)+";fork=2>", extra, "", nil)
	}
	fin := ring + ms(c.RingMs)
	aSrc, aDst := c.CallerMedia, c.CalleeMedia
	bSrc, bDst := c.CalleeMedia, c.CallerMedia
	if c.NATMedia {
		aSrc = natAddr(c.CallerMedia, idx)
		bDst = aSrc
	}
	newStream := func(src, dst netip.AddrPort, start, end time.Duration) *rtpStream {
		s := newRTPStream(cd, c.PtimeMs, rng.Uint32(), src, dst, start, end, rng)
		s.jitter = c.JitterMs
		return s
	}
	if g.state != "answered" {
		switch c.Outcome {
		case Cancelled:
			cn := *inv
			cn.method = "CANCEL"
			h.request(fin, &cn, "", "", nil, "", nil)
			h.response(fin+ms(5), &cn, 200, toTag, "", nil, "", nil)
			h.response(fin+ms(10), inv, 487, toTag, "", nil, "", nil)
			ack(fin+ms(15), inv, toTag)
		case Redirected:
			h.response(fin, inv, g.code, toTag, "<sip:"+c.ToUser+"@voicemail.callscope.test>", nil, "", nil)
			ack(fin+ms(5), inv, toTag)
		default:
			h.response(fin, inv, g.code, toTag, "", nil, "", nil)
			ack(fin+ms(5), inv, toTag)
		}
		if c.EarlyMedia {
			g.streams = append(g.streams, newStream(bSrc, bDst, ring+ms(20), fin))
		}
	} else {
		h.response(fin, inv, 200, toTag, calleeContact, extra, "application/sdp", answer)
		callerCSeq := inv.cseq
		inDialog := func(fromCaller bool, method string) *tx {
			x := &tx{method: method, fromCaller: fromCaller}
			if fromCaller {
				callerCSeq++
				x.cseq = callerCSeq
				x.via, x.from, x.to, x.ruri = via(c.Caller), fromHdr, toHdr, calleeURI
			} else {
				x.cseq = 1
				x.via, x.from, x.to, x.ruri = via(c.Callee), toHdr+";tag="+toTag, `"`+c.FromUser+`" <sip:`+c.FromUser+"@"+host(c.Caller)+">", callerURI
			}
			addBranch(x)
			return x
		}
		tagFor := func(x *tx) string {
			if x.fromCaller {
				return toTag
			}
			return fromTag
		}
		ack2xx := func(at time.Duration, cseq int) {
			x := &tx{method: "ACK", cseq: cseq, fromCaller: true, via: via(c.Caller), from: fromHdr, to: toHdr, ruri: calleeURI}
			addBranch(x)
			h.request(at, x, toTag, "", nil, "", nil)
		}
		ack2xx(fin+ms(20), 1)
		mediaStart := fin + ms(30)
		bye := fin + ms(c.TalkMs)
		mediaEnd := bye - ms(c.MediaStopEarlyMs)
		a := newStream(aSrc, aDst, mediaStart, mediaEnd)
		a.loss, a.dups, a.reorder = setOf(c.Loss), setOf(c.Duplicates), setOf(c.Reorder)
		bStart := mediaStart
		if c.EarlyMedia {
			bStart = ring + ms(20)
		}
		b := newStream(bSrc, bDst, bStart, mediaEnd)
		b.loss = setOf(c.LossBack)
		if c.DTMF != "" {
			a.dtmf = []byte(c.DTMF)
			a.dtmfStartN = 1000 / c.PtimeMs
		}
		reinvite := func(at time.Duration, media netip.AddrPort, dir, ansDir string) time.Duration {
			x := inDialog(true, "INVITE")
			verA++
			h.request(at, x, toTag, callerContact, nil, "application/sdp", sdp(c.FromUser, sessA, verA, media, cd, c.PtimeMs, dir, c.Payload))
			verB++
			h.response(at+ms(30), x, 200, toTag, calleeContact, nil, "application/sdp", sdp(c.ToUser, sessB, verB, c.CalleeMedia, cd, c.PtimeMs, ansDir, c.Payload))
			ack2xx(at+ms(50), x.cseq)
			return at + ms(30)
		}
		if c.ReInviteHold {
			hold := reinvite(fin+ms(c.TalkMs/3), c.CallerMedia, "sendonly", "recvonly")
			resume := reinvite(fin+ms(2*c.TalkMs/3), c.CallerMedia, "sendrecv", "sendrecv")
			b.pauses = append(b.pauses, [2]time.Duration{hold, resume})
		}
		if c.PortMove {
			moved := netip.AddrPortFrom(c.CallerMedia.Addr(), c.CallerMedia.Port()+10)
			at := reinvite(fin+ms(c.TalkMs/2), moved, "sendrecv", "sendrecv")
			na := moved
			if c.NATMedia {
				na = netip.AddrPortFrom(aSrc.Addr(), aSrc.Port()+10)
			}
			a.move(at, na, aDst)
			b.move(at, bSrc, na)
		}
		if c.ReInviteFail != 0 {
			// A re-INVITE the callee cannot take (488 Not Acceptable Here, 491 Request
			// Pending): the session goes on unchanged (RFC 3261 §14.1).
			x := inDialog(true, "INVITE")
			verA++
			h.request(fin+ms(c.TalkMs/2), x, toTag, callerContact, nil, "application/sdp", sdp(c.FromUser, sessA, verA, c.CallerMedia, cd, c.PtimeMs, "sendrecv", c.Payload))
			h.response(fin+ms(c.TalkMs/2)+ms(20), x, c.ReInviteFail, toTag, "", nil, "", nil)
			ack(fin+ms(c.TalkMs/2)+ms(25), x, toTag)
		}
		if c.ReferTo != "" {
			// Blind transfer by the callee (RFC 3515): REFER answered 202 Accepted.
			x := inDialog(false, "REFER")
			target := "sip:" + c.ReferTo + "@" + host(c.Callee)
			h.request(fin+ms(c.TalkMs/2), x, fromTag, calleeContact, []string{"Refer-To: <" + target + ">",
				"Referred-By: <sip:" + c.ToUser + "@" + host(c.Callee) + ">"}, "", nil)
			h.response(fin+ms(c.TalkMs/2)+ms(10), x, 202, fromTag, "", nil, "", nil)
			g.transferredTo = target
		}
		if c.StallMs > 0 {
			at := mediaStart + ms(c.TalkMs/2)
			a.stalls = append(a.stalls, [2]time.Duration{at, at + ms(c.StallMs)})
		}
		g.streams = append(g.streams, a, b)
		if c.RTCP {
			g.rtcp = newRTCPSource(sc, a, b, aSrc, aDst, bSrc, bDst, mediaStart, mediaEnd, c.RTTMs,
				c.FromUser+"@"+host(c.Caller), c.ToUser+"@"+host(c.Callee))
		}
		if !c.NoBye {
			x := inDialog(!c.ByeFromCallee, "BYE")
			var bx []string
			if c.Q850Cause > 0 {
				txt := q850Text[c.Q850Cause]
				if txt == "" {
					txt = "Cause " + strconv.Itoa(c.Q850Cause)
				}
				bx = append(bx, "Reason: Q.850;cause="+strconv.Itoa(c.Q850Cause)+`;text="`+txt+`"`)
			}
			h.request(bye, x, tagFor(x), "", bx, "", nil)
			h.response(bye+ms(10), x, 200, tagFor(x), "", nil, "", nil)
		}
	}
	g.sip = &listSource{evs: transportEvents(sc, h.msgs, rng)}
	return g
}

func (g *callGen) sources() []source {
	out := []source{g.sip}
	for _, s := range g.streams {
		out = append(out, s)
	}
	if g.rtcp != nil {
		out = append(out, g.rtcp)
	}
	return out
}

func (g *callGen) truth() CallTruth {
	ct := CallTruth{CallID: g.c.CallID, State: g.state, FinalCode: g.code, SIPMessages: g.h.count, Retransmissions: g.h.retrans,
		TransferredTo: g.transferredTo}
	if g.c.AuthChallenge != 0 {
		ct.AuthChallenges = 1
	}
	for _, s := range g.streams {
		for _, st := range s.finalTruths() {
			if st.Packets > 0 {
				ct.Streams = append(ct.Streams, st)
			}
		}
	}
	return ct
}
