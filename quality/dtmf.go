package quality

import "bytes"

const dtmfDigits = "0123456789*#ABCD"

// digitFor maps an RFC 4733 §3.2 event code to its DTMF character ('?' above 15).
func digitFor(ev uint8) byte {
	if int(ev) < len(dtmfDigits) {
		return dtmfDigits[ev]
	}
	return '?'
}

// event handles one RFC 4733 telephone-event payload (§2.3): event (8 bits), E (1),
// R (1), volume (6), duration (16, in RTP clock units). All packets of one event share
// the RTP timestamp of its start, so a new timestamp starts a new event and the
// repeated end packets (§2.5.1.4) fold into the event they end.
func (s *Stream) event(arrival int64, ts uint32, p []byte) {
	if len(p) < 4 {
		return
	}
	if s.ev == nil {
		s.ev = new(eventState)
	}
	ev := s.ev
	code, end, vol := p[0], p[1]&0x80 != 0, p[1]&0x3f
	dur := uint16(p[2])<<8 | uint16(p[3])
	if !ev.active || ts != ev.ts {
		ev.active, ev.ts = true, ts
		if len(ev.dtmf) >= s.conf().MaxDTMFEvents {
			ev.skip = true
			ev.dropped++
			return
		}
		ev.skip = false
		ev.dtmf = append(ev.dtmf, DTMFEvent{Digit: digitFor(code), Start: arrival, Event: code})
	}
	if ev.skip {
		return
	}
	e := &ev.dtmf[len(ev.dtmf)-1]
	clock := ev.clock
	if clock == 0 {
		clock = s.clock
	}
	if clock == 0 {
		clock = 8000 // RFC 4733 §7.1.1 telephone-event default rate
	}
	if ms := float64(dur) * 1000 / float64(clock); ms > e.DurationMs {
		e.DurationMs = ms
	}
	e.Volume = vol
	if end {
		e.Ended = true
	}
}

// ParseDTMFInfo reads a SIP INFO body carrying one DTMF digit:
// application/dtmf-relay ("Signal=5\r\nDuration=160", the de-facto Cisco format) and
// application/dtmf ("5", RFC-less but common; also "Signal=5"). It returns the digit
// ('0'-'9', '*', '#', 'A'-'D'; event codes 0-15 are mapped too), the duration in ms
// (0 when absent) and ok. It does not allocate and does not retain its inputs.
func ParseDTMFInfo(contentType, body []byte) (digit byte, durationMs int, ok bool) {
	ct := contentType
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	relay := bytes.EqualFold(ct, []byte("application/dtmf-relay"))
	plain := bytes.EqualFold(ct, []byte("application/dtmf"))
	if !relay && !plain {
		return 0, 0, false
	}
	rest := body
	for len(rest) > 0 {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			if plain && !ok {
				digit, ok = parseDigit(line)
			}
			continue
		}
		key, val := bytes.TrimSpace(line[:eq]), bytes.TrimSpace(line[eq+1:])
		switch {
		case bytes.EqualFold(key, []byte("Signal")):
			digit, ok = parseDigit(val)
		case bytes.EqualFold(key, []byte("Duration")):
			n := 0
			for _, c := range val {
				if c < '0' || c > '9' {
					break
				}
				if n < 1<<24 {
					n = n*10 + int(c-'0')
				}
			}
			durationMs = n
		}
	}
	if !ok {
		return 0, 0, false
	}
	return digit, durationMs, true
}

func parseDigit(v []byte) (byte, bool) {
	if len(v) == 1 {
		c := v[0]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			return c, true
		case c >= 'A' && c <= 'D':
			return c, true
		case c >= 'a' && c <= 'd':
			return c - 'a' + 'A', true
		}
		return 0, false
	}
	if len(v) == 2 && v[0] >= '0' && v[0] <= '9' && v[1] >= '0' && v[1] <= '9' {
		n := int(v[0]-'0')*10 + int(v[1]-'0')
		if n <= 15 {
			return dtmfDigits[n], true
		}
	}
	return 0, false
}
