package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpFrame builds an Ethernet/IPv4/TCP segment.
func tcpFrame(t testing.TB, src, dst netip.AddrPort, seq uint32, syn, fin bool, payload []byte) []byte {
	ip := ip4L(layers.IPProtocolTCP, src.Addr(), dst.Addr())
	return serialize(t, ethL(layers.EthernetTypeIPv4), ip, tcpOver(ip, src.Port(), dst.Port(), seq, syn, fin), gopacket.Payload(payload))
}

// tcpStream cuts stream at the given offsets into segments starting at seq isn+1.
func tcpStream(t testing.TB, src, dst netip.AddrPort, isn uint32, stream []byte, cuts ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, c := range append(cuts, len(stream)) {
		out = append(out, tcpFrame(t, src, dst, isn+1+uint32(prev), false, false, stream[prev:c]))
		prev = c
	}
	return out
}

// wsFrame encodes one WebSocket frame (RFC 6455 §5.2); a non-nil key masks the payload.
func wsFrame(fin bool, opcode byte, key []byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	m := byte(0)
	if key != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, m|byte(n))
	case n < 1<<16:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		var l [8]byte
		binary.BigEndian.PutUint64(l[:], uint64(n))
		out = append(append(out, m|127), l[:]...)
	}
	if key == nil {
		return append(out, payload...)
	}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

func TestTCP(t *testing.T) {
	c, s := ap(ip4A, 50123), ap(ip4B, 5060)
	inv1, inv2 := sipInvite("tcp-one@x"), sipInvite("tcp-two@x")
	ok1 := sipOK("tcp-one@x")
	const isn = 0xfffffff0 // sequence numbers wrap inside the stream

	type want struct {
		callID string
		msg    []byte
		tr     Transport
		src    netip.AddrPort
	}
	coalesced := cat(inv1, ok1, inv2)
	upgrade := []byte("GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n")
	switching := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	split := tcpStream(t, c, s, isn, inv1, 100, 400)
	tests := []struct {
		name   string
		frames [][]byte
		want   []want
	}{
		{"split across 3 segments", split, []want{{"tcp-one@x", inv1, TransportTCP, c}}},
		{"3 messages coalesced", tcpStream(t, c, s, isn, coalesced), []want{
			{"tcp-one@x", inv1, TransportTCP, c}, {"tcp-one@x", ok1, TransportTCP, c}, {"tcp-two@x", inv2, TransportTCP, c}}},
		{"out of order", [][]byte{split[0], split[2], split[1]}, []want{{"tcp-one@x", inv1, TransportTCP, c}}},
		{"retransmitted", [][]byte{split[0], split[0], split[1], split[1], split[2]}, []want{{"tcp-one@x", inv1, TransportTCP, c}}},
		{"syn then keep-alives between messages", append([][]byte{tcpFrame(t, c, s, isn, true, false, nil)},
			tcpStream(t, c, s, isn, cat([]byte("\r\n\r\n"), inv1, []byte("\r\n"), inv2), 300, 900)...),
			[]want{{"tcp-one@x", inv1, TransportTCP, c}, {"tcp-two@x", inv2, TransportTCP, c}}},
		{"capture starts mid-message", tcpStream(t, c, s, isn, cat(inv1[200:], inv2), 100),
			[]want{{"tcp-two@x", inv2, TransportTCP, c}}},
		{"websocket masked and unmasked after upgrade", [][]byte{
			tcpFrame(t, c, s, 1000, false, false, upgrade),
			tcpFrame(t, s, c, 5000, false, false, switching),
			tcpFrame(t, c, s, 1000+uint32(len(upgrade)), false, false, wsFrame(true, 1, key, inv1)),
			tcpFrame(t, s, c, 5000+uint32(len(switching)), false, false, wsFrame(true, 1, nil, ok1)),
		}, []want{{"tcp-one@x", inv1, TransportWS, c}, {"tcp-one@x", ok1, TransportWS, s}}},
		{"websocket fragmented message, frame split over segments", func() [][]byte {
			st := cat(upgrade, wsFrame(false, 1, key, inv1[:300]), wsFrame(true, 9, key, []byte("ping")), wsFrame(true, 0, key, inv1[300:]))
			return tcpStream(t, c, s, 1000, st, len(upgrade)+50, len(upgrade)+400)
		}(), []want{{"tcp-one@x", inv1, TransportWS, c}}},
		{"tls ignored", tcpStream(t, c, ap(ip4B, 5061), isn, cat([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, make([]byte, 512), inv1)), nil},
		{"plain http ignored", tcpStream(t, c, ap(ip4B, 80), isn, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(DefaultConfig())
			got := run(d, linkEthernet, testTS, tc.frames...)
			var flushed []rec
			d.Flush(func(ev *Event) { flushed = append(flushed, record(ev, nil)) })
			if len(flushed) != 0 {
				t.Errorf("flush gave %d more events", len(flushed))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Kind != KindSIP || g.CallID != w.callID || g.Payload != string(w.msg) || g.Transport != w.tr || g.Src != w.src || !g.SameFrame || g.TS != testTS {
					t.Errorf("event %d: got %+v\nwant call-id %s transport %v src %v payload %q", i, g, w.callID, w.tr, w.src, w.msg)
				}
			}
			if e := d.Errors(); e[ReasonBadWebSocket] != 0 || e[ReasonTCPGap] != 0 {
				t.Errorf("unexpected errors %v", e.Map())
			}
		})
	}
}

// TestTCPGapResync: a lost segment in a SIP stream is counted as a gap and decoding
// resumes at the next message.
func TestTCPGapResync(t *testing.T) {
	c, s := ap(ip4A, 50123), ap(ip4B, 5060)
	inv1, inv2, inv3 := sipInvite("gap-1@x"), sipInvite("gap-2@x"), sipInvite("gap-3@x")
	st := cat(inv1, inv2, inv3)
	segs := tcpStream(t, c, s, 100, st, len(inv1), len(inv1)+200)
	d := New(DefaultConfig())
	var got []rec
	for _, f := range [][]byte{segs[0], segs[2]} { // segs[1] (start of inv2) is lost
		d.Decode(linkEthernet, testTS, f, func(ev *Event) { got = append(got, record(ev, f)) })
	}
	d.Flush(func(ev *Event) { got = append(got, record(ev, nil)) })
	var ids []string
	for _, g := range got {
		ids = append(ids, g.CallID)
	}
	if len(ids) != 2 || ids[0] != "gap-1@x" || ids[1] != "gap-3@x" {
		t.Errorf("call-ids %v, want [gap-1@x gap-3@x]", ids)
	}
	if d.Errors()[ReasonTCPGap] == 0 {
		t.Errorf("gap not counted: %v", d.Errors().Map())
	}
}
