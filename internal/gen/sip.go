package gen

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sipMsg is one SIP message on one hop, before transport framing.
type sipMsg struct {
	t        time.Duration
	src, dst netip.AddrPort
	data     []byte
}

func host(a netip.AddrPort) string {
	if a.Addr().Is6() {
		return "[" + a.Addr().String() + "]"
	}
	return a.Addr().String()
}

func hostport(a netip.AddrPort) string { return host(a) + ":" + strconv.Itoa(int(a.Port())) }

func ipVer(a netip.AddrPort) string {
	if a.Addr().Is6() {
		return "IP6"
	}
	return "IP4"
}

var reasons = map[int]string{
	100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 302: "Moved Temporarily",
	401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
	480: "Temporarily Unavailable", 486: "Busy Here", 487: "Request Terminated",
	500: "Server Internal Error", 503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}

func reason(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "Unknown"
}

func viaProto(t Transport) string {
	switch t {
	case TCP:
		return "TCP"
	case SCTP:
		return "SCTP"
	case WS:
		return "WS"
	}
	return "UDP"
}

func randHex(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}

// msgBuilder assembles an RFC 3261 section 7 message: start line, headers in
// a conventional order, CRLF line ends, Content-Length always present.
type msgBuilder struct{ b strings.Builder }

func (m *msgBuilder) line(s ...string) {
	for _, x := range s {
		m.b.WriteString(x)
	}
	m.b.WriteString("\r\n")
}

func (m *msgBuilder) finish(ctype string, body []byte) []byte {
	if len(body) > 0 {
		m.line("Content-Type: ", ctype)
	}
	m.line("Content-Length: ", strconv.Itoa(len(body)))
	m.b.WriteString("\r\n")
	m.b.Write(body)
	return []byte(m.b.String())
}

// sdp builds an RFC 4566 session description with one audio stream offering
// the codec and RFC 4733 telephone-events on payload type 101.
func sdp(user string, sessID, version uint64, media netip.AddrPort, c codec, ptime int, dir string, extra []byte) []byte {
	var b strings.Builder
	ip := media.Addr().String()
	fmt.Fprintf(&b, "v=0\r\no=%s %d %d IN %s %s\r\ns=callscope\r\nc=IN %s %s\r\nt=0 0\r\n", user, sessID, version, ipVer(media), ip, ipVer(media), ip)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d %d\r\n", media.Port(), c.pt, dtmfPT)
	fmt.Fprintf(&b, "a=rtpmap:%d %s\r\n", c.pt, c.rtpmap)
	fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\n", dtmfPT, c.dtmfRate, dtmfPT)
	fmt.Fprintf(&b, "a=ptime:%d\r\na=%s\r\n", ptime, dir)
	if len(extra) > 0 {
		b.Write(extra)
		if extra[len(extra)-1] != '\n' {
			b.WriteString("\r\n")
		}
	}
	return []byte(b.String())
}

// tx is one SIP transaction between the two ends of a call.
type tx struct {
	method     string
	cseq       int
	fromCaller bool
	via        string // requester's Via
	proxyVia   string // the proxy's Via, when there is a proxy
	from, to   string // From and To header values (To without tag)
	ruri       string
}

type hopper struct {
	cid            string
	sc             *Scenario
	caller, callee netip.AddrPort
	proxy          bool
	proxyA, proxyB netip.AddrPort // proxy address facing caller, facing callee
	msgs           []sipMsg
	count          int
	retrans        int
}

// put places a message on the wire: on one hop, or with a proxy on both hops
// (requests gain the proxy's Via on the far hop; responses lose it on the
// requester's hop). fromCaller is the side that sends this message.
func (h *hopper) put(t time.Duration, fromCaller, isReq bool, x *tx, build func(vias []string) []byte) {
	one := []string{x.via}
	two := []string{x.proxyVia, x.via}
	if !h.proxy {
		d := build(one)
		src, dst := h.caller, h.callee
		if !fromCaller {
			src, dst = dst, src
		}
		h.msgs = append(h.msgs, sipMsg{t, src, dst, d})
		h.count++
		return
	}
	type hop struct {
		src, dst netip.AddrPort
		vias     []string
	}
	// The hop next to the requester carries only the requester's Via; the
	// other hop also carries the proxy's (RFC 3261 sections 16.6 and 16.7).
	callerHop := hop{h.caller, h.proxyA, one}
	calleeHop := hop{h.proxyB, h.callee, two}
	if !x.fromCaller {
		callerHop.vias, calleeHop.vias = two, one
	}
	order := []hop{callerHop, calleeHop}
	if !fromCaller {
		calleeHop.src, calleeHop.dst = calleeHop.dst, calleeHop.src
		callerHop.src, callerHop.dst = callerHop.dst, callerHop.src
		order = []hop{calleeHop, callerHop}
	}
	for i, hp := range order {
		h.msgs = append(h.msgs, sipMsg{t + time.Duration(i)*2*time.Millisecond, hp.src, hp.dst, build(hp.vias)})
		h.count++
	}
}

