package sip

import "errors"

// MaxHeaders is the number of header fields a Message records in Headers. Messages with
// more still have their well-known fields decoded, but Parse reports ErrTooManyHeaders.
const MaxHeaders = 256

// Sentinel errors returned by Parse; test with errors.Is.
var (
	// ErrNotSIP: the data does not start with a SIP request or status line.
	ErrNotSIP = errors.New("sip: not a SIP message")
	// ErrTruncated: the data ends inside the start line. (Data ending inside the header
	// section is accepted as a complete message without body; stream transports use
	// FrameLength to know when a message is complete.)
	ErrTruncated = errors.New("sip: truncated message")
	// ErrMalformed: a SIP start line that cannot be decoded (bad status code, empty URI).
	ErrMalformed = errors.New("sip: malformed message")
	// ErrTooManyHeaders: more than MaxHeaders header fields; Headers holds the first
	// MaxHeaders, the well-known fields are decoded from all of them.
	ErrTooManyHeaders = errors.New("sip: too many headers")
)

// Header is one header field as written on the wire.
type Header struct {
	Name  []byte // as written, possibly the compact form ("i" for Call-ID)
	Value []byte // trimmed; a folded value keeps its inner CRLF+WSP
}

// Message is a decoded SIP message. Every slice is a view into the data given to Parse and
// is valid only as long as that buffer is unchanged: copy what must outlive the packet.
// A Message holds its header array inline and must not be copied by value while in use
// (Headers would keep pointing into the original); reuse one per worker via Parse, which
// resets it.
type Message struct {
	Request      bool
	Method       []byte // request method; for responses, the CSeq method
	RequestURI   []byte
	StatusCode   int
	ReasonPhrase []byte

	CallID           []byte
	From, To         []byte // whole header values
	FromURI, ToURI   []byte // URI inside <>, or the addr-spec before ';' params
	FromUser, ToUser []byte // user part of the URI, still escaped
	FromTag, ToTag   []byte

	CSeq       uint32
	CSeqMethod []byte

	Vias         int    // number of Via values, comma-joined values counted individually
	ViaBranch    []byte // branch parameter of the top Via
	ViaSentBy    []byte // host[:port] of the top Via
	ViaTransport []byte // UDP, TCP, TLS, SCTP, WS, WSS... of the top Via, as written

	ContentType       []byte // media type without parameters, e.g. application/sdp
	ContentLength     int    // -1 when absent or not a number
	UserAgent, Server []byte
	Contact           []byte // first Contact value
	ContactURI        []byte
	Expires           int    // Expires header in seconds, or -1
	Reason            []byte // Reason header value (RFC 3326)

	// Body is Content-Length bytes after the header section when present and available,
	// else everything after it (UDP messages without Content-Length, or short bodies).
	Body []byte

	// Headers lists every header field in order; backed by an array inside Message.
	Headers []Header

	contentTypeRaw []byte // whole Content-Type value, for the multipart boundary
	hdrs           [MaxHeaders]Header
}

// Reset clears m for reuse without releasing its header array.
func (m *Message) Reset() {
	m.Request = false
	m.Method = nil
	m.RequestURI = nil
	m.StatusCode = 0
	m.ReasonPhrase = nil
	m.CallID = nil
	m.From, m.To = nil, nil
	m.FromURI, m.ToURI = nil, nil
	m.FromUser, m.ToUser = nil, nil
	m.FromTag, m.ToTag = nil, nil
	m.CSeq = 0
	m.CSeqMethod = nil
	m.Vias = 0
	m.ViaBranch, m.ViaSentBy, m.ViaTransport = nil, nil, nil
	m.ContentType = nil
	m.ContentLength = -1
	m.UserAgent, m.Server = nil, nil
	m.Contact, m.ContactURI = nil, nil
	m.Expires = -1
	m.Reason = nil
	m.Body = nil
	m.contentTypeRaw = nil
	m.Headers = m.hdrs[:0]
}

