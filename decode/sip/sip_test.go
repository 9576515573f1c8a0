package sip

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crlf turns a readable LF message into wire form.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func readTorture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "torture", name+".sip"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTortureValid parses the RFC 4475 §3.1.1 valid messages. Expected values are read
// off the RFC text, not from our output.
func TestTortureValid(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		status     int
		callID     string
		cseq       uint32
		cseqMethod string
		vias       int
		check      func(t *testing.T, m *Message)
	}{
		{"wsinv", "INVITE", 0, "wsinv.ndaksdj@192.0.2.1", 9, "INVITE", 3, func(t *testing.T, m *Message) {
			eq(t, "RequestURI", m.RequestURI, "sip:vivekg@chair-dnrc.example.com;unknownparam")
			eq(t, "ToTag", m.ToTag, "1918181833n")
			eq(t, "FromTag", m.FromTag, "98asjd8")
			eq(t, "FromURI", m.FromURI, "sip:jdrosen@example.com")
			eq(t, "ToURI", m.ToURI, "sip:vivekg@chair-dnrc.example.com")
			eq(t, "ToUser", m.ToUser, "vivekg")
			eq(t, "ViaTransport", m.ViaTransport, "UDP")
			eq(t, "ViaSentBy", m.ViaSentBy, "192.0.2.2")
			eq(t, "ViaBranch", m.ViaBranch, "390skdjuw")
			eq(t, "ContactURI", m.ContactURI, "sip:jdrosen@example.com")
			eq(t, "ContentType", m.ContentType, "application/sdp")
			if !bytes.HasPrefix(m.SDP(), []byte("v=0\r\n")) || !bytes.HasSuffix(m.SDP(), []byte("a=rtpmap:31 LPC\r\n")) {
				t.Errorf("SDP = %q", m.SDP())
			}
			if got := m.Get("NewFangledHeader"); !bytes.Equal(got, []byte("newfangled value\r\n continued newfangled value")) {
				t.Errorf("folded header = %q", got)
			}
			eq(t, "Get(s)", m.Get("subject"), "")
			if m.Get("Subject") == nil {
				t.Errorf("empty s: header not found")
			}
		}},
		{"intmeth", "!interesting-Method0123456789_*+`.%indeed'~", 0, `intmeth.word%ZK-!.*_+'@word` + "`" + `~)(><:\/"][?}{`, 139122385, "!interesting-Method0123456789_*+`.%indeed'~", 1, func(t *testing.T, m *Message) {
			eq(t, "FromUser", m.FromUser, "mundane")
			eq(t, "FromTag", m.FromTag, "_token~1'+`*%!-.")
			eq(t, "ViaBranch", m.ViaBranch, "z9hG4bK-.!%66*_+`'~")
			eq(t, "ToURI", m.ToURI, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com")
		}},
		{"esc01", "INVITE", 0, "esc01.239409asdfakjkn23onasd0-3234", 234234, "INVITE", 1, func(t *testing.T, m *Message) {
			eq(t, "ToUser", m.ToUser, "%75se%72")
			eq(t, "FromUser", m.FromUser, "I%20have%20spaces")
			eq(t, "ContentType (compact c)", m.ContentType, "application/sdp")
			eq(t, "ContactURI", m.ContactURI, "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
			if len(m.SDP()) != m.ContentLength || m.ContentLength == 0 {
				t.Errorf("SDP len %d, Content-Length %d", len(m.SDP()), m.ContentLength)
			}
		}},
		{"escnull", "REGISTER", 0, "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd", 14398234, "REGISTER", 1, func(t *testing.T, m *Message) {
			n := 0
			m.Each("m", func(v []byte) bool { n++; return true })
			if n != 2 {
				t.Errorf("Contact values = %d, want 2", n)
			}
			if m.ContentLength != 0 || len(m.Body) != 0 {
				t.Errorf("L:0 gave ContentLength %d body %q", m.ContentLength, m.Body)
			}
		}},
		{"esc02", "RE%47IST%45R", 0, "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf", 29344, "RE%47IST%45R", 1, func(t *testing.T, m *Message) {
			eq(t, "ViaBranch", m.ViaBranch, "z9hG4bK209%fzsnel234")
			eq(t, "ViaTransport", m.ViaTransport, "TCP")
			n := 0
			m.Each("Contact", func(v []byte) bool { n++; return true })
			if n != 2 { // C%6Fntact is a different (unknown) header
				t.Errorf("Contact values = %d, want 2", n)
			}
		}},
		{"lwsdisp", "OPTIONS", 0, "lwsdisp.1234abcd@funky.example.com", 60, "OPTIONS", 1, func(t *testing.T, m *Message) {
			eq(t, "FromURI", m.FromURI, "sip:caller@example.com")
			eq(t, "FromTag", m.FromTag, "323")
		}},
		{"longreq", "INVITE", 0, "longreq.one" + strings.Repeat("really", 50) + "longcallid", 3882340, "INVITE", 33, func(t *testing.T, m *Message) {
			eq(t, "ViaSentBy", m.ViaSentBy, "sip33.example.com")
			eq(t, "FromTag", m.FromTag, "12"+strings.Repeat("982", 80)+"424")
			eq(t, "FromUser", m.FromUser, strings.Repeat("amazinglylongcallername", 10))
			n := 0
			m.Each("record-route", func(v []byte) bool { n++; return true })
			if n != 40 {
				t.Errorf("Record-Route values = %d, want 40", n)
			}
		}},
		{"dblreq", "REGISTER", 0, "dblreq.0ha0isndaksdj99sdfafnl3lk233412", 8, "REGISTER", 1, func(t *testing.T, m *Message) {
			if len(m.Body) != 0 {
				t.Errorf("body of first message = %q, want empty (Content-Length: 0)", m.Body)
			}
		}},
		{"semiuri", "OPTIONS", 0, "semiuri.0ha0isndaksdj", 8, "OPTIONS", 1, func(t *testing.T, m *Message) {
			eq(t, "RequestURI", m.RequestURI, "sip:user;par=u%40example.net@example.com")
			eq(t, "URIUser(RequestURI)", URIUser(m.RequestURI), "user;par=u%40example.net")
			var got []string
			m.Each("accept", func(v []byte) bool { got = append(got, string(v)); return true })
			want := "application/sdp|application/pkcs7-mime|multipart/mixed|multipart/signed|message/sip|message/sipfrag"
			if strings.Join(got, "|") != want {
				t.Errorf("Accept values = %q", got)
			}
		}},
		{"transports", "OPTIONS", 0, "transports.kijh4akdnaqjkwendsasfdj", 60, "OPTIONS", 5, func(t *testing.T, m *Message) {
			eq(t, "ViaTransport", m.ViaTransport, "UDP")
			var got []string
			m.Each("v", func(v []byte) bool { got = append(got, string(v)); return len(got) < 3 })
			if len(got) != 3 || !strings.Contains(got[2], "SIP/2.0/TLS") {
				t.Errorf("Each Via stopping after 3 = %q", got)
			}
		}},
		{"mpart01", "MESSAGE", 0, "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..", 1, "MESSAGE", 1, func(t *testing.T, m *Message) {
			eq(t, "ContentType", m.ContentType, "multipart/mixed")
			eq(t, "UserAgent", m.UserAgent, "SIPimp.org/0.2.5 (curses)")
			if m.SDP() != nil {
				t.Errorf("SDP of multipart without SDP part = %q", m.SDP())
			}
			if !bytes.HasSuffix(m.Body, []byte("--7a9cbec02ceef655--\r\n")) || len(m.Body) != m.ContentLength {
				t.Errorf("body %d bytes, Content-Length %d", len(m.Body), m.ContentLength)
			}
		}},
		{"unreason", "INVITE", 200, "unreason.1234ksdfak3j2erwedfsASdf", 35, "INVITE", 1, func(t *testing.T, m *Message) {
			if !bytes.HasPrefix(m.ReasonPhrase, []byte("= 2**3 * 5**2 ")) {
				t.Errorf("ReasonPhrase = %q", m.ReasonPhrase)
			}
			eq(t, "ToTag", m.ToTag, "2229")
		}},
		{"noreason", "INVITE", 100, "noreason.asndj203insdf99223ndf", 35, "INVITE", 1, func(t *testing.T, m *Message) {
			if len(m.ReasonPhrase) != 0 {
				t.Errorf("ReasonPhrase = %q", m.ReasonPhrase)
			}
		}},
	}
	var m Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := readTorture(t, "valid_"+tc.name)
			if !Looks(data) {
				t.Errorf("Looks = false")
			}
			if err := Parse(data, &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Request != (tc.status == 0) || m.StatusCode != tc.status {
				t.Errorf("Request %v StatusCode %d, want status %d", m.Request, m.StatusCode, tc.status)
			}
			eq(t, "Method", m.Method, tc.method)
			eq(t, "CallID", m.CallID, tc.callID)
			eq(t, "CSeqMethod", m.CSeqMethod, tc.cseqMethod)
			if m.CSeq != tc.cseq {
				t.Errorf("CSeq = %d, want %d", m.CSeq, tc.cseq)
			}
			if m.Vias != tc.vias {
				t.Errorf("Vias = %d, want %d", m.Vias, tc.vias)
			}
			if n, st := FrameLength(data); tc.name != "dblreq" && (st != FrameOK || n != len(data)) {
				t.Errorf("FrameLength = %d,%v want %d,OK", n, st, len(data))
			}
			if tc.check != nil {
				tc.check(t, &m)
			}
		})
	}
}

