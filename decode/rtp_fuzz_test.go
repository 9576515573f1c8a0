package decode

import (
	"net/netip"
	"testing"

	"github.com/pion/rtcp"
)

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
			case KindRTCP:
				pkts, _ := rtcp.Unmarshal(ev.Payload)
				for _, p := range pkts {
					_ = p.DestinationSSRC()
				}
			}
		})
	})
}
