package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/callscope/callscope/decode/hep"
	"golang.org/x/sys/unix"
)

// enableRxqOvfl asks the kernel to attach the socket's running count of dropped
// datagrams (receive buffer full) to every datagram read (SO_RXQ_OVFL, socket(7)).
func enableRxqOvfl(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// rxqOvfl finds the SO_RXQ_OVFL count (a uint32) in a datagram's control messages
// without allocating (syscall.ParseSocketControlMessage does).
func rxqOvfl(oob []byte) (uint32, bool) {
	hdr := syscall.SizeofCmsghdr // 16 on 64-bit (a size_t length), 12 on 32-bit
	for len(oob) >= hdr {
		var n int
		if hdr == 16 {
			n = int(binary.NativeEndian.Uint64(oob))
		} else {
			n = int(binary.NativeEndian.Uint32(oob))
		}
		level := int32(binary.NativeEndian.Uint32(oob[hdr-8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[hdr-4:]))
		if n < hdr || n > len(oob) {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SO_RXQ_OVFL && n >= hdr+4 {
			return binary.NativeEndian.Uint32(oob[hdr:]), true
		}
		adv := (n + 7) &^ 7 // CMSG_ALIGN (sizeof(size_t) on 64-bit)
		if hdr == 12 {
			adv = (n + 3) &^ 3
		}
		if adv > len(oob) {
			return 0, false
		}
		oob = oob[adv:]
	}
	return 0, false
}

// udpBatch is the state of batched UDP reads (recvmmsg(2)): per slot a 64 KiB datagram
// buffer, a source address and a control-message buffer, and the mmsghdr array that
// points at them. It is made once per listener and used by its UDP goroutine only.
type udpBatch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	bufs  [][]byte
	names []unix.RawSockaddrInet6
	oobs  [][]byte
}

// mmsghdr is struct mmsghdr (recvmmsg(2)): Go pads it as C does (64 bytes on 64-bit).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpBatchSize is the datagrams one recvmmsg call may return (2 MiB of buffers, of which
// a usual HEP datagram touches one page each).
const udpBatchSize = 32

func newUDPBatch(n int) *udpBatch {
	b := &udpBatch{hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n),
		names: make([]unix.RawSockaddrInet6, n), oobs: make([][]byte, n)}
	for i := range n {
		b.bufs[i] = make([]byte, 65536)
		b.oobs[i] = make([]byte, 64)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		h := &b.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Control = &b.oobs[i][0]
	}
	return b
}

// read waits until datagrams are queued on rc's socket and reads up to len(b.hdrs) of
// them in one recvmmsg call; it returns how many. An error is the socket's (closed, or
// another than EAGAIN/EINTR).
func (b *udpBatch) read(rc syscall.RawConn) (int, error) {
	var n int
	var errno syscall.Errno
	err := rc.Read(func(fd uintptr) bool {
		for i := range b.hdrs {
			h := &b.hdrs[i].hdr
			h.Namelen = uint32(unsafe.Sizeof(b.names[i]))
			h.SetControllen(len(b.oobs[i]))
			h.Flags = 0
			b.hdrs[i].n = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		if e == syscall.EAGAIN || e == syscall.EINTR {
			return false // wait for the socket to be readable again
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// datagram returns slot i's datagram, control messages and source address after read.
func (b *udpBatch) datagram(i int) (data, oob []byte, from netip.Addr) {
	h := &b.hdrs[i]
	data = b.bufs[i][:min(int(h.n), len(b.bufs[i]))]
	oob = b.oobs[i][:min(int(h.hdr.Controllen), len(b.oobs[i]))]
	sa := &b.names[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		from = netip.AddrFrom4(sa4.Addr)
	case unix.AF_INET6:
		from = netip.AddrFrom16(sa.Addr).Unmap()
	}
	return data, oob, from
}

// readUDP reads the UDP socket in batches (udpBatch) until the listener closes; without
// a raw connection it reads one datagram at a time.
func (l *HEPListener) readUDP() {
	defer l.wg.Done()
	rc, err := l.udp.SyscallConn()
	if err != nil {
		l.readUDPEach()
		return
	}
	b := newUDPBatch(udpBatchSize)
	var p hep.Packet
	for {
		n, err := b.read(rc)
		if err != nil {
			if l.closed(err) {
				return
			}
			continue // a transient error (ICMP-induced and the like)
		}
		recv := time.Now().UnixNano() // one clock read per batch: they were queued by now
		for i := range n {
			data, oob, from := b.datagram(i)
			l.received(&p, data, oob, from, recv)
		}
	}
}
