package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func links(h *harness, id string) string { return strings.Join(h.call(id).LinkedCallIDs, ",") }

// TestLiveLinks checks that legs are linked by the Correlator itself while both are in
// its table, with no LinkCalls pass: what serve stores.
func TestLiveLinks(t *testing.T) {
	t.Run("B2BUA legs by X-CID, serial retry after a busy leg", func(t *testing.T) {
		h := newHarness(t, nil)
		a := newDialog("leg-a")
		h.answer(a, 0)
		b1 := newDialog("leg-b1")
		b1.extra = []string{"X-CID: leg-a"}
		h.sipAt(100*time.Millisecond, aSig, bSig, b1.req("INVITE", 1, "b1", false, sdpBody(aMedia, "")))
		b1.ttag = "t1"
		h.sipAt(300*time.Millisecond, bSig, aSig, b1.resp(486, "Busy Here", "INVITE", 1, "b1", false, ""))
		h.tick(15 * sec) // leg-b1 ends and leaves the table (Linger 10 s) before the retry
		if len(h.recs) != 1 || h.recs[0].Call.CallID != "leg-b1" {
			t.Fatalf("emitted %d calls before the retry", len(h.recs))
		}
		b2 := newDialog("leg-b2")
		b2.extra = []string{"X-CID: leg-a"}
		h.answer(b2, 16*sec)
		h.bye(b2, 30*sec, false)
		h.bye(a, 30*sec+20*time.Millisecond, false)
		h.finish()
		want := map[string]string{"leg-a": "leg-b1,leg-b2", "leg-b1": "leg-a", "leg-b2": "leg-a"}
		for id, w := range want {
			if got := links(h, id); got != w {
				t.Errorf("%s linked to %q, want %q", id, got, w)
			}
		}
		// A pass over the whole capture (analyze) adds the link between the two retries,
		// which never overlapped, and keeps the live ones.
		LinkCalls(h.recs)
		want = map[string]string{"leg-a": "leg-b1,leg-b2", "leg-b1": "leg-a,leg-b2", "leg-b2": "leg-a,leg-b1"}
		for id, w := range want {
			if got := links(h, id); got != w {
				t.Errorf("after LinkCalls %s linked to %q, want %q", id, got, w)
			}
		}
	})

	t.Run("icid-value and Session-ID", func(t *testing.T) {
		h := newHarness(t, nil)
		for i, hdr := range []string{
			`P-Charging-Vector: icid-value="abc123";icid-generated-at=192.0.2.1`,
			`P-Charging-Vector: icid-value=abc123`,
			`Session-ID: AB12cd34ab12cd34ab12cd34ab12cd34;remote=00000000000000000000000000000000`,
			`Session-ID: ab12cd34ab12cd34ab12cd34ab12cd34`,
			`Session-ID: 00000000000000000000000000000000`,
			`Session-ID: 00000000000000000000000000000000`,
		} {
			d := newDialog(fmt.Sprintf("c%d", i))
			d.extra = []string{hdr}
			h.answer(d, time.Duration(i)*100*time.Millisecond)
		}
		h.finish()
		want := map[string]string{"c0": "c1", "c1": "c0", "c2": "c3", "c3": "c2", "c4": "", "c5": ""}
		for id, w := range want {
			if got := links(h, id); got != w {
				t.Errorf("%s linked to %q, want %q", id, got, w)
			}
		}
	})

	t.Run("by number within the window", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.LinkByNumber = true })
		for _, c := range []struct {
			id, from, to string
			start        time.Duration
		}{
			{"a", "+4930123", "555", 0}, {"b", "4930123", "555", 1500 * time.Millisecond},
			{"c", "4930123", "555", 3500 * time.Millisecond}, {"d", "4930123", "556", 0},
		} {
			d := newDialog(c.id)
			d.fromUser, d.toUser = c.from, c.to
			h.answer(d, c.start)
		}
		h.finish()
		want := map[string]string{"a": "b", "b": "a,c", "c": "b", "d": ""}
		for id, w := range want {
			if got := links(h, id); got != w {
				t.Errorf("%s linked to %q, want %q", id, got, w)
			}
		}
	})

	t.Run("a constant link value is capped, not quadratic", func(t *testing.T) {
		h := newHarness(t, nil)
		const n = 40
		for i := 0; i < n; i++ {
			d := newDialog(fmt.Sprintf("flood-%02d", i))
			d.extra = []string{"P-Charging-Vector: icid-value=same-for-all"}
			h.answer(d, time.Duration(i)*10*time.Millisecond)
		}
		h.finish()
		if len(h.recs) != n {
			t.Fatalf("%d calls", len(h.recs))
		}
		for _, r := range h.recs {
			if l := len(r.Call.LinkedCallIDs); l > maxCallsPerLinkKey-1 {
				t.Errorf("%s has %d links", r.Call.CallID, l)
			}
		}
		if got := links(h, "flood-00"); !strings.HasPrefix(got, "flood-01,") || strings.Contains(got, "flood-16") {
			t.Errorf("flood-00 linked to %s, want flood-01..flood-15", got)
		}
		if links(h, "flood-39") != "" {
			t.Errorf("flood-39 (past the cap) linked to %s", links(h, "flood-39"))
		}
		if d := h.c.Counters().LinksDropped; d != n-maxCallsPerLinkKey {
			t.Errorf("LinksDropped %d, want %d", d, n-maxCallsPerLinkKey)
		}
		if len(h.c.links.byKey) != 0 || len(h.c.links.byNumber) != 0 {
			t.Errorf("index not empty after Finish: %d keys, %d numbers", len(h.c.links.byKey), len(h.c.links.byNumber))
		}
	})
}

