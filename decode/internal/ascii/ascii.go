// Package ascii holds the byte helpers the SIP and SDP scanners share: ASCII case folding
// and white-space trimming on byte slices, without allocating and without indexing past
// a length check. Pure functions; safe for concurrent use.
package ascii

// IsLWS reports linear white space: SP, HTAB and the CR/LF of a folded line.
func IsLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// TrimLWS trims linear white space from both ends of b.
func TrimLWS(b []byte) []byte {
	for len(b) > 0 && IsLWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && IsLWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// Lower folds an ASCII upper-case letter to lower case.
func Lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// EqualFold compares b with s ASCII case-insensitively.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if Lower(b[i]) != Lower(s[i]) {
			return false
		}
	}
	return true
}
