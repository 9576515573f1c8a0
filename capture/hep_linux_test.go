package capture

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPBatch reads datagrams sent from a known socket over IPv4 and IPv6 loopback with
// recvmmsg: every datagram comes back whole, in order, with its sender's address as the
// sending socket names it (not the v4-mapped form).
func TestUDPBatch(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "udp6" {
				host = "::1"
			}
			c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
			if err != nil {
				t.Skip(err)
			}
			defer c.Close()
			s, err := net.DialUDP(network, nil, c.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := netip.MustParseAddr(host)
			const n = 50 // more than one batch
			for i := range n {
				if _, err := fmt.Fprintf(s, "datagram %d %s", i, string(make([]byte, i*20))); err != nil {
					t.Fatal(err)
				}
			}
			rc, _ := c.SyscallConn()
			b := newUDPBatch(8)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := 0
			for got < n {
				k, err := b.read(rc)
				if err != nil {
					t.Fatalf("after %d datagrams: %v", got, err)
				}
				if k == 0 || k > 8 {
					t.Fatalf("read returned %d datagrams", k)
				}
				for i := range k {
					data, _, from := b.datagram(i)
					if exp := fmt.Sprintf("datagram %d %s", got, string(make([]byte, got*20))); string(data) != exp {
						t.Fatalf("datagram %d: %q, want %q", got, data, exp)
					}
					if from != want {
						t.Fatalf("datagram %d from %v, want %v", got, from, want)
					}
					got++
				}
			}
		})
	}
}

// TestUDPBatchRxqOvfl: a batched read still hands over each datagram's SO_RXQ_OVFL
// count (overflowedUDP: 200 datagrams sent into a tiny buffer before any read).
func TestUDPBatchRxqOvfl(t *testing.T) {
	c, s, msg := overflowedUDP(t)
	rc, _ := c.SyscallConn()
	b := newUDPBatch(4)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	queued := 0
	for {
		k, err := b.read(rc)
		if err != nil {
			break
		}
		queued += k
	}
	if queued == 0 || queued >= 200 {
		t.Fatalf("%d of 200 datagrams queued; want some dropped by the 1 KB buffer", queued)
	}
	s.Write(msg)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	k, err := b.read(rc)
	if err != nil || k != 1 {
		t.Fatalf("read = %d, %v", k, err)
	}
	data, oob, _ := b.datagram(0)
	d, ok := rxqOvfl(oob)
	if len(data) != 500 || !ok || int(d) != 200-queued {
		t.Fatalf("len %d, rxqOvfl = %d, %v; want 500 bytes and %d drops", len(data), d, ok, 200-queued)
	}
}
