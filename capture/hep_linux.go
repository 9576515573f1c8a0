package capture

import (
	"encoding/binary"
	"net"
	"syscall"
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
