package web

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// Masking. A masked viewer (role viewer-masked, or everyone under --mask-numbers) reads
// every string of every answer through maskText; keypresses go through maskDTMF. The
// rules, in maskText:
//
//   - the user part of every sip:, sips: and tel: URI, and every quoted string (display
//     names), keep only their last two digits (maskDigits);
//   - anywhere else, every run of three or more digits keeps its last two, unless it is
//     part of an IP address or a port after an address or host name: unquoted display
//     names, Call-IDs, User-Agent, reason phrases, unknown headers;
//   - a SIP message is masked line by line: the status code of a response, and the
//     headers that carry only protocol numbers (Via, CSeq, Content-Length, Max-Forwards,
//     Expires, ...) are kept as they are; SDP keeps its c=, m=, t=, b= lines and known a=
//     attributes (ports and codecs stay readable) and masks the rest (o=, s=, i=, u=, e=,
//     p=, unknown a=); any other body (INFO dtmf-relay, text, XML) has every digit
//     replaced, and a body that is not text is withheld.
//
// Masking keeps the length of what it changes, so a masked ladder lines up as the
// original does.

// maskDigits replaces every digit but the last two of s with 'x'.
func maskDigits(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	if n <= 2 {
		return s
	}
	b := []byte(s)
	for i := range b {
		if isDigit(b[i]) {
			if n > 2 {
				b[i] = 'x'
			}
			n--
		}
	}
	return string(b)
}

// maskDTMF hides every key of a DTMF string: a PIN has no harmless last two digits.
func maskDTMF(s string) string {
	return strings.Repeat("x", utf8.RuneCountInString(s))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexOrAddr(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

func isHostChar(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_'
}

// maskText masks the phone numbers of one string a masked viewer will read: a SIP
// message (see maskMessage) or a single line (URIs, display names, Call-IDs, ...).
func maskText(s string) string {
	if looksLikeSIP(s) {
		return maskMessage(s)
	}
	return maskLine(s)
}

// maskLine applies the URI, quoted-string and digit-run rules to s.
func maskLine(s string) string {
	var b []byte // allocated at the first change
	put := func(i int, repl string) {
		if b == nil {
			b = []byte(s)
		}
		copy(b[i:], repl)
	}
	lower := strings.ToLower(s)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			q := s[i:]
			if end := strings.IndexByte(s[i+1:], '"'); end >= 0 {
				q = s[i : i+end+2]
			}
			put(i, maskDigits(q))
			i += len(q)
			continue
		case c == 's' || c == 't' || c == 'S' || c == 'T':
			skip := 0
			switch {
			case strings.HasPrefix(lower[i:], "sip:"), strings.HasPrefix(lower[i:], "tel:"):
				skip = 4
			case strings.HasPrefix(lower[i:], "sips:"):
				skip = 5
			}
			if skip == 0 || i > 0 && isHostChar(s[i-1]) {
				i++
				continue
			}
			j := i + skip
			k := j
			for k < len(s) && strings.IndexByte("@;>, \r\n\t?", s[k]) < 0 {
				k++
			}
			if k < len(s) && s[k] == '@' || skip == 4 && lower[i] == 't' {
				put(j, maskDigits(s[j:k]))
				i = k
				continue
			}
			i = j // a URI without a user part: its host is read below
			continue
		case c == '[':
			// [IPv6] literal, kept with a port after it.
			if end := strings.IndexByte(s[i:], ']'); end > 0 && end < 48 {
				if _, err := netip.ParseAddr(s[i+1 : i+end]); err == nil {
					i += end + 1
					if i < len(s) && s[i] == ':' {
						i++
						for i < len(s) && isDigit(s[i]) {
							i++
						}
					}
					continue
				}
			}
			i++
			continue
		case isHexOrAddr(c) && c != '.' && c != ':' && tokenStart(s, i):
			if end, ok := addressAt(s, i); ok {
				i = end
				continue
			}
			if !isDigit(c) {
				i++
				continue
			}
			fallthrough
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j-i >= 3 && !isPort(s, i, j) {
				put(i, maskDigits(s[i:j]))
			}
			i = j
			continue
		}
		i++
	}
	if b == nil {
		return s
	}
	return string(b)
}

// tokenStart: s[i] is not inside a longer host or hex token (a scheme's ':' before it,
// as in sip:10.0.0.1, is a boundary).
func tokenStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	p := s[i-1]
	if p == ':' {
		return i < 2 || !isHexOrAddr(s[i-2])
	}
	return !isHexOrAddr(p) && !isHostChar(p)
}

