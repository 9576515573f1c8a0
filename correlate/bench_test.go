package correlate

import (
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/pion/rtp"
)

// benchLadder is one answered call's seven messages, parsed once; each call of the
// benchmark points them at its own Call-ID.
type benchLadder struct {
	raw  []string
	msgs []*sip.Message
	srcs []netip.AddrPort
}

func newBenchLadder(b *testing.B) *benchLadder {
	d := newDialog("bench")
	l := &benchLadder{}
	add := func(src, text string) {
		m := new(sip.Message)
		if err := sip.Parse([]byte(text), m); err != nil {
			b.Fatal(err)
		}
		l.raw = append(l.raw, text)
		l.msgs = append(l.msgs, m)
		l.srcs = append(l.srcs, ap(src))
	}
	add(aSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, ""), "User-Agent: bench-ua/1.0"))
	add(bSig, d.resp(100, "Trying", "INVITE", 1, "inv", false, ""))
	d.ttag = "tt"
	add(bSig, d.resp(180, "Ringing", "INVITE", 1, "inv", false, ""))
	add(bSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, ""), "Server: bench-ua/1.0"))
	add(aSig, d.req("ACK", 1, "ack", false, ""))
	add(aSig, d.req("BYE", 2, "bye", false, "", "Reason: Q.850;cause=16"))
	add(bSig, d.resp(200, "OK", "BYE", 2, "bye", false, ""))
	return l
}

// BenchmarkSIPMessage is the cost of one SIP message through correlation (parsing
// excluded): calls of seven messages, 10 ms apart in packet time, each finished and
// exported after the linger time, so about a thousand calls are in the table.
func BenchmarkSIPMessage(b *testing.B) {
	l := newBenchLadder(b)
	var emitted int
	c := New(DefaultConfig(), Output{Call: func(*Record) { emitted++ }})
	var id []byte
	var ev decode.Event
	ts := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(l.msgs)
		if k == 0 {
			id = strconv.AppendInt(append(id[:0], "bench-"...), int64(i), 10)
			ts += int64(10 * time.Millisecond)
		}
		m := l.msgs[k]
		m.CallID = id
		dst := aSig
		if l.srcs[k] == ap(aSig) {
			dst = bSig
		}
		ev = decode.Event{Kind: decode.KindSIP, TS: ts + int64(k)*int64(time.Millisecond), Src: l.srcs[k], Dst: ap(dst),
			Payload: []byte(l.raw[k]), SIP: m}
		c.Event(&ev)
	}
	b.StopTimer()
	if b.N > 7*2000 && emitted == 0 {
		b.Fatal("no call finished")
	}
}

// BenchmarkRTPPacket is the cost of one RTP packet of an attached stream through
// correlation and quality. The goal is no allocation per packet.
func BenchmarkRTPPacket(b *testing.B) {
	for _, keep := range []string{KeepRTPNone, KeepRTPHeaders} {
		b.Run("keep="+keep, func(b *testing.B) {
			h := newHarness(b, func(c *Config) { c.KeepMessages, c.KeepRTP = keep != KeepRTPNone, keep })
			h.answer(newDialog("call-1"), 0)
			hdr := rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xA}
			frame := make([]byte, l2l4+12+160)
			ev := decode.Event{Kind: decode.KindRTP, Src: ap(aMedia), Dst: ap(bMedia), Frame: frame, Payload: frame[l2l4:],
				LinkType: 1, RTP: &hdr, RTPPayloadLen: 160}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				hdr.SequenceNumber = uint16(i)
				hdr.Timestamp = uint32(i) * 160
				ev.TS = at(sec) + int64(i)*int64(20*time.Millisecond)
				if i%1000 == 0 { // an answered call with media keeps going
					_, _ = hdr.MarshalTo(frame[l2l4:])
				}
				h.c.Event(&ev)
			}
			b.StopTimer()
			if n := h.c.Counters().RTPPackets; n != uint64(b.N) || h.c.ActiveStreams() != 1 {
				b.Fatalf("%d packets, %d streams", n, h.c.ActiveStreams())
			}
		})
	}
}

