package decode

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode/hep"
)

// TestDecodeHEPLiveFrame: a HEP packet from a listener becomes the event its payload
// carries, with the agent's addresses and time, and the frame kept for export is a raw
// IP packet that decodes back to the same event (IPv4/UDP and IPv6/TCP).
func TestDecodeHEPLiveFrame(t *testing.T) {
	sipMsg := []byte("OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n" +
		"To: <sip:bob@example.com>\r\nCall-ID: live-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	for _, tc := range []struct {
		name     string
		src, dst string
		proto    uint8
		tr       Transport
	}{
		{"ipv4 udp", "192.0.2.1:5060", "198.51.100.7:5062", 17, TransportUDP},
		{"ipv6 tcp", "[2001:db8::1]:5060", "[2001:db8::2]:40123", 6, TransportTCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := hep.Packet{Version: 3, IPProto: tc.proto, ProtoType: 1, Src: netip.MustParseAddrPort(tc.src),
				Dst: netip.MustParseAddrPort(tc.dst), TSSec: 1_700_000_000, TSUsec: 5, Payload: sipMsg}
			d := New(DefaultConfig())
			var got []Event
			var frame []byte
			var link uint32
			d.DecodeHEP(1, hep.Append(nil, &p), func(ev *Event) {
				got = append(got, *ev)
				frame, link = bytes.Clone(ev.Frame), ev.LinkType
			})
			if len(got) != 1 {
				t.Fatalf("%d events", len(got))
			}
			ev := got[0]
			if ev.Kind != KindSIP || !ev.FromHEP || ev.Src != p.Src || ev.Dst != p.Dst || ev.TS != p.TS() || ev.Transport != tc.tr {
				t.Fatalf("event %+v", ev)
			}
			if link != linkTypeRaw {
				t.Fatalf("link type %d", link)
			}
			// The export frame, decoded as a capture would be, gives the message back.
			var back []Event
			New(DefaultConfig()).Decode(link, ev.TS, frame, func(e *Event) {
				back = append(back, Event{Kind: e.Kind, Src: e.Src, Dst: e.Dst, Payload: bytes.Clone(e.Payload)})
			})
			if len(back) != 1 || back[0].Kind != KindSIP || back[0].Src != p.Src || back[0].Dst != p.Dst || !bytes.Equal(back[0].Payload, sipMsg) {
				t.Fatalf("export frame decodes to %+v", back)
			}
		})
	}
}
