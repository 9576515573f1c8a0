package capture

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/hep"
)

// hepPacket is a HEPv3 SIP packet stamped now (within the listener's clock bound, so
// it arrives unchanged).
func hepPacket(t testing.TB, payload string) []byte {
	t.Helper()
	return hepPacketAt(time.Now().UnixNano(), nil, payload)
}

// hepPacketAt is a HEPv3 SIP packet with capture time ts (Unix ns) and auth key key.
func hepPacketAt(ts int64, key []byte, payload string) []byte {
	p := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1,
		Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("192.0.2.2:5060"),
		TSSec: uint32(ts / 1e9), TSUsec: uint32(ts % 1e9 / 1e3), AuthKey: key, Payload: []byte(payload)}
	return hep.Append(nil, &p)
}

func recv(t *testing.T, l *HEPListener) HEPPacket {
	t.Helper()
	select {
	case p := <-l.Packets():
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5 s")
	}
	return HEPPacket{}
}

// TestHEPListener sends real datagrams and TCP streams over loopback: UDP packets
// arrive one each, TCP packets are framed by their HEP3 length even when split across
// writes or sent back to back, and a stream that is not HEPv3 is cut and counted.
func TestHEPListener(t *testing.T) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, b := hepPacket(t, "INVITE sip:a SIP/2.0\r\n\r\n"), hepPacket(t, "SIP/2.0 200 OK\r\n\r\n")

	u, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write(a); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, l); !bytes.Equal(p.Data, a) || p.TCP || p.TS == 0 {
		t.Fatalf("udp: got %d bytes tcp=%v", len(p.Data), p.TCP)
	}

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream := append(append([]byte(nil), a...), b...)
	for _, part := range [][]byte{stream[:3], stream[3:20], stream[20:]} { // split mid-header and mid-packet
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range [][]byte{a, b} {
		if p := recv(t, l); !bytes.Equal(p.Data, want) || !p.TCP {
			t.Fatalf("tcp: got %q, want %q", p.Data, want)
		}
	}

	bad, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().BadFrames == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := l.Stats()
	if st.UDPPackets != 1 || st.TCPPackets != 2 || st.BadFrames != 1 || st.Bytes != uint64(2*len(a)+len(b)) {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-l.Packets(); ok {
		t.Fatal("Packets not closed after Close")
	}
}

// TestHEPListenerQueueFull: a consumer that does not keep up loses packets, counted,
// and the listener keeps reading.
func TestHEPListenerQueueFull(t *testing.T) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := hepPacket(t, "OPTIONS sip:a SIP/2.0\r\n\r\n")
	for i := 0; i < 5; i++ {
		if _, err := c.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().TCPPackets < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := l.Stats(); st.TCPPackets != 5 || st.QueueDrops != 3 || len(l.Packets()) != 2 {
		t.Fatalf("stats %+v, queued %d", st, len(l.Packets()))
	}
}

// BenchmarkHEPListenerUDP: HEP datagrams over loopback through the listener to a
// consumer that releases them; allocations per packet are the listener's (buffers are
// reused once released).
func BenchmarkHEPListenerUDP(b *testing.B) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	u, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	p := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1, Src: netip.MustParseAddrPort("192.0.2.1:5060"),
		Dst: netip.MustParseAddrPort("192.0.2.2:5060"), Payload: bytes.Repeat([]byte("x"), 600)}
	pkt := hep.Append(nil, &p)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	got := 0
	stall := time.NewTimer(time.Hour)
	for i := 0; i < b.N; i++ {
		if _, err := u.Write(pkt); err != nil {
			b.Fatal(err)
		}
		if i%32 == 31 || i == b.N-1 { // let the reader keep up: loopback UDP drops when it cannot
			stall.Reset(time.Second)
			for got <= i {
				select {
				case q := <-l.Packets():
					got++
					l.Release(q)
				case <-stall.C:
					b.Fatalf("%d of %d received (stats %+v)", got, i+1, l.Stats())
				}
			}
		}
	}
}
