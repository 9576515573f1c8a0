//go:build !linux

package capture

import "net"

// SO_RXQ_OVFL is Linux's; elsewhere socket drops are not counted.
func enableRxqOvfl(*net.UDPConn) bool { return false }

func rxqOvfl([]byte) (uint32, bool) { return 0, false }

func (l *HEPListener) readUDP() {
	defer l.wg.Done()
	l.readUDPEach()
}