func eq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// TestTortureInvalid: RFC 4475 §3.1.2/§3.3 messages. A monitor must not panic and should
// still extract what it can; where the message is unusable Parse says so.
func TestTortureInvalid(t *testing.T) {
	tests := []struct {
		name    string
		wantErr error
		check   func(t *testing.T, m *Message)
	}{
		{"ncl", nil, func(t *testing.T, m *Message) {
			if m.ContentLength != -1 || !bytes.HasPrefix(m.Body, []byte("v=0")) {
				t.Errorf("negative Content-Length: CL %d body %q", m.ContentLength, m.Body)
			}
		}},
		{"scalar02", nil, func(t *testing.T, m *Message) {
			if m.CSeq != 0 || string(m.CSeqMethod) != "REGISTER" || m.Expires != -1 {
				t.Errorf("overflowing CSeq/Expires: CSeq %d %q Expires %d", m.CSeq, m.CSeqMethod, m.Expires)
			}
		}},
		{"bigcode", ErrMalformed, nil},
		{"clerr", nil, func(t *testing.T, m *Message) {
			if m.ContentLength != 9999 || !bytes.HasPrefix(m.Body, []byte("v=0")) {
				t.Errorf("short body: CL %d body %q", m.ContentLength, m.Body)
			}
		}},
		{"lwsstart", nil, func(t *testing.T, m *Message) {
			eq(t, "RequestURI", m.RequestURI, "sip:user@example.com")
			eq(t, "Method", m.Method, "INVITE")
		}},
		{"ltgtruri", nil, func(t *testing.T, m *Message) {
			eq(t, "RequestURI", m.RequestURI, "<sip:user@example.com>")
			eq(t, "URIUser", URIUser(m.RequestURI), "user")
			eq(t, "ViaSentBy", m.ViaSentBy, "192.0.2.5")
			if m.ViaBranch != nil {
				t.Errorf("ViaBranch = %q, want nil", m.ViaBranch)
			}
		}},
		{"quotbal", nil, func(t *testing.T, m *Message) {
			if m.ToURI != nil {
				t.Errorf("ToURI of unbalanced quote = %q", m.ToURI)
			}
			eq(t, "CallID", m.CallID, "quotbal.aksdj")
		}},
		{"badvers", nil, func(t *testing.T, m *Message) {
			eq(t, "CallID", m.CallID, "badvers.31417@c.example.com")
		}},
		{"insuf", nil, func(t *testing.T, m *Message) {
			if m.CallID != nil || m.From != nil {
				t.Errorf("absent headers set: %q %q", m.CallID, m.From)
			}
		}},
		{"badinv01", nil, func(t *testing.T, m *Message) {
			if m.Vias != 1 {
				t.Errorf("Vias = %d, want 1 (garbage values skipped)", m.Vias)
			}
			eq(t, "ContactURI", m.ContactURI, "sip:joe@example.org")
		}},
	}
	var m Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := readTorture(t, "invalid_"+tc.name)
			err := Parse(data, &m)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse err = %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, &m)
			}
		})
	}
	if Looks(readTorture(t, "invalid_badvers")) {
		t.Errorf("Looks accepted SIP/7.0")
	}
}

