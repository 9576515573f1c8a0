package decode

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// sameRTPHeader compares what rtp.Header.Unmarshal sets: an empty and a nil list are
// alike, and ExtensionProfile counts only with an extension (Unmarshal leaves it alone).
func sameRTPHeader(a, b *rtp.Header) bool {
	if a.Version != b.Version || a.Padding != b.Padding || a.Extension != b.Extension || a.Marker != b.Marker ||
		a.PayloadType != b.PayloadType || a.SequenceNumber != b.SequenceNumber || a.Timestamp != b.Timestamp ||
		a.SSRC != b.SSRC || len(a.CSRC) != len(b.CSRC) || len(a.Extensions) != len(b.Extensions) {
		return false
	}
	for i := range a.CSRC {
		if a.CSRC[i] != b.CSRC[i] {
			return false
		}
	}
	for i := range a.Extensions {
		if !reflect.DeepEqual(a.Extensions[i], b.Extensions[i]) {
			return false
		}
	}
	return !a.Extension || a.ExtensionProfile == b.ExtensionProfile
}

// TestFixedRTPHeader: the fast path sets what pion's Unmarshal sets, for both first bytes
// it takes (version 2, with and without padding, no CSRC, no extension) and every second
// byte, over a header left dirty by a packet with CSRCs and an extension, as the
// decoder's reused header is.
func TestFixedRTPHeader(t *testing.T) {
	dirty := rtp.Header{Version: 2, Extension: true, ExtensionProfile: 0xBEDE, CSRC: []uint32{1, 2}, SSRC: 9}
	if err := dirty.SetExtension(1, []byte{0xaa}); err != nil {
		t.Fatal(err)
	}
	for _, b0 := range []byte{0x80, 0xa0} {
		for b1 := range 256 {
			b := []byte{b0, byte(b1), 0xfe, byte(b1), 0x80, 0, byte(b1), 1, 0xde, 0xad, byte(b1), 0xef, 1, 2, 3, 4}
			var want rtp.Header
			if _, err := want.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			got := dirty
			got.CSRC = append([]uint32(nil), dirty.CSRC...)
			fixedRTPHeader(&got, b)
			if !sameRTPHeader(&got, &want) {
				t.Fatalf("% x: %+v, pion %+v", b[:12], got, want)
			}
		}
	}
}

// FuzzRTPRTCP feeds arbitrary UDP payloads through the RTP/RTCP classifier and then, as
// the correlator does, through pion/rtcp for RTCP compounds: never a panic, and every RTP
// event's header and payload lengths fit the datagram.
func FuzzRTPRTCP(f *testing.F) {
	f.Add(rtpPacket(f, 1, 160, 0))
	f.Add(rtpPacket(f, 65535, 20, 4))
	f.Add(rtcpSR(f))
	// RR + SDES + BYE compound and an XR with a VoIP metrics block.
	rr := &rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{{SSRC: 9, FractionLost: 12, TotalLost: 3, Jitter: 40, LastSenderReport: 1, Delay: 2}}}
	sd := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 7, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "probe"}}}}}
	bye := &rtcp.Goodbye{Sources: []uint32{7}}
	if b, err := rtcp.Marshal([]rtcp.Packet{rr, sd, bye}); err == nil {
		f.Add(b)
	}
	xr := &rtcp.ExtendedReport{SenderSSRC: 7, Reports: []rtcp.ReportBlock{&rtcp.VoIPMetricsReportBlock{SSRC: 9, LossRate: 5, RFactor: 80, MOSLQ: 40, MOSCQ: 41}}}
	if b, err := rtcp.Marshal([]rtcp.Packet{rr, xr}); err == nil {
		f.Add(b)
	}
	src := netip.MustParseAddrPort("192.0.2.1:40000")
	dst := netip.MustParseAddrPort("192.0.2.2:40002")
	f.Fuzz(func(t *testing.T, payload []byte) {
		d := New(DefaultConfig())
		frame := ethIP4UDP(t, src, dst, payload)
		d.Decode(linkEthernet, 1e9, frame, func(ev *Event) {
			switch ev.Kind {
			case KindRTP:
				hl := ev.RTP.MarshalSize()
				if hl > len(ev.Payload) || ev.RTPPayloadLen < 0 || hl+ev.RTPPayloadLen > len(ev.Payload) {
					t.Fatalf("RTP header %d + payload %d exceed datagram %d", hl, ev.RTPPayloadLen, len(ev.Payload))
				}
				// The header is pion's Unmarshal of the datagram (decode's fast path for a
				// fixed header must agree with it).
				var want rtp.Header
				if _, err := want.Unmarshal(ev.Payload); err != nil {
					t.Fatalf("emitted RTP that pion rejects: %v", err)
				}
				if !sameRTPHeader(ev.RTP, &want) {
					t.Fatalf("header %+v, pion %+v", *ev.RTP, want)
				}
			case KindRTCP:
				pkts, _ := rtcp.Unmarshal(ev.Payload)
				for _, p := range pkts {
					_ = p.DestinationSSRC()
				}
			}
		})
	})
}
