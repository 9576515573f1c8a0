package security

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// FuzzDetector: random SIP from random sources through a detector with small caps never
// panics and never holds more than the caps. Corpus: testdata/fuzz/FuzzDetector.
func FuzzDetector(f *testing.F) {
	f.Add([]byte(request("REGISTER", "100", "c1", 1, "friendly-scanner", "")), uint32(1), uint16(5060))
	f.Add([]byte(response(401, "REGISTER", "alice", "c1", 2)), uint32(2), uint16(5060))
	f.Add([]byte(request("INVITE", "bob", "c2", 1, "x", "Max-Forwards: 0\r\nProxy-Authorization: Digest\r\n")), uint32(3), uint16(5070))
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"), uint32(4), uint16(1))
	cfg := DefaultConfig()
	cfg.MaxSources, cfg.MaxAORs, cfg.MaxEvents = 8, 8, 4
	cfg.Scanner.DistinctUsers, cfg.BruteForce.SourceFailures, cfg.BruteForce.AORFailures = 2, 1, 1
	d, err := New(cfg, Output{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	var msg sip.Message
	var ts int64
	f.Fuzz(func(t *testing.T, data []byte, ip uint32, port uint16) {
		if err := sip.Parse(data, &msg); err != nil && err != sip.ErrTruncated && err != sip.ErrTooManyHeaders {
			return
		}
		ts += 1e8
		a := netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
		ev := decode.Event{Kind: decode.KindSIP, TS: ts, Src: netip.AddrPortFrom(a, port),
			Dst: netip.MustParseAddrPort("10.0.0.1:5060"), Payload: data, SIP: &msg}
		d.Event(&ev)
		ev.Src, ev.Dst = ev.Dst, ev.Src
		d.Event(&ev)
		for name, n := range d.Sizes() {
			if limit := map[string]int{"sources": 8, "aors": 8, "events": 4, "accounts": cfg.MaxAccounts, "peers": cfg.MaxPeers}[name]; n > limit {
				t.Fatalf("%s holds %d, cap %d", name, n, limit)
			}
		}
		for i := range d.evs {
			if a := &d.evs[i]; len(a.ev.CallIDs) > MaxSampleCallIDs || len(a.distinct) > maxEventDistinct {
				t.Fatalf("event %d over its caps", i)
			}
		}
	})
}