// BenchmarkMemory100k sets up 100,000 concurrent answered calls (SDP both ways, messages
// not kept), then gives each two RTP streams, and reports the heap growth per call and per
// stream (runtime.MemStats HeapAlloc after GC). Run it with -benchtime=1x.
func BenchmarkMemory100k(b *testing.B) { benchMemory(b, 100000, 1, false) }

// BenchmarkMemoryHistory is BenchmarkMemory100k for 10,000 calls whose streams then run
// for 60 s at 50 packets/s: B/stream adds the quality history a stream accumulates (one
// interval record per 5 s, DTMF) to its fixed state.
func BenchmarkMemoryHistory(b *testing.B) { benchMemory(b, 10000, 3000, false) }

// BenchmarkMemoryKeptMessages is BenchmarkMemory100k for 20,000 calls whose SIP messages
// are kept as serve keeps them (Config.KeepMessages; each message's text the tail of a
// 42-byte-header UDP frame, as the decoder hands it over): B/call includes the kept
// INVITE, 200 and ACK, packed once the calls' SIP has been quiet for packQuiet
// (sippack.go).
func BenchmarkMemoryKeptMessages(b *testing.B) { benchMemory(b, 20000, 1, true) }

func benchMemory(b *testing.B, calls, packets int, keep bool) {
	for i := 0; i < b.N; i++ {
		cfg := DefaultConfig()
		cfg.KeepMessages = keep
		var m sip.Message
		var hdr rtp.Header
		payload := make([]byte, 12+160)
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		h0 := heap()
		c := New(cfg, Output{})
		feed := func(ts int64, src, dst netip.AddrPort, text string) {
			if err := sip.Parse([]byte(text), &m); err != nil {
				b.Fatal(err)
			}
			ev := decode.Event{Kind: decode.KindSIP, TS: ts, Src: src, Dst: dst, Payload: []byte(text), SIP: &m}
			if keep {
				ev.Frame = append(make([]byte, 42), text...)
				ev.Payload = ev.Frame[42:]
			}
			c.Event(&ev)
		}
		media := func(n int) (a, z netip.AddrPort) {
			a = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 4000)
			z = netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(n >> 16), byte(n >> 8), byte(n)}), 6000)
			return a, z
		}
		for n := 0; n < calls; n++ {
			d := newDialog(fmt.Sprintf("%08x-mem@192.0.2.1", n))
			d.fromUser, d.toUser = fmt.Sprintf("+4930%07d", n), fmt.Sprintf("+4940%07d", n)
			a, z := media(n)
			ts := t0 + int64(n)*1000
			sa, sb := ap(aSig), ap(bSig)
			feed(ts, sa, sb, d.req("INVITE", 1, "inv", false, sdpBody(a.String(), ""), "User-Agent: softphone/1.0"))
			d.ttag = "tt"
			feed(ts+1, sb, sa, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(z.String(), ""), "Server: pbx/2.0"))
			feed(ts+2, sa, sb, d.req("ACK", 1, "ack", false, ""))
		}
		if keep {
			c.Advance(t0 + int64(calls)*1000 + packQuiet)
		}
		h1 := heap()
		// Packet time advances 20 ms per round; every stream sends one packet a round.
		start := t0 + int64(calls)*1000
		for p := 0; p < packets; p++ {
			for n := 0; n < calls; n++ {
				a, z := media(n)
				for dir := 0; dir < 2; dir++ {
					hdr = rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(2*n + dir), SequenceNumber: uint16(1 + p), Timestamp: uint32(160 * (1 + p))}
					_, _ = hdr.MarshalTo(payload)
					ev := decode.Event{Kind: decode.KindRTP, TS: start + int64(p)*int64(20*time.Millisecond) + int64(n), Src: a, Dst: z,
						Payload: payload, RTP: &hdr, RTPPayloadLen: 160}
					if dir == 1 {
						ev.Src, ev.Dst = z, a
					}
					c.Event(&ev)
				}
			}
		}
		h2 := heap()
		if c.ActiveCalls() != calls || c.ActiveStreams() != 2*calls {
			b.Fatalf("%d calls, %d streams", c.ActiveCalls(), c.ActiveStreams())
		}
		if n := c.Counters().RTPPackets; n != uint64(2*calls*packets) {
			b.Fatalf("%d RTP packets correlated, want %d", n, 2*calls*packets)
		}
		b.ReportMetric(float64(int64(h1-h0))/float64(calls), "B/call")
		b.ReportMetric(float64(int64(h2-h1))/float64(2*calls), "B/stream")
		runtime.KeepAlive(c)
	}
}