// addressAt reports whether s[i] (the first byte of a token) starts an IP address (v4 or v6, with a
// :port for v4) that is not glued to a longer token, and where it ends.
func addressAt(s string, i int) (int, bool) {
	j := i
	for j < len(s) && isHexOrAddr(s[j]) {
		j++
	}
	for k := j; k > i; k-- {
		cand := strings.TrimRight(s[i:k], ".:")
		if strings.Count(cand, ".") == 3 || strings.Contains(cand, ":") {
			if _, err := netip.ParseAddr(cand); err == nil {
				return i + len(cand), true
			}
			if _, err := netip.ParseAddrPort(cand); err == nil {
				return i + len(cand), true
			}
		}
		if k-i > 60 {
			k = i + 61
		}
	}
	return 0, false
}

// isPort reports whether the digit run s[i:j] is a port: after ':' that follows a host
// name with a dot, or ']', and at most five digits.
func isPort(s string, i, j int) bool {
	if j-i > 5 || i < 2 || s[i-1] != ':' {
		return false
	}
	k := i - 1
	for k > 0 && isHostChar(s[k-1]) {
		k--
	}
	host := s[k : i-1]
	return s[i-2] == ']' || strings.Contains(host, ".") && strings.IndexFunc(host, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) >= 0
}

// looksLikeSIP: a start line "METHOD uri SIP/2.0" or "SIP/2.0 code reason", then headers.
func looksLikeSIP(s string) bool {
	line, _, found := strings.Cut(s, "\n")
	if !found {
		return false
	}
	line = strings.TrimRight(line, "\r")
	return strings.HasPrefix(line, "SIP/2.0 ") || strings.HasSuffix(line, " SIP/2.0")
}

// protocolHeaders hold only protocol numbers (sequence, lengths, timers, addresses of
// hops): kept as they are. Compact forms included (RFC 3261 section 7.3.3).
var protocolHeaders = map[string]bool{
	"via": true, "v": true, "cseq": true, "content-length": true, "l": true, "max-forwards": true,
	"expires": true, "min-expires": true, "session-expires": true, "x": true, "min-se": true,
	"rseq": true, "rack": true, "timestamp": true, "date": true, "retry-after": true,
	"content-type": true, "c": true, "allow": true, "supported": true, "k": true, "require": true,
	"accept": true, "content-encoding": true, "e": true, "event": true, "o": true, "allow-events": true, "u": true,
}

// maskMessage masks a SIP message's start line, headers and body.
func maskMessage(s string) string {
	head, body, sep := s, "", ""
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		head, body, sep = s[:i], s[i+4:], "\r\n\r\n"
	} else if i := strings.Index(s, "\n\n"); i >= 0 {
		head, body, sep = s[:i], s[i+2:], "\n\n"
	}
	var b strings.Builder
	b.Grow(len(s))
	keep := false // the header being continued (folded lines) is a protocol header
	for n, line := range strings.SplitAfter(head, "\n") {
		content := strings.TrimRight(line, "\r\n")
		eol := line[len(content):]
		switch {
		case n == 0 && strings.HasPrefix(content, "SIP/2.0 "):
			// SIP/2.0 200 OK: the code stays, the reason phrase is text.
			code, reason, found := strings.Cut(content[8:], " ")
			b.WriteString("SIP/2.0 " + code)
			if found {
				b.WriteString(" " + maskLine(reason))
			}
		case n == 0:
			b.WriteString(maskLine(content))
		case len(content) > 0 && (content[0] == ' ' || content[0] == '\t'):
			if keep {
				b.WriteString(content)
			} else {
				b.WriteString(maskLine(content))
			}
		default:
			name, _, _ := strings.Cut(content, ":")
			keep = protocolHeaders[strings.ToLower(strings.TrimSpace(name))]
			if keep {
				b.WriteString(content)
			} else {
				b.WriteString(maskLine(content))
			}
		}
		b.WriteString(eol)
	}
	if sep == "" {
		return b.String()
	}
	b.WriteString(sep)
	b.WriteString(maskBody(body))
	return b.String()
}

