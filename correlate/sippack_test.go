package correlate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/klauspost/compress/s2"
)

// TestPackedMessagesRoundTrip: the messages of a confirmed call are packed once its SIP
// has been quiet for packQuiet after the ACK, and come back, in the live view and in the ended call's Record, field for field and
// byte for byte as they were fed: the expectation is the events themselves (text, frame,
// addresses, transport, time). The dialog mixes the three ways a message's text lies in
// its event: the tail of its frame (UDP), a copy beside the frame (TCP reassembly), no
// frame at all; IPv6 and IPv4 addresses; and a retransmitted 200.
func TestPackedMessagesRoundTrip(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.KeepMessages = true })
	d := newDialog("pack-1")
	type fed struct {
		ts         int64
		src, dst   netip.AddrPort
		transport  string
		text       string
		frame      []byte
		tail       bool
		request    bool
		method     string
		status     int
		retrans    bool
		cseq       uint32
		link       uint32
		noFrame    bool
		sameAsPrev bool
	}
	var want []fed
	var msg sip.Message
	send := func(dt time.Duration, src, dst string, tr decode.Transport, text string, how string) {
		t.Helper()
		raw := []byte(text)
		if err := sip.Parse(raw, &msg); err != nil {
			t.Fatal(err)
		}
		ev := decode.Event{Kind: decode.KindSIP, TS: at(dt), Src: ap(src), Dst: ap(dst), Transport: tr, LinkType: 1, SIP: &msg}
		f := fed{ts: ev.TS, src: ev.Src, dst: ev.Dst, transport: tr.String(), text: text, request: msg.Request,
			method: string(msg.Method), status: msg.StatusCode, cseq: msg.CSeq, link: 1}
		switch how {
		case "tail": // a UDP datagram: the text is the frame's tail
			frame := append(bytes.Repeat([]byte{0xEE}, 42), raw...)
			ev.Frame, ev.Payload = frame, frame[42:]
			f.frame, f.tail = frame, true
		case "copy": // reassembled TCP: the text is not in the last segment's frame
			ev.Frame, ev.Payload = bytes.Repeat([]byte{0xDD}, 60), raw
			f.frame = ev.Frame
		case "none": // no frame at all
			ev.Payload = raw
			f.noFrame = true
		}
		if n := len(want); n > 0 && want[n-1].text == text {
			f.retrans = true
		}
		want = append(want, f)
		h.c.Event(&ev)
	}
	a6, b6 := "[2001:db8::1]:5060", "[2001:db8::2]:5080"
	send(0, a6, b6, decode.TransportTCP, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")), "copy")
	send(10*time.Millisecond, b6, a6, decode.TransportTCP, d.resp(100, "Trying", "INVITE", 1, "inv", false, ""), "tail")
	d.ttag = "tt"
	ok := d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, ""))
	send(time.Second, b6, a6, decode.TransportUDP, ok, "tail")
	send(time.Second+500*time.Millisecond, b6, a6, decode.TransportUDP, ok, "tail") // retransmitted 200
	send(time.Second+600*time.Millisecond, aSig, bSig, decode.TransportUDP, d.req("ACK", 1, "ack", false, ""), "none")

	cl := h.c.calls["pack-1"]
	if cl == nil || cl.sip == nil || !cl.sip.confirmed || cl.sip.packed != nil {
		t.Fatal("the ACK did not mark the call for packing, or packed at once")
	}
	h.c.Advance(at(time.Second + 600*time.Millisecond + packQuiet - 1))
	if cl.sip.packed != nil {
		t.Fatal("packed before its SIP was quiet for packQuiet")
	}
	h.c.Advance(at(time.Second + 600*time.Millisecond + packQuiet))
	if cl.sip.packed.count() != 5 || len(cl.sip.messages) != 0 || cl.done {
		t.Fatalf("quiet for packQuiet after the ACK: %d messages packed, %d raw (done %v), want 5 and 0",
			cl.sip.packed.count(), len(cl.sip.messages), cl.done)
	}
	check := func(where string, got []Message) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", where, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.TS != w.ts || g.Src != w.src || g.Dst != w.dst || g.Transport != w.transport || g.Request != w.request ||
				g.Method != w.method || g.Status != w.status || g.CSeq != w.cseq || g.Retrans != w.retrans || g.LinkType != w.link {
				t.Errorf("%s: message %d is %+v, fed %+v", where, i, g, w)
			}
			if string(g.Raw) != w.text {
				t.Errorf("%s: message %d text differs", where, i)
			}
			if w.noFrame != (g.Frame == nil) || !bytes.Equal(g.Frame, w.frame) {
				t.Errorf("%s: message %d frame % x, fed % x", where, i, g.Frame, w.frame)
			}
			if g.RawInFrame() != w.tail {
				t.Errorf("%s: message %d RawInFrame %v, fed %v", where, i, g.RawInFrame(), w.tail)
			}
		}
	}
	live := h.c.LiveRecords(1)
	if len(live) != 1 {
		t.Fatalf("%d live records", len(live))
	}
	all, err := live[0].AllMessages()
	if err != nil {
		t.Fatal(err)
	}
	check("live view", all)

	send(4*time.Second, aSig, bSig, decode.TransportUDP, d.req("BYE", 2, "bye", false, ""), "tail")
	send(4*time.Second+5*time.Millisecond, bSig, aSig, decode.TransportUDP, d.resp(200, "OK", "BYE", 2, "bye", false, ""), "tail")
	all, err = live[0].AllMessages()
	if err != nil || len(all) != 5 {
		t.Errorf("the earlier view has %d messages (%v), want its 5", len(all), err)
	}
	h.finish()
	r := h.record("pack-1")
	if r == nil {
		t.Fatal("no record")
	}
	if r.packed != nil {
		t.Error("an ended call's record carries packed messages")
	}
	check("record", r.Messages)
	if got := h.c.Counters().RetainedBytes; got != 0 {
		t.Errorf("%d bytes still retained", got)
	}
}

