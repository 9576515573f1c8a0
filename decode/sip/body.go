package sip

import "bytes"

// SDP returns the session description carried by m: the Body when Content-Type is
// application/sdp, the first application/sdp part of a multipart/* body (RFC 2046 §5.1,
// boundary from the Content-Type parameter; RFC 4475 §3.1.1.11), or nil. A message
// without Content-Type whose body starts with "v=0" is also taken as SDP, as several
// devices omit the header. The result is a view into the parsed data.
func (m *Message) SDP() []byte {
	switch {
	case equalFold(m.ContentType, "application/sdp"):
		return m.Body
	case hasPrefixFold(m.ContentType, "multipart/"):
		b := Param(m.contentTypeRaw, "boundary")
		if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
			b = b[1 : len(b)-1]
		}
		if len(b) == 0 {
			return nil
		}
		return multipartSDP(m.Body, b)
	case m.ContentType == nil && bytes.HasPrefix(m.Body, []byte("v=0")):
		return m.Body
	}
	return nil
}

// findDelimiter returns the index of the next "--boundary" that starts a line at or after
// from, or -1.
func findDelimiter(body, boundary []byte, from int) int {
	for from < len(body) {
		i := bytes.Index(body[from:], boundary)
		if i < 0 {
			return -1
		}
		at := from + i - 2 // position of "--"
		if at >= 0 && body[at] == '-' && body[at+1] == '-' && (at == 0 || body[at-1] == '\n') {
			return at
		}
		from += i + 1
	}
	return -1
}

func multipartSDP(body, boundary []byte) []byte {
	d := findDelimiter(body, boundary, 0)
	for d >= 0 {
		p := d + 2 + len(boundary)
		if p+1 < len(body) && body[p] == '-' && body[p+1] == '-' {
			return nil // close-delimiter
		}
		_, p, found := lineEnd(body, p)
		if !found {
			return nil
		}
		// Part headers up to the blank line.
		isSDP := false
		for {
			end, next, ok := lineEnd(body, p)
			line := trimCR(body[p:end])
			if len(line) == 0 {
				if !ok {
					return nil
				}
				p = next
				break
			}
			if c := indexByte(line, ':'); c > 0 && equalFold(trimLWS(line[:c]), "content-type") {
				ct := line[c+1:]
				if i := indexByte(ct, ';'); i >= 0 {
					ct = ct[:i]
				}
				isSDP = equalFold(trimLWS(ct), "application/sdp")
			}
			if !ok {
				return nil
			}
			p = next
		}
		nd := findDelimiter(body, boundary, p)
		if isSDP {
			if nd < 0 {
				return body[p:] // no closing delimiter: take the rest
			}
			e := nd
			if e > p && body[e-1] == '\n' {
				e--
				if e > p && body[e-1] == '\r' {
					e--
				}
			}
			return body[p:e]
		}
		d = nd
	}
	return nil
}