// Parse decodes one SIP message from data into m (after resetting it). It is lenient in
// the ways real traffic needs (RFC 3261 §7.3.1, §7.5, RFC 4475): leading CRLFs are
// skipped, LF-only line ends, white space around ':' and in the start line, lowercase
// methods and header names, compact header forms, folded header lines, unknown or
// garbled header lines (skipped), a missing Content-Length (the body is the rest of data).
//
// Data ending without the blank line after the headers is accepted (a UDP datagram is a
// whole message and devices do omit the last CRLF); a Content-Length larger than what is
// left is not an error either (Body is then the rest). On ErrTooManyHeaders m still
// holds everything decoded; on ErrNotSIP, ErrMalformed and ErrTruncated it holds nothing
// useful. Slices in m are views into data.
func Parse(data []byte, m *Message) error {
	m.Reset()
	pos := 0
	for pos < len(data) && (data[pos] == '\r' || data[pos] == '\n') {
		pos++
	}
	end, next, found := lineEnd(data, pos)
	line := trimCR(data[pos:end])
	if !found {
		if pos < len(data) && (isStartLine(line) || plausibleStart(line)) {
			return ErrTruncated
		}
		return ErrNotSIP
	}
	if err := m.parseStartLine(line); err != nil {
		return err
	}

	var tooMany, complete bool
	bodyStart := len(data)
	// The header being assembled: name, and value bounds in data (folded lines extend it).
	var name []byte
	vs, ve, pending := 0, 0, false
	pos = next
	for pos < len(data) {
		end, next, found = lineEnd(data, pos)
		line = trimCR(data[pos:end])
		if len(line) == 0 && found {
			bodyStart = next
			complete = true
			break
		}
		if len(line) > 0 && isWS(line[0]) {
			if pending { // continuation of a folded header (RFC 3261 §7.3.1)
				ve = pos + len(line)
			}
		} else {
			if pending && !m.addHeader(name, trimLWS(data[vs:ve])) {
				tooMany = true
			}
			pending = false
			if c := indexByte(line, ':'); c > 0 {
				name = trimLWS(line[:c])
				if len(name) > 0 {
					vs, ve, pending = pos+c+1, pos+len(line), true
				}
			}
		}
		pos = next
	}
	if pending && !m.addHeader(name, trimLWS(data[vs:ve])) {
		tooMany = true
	}
	if !m.Request {
		m.Method = m.CSeqMethod
	}
	if !complete {
		// The data ended inside the header section. On a datagram transport the datagram
		// is the whole message (RFC 3261 §18.3), and real devices omit the final CRLF
		// after the last header: accept it as a message without body.
		m.Body = data[len(data):]
		if tooMany {
			return ErrTooManyHeaders
		}
		return nil
	}
	body := data[bodyStart:]
	if m.ContentLength >= 0 && m.ContentLength <= len(body) {
		body = body[:m.ContentLength]
	}
	m.Body = body
	if tooMany {
		return ErrTooManyHeaders
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// parseStartLine decodes a Request-Line or Status-Line (RFC 3261 §7.1, §7.2).
func (m *Message) parseStartLine(line []byte) error {
	line = trimLWS(line)
	if hasPrefixFold(line, "SIP/") {
		// SIP-Version SP Status-Code SP Reason-Phrase
		i := 4
		for i < len(line) && !isWS(line[i]) {
			i++
		}
		for i < len(line) && isWS(line[i]) {
			i++
		}
		if len(line)-i < 3 || !isDigit(line[i]) || !isDigit(line[i+1]) || !isDigit(line[i+2]) ||
			(len(line)-i > 3 && !isWS(line[i+3])) {
			return ErrMalformed
		}
		code := int(line[i]-'0')*100 + int(line[i+1]-'0')*10 + int(line[i+2]-'0')
		if code < 100 {
			return ErrMalformed
		}
		m.StatusCode = code
		m.ReasonPhrase = trimLWS(line[i+3:])
		return nil
	}
	// Method SP Request-URI SP SIP-Version. The URI is whatever lies between the first and
	// the last space, so that URIs with stray spaces (RFC 4475 §3.1.2.x) still decode.
	i := 0
	for i < len(line) && isTokenChar(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || !isWS(line[i]) {
		return ErrNotSIP
	}
	j := len(line)
	for j > i && !isWS(line[j-1]) {
		j--
	}
	if !hasPrefixFold(line[j:], "SIP/") {
		return ErrNotSIP
	}
	uri := trimLWS(line[i:j])
	if len(uri) == 0 {
		return ErrMalformed
	}
	m.Request = true
	m.Method = line[:i]
	m.RequestURI = uri
	return nil
}

// Header identifiers for the fields Message decodes.
const (
	hOther = iota
	hCallID
	hFrom
	hTo
	hCSeq
	hVia
	hContentType
	hContentLength
	hUserAgent
	hServer
	hContact
	hExpires
	hReason
)

// headerID maps a header name (long or compact form, any case) to its identifier.
func headerID(name []byte) int {
	if len(name) == 1 {
		switch lower(name[0]) {
		case 'i':
			return hCallID
		case 'f':
			return hFrom
		case 't':
			return hTo
		case 'v':
			return hVia
		case 'c':
			return hContentType
		case 'l':
			return hContentLength
		case 'm':
			return hContact
		}
		return hOther
	}
	switch len(name) {
	case 2:
		if equalFold(name, "to") {
			return hTo
		}
	case 3:
		if equalFold(name, "via") {
			return hVia
		}
	case 4:
		if equalFold(name, "from") {
			return hFrom
		}
		if equalFold(name, "cseq") {
			return hCSeq
		}
	case 6:
		if equalFold(name, "server") {
			return hServer
		}
		if equalFold(name, "reason") {
			return hReason
		}
	case 7:
		if equalFold(name, "call-id") {
			return hCallID
		}
		if equalFold(name, "contact") {
			return hContact
		}
		if equalFold(name, "expires") {
			return hExpires
		}
	case 10:
		if equalFold(name, "user-agent") {
			return hUserAgent
		}
	case 12:
		if equalFold(name, "content-type") {
			return hContentType
		}
	case 14:
		if equalFold(name, "content-length") {
			return hContentLength
		}
	}
	return hOther
}

// addHeader records a header and decodes it when well known. It reports false when the
// Headers array is full (the header is then decoded but not listed).
func (m *Message) addHeader(name, value []byte) bool {
	switch headerID(name) {
	case hCallID:
		if m.CallID == nil {
			m.CallID = value
		}
	case hFrom:
		if m.From == nil {
			m.From = value
			m.FromURI = addrURI(value)
			m.FromUser = URIUser(m.FromURI)
			m.FromTag = Param(value, "tag")
		}
	case hTo:
		if m.To == nil {
			m.To = value
			m.ToURI = addrURI(value)
			m.ToUser = URIUser(m.ToURI)
			m.ToTag = Param(value, "tag")
		}
	case hCSeq:
		if m.CSeqMethod == nil {
			m.parseCSeq(value)
		}
	case hVia:
		m.parseVia(value)
	case hContentType:
		if m.contentTypeRaw == nil {
			m.contentTypeRaw = value
			ct := value
			if i := indexByte(ct, ';'); i >= 0 {
				ct = ct[:i]
			}
			m.ContentType = trimLWS(ct)
		}
	case hContentLength:
		if m.ContentLength < 0 {
			if n, ok := parseUint(value, 1<<30); ok {
				m.ContentLength = int(n)
			}
		}
	case hUserAgent:
		if m.UserAgent == nil {
			m.UserAgent = value
		}
	case hServer:
		if m.Server == nil {
			m.Server = value
		}
	case hContact:
		if m.Contact == nil {
			m.Contact, _ = nextValue(value)
			m.ContactURI = addrURI(m.Contact)
		}
	case hExpires:
		if m.Expires < 0 {
			if n, ok := parseUint(value, 1<<31-1); ok {
				m.Expires = int(n)
			}
		}
	case hReason:
		if m.Reason == nil {
			m.Reason = value
		}
	}
	if len(m.Headers) >= MaxHeaders {
		return false
	}
	m.Headers = append(m.Headers, Header{Name: name, Value: value})
	return true
}

// parseCSeq decodes "CSeq: 4711 INVITE" (RFC 3261 §20.16). A number that is not a 32-bit
// unsigned integer leaves CSeq at 0 but still records the method.
func (m *Message) parseCSeq(v []byte) {
	i := 0
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	if n, ok := parseUint(v[:i], 1<<32-1); ok {
		m.CSeq = uint32(n)
	}
	for i < len(v) && isLWS(v[i]) {
		i++
	}
	j := i
	for j < len(v) && !isLWS(v[j]) {
		j++
	}
	m.CSeqMethod = v[i:j]
}

// parseVia counts the values of one Via header and, for the first one seen, decodes
// sent-protocol, sent-by and branch (RFC 3261 §20.42). LWS around '/' is allowed.
func (m *Message) parseVia(v []byte) {
	rest := v
	for len(rest) > 0 {
		var val []byte
		val, rest = nextValue(rest)
		if indexByte(val, '/') < 0 { // not a via-parm (empty or garbage, RFC 4475 §3.1.2.8)
			continue
		}
		m.Vias++
		if m.Vias == 1 {
			m.topVia(val)
		}
	}
}

func (m *Message) topVia(v []byte) {
	// protocol-name / protocol-version / transport
	i := indexByte(v, '/')
	if i < 0 {
		return
	}
	j := indexByte(v[i+1:], '/')
	if j < 0 {
		return
	}
	p := i + 1 + j + 1
	for p < len(v) && isLWS(v[p]) {
		p++
	}
	s := p
	for p < len(v) && isTokenChar(v[p]) {
		p++
	}
	m.ViaTransport = v[s:p]
	for p < len(v) && isLWS(v[p]) {
		p++
	}
	s = p
	for p < len(v) && v[p] != ';' && !isLWS(v[p]) {
		p++
	}
	m.ViaSentBy = v[s:p]
	m.ViaBranch = Param(v[p:], "branch")
}

// compactForms pairs compact header letters with long names (RFC 3261 §7.3.3 and the
// IANA SIP header registry).
var compactForms = [...]struct {
	c    byte
	long string
}{
	{'i', "call-id"}, {'f', "from"}, {'t', "to"}, {'v', "via"}, {'m', "contact"},
	{'l', "content-length"}, {'c', "content-type"}, {'e', "content-encoding"},
	{'k', "supported"}, {'s', "subject"}, {'o', "event"}, {'r', "refer-to"},
	{'b', "referred-by"}, {'u', "allow-events"}, {'x', "session-expires"},
	{'y', "identity"}, {'a', "accept-contact"}, {'j', "reject-contact"},
	{'d', "request-disposition"},
}

// namesFor returns the long name and compact letter equivalent to name (either form).
func namesFor(name string) (long string, short byte) {
	if len(name) == 1 {
		short = lower(name[0])
		for _, f := range compactForms {
			if f.c == short {
				return f.long, short
			}
		}
		return "", short
	}
	for _, f := range compactForms {
		if foldEq(f.long, name) {
			return name, f.c
		}
	}
	return name, 0
}

func foldEq(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func nameMatches(h []byte, long string, short byte) bool {
	if len(h) == 1 {
		return short != 0 && lower(h[0]) == short
	}
	return long != "" && equalFold(h, long)
}

// Get returns the value of the first header called name (case-insensitive; a compact
// form and its long name are equivalent), or nil. It does not allocate.
func (m *Message) Get(name string) []byte {
	long, short := namesFor(name)
	for i := range m.Headers {
		if nameMatches(m.Headers[i].Name, long, short) {
			return m.Headers[i].Value
		}
	}
	return nil
}

// Each calls fn with every value of every header called name, splitting comma-joined
// values (RFC 3261 §7.3.1) outside quoted strings and <...>; empty values are skipped.
// It stops when fn returns false. Do not use it for headers whose grammar contains bare
// commas (Date, WWW-Authenticate...); use Get.
func (m *Message) Each(name string, fn func(value []byte) bool) {
	long, short := namesFor(name)
	for i := range m.Headers {
		if !nameMatches(m.Headers[i].Name, long, short) {
			continue
		}
		rest := m.Headers[i].Value
		for len(rest) > 0 {
			var v []byte
			v, rest = nextValue(rest)
			if len(v) == 0 {
				continue
			}
			if !fn(v) {
				return
			}
		}
	}
}
