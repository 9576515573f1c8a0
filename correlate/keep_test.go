package correlate

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestRetainedBytesBudget: SIP text and media frames kept for ladders and pcap export
// never exceed Config.MaxRetainedBytes together, what does not fit is counted, every
// call is still analysed, and the budget is released when calls leave the table.
func TestRetainedBytesBudget(t *testing.T) {
	const budget = 16 << 10
	h := newHarness(t, func(c *Config) {
		c.KeepMessages, c.KeepRTP, c.MaxRetainedBytes = true, KeepRTPFull, budget
	})
	for i := 0; i < 40; i++ {
		d := newDialog(fmt.Sprint("budget-", i))
		start := time.Duration(i) * 10 * time.Millisecond
		h.answer(d, start)
		if got := h.c.Counters().RetainedBytes; got > budget {
			t.Fatalf("after call %d: %d bytes retained, budget %d", i, got, budget)
		}
	}
	h.both(2*sec, 3*sec)
	cnt := h.c.Counters()
	if cnt.RetainedBytes > budget {
		t.Errorf("%d bytes retained, budget %d", cnt.RetainedBytes, budget)
	}
	if cnt.RetainedBytesDropped == 0 {
		t.Error("nothing counted as dropped although 40 calls of messages and media exceed the budget")
	}
	h.finish()
	if len(h.recs) != 40 {
		t.Errorf("%d calls analysed, want 40", len(h.recs))
	}
	for _, r := range h.recs {
		if r.Call.State != "answered" {
			t.Errorf("call %s: %s", r.Call.CallID, r.Call.State)
		}
	}
	if got := h.c.Counters().RetainedBytes; got != 0 {
		t.Errorf("%d bytes still retained after every call left the table", got)
	}
}

func TestKeepRTP(t *testing.T) {
	sr := &rtcp.SenderReport{SSRC: 0xA, NTPTime: 1 << 32, RTPTime: 160, PacketCount: 10, OctetCount: 1600}
	srb, err := sr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		keep      string
		messages  bool
		frames    int
		rtpLen    int
		rtcpFrame bool
	}{
		{"headers", KeepRTPHeaders, true, 101, l2l4 + 12, true},
		{"full", KeepRTPFull, true, 101, l2l4 + 12 + 160, true},
		{"none", KeepRTPNone, true, 0, 0, false},
		{"headers without KeepMessages keeps nothing", KeepRTPHeaders, false, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.KeepRTP, c.KeepMessages = tc.keep, tc.messages })
			d := newDialog("call-1")
			h.answer(d, 0)
			h.both(sec, 2*sec)
			h.rtcpAt(2*sec, "10.0.0.1:4001", "10.0.0.2:6001", srb)
			h.media(9*sec, 10*sec, "10.5.0.1:1000", "10.5.0.2:2000", 0x99) // orphan: never kept
			h.bye(d, 2*sec, false)
			h.finish()
			r := h.record("call-1")
			media := recordMedia(t, r)
			if len(media) != tc.frames || r.MediaCount() != tc.frames {
				t.Fatalf("%d frames kept (count %d), want %d", len(media), r.MediaCount(), tc.frames)
			}
			if tc.frames == 0 {
				return
			}
			for i, f := range media {
				if f.TS < at(sec) || f.LinkType != 1 {
					t.Fatalf("frame %d: ts %d, link %d", i, f.TS, f.LinkType)
				}
				want := tc.rtpLen
				if i == len(media)-1 {
					want = l2l4 + len(srb)
				}
				if len(f.Data) != want || f.OrigLen < len(f.Data) {
					t.Fatalf("frame %d: %d bytes (orig %d), want %d", i, len(f.Data), f.OrigLen, want)
				}
			}
			if f := media[0]; f.Data[l2l4]>>6 != 2 || f.OrigLen != l2l4+12+160 {
				t.Errorf("first frame does not hold the RTP header at %d: %x", l2l4, f.Data[l2l4:])
			}
			if h.call("call-1").Streams[0].RTCP == nil {
				t.Error("sender report not matched to the stream")
			}
		})
	}
}

func TestRTPHeaderEnd(t *testing.T) {
	hdr := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 0xA}
	pkt := append(append([]byte{}, hdr...), make([]byte, 4)...)
	cases := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"payload is the tail", append(make([]byte, 42), pkt...), 54},
		{"ethernet padding after the datagram", append(append(make([]byte, 42), pkt...), make([]byte, 8)...), 54},
		{"header not in the frame", make([]byte, 300), maxHeaderlessKept},
		{"short frame without the header", make([]byte, 20), 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rtpHeaderEnd(tc.frame, pkt, 12); got != tc.want {
				t.Errorf("got %d want %d", got, tc.want)
			}
		})
	}
}

// recordMedia decodes the frames r kept.
func recordMedia(t *testing.T, r *Record) []Frame {
	t.Helper()
	fr, err := r.AppendMedia(nil)
	if err != nil {
		t.Fatal(err)
	}
	return fr
}
