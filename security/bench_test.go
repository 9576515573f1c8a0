package security

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// traffic is a steady mix of normal SIP from 64 clients: INVITE/407/INVITE with
// credentials/200, REGISTER with credentials/200, OPTIONS, BYE.
func traffic(tb testing.TB) []decode.Event {
	var evs []decode.Event
	for c := 0; c < 64; c++ {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(c)}), 5060)
		srv := netip.MustParseAddrPort("10.0.0.1:5060")
		id := fmt.Sprint("call", c)
		for _, m := range []struct {
			req bool
			raw string
		}{
			{true, request("INVITE", "bob", id, 1, "Yealink SIP-T46S", "")},
			{false, response(407, "INVITE", "bob", id, 1)},
			{true, request("INVITE", "bob", id, 2, "Yealink SIP-T46S", "Proxy-Authorization: Digest x\r\n")},
			{false, response(200, "INVITE", "bob", id, 2)},
			{true, request("REGISTER", fmt.Sprint("u", c), id+"r", 2, "Yealink SIP-T46S", "Authorization: Digest x\r\n")},
			{false, response(200, "REGISTER", fmt.Sprint("u", c), id+"r", 2)},
			{true, request("OPTIONS", "ping", id+"o", 1, "Yealink SIP-T46S", "")},
			{true, request("BYE", "bob", id, 3, "Yealink SIP-T46S", "")},
		} {
			msg := new(sip.Message)
			b := []byte(m.raw)
			if err := sip.Parse(b, msg); err != nil {
				tb.Fatal(err)
			}
			ev := decode.Event{Kind: decode.KindSIP, Payload: b, SIP: msg, Src: cl, Dst: srv}
			if !m.req {
				ev.Src, ev.Dst = srv, cl
			}
			evs = append(evs, ev)
		}
	}
	return evs
}

// BenchmarkDetectorSIP is the detector's cost per SIP message (allocation-free in steady
// state): go test ./security -run '^$' -bench BenchmarkDetectorSIP -benchmem
func BenchmarkDetectorSIP(b *testing.B) {
	evs := traffic(b)
	d, err := New(DefaultConfig(), Output{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ts := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := &evs[i%len(evs)]
		ts += int64(time.Millisecond)
		ev.TS = ts
		d.Event(ev)
	}
}

// TestDetectorDoesNotAllocate: after warm-up, normal traffic costs no allocations.
func TestDetectorDoesNotAllocate(t *testing.T) {
	evs := traffic(t)
	d, err := New(DefaultConfig(), Output{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := t0
	feed := func() {
		for i := range evs {
			ts += int64(time.Millisecond)
			evs[i].TS = ts
			d.Event(&evs[i])
		}
	}
	feed()
	if n := testing.AllocsPerRun(20, feed); n != 0 {
		t.Fatalf("%.1f allocations per %d messages, want 0", n, len(evs))
	}
}