func TestCompactAndGet(t *testing.T) {
	data := crlf("BYE sip:bob@192.0.2.4 SIP/2.0\n" +
		"v: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7, SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\n" +
		"f: \"Alice, A.\" <sip:alice@atlanta.example.com;transport=tcp>;tag=88sja8x\n" +
		"t: Bob <sip:bob@biloxi.example.com>;tag=314159\n" +
		"i: a84b4c76e66710@pc33.atlanta.example.com\n" +
		"CSeq: 231 BYE\n" +
		"m: <sip:alice@pc33.atlanta.example.com>;expires=30, <sip:other@x>\n" +
		"o: presence\n" +
		"k: timer, 100rel\n" +
		"x: 1800;refresher=uac\n" +
		"Reason: SIP;cause=200;text=\"Call completed elsewhere\", Q.850 ;cause=16 ;text=\"Terminated\"\n" +
		"l: 0\n\n")
	var m Message
	if err := Parse(data, &m); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"Method", string(m.Method), "BYE"},
		{"Vias", string(rune('0' + m.Vias)), "2"},
		{"ViaTransport", string(m.ViaTransport), "WSS"},
		{"ViaSentBy", string(m.ViaSentBy), "df7jal23ls0d.invalid"},
		{"ViaBranch", string(m.ViaBranch), "z9hG4bKnashds7"},
		{"FromURI", string(m.FromURI), "sip:alice@atlanta.example.com;transport=tcp"},
		{"FromUser", string(m.FromUser), "alice"},
		{"FromTag", string(m.FromTag), "88sja8x"},
		{"ToTag", string(m.ToTag), "314159"},
		{"CallID", string(m.CallID), "a84b4c76e66710@pc33.atlanta.example.com"},
		{"Contact", string(m.Contact), "<sip:alice@pc33.atlanta.example.com>;expires=30"},
		{"ContactURI", string(m.ContactURI), "sip:alice@pc33.atlanta.example.com"},
		{"Get(Event)", string(m.Get("Event")), "presence"},
		{"Get(o)", string(m.Get("O")), "presence"},
		{"Get(call-id)", string(m.Get("CALL-ID")), "a84b4c76e66710@pc33.atlanta.example.com"},
		{"Get(Session-Expires)", string(m.Get("session-expires")), "1800;refresher=uac"},
		{"Get(missing)", string(m.Get("Route")), ""},
		{"Param refresher", string(Param(m.Get("x"), "REFRESHER")), "uac"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
	var sup []string
	m.Each("Supported", func(v []byte) bool { sup = append(sup, string(v)); return true })
	if strings.Join(sup, ",") != "timer,100rel" {
		t.Errorf("Each(Supported) = %q", sup)
	}
	if c, ok := Q850Cause(m.Reason); !ok || c != 16 {
		t.Errorf("Q850Cause = %d,%v want 16", c, ok)
	}
}

