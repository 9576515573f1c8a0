package sip

import (
	"bytes"
	"testing"
)

// FuzzParse checks that Parse and the helpers never panic and that views stay inside
// the input. Seeds: testdata/fuzz/FuzzParse (torture and captured messages).
func FuzzParse(f *testing.F) {
	f.Add(invite)
	f.Add([]byte("SIP/2.0 200 OK\r\nv: SIP/2.0/TCP a;branch=b\r\nl: 0\r\n\r\n"))
	var m Message
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Parse(data, &m)
		inside := func(name string, b []byte) {
			if len(b) > 0 && !within(data, b) {
				t.Fatalf("%s is not a view into the input", name)
			}
		}
		if err == nil {
			inside("CallID", m.CallID)
			inside("Body", m.Body)
			inside("ViaBranch", m.ViaBranch)
			inside("FromTag", m.FromTag)
			if m.ContentLength >= 0 && len(m.Body) > m.ContentLength {
				t.Fatalf("body %d > Content-Length %d", len(m.Body), m.ContentLength)
			}
		}
		inside("SDP", m.SDP())
		_, _ = Q850Cause(m.Reason)
		_ = URIUser(m.ToURI)
		m.Each("via", func(v []byte) bool { inside("Each", v); return true })
		_ = m.Get("i")
		if Looks(data) && SkipKeepAlive(data) == 0 {
			// A start line Looks accepts must also parse as one.
			if err := Parse(data, &m); err == ErrNotSIP || err == ErrMalformed {
				t.Fatalf("Looks true but Parse: %v", err)
			}
		}
	})
}

// FuzzFrameLength checks framing invariants: OK means n is within data and the frame
// re-frames to itself; NeedMore never claims fewer bytes than present.
func FuzzFrameLength(f *testing.F) {
	f.Add(invite)
	f.Add([]byte("\r\n\r\nSIP/2.0 200 OK\r\nl: 3\r\n\r\nabcINVITE x SIP/2.0\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, st := FrameLength(data)
		switch st {
		case FrameOK:
			if n <= 0 || n > len(data) {
				t.Fatalf("OK with n=%d len=%d", n, len(data))
			}
			if n2, st2 := FrameLength(data[:n]); st2 != FrameOK || n2 != n {
				t.Fatalf("frame does not re-frame: %d %v vs %d", n2, st2, n)
			}
		case FrameNeedMore:
			if n != 0 && n <= len(data) {
				t.Fatalf("NeedMore with n=%d len=%d", n, len(data))
			}
		case FrameBad:
			if n != 0 {
				t.Fatalf("Bad with n=%d", n)
			}
		default:
			t.Fatalf("status %d", st)
		}
		if r := Resync(data); r == 0 || r >= len(data) && r != -1 {
			t.Fatalf("Resync = %d", r)
		}
		_ = SkipKeepAlive(data)
	})
}

// within reports whether b lies inside data's backing memory.
func within(data, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	for i := 0; i+len(b) <= len(data); i++ {
		if &data[i] == &b[0] {
			return bytes.Equal(data[i:i+len(b)], b)
		}
	}
	return false
}
