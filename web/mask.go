package web

import (
	"strings"

	"github.com/callscope/callscope/correlate"
)

// maskDigits replaces every digit but the last two of s with 'x'.
func maskDigits(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	if n <= 2 {
		return s
	}
	b := []byte(s)
	for i := range b {
		if b[i] >= '0' && b[i] <= '9' {
			if n > 2 {
				b[i] = 'x'
			}
			n--
		}
	}
	return string(b)
}

// maskURIs masks the digits of the user part of every sip:, sips: and tel: URI in s and
// of every quoted display name, leaving hosts, ports and everything else readable.
func maskURIs(s string) string {
	var b strings.Builder
	lower := strings.ToLower(s)
	i := 0
	for i < len(s) {
		j := i
		var skip int
		switch {
		case strings.HasPrefix(lower[i:], "sip:"), strings.HasPrefix(lower[i:], "tel:"):
			skip = 4
		case strings.HasPrefix(lower[i:], "sips:"):
			skip = 5
		case s[i] == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(maskDigits(s[i : i+end+2]))
			i += end + 2
			continue
		default:
			b.WriteByte(s[i])
			i++
			continue
		}
		j += skip
		b.WriteString(s[i:j])
		// The user part ends at '@' (sip) or at a delimiter (tel, or a URI without user).
		k := j
		for k < len(s) && !strings.ContainsRune("@;>, \r\n\t?", rune(s[k])) {
			k++
		}
		if k < len(s) && s[k] == '@' || strings.HasPrefix(lower[i:], "tel:") {
			b.WriteString(maskDigits(s[j:k]))
		} else {
			b.WriteString(s[j:k])
		}
		i = k
	}
	return b.String()
}

// maskCall masks the phone numbers of a call in place.
func maskCall(c *correlate.Call) {
	c.From = maskURIs(c.From)
	c.To = maskURIs(c.To)
	c.FromUser = maskDigits(c.FromUser)
	c.ToUser = maskDigits(c.ToUser)
}
