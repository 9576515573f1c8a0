package sip

import (
	"bytes"

	"github.com/callscope/callscope/decode/internal/ascii"
)

// Small byte helpers. None allocates; none indexes without a length check.

func isWS(c byte) bool { return c == ' ' || c == '\t' }

func isLWS(c byte) bool { return ascii.IsLWS(c) }

func trimLWS(b []byte) []byte { return ascii.TrimLWS(b) }

func lower(c byte) byte { return ascii.Lower(c) }

// equalFold compares b with s ASCII case-insensitively.
func equalFold(b []byte, s string) bool { return ascii.EqualFold(b, s) }

// hasPrefixFold reports whether b starts with s, ASCII case-insensitively.
func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

// isTokenChar reports RFC 3261 §25.1 token characters.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseUint parses a run of decimal digits (after trimming LWS) that must be the whole of
// b. It fails on empty input, any other byte, or a value above limit.
func parseUint(b []byte, limit uint64) (uint64, bool) {
	b = trimLWS(b)
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > limit {
			return 0, false
		}
	}
	return v, true
}

// nextValue splits off the first comma-separated element of a header value, honouring
// quoted strings (with backslash escapes) and <...> so that commas inside them do not
// split. It returns the trimmed element and the remainder after the comma.
func nextValue(b []byte) (val, rest []byte) {
	inQuote, angle := false, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
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
			angle++
		case c == '>':
			if angle > 0 {
				angle--
			}
		case c == ',' && angle == 0:
			return trimLWS(b[:i]), b[i+1:]
		}
	}
	return trimLWS(b), nil
}

// lineEnd returns the end of the line starting at data[pos:] (index of LF, or len(data))
// and the index where the next line starts. found is false when no LF was seen.
func lineEnd(data []byte, pos int) (end, next int, found bool) {
	if pos < 0 || pos >= len(data) {
		return len(data), len(data), false
	}
	if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
		return pos + i, pos + i + 1, true
	}
	return len(data), len(data), false
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