func TestLenient(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		callID string
		body   string
	}{
		{"LF only, lowercase method and names", "invite sip:a@b sip/2.0\ncall-id: x1\ncseq: 1 invite\n\nbody", "x1", "body"},
		{"leading CRLF", "\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nCall-ID: x2\r\n\r\n", "x2", ""},
		{"space before colon, tabs", "ACK sip:a@b SIP/2.0\r\nCall-ID \t:\t x3 \r\n\r\n", "x3", ""},
		{"no Content-Length on UDP", "INFO sip:a@b SIP/2.0\r\ni:x4\r\n\r\nSignal=5\r\n", "x4", "Signal=5\r\n"},
		{"garbage header line skipped", "INFO sip:a@b SIP/2.0\r\nthis is no header\r\nCall-ID: x5\r\n\r\n", "x5", ""},
		{"no blank line after headers (digium)", "INVITE sip:a@b SIP/2.0\nCall-ID: x8\nContent-Length: 0", "x8", ""},
		{"extra bytes after Content-Length body", "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x6\r\nContent-Length: 2\r\n\r\nhi there", "x6", "hi"},
		{"mixed CRLF and LF", "SIP/2.0 180 Ringing\nCall-ID: x7\r\nCSeq: 2 INVITE\n\r\n", "x7", ""},
	}
	var m Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Parse([]byte(tc.data), &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			eq(t, "CallID", m.CallID, tc.callID)
			eq(t, "Body", m.Body, tc.body)
		})
	}
}

