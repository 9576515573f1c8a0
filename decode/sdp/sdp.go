package sdp

import (
	"bytes"
	"errors"
	"net/netip"
)

// Capacity limits. Media sections, formats and rtpmaps beyond them are ignored (and
// counted in Session.Dropped).
const (
	MaxMedia   = 32 // an IMS offer with audio, video, BFCP, T.38 and their alternatives stays well under
	MaxFormats = 32
	MaxRTPMaps = 32
)

// ErrNotSDP is returned when the body contains no SDP line at all (no v=, o=, c= or m=).
var ErrNotSDP = errors.New("sdp: not a session description")

// Direction is the media direction attribute (RFC 4566 §6; RFC 8866 §6.7).
type Direction uint8

// Directions; the zero value is sendrecv, the default when no attribute is given.
const (
	DirSendRecv Direction = iota
	DirSendOnly
	DirRecvOnly
	DirInactive
)

var dirNames = [...]string{"sendrecv", "sendonly", "recvonly", "inactive"}

// String returns the attribute name.
func (d Direction) String() string {
	if int(d) < len(dirNames) {
		return dirNames[d]
	}
	return "sendrecv"
}

// RTPMap is one a=rtpmap attribute (RFC 8866 §6.6).
type RTPMap struct {
	PT        uint8
	Encoding  []byte // as written, e.g. PCMU, telephone-event, opus
	ClockRate uint32
	Channels  uint8 // 0 when not given
}

// Media is one m= section with what a monitor needs to find and judge its RTP.
type Media struct {
	Type     []byte // audio, video, image, application...
	Port     uint16
	NumPorts int    // from "port/number", 1 when not given
	Proto    []byte // RTP/AVP, RTP/SAVP, RTP/SAVPF, udptl...
	Formats  []uint8
	Addr     netip.Addr // media-level c=, else session-level c=; zero if none parseable
	RTCPPort uint16     // a=rtcp port (RFC 3605), 0 if absent
	RTCPAddr netip.Addr // a=rtcp address, if given
	RTCPMux  bool       // a=rtcp-mux (RFC 5761)
	// Direction is media-level, else session-level, else sendrecv.
	Direction Direction
	Ptime     int // a=ptime in ms, 0 if absent
	RTPMaps   []RTPMap
	// TelephoneEventPT is the PT whose rtpmap encoding is telephone-event (RFC 4733), or -1.
	TelephoneEventPT int
	// TelephoneEventFmtp is the fmtp value for that PT, e.g. "0-15".
	TelephoneEventFmtp []byte

	fmts          [MaxFormats]uint8
	maps          [MaxRTPMaps]RTPMap
	hasAddr       bool
	hasDir        bool
	secStart, end int // byte range of the section in the body
}

// Session is a parsed session description. All []byte fields are views into the body
// given to Parse, valid while it is unchanged. Session embeds fixed arrays backing its
// slices: reuse one per worker (Parse resets it) and do not copy it by value while the
// slices are in use.
type Session struct {
	Origin     []byte // whole o= value
	OriginAddr netip.Addr
	SessionID  uint64
	Version    uint64
	Addr       netip.Addr // session-level c=
	Direction  Direction  // session-level attribute (default sendrecv)
	Media      []Media
	// Dropped counts m= sections, formats and rtpmaps ignored for exceeding the limits.
	Dropped int

	media [MaxMedia]Media
}

// Reset clears s for reuse.
func (s *Session) Reset() {
	s.Origin = nil
	s.OriginAddr = netip.Addr{}
	s.SessionID, s.Version = 0, 0
	s.Addr = netip.Addr{}
	s.Direction = DirSendRecv
	for i := range s.Media {
		s.Media[i].reset()
	}
	s.Media = s.media[:0]
	s.Dropped = 0
}

