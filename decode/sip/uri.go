package sip

// addrURI returns the URI of a name-addr ("Bob" <sip:bob@b.example>;tag=1) or addr-spec
// (sip:bob@b.example;tag=1) header value (RFC 3261 §20.10, §25.1). For an addr-spec the
// URI ends at the first ';' because those parameters are header parameters.
func addrURI(v []byte) []byte {
	inQuote := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			rest := v[i+1:]
			if j := indexByte(rest, '>'); j >= 0 {
				rest = rest[:j]
			}
			return trimLWS(rest)
		}
	}
	if inQuote { // unterminated display name: no URI
		return nil
	}
	u := v
	for i := 0; i < len(u); i++ {
		if u[i] == ';' || u[i] == ',' {
			u = u[:i]
			break
		}
	}
	return trimLWS(u)
}

// URIUser returns the user part of a SIP/SIPS URI ("sip:alice@x" → "alice", a password
// after ':' is dropped) or the number of a tel URI ("tel:+123;phone-context=x" → "+123").
// Other schemes return the userinfo before '@' if any. It returns nil when there is no
// user part. The result is still %-escaped.
func URIUser(uri []byte) []byte {
	uri = trimLWS(uri)
	if len(uri) > 0 && uri[0] == '<' {
		uri = addrURI(uri)
	}
	c := indexByte(uri, ':')
	if c < 0 {
		return nil
	}
	scheme, rest := uri[:c], uri[c+1:]
	at := -1
	for i := 0; i < len(rest); i++ {
		if rest[i] == '@' {
			at = i
			break
		}
		if rest[i] == '?' || rest[i] == '>' {
			break
		}
	}
	if at >= 0 {
		u := rest[:at]
		if p := indexByte(u, ':'); p >= 0 {
			u = u[:p]
		}
		if len(u) == 0 {
			return nil
		}
		return u
	}
	if equalFold(scheme, "tel") {
		for i := 0; i < len(rest); i++ {
			if rest[i] == ';' || rest[i] == '?' || rest[i] == '>' {
				rest = rest[:i]
				break
			}
		}
		if len(rest) == 0 {
			return nil
		}
		return rest
	}
	return nil
}

// Param returns the value of the ;name=value parameter (case-insensitive name) of the
// first value in a header value, skipping parameters inside <...> (URI parameters) and
// quoted strings. A quoted value is returned with its quotes. A parameter present without
// '=' yields an empty, non-nil slice; an absent one yields nil.
func Param(value []byte, name string) []byte {
	inQuote, angle := false, 0
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
			continue
		case c == '"':
			inQuote = true
			continue
		case c == '<':
			angle++
			continue
		case c == '>':
			if angle > 0 {
				angle--
			}
			continue
		case angle > 0:
			continue
		case c == ',':
			return nil
		case c != ';':
			continue
		}
		// c == ';' outside <> and quotes: read the parameter name.
		p := i + 1
		for p < len(value) && isLWS(value[p]) {
			p++
		}
		s := p
		for p < len(value) && value[p] != '=' && value[p] != ';' && value[p] != ',' && !isLWS(value[p]) {
			p++
		}
		if !equalFold(value[s:p], name) {
			i = p - 1
			continue
		}
		for p < len(value) && isLWS(value[p]) {
			p++
		}
		if p >= len(value) || value[p] != '=' {
			return value[p:p]
		}
		p++
		for p < len(value) && isLWS(value[p]) {
			p++
		}
		s = p
		if p < len(value) && value[p] == '"' {
			p++
			for p < len(value) {
				if value[p] == '\\' {
					p += 2
					continue
				}
				if value[p] == '"' {
					p++
					break
				}
				p++
			}
			if p > len(value) {
				p = len(value)
			}
			return value[s:p]
		}
		for p < len(value) && value[p] != ';' && value[p] != ',' && value[p] != '>' && !isLWS(value[p]) {
			p++
		}
		return value[s:p]
	}
	return nil
}

// Q850Cause extracts the ITU-T Q.850 cause from a Reason header value (RFC 3326 §2),
// e.g. `Q.850;cause=16;text="Normal call clearing"`, also when several protocols are
// comma-joined (`SIP;cause=200, Q.850;cause=17`). ok is false when there is no Q.850
// value with a numeric cause.
func Q850Cause(reason []byte) (cause int, ok bool) {
	rest := reason
	for len(rest) > 0 {
		var v []byte
		v, rest = nextValue(rest)
		proto := v
		if i := indexByte(proto, ';'); i >= 0 {
			proto = proto[:i]
		}
		if !equalFold(trimLWS(proto), "q.850") {
			continue
		}
		c := Param(v, "cause")
		if len(c) >= 2 && c[0] == '"' && c[len(c)-1] == '"' {
			c = c[1 : len(c)-1]
		}
		if n, good := parseUint(c, 1<<16); good {
			return int(n), true
		}
	}
	return 0, false
}

// AddrURI returns the URI of a name-addr or addr-spec header value (From, To, Contact,
// Refer-To, Referred-By): the part inside <...>, or the addr-spec before its ';'
// parameters. The result is a view into v.
func AddrURI(v []byte) []byte { return addrURI(v) }