// TestPackedMessagesCorrupt: unpacking bytes that are not a pack fails with an error and
// never panics, for every cut of a real pack and for flipped bytes inside it.
func TestPackedMessagesCorrupt(t *testing.T) {
	p := &sipPacker{}
	var msgs []Message
	for i := range 4 {
		text := []byte(fmt.Sprintf("SIP/2.0 200 OK\r\nCSeq: %d INVITE\r\n\r\n", i))
		frame := append(make([]byte, 42), text...)
		msgs = append(msgs, Message{TS: int64(i), Src: ap("10.0.0.1:5060"), Transport: "udp", Status: 200, Frame: frame, Raw: frame[42:]})
	}
	z := p.pack(nil, msgs)
	good := packedMessages{z: z, n: 4}
	if out, err := good.unpack(nil); err != nil || len(out) != 4 || string(out[3].Raw) != string(msgs[3].Raw) {
		t.Fatalf("the intact pack: %d messages, %v", len(out), err)
	}
	for cut := 0; cut < len(z); cut++ {
		bad := packedMessages{z: z[:cut], n: 4}
		if _, err := bad.unpack(nil); err == nil {
			t.Errorf("a pack cut at %d of %d bytes unpacked", cut, len(z))
		}
	}
	// A wrong count fails too (the stream says 4).
	if _, err := (&packedMessages{z: z, n: 3}).unpack(nil); err == nil {
		t.Error("a pack read with the wrong count unpacked")
	}
	// Garbage inside a valid S2 block: the layout reader must fail cleanly, whatever
	// it says.
	raw := p.scratch
	for i := range raw {
		b := append([]byte(nil), raw...)
		b[i] ^= 0xFF
		zz := s2.Encode(nil, b)
		out, _ := (&packedMessages{z: zz, n: 4}).unpack(nil)
		if len(out) > 4 {
			t.Fatalf("flip at %d: %d messages", i, len(out))
		}
	}
}

// BenchmarkPackMessages is the cost of packing a confirmed call's messages at its ACK:
// the five of the harness's answer (INVITE, 100, 180, 200, ACK), as UDP frames.
func BenchmarkPackMessages(b *testing.B) {
	p := &sipPacker{}
	d := newDialog("bench-pack@192.0.2.1")
	texts := []string{
		d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")),
		d.resp(100, "Trying", "INVITE", 1, "inv", false, ""),
		d.resp(180, "Ringing", "INVITE", 1, "inv", false, ""),
		d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, "")),
		d.req("ACK", 1, "ack", false, ""),
	}
	var msgs []Message
	raw := 0
	for i, s := range texts {
		frame := append(make([]byte, 42), s...)
		msgs = append(msgs, Message{TS: t0 + int64(i)*1e6, Src: ap(aSig), Dst: ap(bSig), Transport: "udp", Frame: frame, Raw: frame[42:]})
		raw += len(frame)
	}
	var z []byte
	b.ReportAllocs()
	for b.Loop() {
		z = p.pack(nil, msgs)
	}
	b.ReportMetric(float64(raw), "raw-B")
	b.ReportMetric(float64(len(z)), "packed-B")
}

