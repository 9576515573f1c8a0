package decode

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/tcpasm"
	"github.com/callscope/callscope/decode/ws"
)

// Stream modes kept in tcpasm.Stream.Mode (consumer-owned).
const (
	modeUnknown uint8 = iota // not decided yet
	modeSIP                  // SIP framed by Content-Length (RFC 3261 §18.3)
	modeWS                   // WebSocket frames after an HTTP upgrade (RFC 6455, RFC 7118)
	modeOpaque               // TLS or anything else: consumed and ignored
	modeHEP                  // HEPv3 packets over TCP from a capture agent
)

// How many bytes an undecided stream may hold while waiting for a complete first line
// or HTTP header before it is declared opaque.
const decideLimit = 8 << 10

// tcpSegment walks a TCP header (RFC 9293 §3.1) and feeds the assembler.
func (d *Decoder) tcpSegment(src, dst netip.Addr, p []byte) {
	if len(p) < 20 {
		d.errs.Inc(ReasonTruncatedTCP)
		return
	}
	off := int(p[12]>>4) * 4
	if off < 20 || len(p) < off {
		d.errs.Inc(ReasonTruncatedTCP)
		return
	}
	d.cnt.TCP++
	flags := p[13]
	s := netip.AddrPortFrom(src, binary.BigEndian.Uint16(p))
	t := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2:]))
	d.tcp.Segment(d.ts, s, t, binary.BigEndian.Uint32(p[4:]), flags&0x02 != 0, flags&0x01 != 0, flags&0x04 != 0, p[off:])
}

// consumeTCP is the tcpasm Consumer: it frames messages out of one half-stream's
// contiguous bytes and returns how many it used.
func (d *Decoder) consumeTCP(s *tcpasm.Stream, data []byte, ts int64) int {
	used := 0
	if s.Gap {
		s.Gap = false
		switch s.Mode {
		case modeSIP:
			// Bytes are missing before data: the first message is probably cut.
			r := resyncSIP(data)
			if r < 0 {
				return keepTail(data)
			}
			used = r
		case modeWS:
			// Frame boundaries are lost and cannot be found again reliably.
			d.ws.drop(s)
			s.Mode = modeOpaque
		case modeHEP:
			s.Mode = modeUnknown
		}
	}
	for used < len(data) {
		var n int
		mode := s.Mode
		switch mode {
		case modeUnknown:
			n = d.decideTCP(s, data[used:])
		case modeSIP:
			n = d.frameSIP(s, data[used:], ts)
		case modeWS:
			n = d.frameWS(s, data[used:], ts)
		case modeHEP:
			n = d.frameHEP(s, data[used:])
		default:
			d.cnt.Ignored++
			return len(data)
		}
		used += n
		if n == 0 && s.Mode == mode {
			break // no progress: wait for more bytes
		}
	}
	return used
}

// resyncSIP returns the offset of the first SIP start line in data (0 if data starts
// with one), or -1.
func resyncSIP(data []byte) int {
	if k := sip.SkipKeepAlive(data); k < len(data) && sip.Looks(data[k:]) {
		return k
	}
	return sip.Resync(data)
}

// keepTail is what a framer consumes when no start line was found: everything but the
// last partial line, which may still become a start line.
func keepTail(data []byte) int {
	for i := len(data) - 1; i >= 0; i-- {
		if data[i] == '\n' {
			return i + 1
		}
	}
	if len(data) > decideLimit {
		return len(data)
	}
	return 0
}

// decideTCP chooses the mode of an undecided half-stream from its first bytes. It returns
// how many bytes it consumed (keep-alives, an HTTP upgrade header, or data discarded
// while looking for a SIP start line).
func (d *Decoder) decideTCP(s *tcpasm.Stream, data []byte) int {
	k := sip.SkipKeepAlive(data)
	if k == len(data) {
		return k
	}
	b := data[k:]
	switch {
	case len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03: // TLS handshake record
		s.Mode = modeOpaque
		return k
	case len(b) >= 4 && b[0] == 'H' && b[1] == 'E' && b[2] == 'P' && b[3] == '3':
		s.Mode = modeHEP
		return k
	case sip.Looks(b):
		s.Mode = modeSIP
		return k
	case ws.IsUpgradeRequest(b) || ws.IsUpgradeResponse(b):
		n, ok := ws.HTTPHeaderLength(b)
		if !ok {
			if len(b) > decideLimit {
				s.Mode = modeOpaque
			}
			return k
		}
		s.Mode = modeWS
		d.ws.get(s).Reset()
		return k + n
	}
	if binaryPrefix(b) {
		s.Mode = modeOpaque // not a text protocol we read
		return k
	}
	nl := -1
	for i, ch := range b {
		if ch == '\n' {
			nl = i
			break
		}
	}
	if nl < 0 {
		if len(b) > decideLimit {
			s.Mode = modeOpaque
			return k
		}
		return k // wait for the first line
	}
	if len(b) >= 5 && string(b[:5]) == "HTTP/" || len(b) >= 4 && string(b[:4]) == "GET " {
		// Plain HTTP (or an upgrade header still incomplete).
		if _, ok := ws.HTTPHeaderLength(b); ok || len(b) > decideLimit {
			s.Mode = modeOpaque
		}
		return k
	}
	// Text that is not a start line: perhaps the capture began mid-message. Look for
	// the next SIP start line; discard complete lines before it and stay undecided.
	if r := sip.Resync(b); r > 0 {
		s.Mode = modeSIP
		return k + r
	}
	d.cnt.Ignored++
	if n := keepTail(b); n > 0 {
		return k + n
	}
	return k
}

