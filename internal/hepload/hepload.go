// Package hepload builds the SIP call flows of the HEP load test (scripts/bench-hep.sh,
// internal/tools/hepload, cmd/callscope's BenchmarkHEPIngest): complete calls (INVITE
// with SDP, 100, 180, 200 with SDP, ACK, BYE, 200; each message padded with the headers
// a real proxy adds to about 800 bytes) encoded as HEPv3. Every call has its own Call-ID,
// tags, branches and SDP media port, written into fixed-width fields of prebuilt
// templates, so building a message costs a few stores and one HEP encode. A Gen is used
// by one goroutine.
package hepload

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/hep"
)

// A call's messages: offset from the INVITE and whether the caller sends it.
var flow = [...]struct {
	at     time.Duration
	caller bool
	text   string
}{
	{0, true, invite},
	{2 * time.Millisecond, false, trying},
	{50 * time.Millisecond, false, ringing},
	{500 * time.Millisecond, false, ok200},
	{510 * time.Millisecond, true, ack},
	{1000 * time.Millisecond, true, bye},
	{1010 * time.Millisecond, false, byeOK},
}

// Fixed-width fields replaced per call: CALLID (16 hex), FTAG/TTAG (8 hex), BRANCH
// (12 hex), PORTA/PORTB (5 digits).
const (
	hdrs = "Call-ID: CALLIDCALLIDCALL@10.20.0.2\r\n" +
		"User-Agent: loadgen-pbx/4.2.1\r\n" +
		"P-Asserted-Identity: \"Alice Example\" <sip:+15551230001@10.20.0.2;user=phone>\r\n" +
		"Record-Route: <sip:10.20.0.1;lr;ftag=FTAGFTAG>\r\n" +
		"P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=2620100000000000\r\n" +
		"X-Tenant-Route: tenant=loadgen-0001;trunk=carrier-a;region=eu-central-1\r\n" +
		"Accept-Language: en, de;q=0.8\r\n"
	invite = "INVITE sip:+15559870002@10.20.0.1:5060;user=phone SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.20.0.2:5060;branch=z9hG4bKBRANCHBRANCH;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: \"Alice Example\" <sip:+15551230001@10.20.0.2>;tag=FTAGFTAG\r\n" +
		"To: <sip:+15559870002@10.20.0.1>\r\n" + hdrs +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:+15551230001@10.20.0.2:5060>\r\n" +
		"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY\r\n" +
		"Supported: replaces, timer, 100rel\r\n" +
		"Session-Expires: 1800;refresher=uac\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: LEN\r\n\r\n" + sdpA
	sdpA = "v=0\r\no=- 4711 4711 IN IP4 10.20.0.2\r\ns=-\r\nc=IN IP4 10.20.0.2\r\nt=0 0\r\n" +
		"m=audio PORTA RTP/AVP 0 8 18 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
	sdpB = "v=0\r\no=- 815 815 IN IP4 10.20.0.3\r\ns=-\r\nc=IN IP4 10.20.0.3\r\nt=0 0\r\n" +
		"m=audio PORTB RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
	resp = "Via: SIP/2.0/UDP 10.20.0.2:5060;branch=z9hG4bKBRANCHBRANCH;rport=5060\r\n" +
		"From: \"Alice Example\" <sip:+15551230001@10.20.0.2>;tag=FTAGFTAG\r\n" +
		"To: <sip:+15559870002@10.20.0.1>;tag=TTAGTTAG\r\n" + hdrs
	trying  = "SIP/2.0 100 Trying\r\n" + resp + "CSeq: 1 INVITE\r\nServer: loadgen-sbc/7.0\r\nContent-Length: 0\r\n\r\n"
	ringing = "SIP/2.0 180 Ringing\r\n" + resp + "CSeq: 1 INVITE\r\nServer: loadgen-sbc/7.0\r\n" +
		"Contact: <sip:+15559870002@10.20.0.3:5060>\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\nContent-Length: 0\r\n\r\n"
	ok200 = "SIP/2.0 200 OK\r\n" + resp + "CSeq: 1 INVITE\r\nServer: loadgen-sbc/7.0\r\n" +
		"Contact: <sip:+15559870002@10.20.0.3:5060>\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\n" +
		"Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: LEN\r\n\r\n" + sdpB
	inDialog = "Via: SIP/2.0/UDP 10.20.0.2:5060;branch=z9hG4bKBRANCHBRANCH;rport\r\nMax-Forwards: 70\r\n" +
		"From: \"Alice Example\" <sip:+15551230001@10.20.0.2>;tag=FTAGFTAG\r\n" +
		"To: <sip:+15559870002@10.20.0.1>;tag=TTAGTTAG\r\n" + hdrs +
		"Route: <sip:10.20.0.1;lr;ftag=FTAGFTAG>\r\nContact: <sip:+15551230001@10.20.0.2:5060>\r\n"
	ack   = "ACK sip:+15559870002@10.20.0.3:5060 SIP/2.0\r\n" + inDialog + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
	bye   = "BYE sip:+15559870002@10.20.0.3:5060 SIP/2.0\r\n" + inDialog + "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	byeOK = "SIP/2.0 200 OK\r\n" + resp + "Reason: Q.850;cause=16\r\n" +
		"CSeq: 2 BYE\r\nServer: loadgen-sbc/7.0\r\nContent-Length: 0\r\n\r\n"
)

