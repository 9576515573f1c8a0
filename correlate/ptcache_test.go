package correlate

import (
	"fmt"
	"testing"
	"time"
)

// TestStreamCachesFollowSDP checks that what a stream caches of its call's SDP (the
// payload-type resolution and whether non-RTP addresses exist, rtp.go) is renewed when
// an SDP arrives after the stream started. Expectations from the SDP text: RFC 4566
// a=rtpmap:101 telephone-event/8000 makes 101 an RFC 4733 event type; an m=image ...
// udptl t38 line (RFC 3362, T.38) moves the port off RTP, so datagrams there are counted
// NonRTPMedia and not fed to the stream.
func TestStreamCachesFollowSDP(t *testing.T) {
	h := newHarness(t, nil)
	d := newDialog("cache")
	a := ap(aMedia)
	offer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", a.Addr(), a.Addr(), a.Port())
	h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, offer))
	d.ttag = "tt"
	// Early media from the callee with payload type 101, which no SDP defines yet.
	h.rtpAt(500*time.Millisecond, bMedia, aMedia, 0xB, 101)
	k := makeStreamKey(0xB, ap(bMedia), ap(aMedia))
	st := h.c.streams.get(&k)
	if st == nil || st.call == nil {
		t.Fatal("early-media stream not attached to the call")
	}
	if known := h.c.resolvePT(st, 101, new(ptInfo)); known {
		t.Fatal("payload type 101 known before any SDP defines it")
	}
	// The answer defines 101 as telephone-event (sdpBody).
	h.sipAt(time.Second, bSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, "")))
	h.sipAt(time.Second+10*time.Millisecond, aSig, bSig, d.req("ACK", 1, "ack", false, ""))
	if info := new(ptInfo); !h.c.resolvePT(st, 101, info) || !info.tevent {
		t.Fatalf("after the answer, 101 resolves to %+v, want a known telephone-event", *info)
	}

	// Audio both ways, then a re-INVITE to T.38 on the same ports.
	h.media(2*time.Second, 3*time.Second, aMedia, bMedia, 0xA)
	image := func(media string) string {
		m := ap(media)
		return fmt.Sprintf("v=0\r\no=- 1 2 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=image %d udptl t38\r\n", m.Addr(), m.Addr(), m.Port())
	}
	h.sipAt(3*time.Second, aSig, bSig, d.req("INVITE", 2, "reinv", false, image(aMedia)))
	h.sipAt(3*time.Second+100*time.Millisecond, bSig, aSig, d.resp(200, "OK", "INVITE", 2, "reinv", false, image(bMedia)))
	h.sipAt(3*time.Second+110*time.Millisecond, aSig, bSig, d.req("ACK", 2, "ack2", false, ""))
	before := h.c.cnt.NonRTPMedia
	h.media(4*time.Second, 5*time.Second, aMedia, bMedia, 0xA) // 50 datagrams that parse as RTP
	if got := h.c.cnt.NonRTPMedia - before; got != 50 {
		t.Errorf("NonRTPMedia +%d after the T.38 re-INVITE, want 50", got)
	}
	ka := makeStreamKey(0xA, ap(aMedia), ap(bMedia))
	if sa := h.c.streams.get(&ka); sa == nil || sa.q.Packets() != 50 {
		t.Errorf("audio stream %v, want 50 packets (those before the re-INVITE only)", sa)
	}
}
