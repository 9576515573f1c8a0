package hep

import (
	"net/netip"
	"testing"
)

// TestSetTS: the time chunks are rewritten in place and the rest of the packet is
// unchanged; a packet without time chunks reports false.
func TestSetTS(t *testing.T) {
	p := Packet{Version: 3, IPProto: 17, ProtoType: ProtoSIP, TSSec: 2_000_000_000, TSUsec: 7,
		Src: netip.MustParseAddrPort("10.0.0.1:5060"), Dst: netip.MustParseAddrPort("10.0.0.2:5060"),
		AuthKey: []byte("k"), Payload: []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")}
	b := Append(nil, &p)
	const ts = 1_700_000_000_123_456_000 // 1700000000 s, 123456 µs
	if !SetTS(b, ts) {
		t.Fatal("SetTS found no timestamp")
	}
	var q Packet
	if err := Parse(b, &q); err != nil {
		t.Fatal(err)
	}
	if q.TSSec != 1_700_000_000 || q.TSUsec != 123_456 {
		t.Fatalf("after SetTS: %d.%06d", q.TSSec, q.TSUsec)
	}
	if string(q.Payload) != string(p.Payload) || string(q.AuthKey) != "k" || q.Src != p.Src {
		t.Fatalf("SetTS changed more than the time: %+v", q)
	}
	if SetTS([]byte("HEP3\x00\x06"), ts) || SetTS([]byte("xx"), ts) || SetTS(nil, ts) {
		t.Fatal("SetTS on a packet without time chunks reported true")
	}
	if n := testing.AllocsPerRun(100, func() { SetTS(b, ts) }); n != 0 {
		t.Fatalf("SetTS allocates %v", n)
	}
}
