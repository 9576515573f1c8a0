package capture

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/hep"
)

// waitStat polls the listener's stats until ok holds (5 s).
func waitStat(t *testing.T, l *HEPListener, ok func(HEPStats) bool) HEPStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := l.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never matched: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noPacket fails if a packet is delivered within 200 ms.
func noPacket(t *testing.T, l *HEPListener) {
	t.Helper()
	select {
	case p := <-l.Packets():
		t.Fatalf("packet delivered: %d bytes", len(p.Data))
	case <-time.After(200 * time.Millisecond):
	}
}

func dialUDP(t *testing.T, l *HEPListener) net.Conn {
	t.Helper()
	u, err := net.Dial("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// TestHEPAuthKey: with a shared secret set, a packet without the auth key chunk and one
// with another key are dropped and counted apart (UDP and TCP); the right key passes.
func TestHEPAuthKey(t *testing.T) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{AuthKey: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UnixNano()
	u := dialUDP(t, l)
	u.Write(hepPacketAt(now, nil, "OPTIONS sip:a SIP/2.0\r\n\r\n"))
	u.Write(hepPacketAt(now, []byte("s3creT"), "OPTIONS sip:a SIP/2.0\r\n\r\n"))
	u.Write([]byte("not hep at all"))
	waitStat(t, l, func(s HEPStats) bool { return s.AuthMissing == 1 && s.AuthWrong == 1 && s.Unparsable == 1 })
	noPacket(t, l)
	good := hepPacketAt(now, []byte("s3cret"), "OPTIONS sip:a SIP/2.0\r\n\r\n")
	u.Write(good)
	if p := recv(t, l); !bytes.Equal(p.Data, good) {
		t.Fatalf("good packet: %q", p.Data)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(hepPacketAt(now, []byte("x"), "BYE sip:a SIP/2.0\r\n\r\n"), good...))
	if p := recv(t, l); !bytes.Equal(p.Data, good) || !p.TCP {
		t.Fatalf("tcp: %q", p.Data)
	}
	if st := l.Stats(); st.AuthWrong != 2 {
		t.Fatalf("after TCP: %+v", st)
	}
}

// TestHEPAllowList: a source outside the allow-list is dropped (UDP, per datagram) or
// refused (TCP, at accept), each counted; one inside is served. The sender is 127.0.0.1.
func TestHEPAllowList(t *testing.T) {
	deny, err := ListenHEP("127.0.0.1:0", HEPConfig{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	defer deny.Close()
	dialUDP(t, deny).Write(hepPacket(t, "OPTIONS sip:a SIP/2.0\r\n\r\n"))
	c, err := net.Dial("tcp", deny.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused connection read: %v, want EOF", err)
	}
	waitStat(t, deny, func(s HEPStats) bool { return s.SourceDenied == 1 && s.ConnsDenied == 1 && s.Conns == 0 })
	noPacket(t, deny)

	allow, err := ListenHEP("127.0.0.1:0", HEPConfig{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	defer allow.Close()
	a := hepPacket(t, "OPTIONS sip:a SIP/2.0\r\n\r\n")
	dialUDP(t, allow).Write(a)
	if p := recv(t, allow); !bytes.Equal(p.Data, a) {
		t.Fatal("allowed source: packet changed")
	}
}

// TestHEPClockClamp: a capture time an hour ahead or a day behind the probe's clock is
// replaced by the receive time (and counted); one 10 s off (within the 60 s default)
// passes untouched.
func TestHEPClockClamp(t *testing.T) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u := dialUDP(t, l)
	for _, tc := range []struct {
		name    string
		off     time.Duration
		clamped bool
	}{{"hour ahead", time.Hour, true}, {"day behind", -24 * time.Hour, true}, {"10 s ahead", 10 * time.Second, false}} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().UnixNano()
			sent := hepPacketAt(before+int64(tc.off), nil, "OPTIONS sip:a SIP/2.0\r\n\r\n")
			u.Write(sent)
			p := recv(t, l)
			after := time.Now().UnixNano()
			var got hep.Packet
			if err := hep.Parse(p.Data, &got); err != nil {
				t.Fatal(err)
			}
			if !tc.clamped {
				if !bytes.Equal(p.Data, sent) {
					t.Fatal("packet within the skew was changed")
				}
				return
			}
			// µs resolution on the wire: the clamped time is the receive time, truncated.
			if ts := got.TS(); ts < before/1000*1000 || ts > after || ts != p.TS/1000*1000 {
				t.Fatalf("clamped ts %d, want the receive time %d in [%d, %d]", ts, p.TS, before, after)
			}
			if string(got.Payload) != "OPTIONS sip:a SIP/2.0\r\n\r\n" {
				t.Fatalf("payload changed: %q", got.Payload)
			}
		})
	}
	if st := l.Stats(); st.ClockClamped != 2 {
		t.Fatalf("ClockClamped %d, want 2", st.ClockClamped)
	}
}

// TestHEPIdleTimeout: a TCP connection that sends no frame is closed after Idle, and a
// half-sent frame does not hold it open either.
func TestHEPIdleTimeout(t *testing.T) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{Idle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i, first := range [][]byte{nil, hepPacket(t, "OPTIONS sip:a SIP/2.0\r\n\r\n")[:10]} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(first)
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle connection %d: read %v, want EOF", i, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("closed after %v, want about 200 ms", d)
		}
	}
	waitStat(t, l, func(s HEPStats) bool { return s.IdleClosed == 2 && s.Conns == 0 })
}

