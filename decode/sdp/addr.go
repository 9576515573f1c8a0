package sdp

import "net/netip"

// ParseAddr parses a dotted IPv4 or an IPv6 address (RFC 4291 §2.2 text forms, including
// "::" compression and a trailing dotted quad) without allocating. Zones, hostnames and
// anything else give ok == false. netip.ParseAddr takes a string, and converting the
// packet bytes would allocate on every SDP; this parser is checked against it by fuzzing.
func ParseAddr(b []byte) (netip.Addr, bool) {
	for i := 0; i < len(b); i++ {
		if b[i] == ':' {
			return parseIPv6(b)
		}
	}
	v4, ok := parseIPv4(b)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(v4), true
}

func parseIPv4(b []byte) ([4]byte, bool) {
	var out [4]byte
	n, val, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || n == 4 {
				return out, false
			}
			out[n] = byte(val)
			n++
			val, digits = 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' {
			return out, false
		}
		if digits > 0 && val == 0 { // leading zeros are ambiguous (octal); reject like netip
			return out, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return out, false
		}
	}
	return out, n == 4
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // index in ip where "::" was
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		i = 2
		if i == len(b) {
			return netip.AddrFrom16(ip), true
		}
	}
	n := 0 // bytes filled
	for n < 16 {
		// Dotted quad in the last 32 bits?
		j := i
		for j < len(b) && b[j] != ':' && b[j] != '.' {
			j++
		}
		if j < len(b) && b[j] == '.' {
			if n > 12 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(b[i:])
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[n:], v4[:])
			n += 4
			i = len(b)
			break
		}
		// Hex group of 1..4 digits.
		val, k := 0, i
		for k < len(b) && k-i < 4 {
			h := hexVal(b[k])
			if h < 0 {
				break
			}
			val = val<<4 | h
			k++
		}
		if k == i {
			return netip.Addr{}, false
		}
		ip[n], ip[n+1] = byte(val>>8), byte(val)
		n += 2
		i = k
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return netip.Addr{}, false
		}
		i++
		if i < len(b) && b[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = n
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return netip.Addr{}, false
		}
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	if n < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		shift := 16 - n
		for k := n - 1; k >= ellipsis; k-- {
			ip[k+shift] = ip[k]
		}
		for k := ellipsis; k < ellipsis+shift; k++ {
			ip[k] = 0
		}
	} else if ellipsis >= 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}