func (m *Media) reset() {
	fmts, maps := m.fmts[:0], m.maps[:0]
	m.Type, m.Proto = nil, nil
	m.Port, m.NumPorts = 0, 0
	m.Formats, m.RTPMaps = fmts, maps
	m.Addr, m.RTCPAddr = netip.Addr{}, netip.Addr{}
	m.RTCPPort, m.RTCPMux = 0, false
	m.Direction, m.Ptime = DirSendRecv, 0
	m.TelephoneEventPT, m.TelephoneEventFmtp = -1, nil
	m.hasAddr, m.hasDir = false, false
	m.secStart, m.end = 0, 0
}

// Parse decodes an SDP body (RFC 8866 §5, grammar §9) into s, after resetting it. It is
// lenient: LF-only line ends, missing or out-of-order lines, unknown lines and
// attributes are skipped; "c=IN IP4 224.2.1.1/127/3" multicast forms and IP6 addresses
// are read; 0.0.0.0 is kept (it means hold, RFC 3264 §8.4). It fails only when nothing
// SDP-like is found. It does not allocate.
func Parse(body []byte, s *Session) error {
	s.Reset()
	seen := false
	var cur *Media
	pos := 0
	for pos < len(body) {
		lineStart := pos
		end := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			end = pos + i
			pos = end + 1
		} else {
			pos = end
		}
		line := trimSpace(body[lineStart:end])
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		typ, v := line[0], line[2:]
		switch typ {
		case 'v':
			seen = true
		case 'o':
			seen = true
			if cur == nil {
				s.parseOrigin(v)
			}
		case 'c':
			seen = true
			addr, ok := parseConnection(v)
			if cur == nil {
				if ok {
					s.Addr = addr
				}
			} else if ok && !cur.hasAddr {
				cur.Addr, cur.hasAddr = addr, true
			}
		case 'm':
			seen = true
			if cur != nil {
				cur.end = lineStart
			}
			if len(s.Media) == MaxMedia {
				s.Dropped++
				cur = nil
				// Attributes of a dropped section must not leak into the session level.
				skipTo := nextMedia(body, pos)
				pos = skipTo
				continue
			}
			s.Media = s.media[:len(s.Media)+1]
			cur = &s.Media[len(s.Media)-1]
			cur.reset()
			cur.secStart, cur.end = lineStart, len(body)
			s.parseMediaLine(cur, v)
		case 'a':
			s.parseAttr(cur, v)
		}
	}
	if !seen {
		return ErrNotSDP
	}
	for i := range s.Media {
		m := &s.Media[i]
		if !m.hasAddr {
			m.Addr = s.Addr
		}
		if !m.hasDir {
			m.Direction = s.Direction
		}
		if m.TelephoneEventPT >= 0 {
			m.TelephoneEventFmtp = fmtpFor(body[m.secStart:m.end], uint8(m.TelephoneEventPT))
		}
	}
	return nil
}

// nextMedia returns the start of the next "m=" line at or after pos, or len(body).
func nextMedia(body []byte, pos int) int {
	for pos < len(body) {
		line := body[pos:]
		for len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			line = line[1:]
		}
		if len(line) >= 2 && line[0] == 'm' && line[1] == '=' {
			return pos
		}
		i := bytes.IndexByte(body[pos:], '\n')
		if i < 0 {
			return len(body)
		}
		pos += i + 1
	}
	return len(body)
}

// parseOrigin reads "o=<username> <sess-id> <sess-version> IN IP4 <address>".
func (s *Session) parseOrigin(v []byte) {
	s.Origin = v
	var f [6][]byte
	n := fields(v, f[:])
	if n >= 3 {
		s.SessionID, _ = parseUint64(f[1])
		s.Version, _ = parseUint64(f[2])
	}
	if n >= 6 {
		if a, ok := ParseAddr(f[5]); ok {
			s.OriginAddr = a
		}
	}
}