// FuzzPackedMessages: any bytes as a pack's uncompressed layout unpack without a panic
// and into at most the count they claim; and messages cut from the input (texts, frames
// with and without the text as their tail, no frame) come back from a pack exactly.
func FuzzPackedMessages(f *testing.F) {
	f.Add([]byte("\x02\x00\x05\x07\x04\n\x00\x00\x01\x13\xc4\x07\x04\n\x00\x00\x02\x13\xc4\x03udp\x06INVITE\x00\x01\x01\x02\x02ab"), uint8(2))
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, shape uint8) {
		claimed, _ := binary.Uvarint(data)
		n := int(min(claimed, 64))
		out, err := (&packedMessages{z: s2.Encode(nil, data), n: n}).unpack(nil)
		if len(out) > n || (err == nil && len(out) != n) {
			t.Fatalf("%d messages from a pack of %d (%v)", len(out), n, err)
		}
		var msgs []Message
		for i := 0; len(data) > 0 && i < 8; i++ {
			k := min(len(data), int(shape%32)+i)
			text := data[:k]
			data = data[k:]
			m := Message{TS: int64(i) * int64(shape), Src: ap("10.0.0.1:5060"), Dst: ap("[2001:db8::1]:5070"),
				Transport: "tls", Method: "INVITE", Status: int(shape), CSeq: uint32(i), Retrans: i%2 == 1, LinkType: uint32(shape)}
			switch (int(shape) + i) % 3 {
			case 0:
				m.Frame = append(make([]byte, 14), text...)
				m.Raw = m.Frame[14:]
			case 1:
				m.Frame, m.Raw = []byte{1, 2, 3}, append([]byte(nil), text...)
			case 2:
				m.Raw = append([]byte(nil), text...)
			}
			msgs = append(msgs, m)
		}
		p := &sipPacker{}
		back, err := (&packedMessages{z: p.pack(nil, msgs), n: len(msgs)}).unpack(nil)
		if err != nil || len(back) != len(msgs) {
			t.Fatalf("round trip: %d of %d messages, %v", len(back), len(msgs), err)
		}
		for i := range msgs {
			w, g := msgs[i], back[i]
			if g.TS != w.TS || g.Src != w.Src || g.Dst != w.Dst || g.Transport != w.Transport || g.Method != w.Method ||
				g.Status != w.Status || g.CSeq != w.CSeq || g.Retrans != w.Retrans || g.LinkType != w.LinkType ||
				!bytes.Equal(g.Raw, w.Raw) || !bytes.Equal(g.Frame, w.Frame) || (g.Frame == nil) != (w.Frame == nil) ||
				g.RawInFrame() != w.RawInFrame() {
				t.Fatalf("message %d: %+v, packed %+v", i, g, w)
			}
		}
	})
}

// TestPackedRecords: with Config.PackedRecords a call whose messages were packed while
// it ran reaches Output with them still packed, and AllMessages and Unpacked give
// exactly the messages (fields and bytes) the default Record carries in Messages.
func TestPackedRecords(t *testing.T) {
	play := func(packed bool) *Record {
		h := newHarness(t, func(c *Config) { c.KeepMessages, c.PackedRecords = true, packed })
		d := newDialog("packed-rec")
		h.answer(d, 0)
		h.both(0, 4*time.Second)
		h.tick(4 * time.Second) // quiet since the ACK for more than packQuiet: packed
		h.bye(d, 5*time.Second, false)
		h.finish()
		return h.record("packed-rec")
	}
	plain, packed := play(false), play(true)
	if plain.packed != nil || len(plain.Messages) != 7 {
		t.Fatalf("default record: packed %v, %d messages, want 7 unpacked", plain.packed != nil, len(plain.Messages))
	}
	if packed.packed == nil || len(packed.Messages) != 2 {
		t.Fatalf("PackedRecords: packed %v with %d messages after it, want the setup packed and BYE, 200 after", packed.packed != nil, len(packed.Messages))
	}
	all, err := packed.AllMessages()
	if err != nil || !reflect.DeepEqual(all, plain.Messages) {
		t.Errorf("AllMessages of the packed record (err %v) differs from the default record's messages:\n%+v\nwant\n%+v", err, all, plain.Messages)
	}
	u, err := packed.Unpacked()
	if err != nil || u.packed != nil || !reflect.DeepEqual(u.Messages, plain.Messages) {
		t.Errorf("Unpacked: err %v, still packed %v, messages equal %v", err, u.packed != nil, reflect.DeepEqual(u.Messages, plain.Messages))
	}
}
