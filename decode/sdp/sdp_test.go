package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// offer is a realistic audio+video offer (RFC 4317 style) with the attributes we read.
var offer = []byte(strings.ReplaceAll(`v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=-
c=IN IP4 192.0.2.10
t=0 0
a=sendrecv
m=audio 49170 RTP/AVP 0 8 97 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
a=fmtp:101 0-16
a=rtpmap:101 telephone-event/8000
a=ptime:20
a=rtcp:49171 IN IP4 192.0.2.11
m=video 51372/2 RTP/AVP 31 32 96
c=IN IP6 2001:db8::2
a=rtpmap:96 H264/90000
a=recvonly
a=rtcp-mux
m=application 9 UDP/BFCP *
`, "\n", "\r\n"))

func TestParseOffer(t *testing.T) {
	var s Session
	if err := Parse(offer, &s); err != nil {
		t.Fatal(err)
	}
	if s.SessionID != 2890844526 || s.Version != 2890844527 {
		t.Errorf("SessionID %d Version %d", s.SessionID, s.Version)
	}
	if s.OriginAddr.IsValid() {
		t.Errorf("hostname origin parsed as %v", s.OriginAddr)
	}
	if s.Addr != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("session Addr %v", s.Addr)
	}
	if len(s.Media) != 3 {
		t.Fatalf("media %d", len(s.Media))
	}
	a, v, app := &s.Media[0], &s.Media[1], &s.Media[2]
	tests := []struct {
		name      string
		got, want any
	}{
		{"audio type", string(a.Type), "audio"},
		{"audio port", a.Port, uint16(49170)},
		{"audio numports", a.NumPorts, 1},
		{"audio proto", string(a.Proto), "RTP/AVP"},
		{"audio formats", string(a.Formats), string([]byte{0, 8, 97, 101})},
		{"audio addr from session", a.Addr, netip.MustParseAddr("192.0.2.10")},
		{"audio rtcp port", a.RTCPPort, uint16(49171)},
		{"audio rtcp addr", a.RTCPAddr, netip.MustParseAddr("192.0.2.11")},
		{"audio direction from session", a.Direction, DirSendRecv},
		{"audio ptime", a.Ptime, 20},
		{"audio rtpmaps", len(a.RTPMaps), 4},
		{"telephone-event PT", a.TelephoneEventPT, 101},
		{"telephone-event fmtp (before rtpmap)", string(a.TelephoneEventFmtp), "0-16"},
		{"iLBC clock", a.ClockRate(97), uint32(8000)},
		{"iLBC name", string(a.Encoding(97)), "iLBC"},
		{"static PCMU name", string(a.Encoding(0)), "PCMU"},
		{"static G722 clock without rtpmap", a.ClockRate(9), uint32(8000)},
		{"unknown dynamic", a.ClockRate(120), uint32(0)},
		{"video port", v.Port, uint16(51372)},
		{"video numports", v.NumPorts, 2},
		{"video addr media-level IP6", v.Addr, netip.MustParseAddr("2001:db8::2")},
		{"video direction", v.Direction, DirRecvOnly},
		{"video rtcp-mux", v.RTCPMux, true},
		{"video H264 clock", v.ClockRate(96), uint32(90000)},
		{"video static H261", v.ClockRate(31), uint32(90000)},
		{"video telephone-event", v.TelephoneEventPT, -1},
		{"app non-numeric formats skipped", len(app.Formats), 0},
		{"app port", app.Port, uint16(9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestLenientAndHold(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, s *Session)
	}{
		{"LF only, no v= s= t=", "c=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 18\n", func(t *testing.T, s *Session) {
			if len(s.Media) != 1 || s.Media[0].Addr != netip.MustParseAddr("10.0.0.1") || s.Media[0].Port != 4000 {
				t.Errorf("%+v", s.Media)
			}
		}},
		{"hold 0.0.0.0 kept", "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n", func(t *testing.T, s *Session) {
			m := s.Media[0]
			if m.Addr != netip.IPv4Unspecified() || m.Direction != DirSendOnly {
				t.Errorf("addr %v dir %v", m.Addr, m.Direction)
			}
		}},
		{"multicast ttl form", "v=0\r\nc=IN IP4 224.2.1.1/127/3\r\nm=audio 4000/2 RTP/AVP 0\r\n", func(t *testing.T, s *Session) {
			if s.Addr != netip.MustParseAddr("224.2.1.1") || s.Media[0].NumPorts != 2 {
				t.Errorf("addr %v", s.Addr)
			}
		}},
		{"session inactive inherited", "v=0\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\na=sendrecv\r\n", func(t *testing.T, s *Session) {
			if s.Direction != DirInactive || s.Media[0].Direction != DirInactive || s.Media[1].Direction != DirSendRecv {
				t.Errorf("%v %v %v", s.Direction, s.Media[0].Direction, s.Media[1].Direction)
			}
		}},
		{"hostname connection", "v=0\r\nc=IN IP4 media.example.com\r\nm=audio 1 RTP/AVP 0\r\n", func(t *testing.T, s *Session) {
			if s.Media[0].Addr.IsValid() {
				t.Errorf("hostname parsed as %v", s.Media[0].Addr)
			}
		}},
		{"spaces and odd case", "  v=0\r\nm=audio  5004   RTP/AVP   0  101 \r\na=RTPMAP:101 Telephone-Event/8000\r\na=FMTP:101 0-15\r\na=ptime:30.0\r\n", func(t *testing.T, s *Session) {
			m := s.Media[0]
			if m.Port != 5004 || len(m.Formats) != 2 || m.TelephoneEventPT != 101 || string(m.TelephoneEventFmtp) != "0-15" || m.Ptime != 30 {
				t.Errorf("%+v", m)
			}
		}},
		{"T.38 image", "v=0\r\nc=IN IP4 10.1.1.1\r\nm=image 6012 udptl t38\r\na=T38FaxVersion:0\r\n", func(t *testing.T, s *Session) {
			m := s.Media[0]
			if string(m.Type) != "image" || string(m.Proto) != "udptl" || len(m.Formats) != 0 || m.Port != 6012 {
				t.Errorf("%+v", m)
			}
		}},
		{"too many media", strings.Repeat("m=audio 1 RTP/AVP 0\r\na=sendonly\r\n", MaxMedia+2), func(t *testing.T, s *Session) {
			if len(s.Media) != MaxMedia || s.Dropped != 2 || s.Direction != DirSendRecv {
				t.Errorf("media %d dropped %d dir %v", len(s.Media), s.Dropped, s.Direction)
			}
		}},
		{"rtcp port only", "v=0\r\nm=audio 5000 RTP/AVP 0\r\na=rtcp:5005\r\n", func(t *testing.T, s *Session) {
			if s.Media[0].RTCPPort != 5005 || s.Media[0].RTCPAddr.IsValid() {
				t.Errorf("%+v", s.Media[0])
			}
		}},
	}
	var s Session
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Parse([]byte(tc.body), &s); err != nil {
				t.Fatal(err)
			}
			tc.check(t, &s)
		})
	}
}

