package capture

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callscope/callscope/decode/hep"
)

// HEP listener: capture agents (Kamailio and OpenSIPS siptrace, FreeSWITCH, Asterisk,
// rtpengine, heplify, sngrep -H) mirror SIP and RTCP to a collector as HEP packets over
// UDP (one packet per datagram) or TCP (packets back to back, each framed by the 16-bit
// length in its "HEP3" header). A HEPListener receives both on one address and hands the
// packets over through a bounded queue; it does not parse beyond the framing (package
// decode/hep does). What the queue cannot take is dropped and counted: a probe that
// falls behind says so instead of blocking its sockets.
//
// Trust boundaries, checked on the receiving goroutine before a packet is queued: an
// optional source allow-list (CIDRs; UDP per datagram, TCP at accept), an optional shared
// secret that every packet must carry in its HEPv3 auth key chunk (type 14; compared in
// constant time), and the agent's clock: a capture time more than MaxSkew from the
// probe's receive time is overwritten, in the packet, with the receive time
// (hep.SetTS), so one agent's bad clock (or a forged packet) cannot move packet time,
// which drives every live call's timers. Each rejection is counted by reason. TCP
// connections are capped per source address and in total, and closed after Idle
// without a frame, so idle sockets cannot lock real agents out. The kernel's drops on
// the UDP socket (SO_RXQ_OVFL, Linux) are counted too.
//
// On Linux the UDP socket is read with recvmmsg(2), up to udpBatch datagrams per system
// call (hep_linux.go): one call per datagram was a fifth of the listener's CPU at 90,000
// messages/s; x/net's ReadBatch allocates a net.Addr per datagram, so the batch is ours.
//
// Concurrency: one goroutine reads UDP, one accepts TCP and one serves each connection;
// Packets is read by one consumer. Stats may be called from any goroutine.

// HEPPacket is one HEP packet as received.
type HEPPacket struct {
	TS   int64  // receive time, Unix ns (the probe's clock; the capture time is inside)
	Data []byte // the whole HEP packet, the receiver's until it calls Release
	TCP  bool   // came over TCP
}

// HEPStats counts what a HEPListener received and dropped.
type HEPStats struct {
	UDPPackets, TCPPackets uint64
	Bytes                  uint64
	QueueDrops             uint64 // packets dropped because the consumer fell behind
	BadFrames              uint64 // TCP streams that did not frame as HEPv3 (connection closed)
	ConnsRejected          uint64 // TCP connections over MaxConns
	ConnsRejectedSource    uint64 // TCP connections over MaxConnsPerSource
	ConnsDenied            uint64 // TCP connections from a source outside Allow
	IdleClosed             uint64 // TCP connections closed after Idle without a frame
	Conns                  int64  // TCP connections open now

	SourceDenied uint64 // UDP packets from a source outside Allow
	AuthMissing  uint64 // packets without the auth key chunk (AuthKey set)
	AuthWrong    uint64 // packets with another auth key
	Unparsable   uint64 // packets dropped because AuthKey is set and they did not parse as HEP
	ClockClamped uint64 // packets whose capture time was more than MaxSkew off, set to the receive time
	SocketDrops  uint64 // datagrams the kernel dropped on the UDP socket (receive buffer full)
}

// HEPConfig sizes a HEPListener; zero values take the defaults.
type HEPConfig struct {
	Queue             int           // packets waiting for the consumer (default 65536)
	MaxConns          int           // concurrent TCP connections (default 256)
	MaxConnsPerSource int           // concurrent TCP connections from one source address (default 16)
	Idle              time.Duration // a TCP connection without a frame this long is closed (default 30 s)
	// AuthKey, when not empty, is the shared secret every packet must carry in its
	// HEPv3 auth key chunk (type 14); others are dropped and counted.
	AuthKey []byte
	// Allow, when not empty, lists the source networks accepted; others are dropped
	// (UDP) or refused (TCP) and counted.
	Allow []netip.Prefix
	// MaxSkew is how far an agent's capture time may be from the receive time before it
	// is clamped to the receive time (default 60 s; negative: never clamp).
	MaxSkew time.Duration
	// Metrics, when not nil, get the listener's callscope_hep_* metrics.
	Metrics *Metrics
}