// TestOutOfBounds: truncated and hostile inputs give an error or a result, never a panic.
func TestOutOfBounds(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr error
	}{
		{"empty", "", ErrNotSIP},
		{"only CRLF", "\r\n\r\n", ErrNotSIP},
		{"start line no LF", "INVITE sip:a@b SIP/2.0", ErrTruncated},
		{"status no LF", "SIP/2.0 200 OK", ErrTruncated},
		{"headers without blank line", "INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\n", nil},
		{"header cut", "INVITE sip:a@b SIP/2.0\r\nCall-I", nil},
		{"status code short", "SIP/2.0 20\r\n\r\n", ErrMalformed},
		{"status code letters", "SIP/2.0 2x0 OK\r\n\r\n", ErrMalformed},
		{"status 099", "SIP/2.0 099 x\r\n\r\n", ErrMalformed},
		{"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrNotSIP},
		{"binary", "\x80\x00\x01\x02\r\n\r\n", ErrNotSIP},
		{"method only", "INVITE\r\n\r\n", ErrNotSIP},
		{"no uri", "INVITE SIP/2.0\r\n\r\n", ErrMalformed},
		{"empty uri", "INVITE   SIP/2.0\r\n\r\n", ErrMalformed},
		{"colon first", "INFO a SIP/2.0\r\n: v\r\n\r\n", nil},
		{"fold first", "INFO a SIP/2.0\r\n folded\r\n\r\n", nil},
		{"via slash only", "INFO a SIP/2.0\r\nVia: SIP/\r\n\r\n", nil},
		{"via two slashes", "INFO a SIP/2.0\r\nVia: //\r\n\r\n", nil},
		{"from open angle", "INFO a SIP/2.0\r\nFrom: <sip:x\r\nTo: \"\r\n\r\n", nil},
		{"param at end", "INFO a SIP/2.0\r\nFrom: x;tag\r\nTo: x;tag=\r\nv: a/b/c d;branch=\"\r\n\r\n", nil},
		{"quote escape at end", "INFO a SIP/2.0\r\nContact: \"\\\r\n\r\n", nil},
		{"cseq only digits", "INFO a SIP/2.0\r\nCSeq: 12\r\n\r\n", nil},
		{"multipart no boundary", "INFO a SIP/2.0\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n", nil},
		{"multipart cut", "INFO a SIP/2.0\r\nContent-Type: multipart/mixed;boundary=x\r\n\r\n--x\r\nContent-Type: application/sdp", nil},
	}
	var m Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Parse([]byte(tc.data), &m)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			_ = m.SDP()
			_, _ = Q850Cause(m.Reason)
			_ = URIUser(m.FromURI)
			_, _ = FrameLength([]byte(tc.data))
			_ = Resync([]byte(tc.data))
			_ = Looks([]byte(tc.data))
		})
	}
	// Every prefix of every torture message.
	entries, _ := os.ReadDir(filepath.Join("testdata", "torture"))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sip") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "torture", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for i := range data {
			p := data[:i:i] // capacity limited: reading past len panics
			_ = Parse(p, &m)
			_ = m.SDP()
			FrameLength(p)
			Resync(p)
			Looks(p)
		}
	}
}

func TestTooManyHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString("OPTIONS sip:a@b SIP/2.0\r\n")
	for i := 0; i < MaxHeaders+10; i++ {
		b.WriteString("X-H: 1\r\n")
	}
	b.WriteString("Call-ID: late\r\n\r\n")
	var m Message
	err := Parse([]byte(b.String()), &m)
	if !errors.Is(err, ErrTooManyHeaders) {
		t.Fatalf("err = %v", err)
	}
	if len(m.Headers) != MaxHeaders || string(m.CallID) != "late" {
		t.Errorf("Headers %d CallID %q", len(m.Headers), m.CallID)
	}
}

func TestMultipartSDP(t *testing.T) {
	sdp := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	body := "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
		"\r\n--unique-boundary-1\r\nContent-Type: application/isup; version=itu-t92+\r\nContent-Disposition: signal; handling=optional\r\n\r\n\x01\x00\x49\x00\x00\r\n--unique-boundary-1--\r\n"
	bodyISUPFirst := "preamble\r\n--b2\r\ncontent-type: application/ISUP\r\n\r\n\x01\x02\r\n--b2\r\nContent-Type:application/SDP;charset=x\r\n\r\n" + sdp + "\r\n--b2--"
	tests := []struct {
		name, ct, body, want string
	}{
		{"sdp first", "multipart/mixed;boundary=unique-boundary-1", body, sdp},
		{"quoted boundary, sdp second", "Multipart/Mixed; boundary=\"b2\"", bodyISUPFirst, sdp},
		{"no sdp part", "multipart/mixed;boundary=zz", "--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n--zz--\r\n", ""},
		{"missing close delimiter", "multipart/mixed;boundary=zz", "--zz\r\nContent-Type: application/sdp\r\n\r\n" + sdp, sdp},
		{"plain sdp", "application/sdp", sdp, sdp},
		{"not sdp", "text/plain", sdp, ""},
	}
	var m Message
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte("INVITE sip:a@b SIP/2.0\r\nCall-ID: 1\r\nContent-Type: " + tc.ct + "\r\n\r\n" + tc.body)
			if err := Parse(data, &m); err != nil {
				t.Fatal(err)
			}
			if got := string(m.SDP()); got != tc.want {
				t.Errorf("SDP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQ850Cause(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		cause  int
		ok     bool
	}{
		{"simple", `Q.850;cause=16;text="Normal call clearing"`, 16, true},
		{"spaces and case", `q.850 ; CAUSE = 17 ; text="User busy"`, 17, true},
		{"second of two", `SIP;cause=200;text="Call completed elsewhere", Q.850;cause=31`, 31, true},
		{"comma in text", `SIP;cause=480;text="a, b", Q.850;cause=18`, 18, true},
		{"quoted cause", `Q.850;cause="34"`, 34, true},
		{"sip only", `SIP;cause=487`, 0, false},
		{"no cause", `Q.850;text="x"`, 0, false},
		{"bad number", `Q.850;cause=abc`, 0, false},
		{"empty", ``, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := Q850Cause([]byte(tc.reason))
			if c != tc.cause || ok != tc.ok {
				t.Errorf("Q850Cause(%q) = %d,%v want %d,%v", tc.reason, c, ok, tc.cause, tc.ok)
			}
		})
	}
}