func TestOutOfBounds(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr error
	}{
		{"empty", "", ErrNotSDP},
		{"not sdp", "Hello world\r\n", ErrNotSDP},
		{"bare m=", "m=", nil},
		{"m= only type", "m=audio", nil},
		{"port overflow", "m=audio 99999 RTP/AVP 0", nil},
		{"pt overflow", "m=audio 1 RTP/AVP 300 -1 0x1", nil},
		{"c= short", "c=IN", nil},
		{"o= short", "o=x", nil},
		{"rtpmap garbage", "m=audio 1 RTP/AVP 0\na=rtpmap:\na=rtpmap:999 x/1\na=rtpmap:5 /\na=rtpmap:6 a/b/c\na=fmtp:", nil},
		{"huge numbers", "o=x 999999999999999999999 1 IN IP4 1.1.1.1\nm=audio 1/99999999999999999999 RTP/AVP 0", nil},
		{"rtcp garbage", "m=audio 1 RTP/AVP 0\na=rtcp:\na=rtcp:x IN\na=ptime:", nil},
		{"telephone-event without fmtp", "m=audio 1 RTP/AVP 101\na=rtpmap:101 telephone-event/8000", nil},
	}
	var s Session
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Parse([]byte(tc.body), &s); !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	for i := range offer {
		_ = Parse(offer[:i:i], &s)
	}
}