// TestMediaIndexEmptiesOnEmit: every address a call indexed leaves the media index with
// it, an a=rtcp address on another host included (FuzzCorrelate found it staying, so
// later RTCP there went to a call already emitted).
func TestMediaIndexEmptiesOnEmit(t *testing.T) {
	h := newHarness(t, nil)
	d := newDialog("rtcp-attr")
	offer := sdpBody(aMedia, "") + "a=rtcp:5999 IN IP4 10.0.0.9\r\n"
	h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, offer))
	d.ttag = "tt"
	h.sipAt(sec, bSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, "")))
	if _, ok := h.c.media[mkey(ap("10.0.0.9:5999"))]; !ok {
		t.Fatal("the a=rtcp address was not indexed")
	}
	h.bye(d, 5*sec, false)
	h.tick(20 * sec) // past Linger: emitted
	if len(h.recs) != 1 {
		t.Fatalf("%d calls emitted", len(h.recs))
	}
	if n := len(h.c.media); n != 0 {
		t.Fatalf("%d media index entries left after the call: %v", n, h.c.media)
	}
}

// TestOrphanHeuristic: RTP without SIP is reported when its sequence numbers advance;
// RFC 4733 end packets repeating a number do not count against it (the shape of SIPp's
// dtmf_2833_1.pcap: 8 numbers, the last sent three times), a flow stuck on one number
// or jumping around is not RTP.
func TestOrphanHeuristic(t *testing.T) {
	cases := []struct {
		name string
		seqs []uint16
		want int
	}{
		{"advancing", []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1},
		{"event end repeated", []uint16{7984, 7985, 7986, 7987, 7988, 7989, 7990, 7991, 7991, 7991}, 1},
		{"too short", []uint16{1, 2, 3, 4, 5, 6, 7}, 0},
		{"one number", []uint16{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 0},
		{"random", []uint16{9, 4000, 17, 60000, 2, 31000, 12, 800, 7, 44444}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			for i, s := range tc.seqs {
				h.rtpSeq(time.Duration(i)*20*time.Millisecond, "192.0.2.3:49176", "192.0.2.1:10000", 0x0E05384E, 101, s)
			}
			h.finish()
			if len(h.orphans) != tc.want {
				t.Fatalf("%d orphan streams, want %d", len(h.orphans), tc.want)
			}
		})
	}
}
