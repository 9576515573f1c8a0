package sdp

import "github.com/callscope/callscope/decode/internal/ascii"

func isSpace(c byte) bool { return ascii.IsLWS(c) }

func trimSpace(b []byte) []byte { return ascii.TrimLWS(b) }

func lower(c byte) byte { return ascii.Lower(c) }

func equalFold(b []byte, s string) bool { return ascii.EqualFold(b, s) }

// nextField splits off the first space-separated field of b.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

// fields fills out with the space-separated fields of b and returns how many it found
// (at most len(out); the last one is not extended with the rest).
func fields(b []byte, out [][]byte) int {
	n := 0
	for n < len(out) {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			break
		}
		out[n] = f
		n++
	}
	return n
}

// parseUint64 parses a non-empty run of decimal digits without overflow.
func parseUint64(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
