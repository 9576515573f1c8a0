package correlate

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/pion/rtcp"
)

// TestRTCPZeroAllocs: an SR with a report block and an SDES, attributed to the streams
// of a call, allocates nothing (the compound is parsed into the Correlator's reused
// quality.RTCPCompound; pion/rtcp's Unmarshal took 3 allocations per datagram).
func TestRTCPZeroAllocs(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.KeepMessages = false })
	d := newDialog("rtcp0")
	h.answer(d, 0)
	h.media(1020*time.Millisecond, 3*sec, aMedia, bMedia, 0x1111)
	h.media(1020*time.Millisecond, 3*sec, bMedia, aMedia, 0x2222)
	sr := &rtcp.SenderReport{SSRC: 0x1111, NTPTime: 0xE0000000_00000000, RTPTime: 160, PacketCount: 100, OctetCount: 16000,
		Reports: []rtcp.ReceptionReport{{SSRC: 0x2222, FractionLost: 0, TotalLost: 0, LastSequenceNumber: 100, Jitter: 8}}}
	sdes := rtcp.NewCNAMESourceDescription(0x1111, "alice@example.com")
	raw, err := rtcp.Marshal([]rtcp.Packet{sr, sdes})
	if err != nil {
		t.Fatal(err)
	}
	frame := append(make([]byte, l2l4), raw...)
	ev := decode.Event{Kind: decode.KindRTCP, TS: at(3 * sec), Src: ap("10.0.0.1:4001"), Dst: ap("10.0.0.2:6001"), Payload: frame[l2l4:], Frame: frame, LinkType: 1}
	before := h.c.Counters()
	allocs := testing.AllocsPerRun(200, func() { h.c.Event(&ev) })
	if allocs != 0 {
		t.Errorf("%v allocations per RTCP datagram, want 0", allocs)
	}
	after := h.c.Counters()
	if after.RTCPPackets-before.RTCPPackets < 200 || after.UnmatchedRTCP != before.UnmatchedRTCP || after.BadRTCP != 0 {
		t.Errorf("rtcp %d unmatched %d bad %d: the datagram was not attributed", after.RTCPPackets-before.RTCPPackets,
			after.UnmatchedRTCP-before.UnmatchedRTCP, after.BadRTCP)
	}
}