// binaryPrefix reports whether the first bytes of b hold control characters other than
// tab, CR and LF: SIP, HTTP and SDP are text (UTF-8 allowed), so such a stream is binary.
func binaryPrefix(b []byte) bool {
	for _, c := range b[:min(len(b), 64)] {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return true
		}
	}
	return false
}

// frameSIP emits every complete SIP message at the start of data and returns the bytes
// used (0 when the next message is incomplete).
func (d *Decoder) frameSIP(s *tcpasm.Stream, data []byte, ts int64) int {
	used := 0
	for used < len(data) {
		b := data[used:]
		if k := sip.SkipKeepAlive(b); k > 0 {
			used += k
			continue
		}
		n, st := sip.FrameLength(b)
		switch st {
		case sip.FrameOK:
			d.emitSIP(s.Src, s.Dst, TransportTCP, false, ts, b[:n])
			used += n
		case sip.FrameNeedMore:
			return used
		default:
			d.errs.Inc(ReasonBadSIP)
			r := sip.Resync(b)
			if r < 0 {
				return used + keepTail(b)
			}
			used += r
		}
	}
	return used
}

// frameWS decodes WebSocket frames (RFC 6455 §5.2), reassembles messages per direction
// and emits the SIP ones (RFC 7118).
func (d *Decoder) frameWS(s *tcpasm.Stream, data []byte, ts int64) int {
	used := 0
	r := d.ws.get(s)
	for used < len(data) {
		var f ws.Frame
		n, err := ws.ParseFrame(data[used:], &f)
		if errors.Is(err, ws.ErrNeedMore) {
			return used
		}
		if err != nil || n <= 0 {
			d.errs.Inc(ReasonBadWebSocket)
			d.ws.drop(s)
			s.Mode = modeOpaque
			return len(data)
		}
		used += n
		msg, complete, err := r.Push(&f)
		if errors.Is(err, ws.ErrCompressed) || errors.Is(err, ws.ErrTooLarge) {
			d.cnt.Ignored++ // permessage-deflate or oversized: skipped, not malformed
			continue
		}
		if err != nil {
			d.errs.Inc(ReasonBadWebSocket)
			continue
		}
		if !complete {
			continue
		}
		d.cnt.WS++
		if sip.Looks(msg) {
			d.emitSIP(s.Src, s.Dst, TransportWS, false, ts, msg)
		} else {
			d.cnt.Ignored++
		}
	}
	return used
}

// frameHEP unwraps HEPv3 packets sent over TCP by a capture agent.
func (d *Decoder) frameHEP(s *tcpasm.Stream, data []byte) int {
	used := 0
	for used < len(data) {
		b := data[used:]
		n, ok := hep.FrameLen(b)
		if !ok {
			if len(b) >= 6 || len(b) >= 1 && b[0] != 'H' {
				d.errs.Inc(ReasonBadHEP)
				s.Mode = modeOpaque
				return len(data)
			}
			return used
		}
		if n < 6 {
			d.errs.Inc(ReasonBadHEP)
			s.Mode = modeOpaque
			return len(data)
		}
		if n > len(b) {
			return used
		}
		d.hep(b[:n])
		used += n
	}
	return used
}

// wsTable holds one message reassembler per WebSocket half-stream, keyed by direction.
// It is bounded: when full an arbitrary entry is evicted (its stream then loses at most
// one fragmented message).
type wsTable struct {
	m   map[wsKey]*ws.Reassembler
	max int
}

type wsKey struct{ src, dst netip.AddrPort }

func (t *wsTable) init(max int) {
	t.m = make(map[wsKey]*ws.Reassembler)
	t.max = max
}

func (t *wsTable) get(s *tcpasm.Stream) *ws.Reassembler {
	k := wsKey{s.Src, s.Dst}
	if r := t.m[k]; r != nil {
		return r
	}
	if len(t.m) >= t.max {
		for old := range t.m {
			delete(t.m, old)
			break
		}
	}
	r := &ws.Reassembler{}
	t.m[k] = r
	return r
}

func (t *wsTable) drop(s *tcpasm.Stream) { delete(t.m, wsKey{s.Src, s.Dst}) }
