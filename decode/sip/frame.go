package sip

import "bytes"

// maxMethod bounds the method token a start line may have (RFC 4475 §3.1.1.2 uses 43).
const maxMethod = 64

// isStartLine reports whether line (without its line end) is a SIP start line:
// "SIP/2.0 DDD ..." or "TOKEN SP anything SP SIP/2.0", SIP/2.0 case-insensitive.
func isStartLine(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	if hasPrefixFold(line, "SIP/2.0") {
		r := line[7:]
		if len(r) < 4 || !isWS(r[0]) {
			return false
		}
		for len(r) > 0 && isWS(r[0]) {
			r = r[1:]
		}
		return len(r) >= 3 && isDigit(r[0]) && isDigit(r[1]) && isDigit(r[2]) && r[0] >= '1' &&
			(len(r) == 3 || isWS(r[3]))
	}
	i := 0
	for i < len(line) && i <= maxMethod && isTokenChar(line[i]) {
		i++
	}
	if i == 0 || i > maxMethod || i >= len(line) || !isWS(line[i]) {
		return false
	}
	for len(line) > 0 && isWS(line[len(line)-1]) {
		line = line[:len(line)-1]
	}
	const v = "SIP/2.0"
	if len(line) < i+2+len(v) || !equalFold(line[len(line)-len(v):], v) {
		return false
	}
	if !isWS(line[len(line)-len(v)-1]) {
		return false
	}
	for _, c := range line[i : len(line)-len(v)] { // a Request-URI must be there (Parse trims CR/LF too)
		if !isLWS(c) {
			return true
		}
	}
	return false
}

// plausibleStart reports whether b, the beginning of a line whose end has not arrived,
// could still become a SIP start line.
func plausibleStart(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	const v = "SIP/2.0"
	if n := min(len(b), len(v)); equalFold(b[:n], v[:n]) {
		return true
	}
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	if i == 0 || i > maxMethod {
		return false
	}
	for _, c := range b[i:] {
		if c < 0x20 && c != '\t' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return i == len(b) || isWS(b[i])
}

// Looks reports, cheaply and without allocating, whether data starts with a SIP start
// line (after optional CRLFs): "SIP/2.0 DDD ..." or "METHOD SP uri SP SIP/2.0". It is
// meant to run on every UDP/TCP payload on any port: RTP, RTCP, STUN, DNS and HTTP
// payloads fail on the first byte or the version.
func Looks(data []byte) bool {
	// Inlined at every call: a datagram shorter than any start line, or whose first byte
	// is neither a line end nor ASCII (RTP and RTCP: version 2 sets the top bit), fails
	// here without a call (about 50 instructions per RTP packet under callgrind).
	if len(data) < 11 || data[0] >= 0x80 {
		return false
	}
	return looks(data)
}

func looks(data []byte) bool {
	i := 0
	for i < len(data) && i < 8 && (data[i] == '\r' || data[i] == '\n') {
		i++
	}
	data = data[i:]
	if len(data) < 11 {
		return false
	}
	if !isTokenChar(data[0]) { // RTP/RTCP/STUN/TLS fail here
		return false
	}
	line := data
	if e := bytes.IndexByte(data, '\n'); e >= 0 {
		line = data[:e]
	}
	return isStartLine(trimCR(line))
}

// SkipKeepAlive returns the number of leading CR and LF bytes in data: RFC 5626 §4.4.1
// keep-alives (CRLFCRLF ping, CRLF pong) and stray line ends between messages on a
// stream. Stream decoders drop data[:SkipKeepAlive(data)] before calling FrameLength.
func SkipKeepAlive(data []byte) int {
	i := 0
	for i < len(data) && (data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// FrameStatus is the outcome of FrameLength.
type FrameStatus uint8

// Frame statuses.
const (
	// FrameOK: data[:n] is one complete message.
	FrameOK FrameStatus = iota
	// FrameNeedMore: the message is incomplete. n is the total length needed when the
	// header section is complete (Content-Length known), else 0.
	FrameNeedMore
	// FrameBad: data does not start with a SIP message that can be framed (no start line,
	// header section over MaxFrameHeader, bad or huge Content-Length). Call Resync.
	FrameBad
)

// Limits for FrameLength, bounding what a stream decoder has to buffer.
const (
	MaxFrameHeader = 64 << 10 // bytes of start line plus headers
	MaxFrameBody   = 16 << 20 // Content-Length
)

// FrameLength finds the first message in a stream transport's byte stream (TCP, TLS,
// WebSocket, RFC 3261 §18.3): the header section through the empty line (CRLFCRLF or
// LFLF) plus Content-Length bytes (compact "l" too; absent means no body).
//
// Leading CR/LF keep-alives are counted in n (Parse skips them), so data[:n] may start
// with them; data holding only CR/LF gives (0, FrameNeedMore). Callers that want to
// count or drop keep-alives separately call SkipKeepAlive first.
func FrameLength(data []byte) (n int, st FrameStatus) {
	start := SkipKeepAlive(data)
	if start == len(data) {
		return 0, FrameNeedMore
	}
	end, next, found := lineEnd(data, start)
	if !found {
		if len(data)-start > MaxFrameHeader || !plausibleStart(trimCR(data[start:])) {
			return 0, FrameBad
		}
		return 0, FrameNeedMore
	}
	if !isStartLine(trimCR(data[start:end])) {
		return 0, FrameBad
	}
	cl := -1
	pos := next
	for {
		if pos-start > MaxFrameHeader {
			return 0, FrameBad
		}
		end, next, found = lineEnd(data, pos)
		if !found {
			if len(data)-start > MaxFrameHeader {
				return 0, FrameBad
			}
			return 0, FrameNeedMore
		}
		line := trimCR(data[pos:end])
		if len(line) == 0 {
			pos = next
			break
		}
		if !isWS(line[0]) && cl < 0 {
			if c := indexByte(line, ':'); c > 0 {
				if id := headerID(trimLWS(line[:c])); id == hContentLength {
					v, ok := parseUint(line[c+1:], MaxFrameBody)
					if !ok {
						return 0, FrameBad
					}
					cl = int(v)
				}
			}
		}
		pos = next
	}
	if cl < 0 {
		cl = 0
	}
	n = pos + cl
	if n > len(data) {
		return n, FrameNeedMore
	}
	return n, FrameOK
}

// Resync returns the offset, after data[0], of the next line that is (or, if it is the
// last and incomplete line, could still become) a SIP start line; -1 if there is none,
// in which case the caller may discard data. Used after FrameBad or a TCP gap.
func Resync(data []byte) int {
	pos := 0
	for {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return -1
		}
		pos += i + 1
		if pos >= len(data) {
			return -1
		}
		end, _, found := lineEnd(data, pos)
		line := trimCR(data[pos:end])
		if found && isStartLine(line) || !found && plausibleStart(line) && len(line) > 0 {
			return pos
		}
	}
}