// BenchmarkSnapshot10k is one dashboard refresh: Snapshot(100) with 10,000 answered calls
// of two streams each in progress.
func BenchmarkSnapshot10k(b *testing.B) {
	h := newHarness(b, nil)
	var hdr rtp.Header
	payload := make([]byte, 12+160)
	for n := 0; n < 10000; n++ {
		d := newDialog(fmt.Sprintf("snap-%d", n))
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), 4000)
		z := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, 1, byte(n >> 8), byte(n)}), 6000)
		ts := time.Duration(n) * time.Microsecond
		h.sipAt(ts, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(a.String(), "")))
		d.ttag = "tt"
		h.sipAt(ts, bSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(z.String(), "")))
		for dir := 0; dir < 2; dir++ {
			hdr = rtp.Header{Version: 2, SSRC: uint32(2*n + dir), SequenceNumber: 1, Timestamp: 160}
			_, _ = hdr.MarshalTo(payload)
			ev := decode.Event{Kind: decode.KindRTP, TS: at(ts), Src: a, Dst: z, Payload: payload, RTP: &hdr, RTPPayloadLen: 160}
			if dir == 1 {
				ev.Src, ev.Dst = z, a
			}
			h.c.Event(&ev)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s := h.c.Snapshot(100); len(s) != 100 || len(s[0].Streams) != 2 {
			b.Fatalf("%d calls", len(s))
		}
	}
}

// BenchmarkMemoryFlood is the memory a Call-ID flood costs per call: unique INVITEs of
// ~330 bytes with no answer and no SDP (the soak test's HEP flood, cmd/callscope
// soak_test.go), raw SIP kept as serve keeps it. Reports live heap bytes per call.
func BenchmarkMemoryFlood(b *testing.B) {
	const calls = 100000
	for i := 0; i < b.N; i++ {
		cfg := DefaultConfig()
		cfg.KeepMessages = true
		var m sip.Message
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		h0 := heap()
		c := New(cfg, Output{})
		sa, sb := ap(aSig), ap(bSig)
		for n := 0; n < calls; n++ {
			text := fmt.Sprintf("INVITE sip:flood@10.9.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.0.1:5060;branch=z9hG4bK-flood\r\n"+
				"From: <sip:attacker@10.9.0.1>;tag=f1\r\nTo: <sip:flood@10.9.0.2>\r\nCall-ID: %024x\r\nCSeq: 1 INVITE\r\n"+
				"Contact: <sip:attacker@10.9.0.1:5060>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", n)
			if err := sip.Parse([]byte(text), &m); err != nil {
				b.Fatal(err)
			}
			ev := decode.Event{Kind: decode.KindSIP, TS: t0 + int64(n)*100000, Src: sa, Dst: sb, Payload: []byte(text), SIP: &m}
			c.Event(&ev)
		}
		h1 := heap()
		if c.ActiveCalls() != calls {
			b.Fatalf("%d calls open, want %d", c.ActiveCalls(), calls)
		}
		b.ReportMetric(float64(h1-h0)/calls, "B/call")
		runtime.KeepAlive(c)
	}
}