func TestURIUserAndParam(t *testing.T) {
	users := []struct{ uri, want string }{
		{"sip:alice@atlanta.example.com", "alice"},
		{"sips:bob:secret@b.example.com:5061;transport=tls", "bob"},
		{"tel:+12125551212;phone-context=example.com", "+12125551212"},
		{"TEL:+358-555-1234567", "+358-555-1234567"},
		{"sip:example.com", ""},
		{"sip:@example.com", ""},
		{"<sip:carol@c.example.com>", "carol"},
		{"urn:service:sos", ""},
		{"", ""},
	}
	for _, tc := range users {
		t.Run("URIUser "+tc.uri, func(t *testing.T) { eq(t, "URIUser", URIUser([]byte(tc.uri)), tc.want) })
	}
	params := []struct{ value, name, want string }{
		{`<sip:a@b;tag=inuri>;tag=real`, "tag", "real"},
		{`sip:a@b;tag=x`, "tag", "x"},
		{`"x;tag=no" <sip:a@b>;TAG=yes`, "tag", "yes"},
		{`<sip:a@b>;lr;tag=1`, "lr", ""},
		{`<sip:a@b>;text="a;b";tag=2`, "text", `"a;b"`},
		{`<sip:a@b>;tag=2, <sip:c@d>;x=1`, "x", ""},
		{`<sip:a@b>;tags=1;tag=3`, "tag", "3"},
	}
	for _, tc := range params {
		t.Run("Param "+tc.value, func(t *testing.T) { eq(t, "Param", Param([]byte(tc.value), tc.name), tc.want) })
	}
	if Param([]byte(`<sip:a@b>;lr`), "lr") == nil {
		t.Errorf("valueless param reported absent")
	}
	if Param([]byte(`<sip:a@b;lr>`), "lr") != nil {
		t.Errorf("URI param reported as header param")
	}
}