// HEPListener receives HEP over UDP and TCP on one address.
type HEPListener struct {
	udp   *net.UDPConn
	tcp   net.Listener
	out   chan HEPPacket
	free  chan []byte // buffers given back by Release, reused instead of allocated
	cfg   HEPConfig
	wg    sync.WaitGroup
	close sync.Once
	done  chan struct{}

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	bySrc   map[netip.Addr]int // open TCP connections per source address
	rxqOvfl bool               // SO_RXQ_OVFL is on: datagrams carry the socket's drop count

	udpN, tcpN, bytes, drops, bad, rejected                             atomic.Uint64
	rejectedSrc, connsDenied, idleClosed                                atomic.Uint64
	srcDenied, authMissing, authWrong, unparsable, clamped, socketDrops atomic.Uint64
	open                                                                atomic.Int64
}

// ListenHEP listens on addr ("host:port"; port 0 picks one, the same for UDP and TCP).
func ListenHEP(addr string, cfg HEPConfig) (*HEPListener, error) {
	if cfg.Queue <= 0 {
		cfg.Queue = 65536
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.MaxConnsPerSource <= 0 {
		cfg.MaxConnsPerSource = 16
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 60 * time.Second
	}
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hep listen tcp %s: %w", addr, err)
	}
	ua, err := net.ResolveUDPAddr("udp", tcp.Addr().String())
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("hep listen udp %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("hep listen udp %s: %w", addr, err)
	}
	_ = udp.SetReadBuffer(8 << 20) // best effort: bursts from many agents
	l := &HEPListener{udp: udp, tcp: tcp, out: make(chan HEPPacket, cfg.Queue), free: make(chan []byte, 1024), cfg: cfg,
		done: make(chan struct{}), conns: make(map[net.Conn]struct{}), bySrc: make(map[netip.Addr]int)}
	l.rxqOvfl = enableRxqOvfl(udp)
	if err := cfg.Metrics.registerHEP(l); err != nil {
		udp.Close()
		tcp.Close()
		return nil, fmt.Errorf("hep metrics: %w", err)
	}
	l.wg.Add(2)
	go l.readUDP()
	go l.accept()
	return l, nil
}

// Addr is the address the listener took (UDP and TCP share it).
func (l *HEPListener) Addr() net.Addr { return l.tcp.Addr() }

// Packets delivers the received packets; it is closed after Close, once every reader
// has stopped.
func (l *HEPListener) Packets() <-chan HEPPacket { return l.out }

// Stats returns the counters.
func (l *HEPListener) Stats() HEPStats {
	return HEPStats{UDPPackets: l.udpN.Load(), TCPPackets: l.tcpN.Load(), Bytes: l.bytes.Load(),
		QueueDrops: l.drops.Load(), BadFrames: l.bad.Load(), ConnsRejected: l.rejected.Load(),
		ConnsRejectedSource: l.rejectedSrc.Load(), ConnsDenied: l.connsDenied.Load(), IdleClosed: l.idleClosed.Load(),
		Conns: l.open.Load(), SourceDenied: l.srcDenied.Load(), AuthMissing: l.authMissing.Load(), AuthWrong: l.authWrong.Load(),
		Unparsable: l.unparsable.Load(), ClockClamped: l.clamped.Load(), SocketDrops: l.socketDrops.Load()}
}

// Close stops receiving, closes every connection and then the Packets channel.
func (l *HEPListener) Close() error {
	var err error
	l.close.Do(func() {
		close(l.done)
		err = errors.Join(l.udp.Close(), l.tcp.Close())
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
		close(l.out)
	})
	return err
}

// Release gives a consumed packet's buffer back for reuse (optional: a packet not
// released is simply collected).
func (l *HEPListener) Release(p HEPPacket) {
	select {
	case l.free <- p.Data[:0]:
	default:
	}
}

