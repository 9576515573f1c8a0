package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// HEP listener: capture agents (Kamailio and OpenSIPS siptrace, FreeSWITCH, Asterisk,
// rtpengine, heplify, sngrep -H) mirror SIP and RTCP to a collector as HEP packets over
// UDP (one packet per datagram) or TCP (packets back to back, each framed by the 16-bit
// length in its "HEP3" header). A HEPListener receives both on one address and hands the
// packets over through a bounded queue; it does not parse beyond the framing (package
// decode/hep does). What the queue cannot take is dropped and counted: a probe that
// falls behind says so instead of blocking its sockets.
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
	Conns                  int64  // TCP connections open now
}

// HEPConfig sizes a HEPListener; zero values take the defaults.
type HEPConfig struct {
	Queue    int           // packets waiting for the consumer (default 65536)
	MaxConns int           // concurrent TCP connections (default 256)
	Idle     time.Duration // a TCP connection idle this long is closed (default 5 min)
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

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	udpN, tcpN, bytes, drops, bad, rejected atomic.Uint64
	open                                    atomic.Int64
}

// ListenHEP listens on addr ("host:port"; port 0 picks one, the same for UDP and TCP).
func ListenHEP(addr string, cfg HEPConfig) (*HEPListener, error) {
	if cfg.Queue <= 0 {
		cfg.Queue = 65536
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 5 * time.Minute
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
		done: make(chan struct{}), conns: make(map[net.Conn]struct{})}
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
		QueueDrops: l.drops.Load(), BadFrames: l.bad.Load(), ConnsRejected: l.rejected.Load(), Conns: l.open.Load()}
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

func (l *HEPListener) readUDP() {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := l.udp.Read(buf) // the sender's address is not needed (HEP carries its own); ReadFromUDP allocates it
		if err != nil {
			if l.closed(err) {
				return
			}
			continue // a transient error (ICMP-induced and the like)
		}
		l.udpN.Add(1)
		l.bytes.Add(uint64(n))
		data := l.buffer(n)
		copy(data, buf[:n])
		l.deliver(HEPPacket{TS: time.Now().UnixNano(), Data: data})
	}
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
		if len(l.conns) >= l.cfg.MaxConns {
			l.mu.Unlock()
			l.rejected.Add(1)
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		l.open.Add(1)
		l.wg.Add(1)
		go l.serveTCP(c)
	}
}

// hep3Header is the fixed part of a HEPv3 packet: "HEP3" and the total length.
const hep3Header = 6

func (l *HEPListener) serveTCP(c net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		l.open.Add(-1)
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [hep3Header]byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(l.cfg.Idle))
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
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
			return
		}
		l.tcpN.Add(1)
		l.bytes.Add(uint64(n))
		l.deliver(HEPPacket{TS: time.Now().UnixNano(), Data: p, TCP: true})
	}
}