func TestLooks(t *testing.T) {
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"invite", "INVITE sip:bob@biloxi.com SIP/2.0\r\n", true},
		{"response", "SIP/2.0 200 OK\r\n", true},
		{"response no reason", "SIP/2.0 100\r\n", true},
		{"lowercase", "options sip:x sip/2.0\r\n", true},
		{"leading crlf", "\r\nBYE sip:x SIP/2.0\r\n", true},
		{"no line end (datagram fragment)", "REGISTER sip:example.com SIP/2.0", true},
		{"http request", "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"http response", "HTTP/1.1 200 OK\r\n", false},
		{"sip version 3", "INVITE sip:x SIP/3.0\r\n", false},
		{"rtp", "\x80\x00\x12\x34\x00\x00\x00\xa0\xde\xad\xbe\xef" + strings.Repeat("\xff", 160), false},
		{"rtcp", "\x81\xc8\x00\x0c\xde\xad\xbe\xef\x00\x00\x00\x00\x00\x00\x00\x00", false},
		{"dns", "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01", false},
		{"stun", "\x00\x01\x00\x00\x21\x12\xa4\x42abcdefghijkl", false},
		{"keepalive", "\r\n\r\n", false},
		{"short", "SIP/2.0 200", true},
		{"status 000", "SIP/2.0 000 x\r\n", false},
		{"text", "hello world this is not SIP\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Looks([]byte(tc.data)); got != tc.want {
				t.Errorf("Looks = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFrameLength(t *testing.T) {
	msg1 := crlf("INVITE sip:bob@b SIP/2.0\nCall-ID: one\nContent-Type: application/sdp\nContent-Length: 5\n\nv=0\n")
	msg2 := crlf("SIP/2.0 200 OK\nCall-ID: two\nl: 3\n\nabc")
	msg3 := crlf("ACK sip:bob@b SIP/2.0\nCall-ID: three\n\n")
	stream := append(append(append([]byte{}, msg1...), msg2...), msg3...)
	var m Message

	t.Run("coalesced", func(t *testing.T) {
		data := stream
		var ids []string
		for len(data) > 0 {
			n, st := FrameLength(data)
			if st != FrameOK {
				t.Fatalf("status %v at %q", st, data)
			}
			if err := Parse(data[:n], &m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, string(m.CallID))
			data = data[n:]
		}
		if strings.Join(ids, ",") != "one,two,three" {
			t.Errorf("frames = %q", ids)
		}
	})
	t.Run("split at every byte", func(t *testing.T) {
		for cut := 0; cut < len(msg1); cut++ {
			n, st := FrameLength(msg1[:cut])
			if st != FrameNeedMore {
				t.Fatalf("cut %d: status %v n %d", cut, st, n)
			}
			if n != 0 && n != len(msg1) {
				t.Fatalf("cut %d: NeedMore with n %d, want 0 or %d", cut, n, len(msg1))
			}
		}
		if n, st := FrameLength(msg1); st != FrameOK || n != len(msg1) {
			t.Errorf("whole: %d %v", n, st)
		}
	})
	tests := []struct {
		name string
		data string
		n    int
		st   FrameStatus
	}{
		{"keepalive only", "\r\n\r\n", 0, FrameNeedMore},
		{"keepalive then message", "\r\n\r\n" + string(msg3), 4 + len(msg3), FrameOK},
		{"LF LF end", "OPTIONS sip:x SIP/2.0\nl: 2\n\nok", 30, FrameOK},
		{"compact l", "SIP/2.0 200 OK\r\nL : 4\r\n\r\nabcdEXTRA", 29, FrameOK},
		{"known length, body missing", "SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nab", 48, FrameNeedMore},
		{"not sip", "GET / HTTP/1.1\r\n\r\n", 0, FrameBad},
		{"binary", "\x16\x03\x01\x02\x00", 0, FrameBad},
		{"bad content-length", "SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n", 0, FrameBad},
		{"negative content-length", "SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n", 0, FrameBad},
		{"huge content-length", "SIP/2.0 200 OK\r\nContent-Length: 999999999999\r\n\r\n", 0, FrameBad},
		{"partial start line", "INVITE sip:bob@exam", 0, FrameNeedMore},
		{"partial binary start", "INV\x00", 0, FrameBad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, st := FrameLength([]byte(tc.data))
			if n != tc.n || st != tc.st {
				t.Errorf("FrameLength = %d,%v want %d,%v", n, st, tc.n, tc.st)
			}
		})
	}
	t.Run("header section too long", func(t *testing.T) {
		data := []byte("OPTIONS sip:x SIP/2.0\r\nX: " + strings.Repeat("a", MaxFrameHeader) + "\r\n")
		if _, st := FrameLength(data); st != FrameBad {
			t.Errorf("status %v", st)
		}
	})
	t.Run("dblreq torture", func(t *testing.T) {
		data := readTorture(t, "valid_dblreq")
		n, st := FrameLength(data)
		if st != FrameOK {
			t.Fatal(st)
		}
		rest := data[n:]
		k := SkipKeepAlive(rest)
		if k != 2 {
			t.Errorf("SkipKeepAlive = %d, want 2", k)
		}
		n2, st := FrameLength(rest[k:])
		if st != FrameOK || n2 != len(rest)-k {
			t.Errorf("second frame %d %v, want %d", n2, st, len(rest)-k)
		}
		if err := Parse(rest[k:k+n2], &m); err != nil || string(m.CallID) != "dblreq.0ha0isnda977644900765@192.0.2.15" {
			t.Errorf("second message: %v %q", err, m.CallID)
		}
	})
}

func TestResync(t *testing.T) {
	tests := []struct {
		name string
		data string
		want int
	}{
		{"after garbage", "garbage\r\nmore garbage\r\nBYE sip:x SIP/2.0\r\n", 23},
		{"mid body", "o=- 1 1 IN IP4 x\r\nSIP/2.0 200 OK\r\n", 18},
		{"partial last line", "junk\nINVITE sip:al", 5},
		{"binary partial last line", "junk\n\x00\x01", -1},
		{"none", "a\r\nb c d\r\n", -1},
		{"start line at 0 is skipped", "BYE sip:x SIP/2.0\r\nx\r\n", -1},
		{"empty", "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Resync([]byte(tc.data)); got != tc.want {
				t.Errorf("Resync = %d, want %d", got, tc.want)
			}
		})
	}
}