func TestParseAddr(t *testing.T) {
	tests := []string{
		"192.0.2.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4",
		"1..2.3", "::", "::1", "2001:db8::2", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
		"::ffff:192.0.2.1", "1::2::3", ":1", "1:", "1:2:3:4:5:6:7::", "::1.2.3.4", "12345::",
		"2001:DB8::AbCd", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "", "x", "fe80::1%eth0",
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			got, ok := ParseAddr([]byte(in))
			want, err := netip.ParseAddr(in)
			if strings.Contains(in, "%") { // zones are not media addresses
				if ok {
					t.Errorf("zone accepted")
				}
				return
			}
			if ok != (err == nil) || ok && got != want {
				t.Errorf("ParseAddr = %v,%v; netip says %v,%v", got, ok, want, err)
			}
		})
	}
}

func TestStaticPayload(t *testing.T) {
	// RFC 3551 §6, tables 4 and 5.
	tests := []struct {
		pt   uint8
		name string
		rate uint32
		ok   bool
	}{
		{0, "PCMU", 8000, true}, {3, "GSM", 8000, true}, {6, "DVI4", 16000, true},
		{8, "PCMA", 8000, true}, {9, "G722", 8000, true}, {10, "L16", 44100, true},
		{13, "CN", 8000, true}, {14, "MPA", 90000, true}, {16, "DVI4", 11025, true},
		{17, "DVI4", 22050, true}, {18, "G729", 8000, true}, {26, "JPEG", 90000, true},
		{34, "H263", 90000, true}, {1, "", 0, false}, {2, "", 0, false}, {19, "", 0, false},
		{35, "", 0, false}, {96, "", 0, false}, {255, "", 0, false},
	}
	for _, tc := range tests {
		name, rate, ok := StaticPayload(tc.pt)
		if name != tc.name || rate != tc.rate || ok != tc.ok {
			t.Errorf("StaticPayload(%d) = %q,%d,%v", tc.pt, name, rate, ok)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	var s Session
	v6 := []byte("v=0\r\nc=IN IP6 2001:db8::1\r\nm=audio 1 RTP/AVP 0\r\n")
	for _, tc := range []struct {
		name string
		body []byte
	}{{"offer", offer}, {"ipv6", v6}} {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, func() { _ = Parse(tc.body, &s) }); n != 0 {
				t.Errorf("%v allocs", n)
			}
		})
	}
	_ = Parse(offer, &s)
	if n := testing.AllocsPerRun(100, func() { _ = s.Media[0].Encoding(0); _ = s.Media[0].ClockRate(97) }); n != 0 {
		t.Errorf("Encoding/ClockRate: %v allocs", n)
	}
}

func BenchmarkParseSDP(b *testing.B) {
	var s Session
	b.ReportAllocs()
	b.SetBytes(int64(len(offer)))
	for b.Loop() {
		if err := Parse(offer, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseSDP checks Parse never panics, respects its limits, and that ParseAddr agrees
// with netip.ParseAddr on every input.
func FuzzParseSDP(f *testing.F) {
	f.Add(offer)
	f.Add([]byte("c=IN IP6 ::ffff:1.2.3.4\nm=audio 1/2 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000/1\na=fmtp:101 0-15"))
	var s Session
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Parse(data, &s)
		if len(s.Media) > MaxMedia {
			t.Fatalf("media %d", len(s.Media))
		}
		for i := range s.Media {
			m := &s.Media[i]
			if len(m.Formats) > MaxFormats || len(m.RTPMaps) > MaxRTPMaps {
				t.Fatal("limits exceeded")
			}
			for _, pt := range m.Formats {
				_ = m.ClockRate(pt)
				_ = m.Encoding(pt)
			}
		}
		if len(data) < 64 && !strings.ContainsRune(string(data), '%') {
			got, ok := ParseAddr(data)
			want, err := netip.ParseAddr(string(data))
			if ok != (err == nil) || ok && got != want {
				t.Fatalf("ParseAddr(%q) = %v,%v; netip %v,%v", data, got, ok, want, err)
			}
		}
	})
}
