package ws

import "bytes"

// maxHandshake bounds how far the upgrade checks scan: a handshake header
// block larger than this is not a WebSocket upgrade we will follow.
const maxHandshake = 16 << 10

// HTTPHeaderLength returns the length of the HTTP header block at the start
// of data, through the terminating CRLFCRLF (RFC 9112 §2.1). ok is false
// when the terminator is not (yet) present.
func HTTPHeaderLength(data []byte) (n int, ok bool) {
	i := bytes.Index(data, []byte("\r\n\r\n"))
	if i < 0 {
		return 0, false
	}
	return i + 4, true
}

// IsUpgradeRequest reports whether data starts with an HTTP/1.1 GET request
// whose headers include "Upgrade: websocket" (RFC 6455 §4.1; names and the
// token compared case-insensitively, the token may be one of a list). Only
// the header block present in data (up to its CRLFCRLF) is examined, so a
// request whose Upgrade header has not arrived yet reports false.
func IsUpgradeRequest(data []byte) bool {
	if len(data) < 4 || string(data[:4]) != "GET " {
		return false
	}
	if len(data) > maxHandshake {
		data = data[:maxHandshake]
	}
	eol := bytes.IndexByte(data, '\n')
	if eol < 0 {
		return false
	}
	line := bytes.TrimRight(data[:eol], "\r")
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
		return false
	}
	return hasUpgradeWebsocket(data[eol+1:])
}

// IsUpgradeResponse reports whether data starts with an HTTP/1.1 101
// (Switching Protocols) status line (RFC 6455 §4.2.2).
func IsUpgradeResponse(data []byte) bool {
	const p = "HTTP/1.1 101"
	if len(data) < len(p) || string(data[:len(p)]) != p {
		return false
	}
	return len(data) == len(p) || data[len(p)] == ' ' || data[len(p)] == '\r' || data[len(p)] == '\n'
}

// hasUpgradeWebsocket scans header lines until the blank line or the end.
func hasUpgradeWebsocket(h []byte) bool {
	for len(h) > 0 {
		eol := bytes.IndexByte(h, '\n')
		var line []byte
		if eol < 0 {
			line, h = h, nil
		} else {
			line, h = h[:eol], h[eol+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return false // end of headers
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		if !bytes.EqualFold(name, []byte("Upgrade")) {
			continue
		}
		for v := line[colon+1:]; len(v) > 0; {
			var tok []byte
			if c := bytes.IndexByte(v, ','); c >= 0 {
				tok, v = v[:c], v[c+1:]
			} else {
				tok, v = v, nil
			}
			if bytes.EqualFold(bytes.TrimSpace(tok), []byte("websocket")) {
				return true
			}
		}
	}
	return false
}