// invite is a realistic ~900-byte INVITE with SDP, as sent by a desk phone.
var invite = crlf(`INVITE sip:+14155550123@sip.carrier.example.net;user=phone SIP/2.0
Via: SIP/2.0/UDP 198.51.100.23:5060;branch=z9hG4bK-524287-1---4c3a9f1e2b8d7c60;rport
Max-Forwards: 70
Contact: <sip:2001@198.51.100.23:5060;transport=udp>
To: <sip:+14155550123@sip.carrier.example.net;user=phone>
From: "Front Desk" <sip:2001@pbx.example.org>;tag=8f3a1c2e
Call-ID: 5f6d2c1a9e8b7f40NjQ3ZDBkY2M4Yjc1MmRjZGU4NTA5ZTM5ZDU2NTZjNjM
CSeq: 1 INVITE
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE
Content-Type: application/sdp
Supported: replaces, timer, outbound
User-Agent: Yealink SIP-T46S 66.86.0.15
Session-Expires: 1800;refresher=uac
Content-Length: 000

v=0
o=- 20518 0 IN IP4 198.51.100.23
s=SDP data
c=IN IP4 198.51.100.23
t=0 0
m=audio 11780 RTP/AVP 0 8 9 18 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
`)

func init() {
	// Fix up Content-Length for the SDP above.
	i := bytes.Index(invite, []byte("\r\n\r\n")) + 4
	invite = bytes.Replace(invite, []byte("Content-Length: 000"), []byte("Content-Length: "+itoa(len(invite)-i)), 1)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestInviteFixture(t *testing.T) {
	var m Message
	if err := Parse(invite, &m); err != nil {
		t.Fatal(err)
	}
	if len(invite) < 850 || len(invite) > 1100 {
		t.Errorf("fixture is %d bytes", len(invite))
	}
	eq(t, "ToUser", m.ToUser, "+14155550123")
	eq(t, "FromUser", m.FromUser, "2001")
	eq(t, "UserAgent", m.UserAgent, "Yealink SIP-T46S 66.86.0.15")
	eq(t, "ViaSentBy", m.ViaSentBy, "198.51.100.23:5060")
	if !bytes.HasPrefix(m.SDP(), []byte("v=0\r\n")) || !bytes.HasSuffix(m.SDP(), []byte("a=sendrecv\r\n")) {
		t.Errorf("SDP = %q", m.SDP())
	}
}

func TestZeroAllocs(t *testing.T) {
	var m Message
	reason := []byte(`SIP;cause=200, Q.850;cause=16;text="x"`)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Parse", func() { _ = Parse(invite, &m) }},
		{"Get", func() { _ = m.Get("session-expires"); _ = m.Get("i") }},
		{"Each", func() { m.Each("allow", func([]byte) bool { return true }) }},
		{"SDP", func() { _ = m.SDP() }},
		{"Looks", func() { _ = Looks(invite) }},
		{"FrameLength", func() { _, _ = FrameLength(invite) }},
		{"Q850Cause", func() { _, _ = Q850Cause(reason) }},
	}
	_ = Parse(invite, &m)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
				t.Errorf("%v allocs per run, want 0", n)
			}
		})
	}
}

func BenchmarkParseINVITE(b *testing.B) {
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(invite)))
	for b.Loop() {
		if err := Parse(invite, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLooks(b *testing.B) {
	rtp := append([]byte{0x80, 0x00, 0x12, 0x34, 0, 0, 0, 0xa0, 0xde, 0xad, 0xbe, 0xef}, make([]byte, 160)...)
	for _, bc := range []struct {
		name string
		data []byte
	}{{"SIP", invite}, {"RTP", rtp}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				Looks(bc.data)
			}
		})
	}
}

func BenchmarkFrameLength(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(invite)))
	for b.Loop() {
		FrameLength(invite)
	}
}
