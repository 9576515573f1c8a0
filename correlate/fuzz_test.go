package correlate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

// FuzzCorrelate reads the input as a script of events over a few calls, media
// addresses and SSRCs (so that calls, streams, link values and table caps collide), fed
// to a Correlator with tiny tables. It checks that nothing panics, that every emitted
// call renders as JSON, that the tables stay within their caps, and that after Finish
// every table and index is empty: nothing leaks.
//
// Each op is 6 bytes: op, a, b, c, d, e. Ops: 0 INVITE, 1 response, 2 in-dialog
// request, 3 RTP, 4 RTCP, 5 time step.
func FuzzCorrelate(f *testing.F) {
	// An answered call with media both ways and RTCP, a busy one, a B2BUA pair.
	f.Add([]byte{
		0, 0, 0, 0, 0, 0, 1, 0, 3, 1, 1, 0, 1, 0, 0, 1, 1, 0, 3, 0, 1, 0, 0, 0, 3, 1, 0, 1, 0, 0,
		3, 0, 1, 0, 1, 0, 5, 5, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0,
	})
	f.Add([]byte{0, 1, 2, 0, 0, 0, 1, 1, 4, 0, 0, 0, 5, 200, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 1, 0, 1, 2, 3, 1, 1, 0, 1, 0, 3, 1, 1, 0, 2, 2, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.MaxCalls, cfg.MaxStreams, cfg.MaxMedia, cfg.MaxRegistrations = 4, 6, 8, 2
		cfg.MaxStreamsPerCall, cfg.MaxMessagesPerCall = 3, 8
		cfg.KeepMessages, cfg.KeepRTP = true, KeepRTPHeaders
		cfg.LinkByNumber = data != nil && len(data)%2 == 1
		cfg.Linger, cfg.RTPTimeout = 2*time.Second, 3*time.Second
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		var out []*Record
		c := New(cfg, Output{Call: func(r *Record) { out = append(out, r) }, Orphan: func(*Stream) {}, Registration: func(*Registration) {}})
		f := fuzzFeeder{t: t, c: c, ts: t0}
		for len(data) >= 6 {
			f.op(data[:6])
			data = data[6:]
			if n := c.ActiveCalls(); n > cfg.MaxCalls {
				t.Fatalf("%d calls in a table of %d", n, cfg.MaxCalls)
			}
			if n := c.ActiveStreams(); n > cfg.MaxStreams {
				t.Fatalf("%d streams in a table of %d", n, cfg.MaxStreams)
			}
			if n := len(c.media); n > cfg.MaxMedia {
				t.Fatalf("%d media entries in a table of %d", n, cfg.MaxMedia)
			}
		}
		c.Finish()
		n := c.Counters()
		if n.ActiveCalls+n.ActiveStreams+n.ActiveMedia+n.ActiveRegistrations != 0 || c.streams.occupied() != 0 || len(c.bySSRC) != 0 ||
			len(c.links.byKey) != 0 || len(c.links.byNumber) != 0 {
			t.Fatalf("left after Finish: %d calls, %d streams (%d slots, %d by SSRC), %d media, %d registrations, %d link values, %d numbers",
				n.ActiveCalls, n.ActiveStreams, c.streams.occupied(), len(c.bySSRC), n.ActiveMedia, n.ActiveRegistrations,
				len(c.links.byKey), len(c.links.byNumber))
		}
		links := map[string]map[string]bool{} // Call-ID -> linked Call-IDs, over all its calls
		for _, r := range out {
			if _, err := json.Marshal(r.Call); err != nil {
				t.Fatalf("call %s does not render: %v", r.Call.CallID, err)
			}
			if len(r.Call.LinkedCallIDs) > maxLinksPerCall {
				t.Fatalf("%d links", len(r.Call.LinkedCallIDs))
			}
			if links[r.Call.CallID] == nil {
				links[r.Call.CallID] = map[string]bool{}
			}
			for _, l := range r.Call.LinkedCallIDs {
				links[r.Call.CallID][l] = true
			}
		}
		// Live links are made in pairs, and every call is emitted by Finish.
		for id, ls := range links {
			for l := range ls {
				if l == id || !links[l][id] {
					t.Fatalf("%s links to %s, which does not link back (%v)", id, l, links[l])
				}
			}
		}
	})
}

type fuzzFeeder struct {
	t   *testing.T
	c   *Correlator
	ts  int64
	msg sip.Message
	hdr rtp.Header
	buf []byte
}

var (
	fuzzSig   = [2]string{"10.0.0.1:5060", "10.0.0.2:5060"}
	fuzzMedia = [4]string{"10.0.0.1:4000", "10.0.0.2:6000", "10.0.0.3:4000", "10.0.0.1:4002"}
	fuzzCodes = [...]int{100, 180, 183, 200, 486, 487, 408, 481, 503, 302, 401, 600}
	fuzzPTs   = [...]uint8{0, 8, 101, 13, 96, 127, 18, 9}
	fuzzReqs  = [...]string{"ACK", "BYE", "CANCEL", "INVITE", "UPDATE", "INFO", "REGISTER", "OPTIONS"}
)