// TestHEPPerSourceCap: one source holding its 2 connections cannot take a third, and
// another source (127.0.0.2, also loopback) still gets in and is served.
func TestHEPPerSourceCap(t *testing.T) {
	l, err := ListenHEP("127.0.0.1:0", HEPConfig{MaxConnsPerSource: 2, MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial("127.0.0.1")
	dial("127.0.0.1")
	waitStat(t, l, func(s HEPStats) bool { return s.Conns == 2 })
	third := dial("127.0.0.1")
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection from one source: %v, want EOF", err)
	}
	other := dial("127.0.0.2")
	a := hepPacket(t, "OPTIONS sip:a SIP/2.0\r\n\r\n")
	other.Write(a)
	if p := recv(t, l); !bytes.Equal(p.Data, a) {
		t.Fatal("second source not served")
	}
	// The total cap (3) is now reached: a third source is refused for that reason.
	fourth := dial("127.0.0.3")
	fourth.SetReadDeadline(time.Now().Add(5 * time.Second))
	fourth.Read(make([]byte, 1))
	st := waitStat(t, l, func(s HEPStats) bool { return s.ConnsRejectedSource == 1 && s.ConnsRejected == 1 })
	if st.Conns != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// overflowedUDP returns a loopback UDP socket with SO_RXQ_OVFL on and a 1 KB receive
// buffer (the kernel doubles it, still a few datagrams), a socket connected to it, and
// the 500-byte datagram it sent 200 times before anything read: some were dropped. It
// skips where SO_RXQ_OVFL does not exist (not Linux).
func overflowedUDP(t *testing.T) (c *net.UDPConn, s net.Conn, msg []byte) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !enableRxqOvfl(c) {
		if runtime.GOOS == "linux" {
			t.Fatal("SO_RXQ_OVFL could not be set")
		}
		t.Skip("SO_RXQ_OVFL not available")
	}
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	s, err = net.Dial("udp", c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	msg = make([]byte, 500)
	for range 200 {
		s.Write(msg)
	}
	return c, s, msg
}

// TestRxqOvfl: the kernel's drop count on a real UDP socket (SO_RXQ_OVFL) is read from
// the control message. A 1 KB receive buffer (the kernel doubles it, still a few
// datagrams) with 200 datagrams sent and none read must have dropped some.
func TestRxqOvfl(t *testing.T) {
	c, s, msg := overflowedUDP(t)
	// The kernel stamps each queued datagram with the drops before it: those queued
	// first carry none. Drain them, send one more and read its count.
	buf, oob := make([]byte, 2048), make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		if _, _, _, _, err := c.ReadMsgUDPAddrPort(buf, oob); err != nil {
			break
		}
	}
	s.Write(msg)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := rxqOvfl(oob[:oobn])
	if !ok || d == 0 {
		t.Fatalf("rxqOvfl = %d, %v; want drops counted", d, ok)
	}
	t.Logf("kernel dropped %d of 200", d)
}