// buffer returns a buffer of n bytes, reused when one is free and large enough.
func (l *HEPListener) buffer(n int) []byte {
	select {
	case b := <-l.free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	return make([]byte, n, max(n, 2048))
}

func (l *HEPListener) deliver(p HEPPacket) {
	select {
	case l.out <- p:
	default:
		l.drops.Add(1)
		l.Release(p)
	}
}

// closed reports whether a socket error means the listener is closing.
func (l *HEPListener) closed(err error) bool {
	select {
	case <-l.done:
		return true
	default:
		return errors.Is(err, net.ErrClosed)
	}
}

// readUDPEach reads one datagram per system call (ReadMsgUDPAddrPort): the path where
// batched reads (hep_linux.go) are not available.
func (l *HEPListener) readUDPEach() {
	buf := make([]byte, 65536)
	oob := make([]byte, 64)
	var p hep.Packet
	for {
		n, oobn, _, from, err := l.udp.ReadMsgUDPAddrPort(buf, oob) // netip: no allocation
		if err != nil {
			if l.closed(err) {
				return
			}
			continue // a transient error (ICMP-induced and the like)
		}
		l.received(&p, buf[:n], oob[:oobn], from.Addr(), time.Now().UnixNano())
	}
}

// received handles one datagram read into the reading goroutine's buffer data (with
// its control messages oob): counts it, checks the source and admit, and queues a copy.
func (l *HEPListener) received(p *hep.Packet, data, oob []byte, from netip.Addr, recv int64) {
	if l.rxqOvfl {
		if d, ok := rxqOvfl(oob); ok {
			l.socketDrops.Store(uint64(d)) // the socket's running total
		}
	}
	l.udpN.Add(1)
	l.bytes.Add(uint64(len(data)))
	if !l.allowed(from) {
		l.srcDenied.Add(1)
		return
	}
	if !l.admit(p, data, recv) {
		return
	}
	b := l.buffer(len(data))
	copy(b, data)
	l.deliver(HEPPacket{TS: recv, Data: b})
}

func (l *HEPListener) accept() {
	defer l.wg.Done()
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			if l.closed(err) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		l.mu.Lock()
		select {
		case <-l.done: // Close has run (or is running) and will not see this one
			l.mu.Unlock()
			c.Close()
			return
		default:
		}
		src := remoteAddr(c)
		switch {
		case !l.allowed(src):
			l.mu.Unlock()
			l.connsDenied.Add(1)
			c.Close()
			continue
		case len(l.conns) >= l.cfg.MaxConns:
			l.mu.Unlock()
			l.rejected.Add(1)
			c.Close()
			continue
		case l.bySrc[src] >= l.cfg.MaxConnsPerSource:
			l.mu.Unlock()
			l.rejectedSrc.Add(1)
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.bySrc[src]++
		l.mu.Unlock()
		l.open.Add(1)
		l.wg.Add(1)
		go l.serveTCP(c, src)
	}
}

// hep3Header is the fixed part of a HEPv3 packet: "HEP3" and the total length.
const hep3Header = 6

// remoteAddr is a connection's source address (unmapped; invalid when unknown).
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// allowed reports whether a source may send (no allow-list: every source).
func (l *HEPListener) allowed(a netip.Addr) bool {
	if len(l.cfg.Allow) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range l.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// admit checks one received packet (data, the receiving goroutine's buffer, which it
// may rewrite) against the shared secret and the clock bound, counting what it
// rejects or clamps. p is the goroutine's scratch packet. A packet that does not parse
// is left to the decoder (which counts it) unless a secret is required.
func (l *HEPListener) admit(p *hep.Packet, data []byte, recv int64) bool {
	if err := hep.Parse(data, p); err != nil {
		if len(l.cfg.AuthKey) > 0 {
			l.unparsable.Add(1)
			return false
		}
		return true
	}
	if len(l.cfg.AuthKey) > 0 {
		switch {
		case len(p.AuthKey) == 0:
			l.authMissing.Add(1)
			return false
		case subtle.ConstantTimeCompare(p.AuthKey, l.cfg.AuthKey) != 1:
			l.authWrong.Add(1)
			return false
		}
	}
	if l.cfg.MaxSkew > 0 {
		if d := p.TS() - recv; d > int64(l.cfg.MaxSkew) || d < -int64(l.cfg.MaxSkew) {
			l.clamped.Add(1)
			hep.SetTS(data, recv) // without time chunks the decoder takes the receive time
		}
	}
	p.Reset() // keep no views of the buffer
	return true
}

func (l *HEPListener) serveTCP(c net.Conn, src netip.Addr) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		if l.bySrc[src]--; l.bySrc[src] <= 0 {
			delete(l.bySrc, src)
		}
		l.mu.Unlock()
		l.open.Add(-1)
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [hep3Header]byte
	var pkt hep.Packet
	for {
		_ = c.SetReadDeadline(time.Now().Add(l.cfg.Idle))
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				l.idleClosed.Add(1)
			}
			return // EOF, idle or closed
		}
		n := int(binary.BigEndian.Uint16(hdr[4:]))
		if string(hdr[:4]) != "HEP3" || n < hep3Header {
			l.bad.Add(1) // not HEPv3 framing: nothing after it can be trusted
			return
		}
		p := l.buffer(n)
		copy(p, hdr[:])
		if _, err := io.ReadFull(r, p[hep3Header:]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				l.idleClosed.Add(1)
			}
			l.Release(HEPPacket{Data: p})
			return
		}
		l.tcpN.Add(1)
		l.bytes.Add(uint64(n))
		recv := time.Now().UnixNano()
		if !l.admit(&pkt, p, recv) {
			l.Release(HEPPacket{Data: p})
			continue
		}
		l.deliver(HEPPacket{TS: recv, Data: p, TCP: true})
	}
}