// dialogHeaders writes the headers requests and responses of a transaction share:
// From, To (with toTag), Call-ID, CSeq, Contact and the extra lines.
func (h *hopper) dialogHeaders(m *msgBuilder, x *tx, toTag, contact string, extra []string) {
	m.line("From: ", x.from)
	to := x.to
	if toTag != "" {
		to += ";tag=" + toTag
	}
	m.line("To: ", to)
	m.line("Call-ID: ", h.callID())
	m.line("CSeq: ", strconv.Itoa(x.cseq), " ", x.method)
	if contact != "" {
		m.line("Contact: ", contact)
	}
	for _, e := range extra {
		m.line(e)
	}
}

func (h *hopper) request(t time.Duration, x *tx, toTag string, contact string, extra []string, ctype string, body []byte) []byte {
	var last []byte
	h.put(t, x.fromCaller, true, x, func(vias []string) []byte {
		var m msgBuilder
		m.line(x.method, " ", x.ruri, " SIP/2.0")
		for _, v := range vias {
			m.line("Via: ", v)
		}
		m.line("Max-Forwards: 70")
		h.dialogHeaders(&m, x, toTag, contact, extra)
		m.line("User-Agent: callscope-gen/1.0")
		last = m.finish(ctype, body)
		return last
	})
	return last
}

func (h *hopper) response(t time.Duration, x *tx, code int, toTag, contact string, extra []string, ctype string, body []byte) {
	h.put(t, !x.fromCaller, false, x, func(vias []string) []byte {
		var m msgBuilder
		m.line("SIP/2.0 ", strconv.Itoa(code), " ", reason(code))
		for _, v := range vias {
			m.line("Via: ", v)
		}
		h.dialogHeaders(&m, x, toTag, contact, extra)
		m.line("Server: callscope-gen/1.0")
		return m.finish(ctype, body)
	})
}

func (h *hopper) callID() string { return h.cid }

// regEvents builds REGISTER → 401 → REGISTER with Digest credentials
// (RFC 3261 section 22.4, RFC 2617 response) → 200 (or 403 when Fail).
func regEvents(sc *Scenario, r *RegSpec, idx int, rng *rand.Rand) []event {
	h := &hopper{sc: sc, caller: r.Contact, callee: r.Registrar, cid: fmt.Sprintf("reg-%d-%s@%s", idx, randHex(rng, 12), r.Contact.Addr())}
	aor := "<sip:" + r.User + "@" + host(r.Registrar) + ">"
	from := aor + ";tag=" + randHex(rng, 10)
	contact := "<sip:" + r.User + "@" + hostport(r.Contact) + ">;expires=" + strconv.Itoa(r.Expires)
	ruri := "sip:" + host(r.Registrar)
	mk := func(cseq int) *tx {
		return &tx{method: "REGISTER", cseq: cseq, fromCaller: true, from: from, to: aor, ruri: ruri,
			via: "SIP/2.0/" + viaProto(sc.Transport) + " " + hostport(r.Contact) + ";branch=z9hG4bK" + randHex(rng, 16) + ";rport"}
	}
	t := r.Start
	x1 := mk(1)
	h.request(t, x1, "", contact, []string{"Expires: " + strconv.Itoa(r.Expires)}, "", nil)
	nonce := randHex(rng, 32)
	realm := "callscope.test"
	toTag := randHex(rng, 10)
	h.response(t+20*time.Millisecond, x1, 401, toTag, "", []string{`WWW-Authenticate: Digest realm="` + realm + `", nonce="` + nonce + `", algorithm=MD5, qop="auth"`}, "", nil)
	x2 := mk(2)
	ha1 := md5hex(r.User + ":" + realm + ":secret")
	ha2 := md5hex("REGISTER:" + ruri)
	cnonce := randHex(rng, 8)
	resp := md5hex(ha1 + ":" + nonce + ":00000001:" + cnonce + ":auth:" + ha2)
	auth := `Authorization: Digest username="` + r.User + `", realm="` + realm + `", nonce="` + nonce + `", uri="` + ruri +
		`", response="` + resp + `", algorithm=MD5, cnonce="` + cnonce + `", qop=auth, nc=00000001`
	h.request(t+40*time.Millisecond, x2, "", contact, []string{auth, "Expires: " + strconv.Itoa(r.Expires)}, "", nil)
	if r.Fail {
		h.response(t+60*time.Millisecond, x2, 403, toTag, "", nil, "", nil)
	} else {
		h.response(t+60*time.Millisecond, x2, 200, toTag, contact, nil, "", nil)
	}
	return transportEvents(sc, h.msgs, rng)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// transportEvents frames SIP messages for the scenario's transport.
func transportEvents(sc *Scenario, msgs []sipMsg, rng *rand.Rand) []event {
	slices.SortStableFunc(msgs, func(a, b sipMsg) int { return int(a.t - b.t) })
	var evs []event
	switch sc.Transport {
	case TCP, WS:
		evs = tcpEvents(sc, msgs, rng)
	case SCTP:
		evs = sctpEvents(msgs, rng)
	default:
		for _, m := range msgs {
			evs = append(evs, event{t: m.t, src: m.src, dst: m.dst, l4: l4UDP, payload: m.data, frag: sc.Fragment, hep: 1})
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.t - b.t) })
	return evs
}

type connKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) connKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return connKey{x, y}
}

type sctpAssoc struct {
	vtag [2]uint32
	tsn  [2]uint32
	ssn  [2]uint16
	a    netip.AddrPort
}

// sctpEvents puts each message in one DATA chunk (RFC 9260 section 3.3.1,
// B and E bits set) on one association per address pair.
func sctpEvents(msgs []sipMsg, rng *rand.Rand) []event {
	assocs := map[connKey]*sctpAssoc{}
	var evs []event
	for _, m := range msgs {
		k := keyOf(m.src, m.dst)
		as := assocs[k]
		if as == nil {
			as = &sctpAssoc{vtag: [2]uint32{rng.Uint32() | 1, rng.Uint32() | 1}, tsn: [2]uint32{rng.Uint32(), rng.Uint32()}, a: m.src}
			assocs[k] = as
		}
		d := 0
		if m.src != as.a {
			d = 1
		}
		evs = append(evs, event{t: m.t, src: m.src, dst: m.dst, l4: l4SCTP, payload: m.data,
			sctp: sctpInfo{vtag: as.vtag[1-d], tsn: as.tsn[d], ssn: as.ssn[d]}})
		as.tsn[d]++
		as.ssn[d]++
	}
	return evs
}

type tcpConn struct {
	cli     netip.AddrPort
	seq     [2]uint32
	msgs    []sipMsg
	started bool
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsFrame builds one RFC 6455 section 5.2 text frame; client frames are masked.
func wsFrame(data []byte, masked bool, rng *rand.Rand) []byte {
	out := []byte{0x81}
	mb := byte(0)
	if masked {
		mb = 0x80
	}
	switch n := len(data); {
	case n < 126:
		out = append(out, mb|byte(n))
	case n < 65536:
		out = append(out, mb|126, byte(n>>8), byte(n))
	default:
		out = append(out, mb|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if !masked {
		return append(out, data...)
	}
	var key [4]byte
	for i := range key {
		key[i] = byte(rng.UintN(256))
	}
	out = append(out, key[:]...)
	for i, c := range data {
		out = append(out, c^key[i%4])
	}
	return out
}

// tcpEvents turns messages into TCP segments: one connection per address
// pair, opened by whoever speaks first with a three-way handshake, cut
// according to sc.TCPMode. For WS the connection starts with the RFC 6455
// section 4 opening handshake and each message is one frame.
func tcpEvents(sc *Scenario, msgs []sipMsg, rng *rand.Rand) []event {
	conns := map[connKey]*tcpConn{}
	var order []*tcpConn
	for _, m := range msgs {
		k := keyOf(m.src, m.dst)
		c := conns[k]
		if c == nil {
			c = &tcpConn{cli: m.src, seq: [2]uint32{rng.Uint32(), rng.Uint32()}}
			conns[k] = c
			order = append(order, c)
		}
		c.msgs = append(c.msgs, m)
	}
	var evs []event
	for _, c := range order {
		evs = c.segments(sc, rng, evs)
	}
	return evs
}

func (c *tcpConn) dir(src netip.AddrPort) int {
	if src == c.cli {
		return 0
	}
	return 1
}

func (c *tcpConn) seg(evs []event, t time.Duration, src, dst netip.AddrPort, seq, ack uint32, data []byte, syn, ackf, psh bool) []event {
	return append(evs, event{t: t, src: src, dst: dst, l4: l4TCP, payload: data,
		tcp: tcpInfo{seq: seq, ack: ack, syn: syn, ack_: ackf, psh: psh}})
}

func (c *tcpConn) segments(sc *Scenario, rng *rand.Rand, evs []event) []event {
	if len(c.msgs) == 0 {
		return evs
	}
	first := c.msgs[0]
	srv := first.dst
	t0 := first.t
	us := time.Microsecond
	// three-way handshake
	evs = c.seg(evs, t0-3000*us, c.cli, srv, c.seq[0], 0, nil, true, false, false)
	evs = c.seg(evs, t0-2900*us, srv, c.cli, c.seq[1], c.seq[0]+1, nil, true, true, false)
	c.seq[0]++
	c.seq[1]++
	evs = c.seg(evs, t0-2800*us, c.cli, srv, c.seq[0], c.seq[1], nil, false, true, false)
	ws := sc.Transport == WS
	if ws {
		var kb [16]byte
		for i := range kb {
			kb[i] = byte(rng.UintN(256))
		}
		key := base64.StdEncoding.EncodeToString(kb[:])
		sum := sha1.Sum([]byte(key + wsGUID))
		req := "GET / HTTP/1.1\r\nHost: " + hostport(srv) + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: " + key + "\r\nOrigin: http://" + host(c.cli) + "\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n"
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
		evs = c.seg(evs, t0-2000*us, c.cli, srv, c.seq[0], c.seq[1], []byte(req), false, true, true)
		c.seq[0] += uint32(len(req))
		evs = c.seg(evs, t0-1000*us, srv, c.cli, c.seq[1], c.seq[0], []byte(resp), false, true, true)
		c.seq[1] += uint32(len(resp))
	}
	// group messages (Coalesce: consecutive same-direction messages within 100 ms)
	type group struct {
		t        time.Duration
		src, dst netip.AddrPort
		data     []byte
	}
	var groups []group
	for _, m := range c.msgs {
		data := m.data
		if ws {
			data = wsFrame(m.data, c.dir(m.src) == 0, rng)
		}
		if n := len(groups); sc.TCPMode&Coalesce != 0 && n > 0 && groups[n-1].src == m.src && m.t-groups[n-1].t < 100*time.Millisecond {
			groups[n-1].data = append(groups[n-1].data, data...)
			groups[n-1].t = m.t
			continue
		}
		groups = append(groups, group{m.t, m.src, m.dst, append([]byte(nil), data...)})
	}
	nseg := 0
	for _, g := range groups {
		d := c.dir(g.src)
		var cuts []int
		switch n := len(g.data); {
		case sc.TCPMode&Split != 0 && n >= 3:
			cuts = []int{0, n / 3, 2 * n / 3, n}
		case sc.TCPMode&Reorder != 0 && n >= 2:
			cuts = []int{0, n / 2, n}
		default:
			cuts = []int{0, n}
		}
		pieces := make([]int, len(cuts)-1)
		for i := range pieces {
			pieces[i] = i
		}
		if sc.TCPMode&Reorder != 0 {
			for i := 0; i+1 < len(pieces); i += 2 {
				pieces[i], pieces[i+1] = pieces[i+1], pieces[i]
			}
		}
		base := c.seq[d]
		var retx []int
		for k, p := range pieces {
			lo, hi := cuts[p], cuts[p+1]
			evs = c.seg(evs, g.t+time.Duration(k)*100*us, g.src, g.dst, base+uint32(lo), c.seq[1-d], g.data[lo:hi], false, true, hi == len(g.data))
			if sc.TCPMode&Retransmit != 0 && nseg%2 == 1 {
				retx = append(retx, p)
			}
			nseg++
		}
		for k, p := range retx {
			lo, hi := cuts[p], cuts[p+1]
			evs = c.seg(evs, g.t+time.Duration(len(pieces)+k)*100*us+200*us, g.src, g.dst, base+uint32(lo), c.seq[1-d], g.data[lo:hi], false, true, hi == len(g.data))
		}
		c.seq[d] += uint32(len(g.data))
	}
	return evs
}
