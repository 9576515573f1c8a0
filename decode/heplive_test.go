package decode

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/decode/sip"
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

// FuzzDecodeHEPLive: a HEP packet from a listener never panics the decoder, and every
// event it yields keeps, as its export frame, a raw IP packet that decodes back to an
// event with the same addresses and payload.
func FuzzDecodeHEPLive(f *testing.F) {
	for _, proto := range []uint8{17, 6, 132} {
		p := hep.Packet{Version: 3, IPProto: proto, ProtoType: 1, Src: netip.MustParseAddrPort("192.0.2.1:5060"),
			Dst: netip.MustParseAddrPort("[2001:db8::2]:5062"), TSSec: 1_700_000_000,
			Payload: []byte("OPTIONS sip:b@x SIP/2.0\r\nCall-ID: f\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")}
		f.Add(hep.Append(nil, &p))
	}
	rtcp := hep.Packet{Version: 3, IPProto: 17, ProtoType: 5, Src: netip.MustParseAddrPort("192.0.2.1:4001"),
		Dst: netip.MustParseAddrPort("192.0.2.2:6001"), Payload: []byte{0x80, 201, 0, 1, 0, 0, 0, 1}}
	f.Add(hep.Append(nil, &rtcp))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := New(DefaultConfig())
		type seen struct {
			kind     Kind
			tr       Transport
			src, dst netip.AddrPort
			payload  []byte
			frame    []byte
			link     uint32
		}
		var evs []seen
		d.DecodeHEP(1, data, func(ev *Event) {
			evs = append(evs, seen{ev.Kind, ev.Transport, ev.Src, ev.Dst, bytes.Clone(ev.Payload), bytes.Clone(ev.Frame), ev.LinkType})
		})
		for _, e := range evs {
			if e.link != linkTypeRaw || len(e.frame) < 28 {
				t.Fatalf("event frame: link %d, %d bytes", e.link, len(e.frame))
			}
			if e.kind != KindSIP || e.tr != TransportUDP || !e.src.Addr().Is4() || !e.dst.Addr().Is4() ||
				e.src.Port() == 0 || e.dst.Port() == 0 || len(e.payload) > 60000 || !sip.Looks(e.payload) {
				// Checked: SIP over UDP/IPv4 between real ports (a capture drops port 0) that
				// a capture would recognise as SIP (HEP says it is; a capture must guess).
				continue
			}
			var back []seen
			New(DefaultConfig()).Decode(e.link, 1, e.frame, func(ev *Event) {
				back = append(back, seen{kind: ev.Kind, src: ev.Src, dst: ev.Dst, payload: bytes.Clone(ev.Payload)})
			})
			if len(back) != 1 || back[0].src != e.src || back[0].dst != e.dst || !bytes.Equal(back[0].payload, e.payload) {
				t.Fatalf("export frame of %v→%v decodes to %+v", e.src, e.dst, back)
			}
		}
	})
}