func (f *fuzzFeeder) op(p []byte) {
	a, b, cc, d, e := p[1], p[2], p[3], p[4], p[5]
	callID := fmt.Sprintf("fz-%d", a%5)
	side := int(b & 1)
	switch p[0] % 6 {
	case 0: // INVITE with SDP, maybe naming another call, an icid or a media address
		hdrs := []string{}
		if cc&1 != 0 {
			hdrs = append(hdrs, fmt.Sprintf("X-CID: fz-%d", cc>>1%5))
		}
		if cc&2 != 0 {
			hdrs = append(hdrs, fmt.Sprintf("P-Charging-Vector: icid-value=ic%d", d%3))
		}
		f.sip(side, fmt.Sprintf("INVITE sip:%d@x SIP/2.0", e%3), callID, "", fmt.Sprintf("%d INVITE", 1+d%3),
			hdrs, f.sdp(b>>1, d, e))
	case 1: // response
		code := fuzzCodes[int(b)%len(fuzzCodes)]
		body := ""
		if cc&1 != 0 {
			body = f.sdp(cc>>1, d, e)
		}
		f.sip(1-side, fmt.Sprintf("SIP/2.0 %d X", code), callID, fmt.Sprintf("tt%d", d%2), fmt.Sprintf("%d %s", 1+e%3, fuzzReqs[int(cc>>4)%len(fuzzReqs)]), nil, body)
	case 2: // request, in dialog or not
		m := fuzzReqs[int(cc)%len(fuzzReqs)]
		hdrs := []string{}
		if d&1 != 0 {
			hdrs = append(hdrs, "Reason: Q.850;cause="+fmt.Sprint(d>>1))
		}
		if m == "INFO" {
			hdrs = append(hdrs, "Content-Type: application/dtmf-relay")
		}
		body := ""
		if m == "INFO" {
			body = "Signal=5\r\nDuration=160\r\n"
		} else if e&1 != 0 {
			body = f.sdp(e>>1, d, b)
		}
		f.sip(side, m+" sip:x SIP/2.0", callID, fmt.Sprintf("tt%d", e%2), fmt.Sprintf("%d %s", 1+d%4, m), hdrs, body)
	case 3: // RTP between two of the media addresses
		src, dst := fuzzMedia[b%4], fuzzMedia[(b>>2)%4]
		f.hdr = rtp.Header{Version: 2, PayloadType: fuzzPTs[cc%8], SequenceNumber: uint16(d)<<8 | uint16(e), Timestamp: uint32(e) * 160,
			SSRC: uint32(a % 3), Marker: cc&8 != 0}
		f.buf = append(f.buf[:0], make([]byte, 12+4)...)
		_, _ = f.hdr.MarshalTo(f.buf)
		copy(f.buf[12:], []byte{d, e, 0, 160})
		ev := decode.Event{Kind: decode.KindRTP, TS: f.ts, Src: ap(src), Dst: ap(dst), Payload: f.buf, Frame: f.buf, LinkType: 1,
			RTP: &f.hdr, RTPPayloadLen: 4}
		f.c.Event(&ev)
	case 4: // RTCP: an SR or RR about one of the SSRCs, or garbage
		src, dst := bump(ap(fuzzMedia[b%4])), bump(ap(fuzzMedia[(b>>2)%4]))
		pkt := make([]byte, 28+24)
		pkt[0], pkt[1] = 0x81, 200
		if cc&1 != 0 {
			pkt[1] = 201
		}
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)/4-1))
		binary.BigEndian.PutUint32(pkt[4:], uint32(a%3))
		binary.BigEndian.PutUint32(pkt[28:], uint32(d%3))
		pkt[32] = e
		if cc&2 != 0 {
			pkt = pkt[:cc%uint8(len(pkt))]
		}
		ev := decode.Event{Kind: decode.KindRTCP, TS: f.ts, Src: src, Dst: dst, Payload: pkt, Frame: pkt, LinkType: 1}
		f.c.Event(&ev)
	case 5: // time: mostly forward, sometimes a little back (merged captures)
		step := time.Duration(binary.BigEndian.Uint16(p[1:])) * time.Millisecond
		if cc&1 != 0 {
			step *= 100
		}
		if d&1 != 0 {
			step = -step / 50
		}
		f.ts += int64(step)
		f.c.Advance(f.ts)
		return
	}
	f.ts += int64(time.Millisecond) * int64(1+e%16)
}

func bump(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr(), a.Port()+1) }

func (f *fuzzFeeder) sdp(addr, d, e byte) string {
	m := ap(fuzzMedia[addr%4])
	dir := [...]string{"", "a=sendonly\r\n", "a=inactive\r\n", "a=rtcp-mux\r\n", "a=rtcp:5999 IN IP4 10.0.0.9\r\n"}[int(d)%5]
	port := m.Port()
	if e&1 != 0 {
		port = 0 // a rejected stream
	}
	proto := "RTP/AVP"
	if e&2 != 0 {
		proto = "udptl"
	}
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d %s 0 8 101\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\n%s", m.Addr(), m.Addr(), port, proto, dir)
}

func (f *fuzzFeeder) sip(side int, start, callID, toTag, cseq string, extra []string, body string) {
	to := "<sip:bob@x>"
	if toTag != "" && !strings.HasPrefix(start, "INVITE") {
		to += ";tag=" + toTag
	}
	hdrs := append([]string{
		"Via: SIP/2.0/UDP " + fuzzSig[side] + ";branch=z9hG4bK" + cseq[:1],
		"From: <sip:alice@x>;tag=ft", "To: " + to, "Call-ID: " + callID, "CSeq: " + cseq,
	}, extra...)
	text := message(start, hdrs, body)
	if err := sip.Parse([]byte(text), &f.msg); err != nil {
		return
	}
	ev := decode.Event{Kind: decode.KindSIP, TS: f.ts, Src: ap(fuzzSig[side]), Dst: ap(fuzzSig[1-side]), Payload: []byte(text),
		Frame: []byte(text), LinkType: 1, SIP: &f.msg}
	f.c.Event(&ev)
}