// parseConnection reads "IN IP4 addr[/ttl[/n]]" or "IN IP6 addr[/n]".
func parseConnection(v []byte) (netip.Addr, bool) {
	var f [3][]byte
	if fields(v, f[:]) < 3 {
		return netip.Addr{}, false
	}
	a := f[2]
	if i := bytes.IndexByte(a, '/'); i >= 0 {
		a = a[:i]
	}
	return ParseAddr(a)
}

// parseMediaLine reads "m=<media> <port>[/<number>] <proto> <fmt> ...".
func (s *Session) parseMediaLine(m *Media, v []byte) {
	rest := v
	var tok []byte
	tok, rest = nextField(rest)
	m.Type = tok
	tok, rest = nextField(rest)
	m.NumPorts = 1
	port := tok
	if i := bytes.IndexByte(tok, '/'); i >= 0 {
		port = tok[:i]
		if n, ok := parseUint64(tok[i+1:]); ok && n < 1<<16 {
			m.NumPorts = int(n)
		}
	}
	if p, ok := parseUint64(port); ok && p < 1<<16 {
		m.Port = uint16(p)
	}
	m.Proto, rest = nextField(rest)
	for len(rest) > 0 {
		tok, rest = nextField(rest)
		if p, ok := parseUint64(tok); ok && p <= 127 {
			if len(m.Formats) == MaxFormats {
				s.Dropped++
				continue
			}
			m.Formats = append(m.Formats, uint8(p))
		}
	}
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// parseAttr handles the attributes we use; cur is nil at session level.
func (s *Session) parseAttr(cur *Media, v []byte) {
	name, val := v, []byte(nil)
	if i := bytes.IndexByte(v, ':'); i >= 0 {
		name, val = v[:i], trimSpace(v[i+1:])
	}
	name = trimSpace(name)
	switch len(name) {
	case 8:
		d, ok := DirSendRecv, true
		switch {
		case equalFold(name, "sendrecv"):
		case equalFold(name, "sendonly"):
			d = DirSendOnly
		case equalFold(name, "recvonly"):
			d = DirRecvOnly
		case equalFold(name, "inactive"):
			d = DirInactive
		default:
			ok = false
		}
		if ok {
			if cur == nil {
				s.Direction = d
			} else {
				cur.Direction, cur.hasDir = d, true
			}
			return
		}
	}
	if cur == nil {
		return
	}
	switch {
	case equalFold(name, "rtpmap"):
		s.parseRTPMap(cur, val)
	case equalFold(name, "ptime"):
		// Some devices write "20.0"; take the integer part.
		p := val
		if i := bytes.IndexByte(p, '.'); i >= 0 {
			p = p[:i]
		}
		if n, ok := parseUint64(p); ok && n < 1<<16 {
			cur.Ptime = int(n)
		}
	case equalFold(name, "rtcp"):
		// a=rtcp:<port> [IN IP4 <addr>] (RFC 3605 §2.1)
		port, rest := nextField(val)
		if p, ok := parseUint64(port); ok && p < 1<<16 {
			cur.RTCPPort = uint16(p)
		}
		if a, ok := parseConnection(rest); ok {
			cur.RTCPAddr = a
		}
	case equalFold(name, "rtcp-mux"):
		cur.RTCPMux = true
	}
}

// parseRTPMap reads "<pt> <encoding>/<clock>[/<channels>]".
func (s *Session) parseRTPMap(m *Media, v []byte) {
	ptb, rest := nextField(v)
	pt, ok := parseUint64(ptb)
	if !ok || pt > 127 {
		return
	}
	enc, _ := nextField(rest)
	var r RTPMap
	r.PT = uint8(pt)
	name := enc
	if i := bytes.IndexByte(enc, '/'); i >= 0 {
		name = enc[:i]
		cr := enc[i+1:]
		if j := bytes.IndexByte(cr, '/'); j >= 0 {
			if c, ok := parseUint64(cr[j+1:]); ok && c < 256 {
				r.Channels = uint8(c)
			}
			cr = cr[:j]
		}
		if c, ok := parseUint64(cr); ok && c < 1<<32 {
			r.ClockRate = uint32(c)
		}
	}
	r.Encoding = name
	for i := range m.RTPMaps {
		if m.RTPMaps[i].PT == r.PT {
			return // first rtpmap for a PT wins
		}
	}
	if len(m.RTPMaps) == MaxRTPMaps {
		s.Dropped++
		return
	}
	m.RTPMaps = append(m.RTPMaps, r)
	if m.TelephoneEventPT < 0 && equalFold(name, "telephone-event") {
		m.TelephoneEventPT = int(r.PT)
	}
}

// fmtpFor finds "a=fmtp:<pt> <value>" in a media section.
func fmtpFor(sec []byte, pt uint8) []byte {
	pos := 0
	for pos < len(sec) {
		end := len(sec)
		if i := bytes.IndexByte(sec[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		line := trimSpace(sec[pos:end])
		pos = end + 1
		if !hasPrefix(line, "a=") {
			continue
		}
		v := line[2:]
		if len(v) < 5 || !equalFold(v[:5], "fmtp:") {
			continue
		}
		p, rest := nextField(v[5:])
		if n, ok := parseUint64(p); ok && n == uint64(pt) {
			return trimSpace(rest)
		}
	}
	return nil
}

// ClockRate returns the RTP clock rate of pt: from a=rtpmap, else the RFC 3551 static
// table, else 0.
func (m *Media) ClockRate(pt uint8) uint32 {
	for i := range m.RTPMaps {
		if m.RTPMaps[i].PT == pt && m.RTPMaps[i].ClockRate != 0 {
			return m.RTPMaps[i].ClockRate
		}
	}
	if pt < uint8(len(static)) {
		return static[pt].rate
	}
	return 0
}

// Encoding returns the encoding name of pt: from a=rtpmap, else the RFC 3551 static name,
// else nil. A static name is shared read-only memory: do not modify it.
func (m *Media) Encoding(pt uint8) []byte {
	for i := range m.RTPMaps {
		if m.RTPMaps[i].PT == pt {
			return m.RTPMaps[i].Encoding
		}
	}
	if pt < uint8(len(static)) && static[pt].bname != nil {
		return static[pt].bname
	}
	return nil
}

// static is the RFC 3551 §6 table of static payload types (tables 4 and 5). G722 uses an
// 8000 Hz RTP clock although it samples at 16 kHz (RFC 3551 §4.5.2).
var static = [35]staticEntry{
	0: st("PCMU", 8000), 3: st("GSM", 8000), 4: st("G723", 8000), 5: st("DVI4", 8000),
	6: st("DVI4", 16000), 7: st("LPC", 8000), 8: st("PCMA", 8000), 9: st("G722", 8000),
	10: st("L16", 44100), 11: st("L16", 44100), 12: st("QCELP", 8000), 13: st("CN", 8000),
	14: st("MPA", 90000), 15: st("G728", 8000), 16: st("DVI4", 11025), 17: st("DVI4", 22050),
	18: st("G729", 8000), 25: st("CelB", 90000), 26: st("JPEG", 90000), 28: st("nv", 90000),
	31: st("H261", 90000), 32: st("MPV", 90000), 33: st("MP2T", 90000), 34: st("H263", 90000),
}

type staticEntry struct {
	name  string
	bname []byte // name as bytes, for Encoding without allocating
	rate  uint32
}

func st(name string, rate uint32) staticEntry { return staticEntry{name, []byte(name), rate} }

// StaticPayload returns the RFC 3551 §6 encoding name and RTP clock rate of a static
// payload type; ok is false for dynamic and unassigned types.
func StaticPayload(pt uint8) (name string, clockRate uint32, ok bool) {
	if pt >= uint8(len(static)) || static[pt].name == "" {
		return "", 0, false
	}
	return static[pt].name, static[pt].rate, true
}