// maskBody masks a message body: SDP line by line, other text digit by digit, binary
// bodies withheld (ISUP carries numbers in BCD, which no text rule sees).
func maskBody(body string) string {
	if body == "" {
		return ""
	}
	if strings.HasPrefix(body, "v=") {
		return maskSDP(body)
	}
	binary := !utf8.ValidString(body)
	for i := 0; i < len(body) && !binary; i++ {
		c := body[i]
		binary = c < 0x20 && c != '\r' && c != '\n' && c != '\t' || c == 0x7f
	}
	if binary {
		return "[" + itoa(len(body)) + " bytes of binary body withheld: numbers masked]"
	}
	b := []byte(body)
	for i, c := range b {
		if isDigit(c) {
			b[i] = 'x'
		}
	}
	return string(b)
}

// sdpKeptAttrs are a= attributes of media and transport (RFC 8866 section 6; RTP/AVP,
// ICE, DTLS, SRTP): kept as they are.
var sdpKeptAttrs = map[string]bool{
	"rtpmap": true, "fmtp": true, "ptime": true, "maxptime": true, "sendrecv": true, "sendonly": true,
	"recvonly": true, "inactive": true, "rtcp": true, "rtcp-mux": true, "rtcp-fb": true, "rtcp-rsize": true,
	"ice-ufrag": true, "ice-pwd": true, "ice-options": true, "candidate": true, "end-of-candidates": true,
	"fingerprint": true, "setup": true, "mid": true, "group": true, "crypto": true, "silencesupp": true,
	"ssrc": true, "msid": true, "extmap": true, "direction": true, "framerate": true, "orient": true, "quality": true,
}

func maskSDP(body string) string {
	var b strings.Builder
	b.Grow(len(body))
	for _, line := range strings.SplitAfter(body, "\n") {
		content := strings.TrimRight(line, "\r\n")
		eol := line[len(content):]
		keep := false
		if len(content) >= 2 && content[1] == '=' {
			switch content[0] {
			case 'v', 'c', 'm', 't', 'b', 'r', 'z':
				keep = true
			case 'a':
				name := content[2:]
				if i := strings.IndexAny(name, ": "); i >= 0 {
					name = name[:i]
				}
				keep = sdpKeptAttrs[strings.ToLower(name)]
			}
		}
		if keep {
			b.WriteString(content)
		} else {
			b.WriteString(maskLine(content))
		}
		b.WriteString(eol)
	}
	return b.String()
}

func maskPtr(p *string) *string {
	if p == nil {
		return nil
	}
	v := maskText(*p)
	return &v
}

func maskSlice(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = maskText(s)
	}
	return out
}

// maskCall masks every string of a call a masked viewer reads, in place. The stable ID
// (a hash), states and enums carry no numbers; addresses pass through maskText, which
// keeps them.
func maskCall(c *correlate.Call) {
	c.CallID = maskText(c.CallID)
	c.From, c.To = maskText(c.From), maskText(c.To)
	c.FromUser, c.ToUser = maskText(c.FromUser), maskText(c.ToUser)
	c.Caller, c.Callee = maskText(c.Caller), maskText(c.Callee)
	c.FinalReason = maskText(c.FinalReason)
	c.LinkedCallIDs = maskSlice(c.LinkedCallIDs)
	c.TransferredTo = maskPtr(c.TransferredTo)
	c.UserAgents = maskSlice(c.UserAgents)
	c.DTMF = maskDTMF(c.DTMF)
	if c.Streams != nil {
		streams := make([]correlate.Stream, len(c.Streams)) // never write into a shared snapshot
		copy(streams, c.Streams)
		for i := range streams {
			st := &streams[i]
			st.Src, st.Dst = maskText(st.Src), maskText(st.Dst)
			st.DTMF = maskDTMF(st.DTMF)
			if st.DTMFEvents != nil {
				ev := make([]correlate.DTMFEvent, len(st.DTMFEvents))
				copy(ev, st.DTMFEvents)
				for j := range ev {
					ev[j].Digit = maskDTMF(ev[j].Digit)
				}
				st.DTMFEvents = ev
			}
		}
		c.Streams = streams
	}
}

// maskRegistration masks a REGISTER flow in place.
func maskRegistration(r *correlate.Registration) {
	r.AOR, r.Contact = maskText(r.AOR), maskText(r.Contact)
	r.Source, r.CallID = maskText(r.Source), maskText(r.CallID)
}

// maskMessageMeta masks the strings of a stored message's metadata (the raw text is
// masked by the ladder).
func maskMessageMeta(m *store.Message) {
	m.CallID = maskText(m.CallID)
	m.Src, m.Dst = maskText(m.Src), maskText(m.Dst)
	m.Method = maskText(m.Method)
}