// template is one message with the offsets of its per-call fields.
type template struct {
	b                                []byte
	callID, ftag, ttag, branch, port []int
	caller                           bool
	at                               time.Duration
}

func build(text string, caller bool, at time.Duration) template {
	if i := strings.Index(text, "\r\n\r\n"); strings.Contains(text, "Content-Length: LEN") {
		body := len(text) - (i + 4)
		text = strings.Replace(text, "Content-Length: LEN", "Content-Length: "+strconv.Itoa(body), 1)
	}
	t := template{b: []byte(text), caller: caller, at: at}
	find := func(mark string) []int {
		var at []int
		for off := 0; ; {
			i := strings.Index(text[off:], mark)
			if i < 0 {
				return at
			}
			at = append(at, off+i)
			off += i + len(mark)
		}
	}
	t.callID, t.ftag, t.ttag, t.branch = find("CALLIDCALLIDCALL"), find("FTAGFTAG"), find("TTAGTTAG"), find("BRANCHBRANCH")
	t.port = append(find("PORTA"), find("PORTB")...)
	return t
}

const hexdig = "0123456789abcdef"

func putHex(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hexdig[v&15]
		v >>= 4
	}
}

// fill writes call k's fields (seed distinguishes runs) into t.
func (t *template) fill(k, seed uint64) {
	for _, i := range t.callID {
		putHex(t.b[i:i+16], seed<<40|k)
	}
	for _, i := range t.ftag {
		putHex(t.b[i:i+8], k*2654435761)
	}
	for _, i := range t.ttag {
		putHex(t.b[i:i+8], k*40503+7)
	}
	for _, i := range t.branch {
		putHex(t.b[i:i+12], k)
	}
	port := 10000 + 2*(k%25000) // 10000..59998, even
	for _, i := range t.port {
		d := t.b[i : i+5]
		for j, v := 4, port; j >= 0; j-- {
			d[j] = byte('0' + v%10)
			v /= 10
		}
	}
}

// Messages is the number of messages of one call.
const Messages = len(flow)

// Offset is when message j of a call is sent, after its INVITE.
func Offset(j int) time.Duration { return flow[j].at }

// Gen encodes the messages of numbered calls.
type Gen struct {
	tpl  [Messages]template
	seed uint64
	p    hep.Packet
}

// New returns a Gen whose Call-IDs carry seed (runs with different seeds do not collide).
func New(seed uint64) *Gen {
	g := &Gen{seed: seed, p: hep.Packet{Version: 3, IPProto: 17, ProtoType: 1, CaptureID: 2001}}
	for i, f := range flow {
		g.tpl[i] = build(f.text, f.caller, f.at)
	}
	return g
}

var (
	caller = netip.MustParseAddrPort("10.20.0.2:5060")
	callee = netip.MustParseAddrPort("10.20.0.1:5060")
)

// Append appends message j of call k, captured at ts, as a HEPv3 packet to dst; it also
// returns the SIP message's length.
func (g *Gen) Append(dst []byte, k uint64, j int, ts time.Time) ([]byte, int) {
	t := &g.tpl[j]
	t.fill(k, g.seed)
	p := &g.p
	p.TSSec, p.TSUsec = uint32(ts.Unix()), uint32(ts.Nanosecond()/1000)
	p.Src, p.Dst = caller, callee
	if !t.caller {
		p.Src, p.Dst = callee, caller
	}
	p.Payload = t.b
	return hep.Append(dst, p), len(t.b)
}
