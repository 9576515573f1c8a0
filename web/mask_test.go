package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// The phone numbers of the masking test. Each is written into the messages below in
// every place we know numbers travel; the test then asserts that no digit run of three
// or more of any of them is readable by a masked viewer. They are chosen so that no
// three-digit window of them equals a port, an address octet, a Content-Length or a
// status code of the messages (checked by TestMaskingFixtureIsFair), so a hit is a leak.
var maskNumbers = []string{
	"4915177733991", // caller (From, display name, Contact, PAI, o=, Call-ID)
	"3022889944",    // callee (Request-URI, To, s=, p=)
	"4989665577",    // Diversion
	"4940778866",    // P-Asserted-Identity of the callee side
	"4969887755",    // Remote-Party-ID
	"7294836",       // DTMF typed (INFO bodies and RFC 4733 events)
	"4962119933",    // User-Agent / Server
	"4977711133",    // REFER target (transferred_to)
	"4933388811",    // reason phrase
	"4971155224411", // registration AOR and Contact
	"4955511177",    // an unknown X- header
	"4948822266",    // History-Info, P-Preferred-Identity, Subject
}

const (
	maskCallUID = "abcdefabcdefabcd" // no digits: the stable ID is a hash, not a number
	maskCallID  = "4915177733991-ab@10.1.1.1"
)

func sipMsg(lines ...string) []byte {
	head, body, _ := strings.Cut(strings.Join(lines, "\r\n"), "\r\n\r\n")
	if body != "" {
		head += "\r\nContent-Length: " + strconv.Itoa(len(body))
	} else {
		head += "\r\nContent-Length: 0"
	}
	return []byte(head + "\r\n\r\n" + body)
}

func maskRecord(start int64) *correlate.Record {
	caller := netip.MustParseAddrPort("10.1.1.1:5060")
	callee := netip.MustParseAddrPort("10.2.2.2:5060")
	sdp := func(user, sess string) string {
		return "v=0\r\no=" + user + " 5151 2323 IN IP4 10.1.1.1\r\ns=call " + sess + "\r\n" +
			"i=from " + user + "\r\nu=sip:" + user + "@example.com\r\ne=" + user + "@example.com\r\np=+49 30 22889944\r\n" +
			"c=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n" +
			"a=X-caller:" + user + "\r\na=sendrecv\r\n"
	}
	common := []string{
		"Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKab;rport",
		`From: "Max 4915177733991" <sip:+4915177733991@example.com>;tag=ab`,
		`To: Bob 3022889944 <tel:+49-30-22889944>`,
		"Call-ID: " + maskCallID,
	}
	msgs := [][]byte{
		sipMsg(append([]string{"INVITE sip:3022889944@10.2.2.2 SIP/2.0"}, append(common,
			"CSeq: 1 INVITE",
			"Contact: <sip:4915177733991@10.1.1.1:5060>",
			"P-Asserted-Identity: <sip:+4915177733991@example.com>, <tel:+4915177733991>",
			"P-Preferred-Identity: \"Pref\" <sip:4948822266@example.com>",
			`Remote-Party-ID: "RPID" <sip:4969887755@example.com>;party=calling;screen=yes`,
			"Diversion: <sip:4989665577@example.com>;reason=unconditional;counter=1",
			"History-Info: <sip:4948822266@example.com?Reason=SIP%3Bcause%3D486>;index=1",
			"Subject: call from 4948822266",
			"X-Original-Caller: 4955511177",
			"User-Agent: Yealink SIP-T46S 66.86.0.15 ext 4962119933",
			"Content-Type: application/sdp",
			"",
			sdp("4915177733991", "3022889944"))...)...),
		sipMsg("SIP/2.0 180 Ringing", common[0], common[1], common[2]+";tag=cd", common[3], "CSeq: 1 INVITE",
			"Server: PBX 4962119933", "P-Asserted-Identity: <sip:4940778866@example.com>"),
		sipMsg(append([]string{"SIP/2.0 200 OK"}, common[0], common[1], common[2]+";tag=cd", common[3], "CSeq: 1 INVITE",
			"Contact: <sip:3022889944@10.2.2.2:5060>", "Content-Type: application/sdp", "", sdp("3022889944", "4940778866"))...),
	}
	for i, d := range "7294836" {
		msgs = append(msgs, sipMsg("INFO sip:3022889944@10.2.2.2:5060 SIP/2.0", common[0], common[1], common[2]+";tag=cd", common[3],
			"CSeq: "+strconv.Itoa(2+i)+" INFO", "Content-Type: application/dtmf-relay", "", "Signal="+string(d)+"\r\nDuration=160\r\n"))
	}
	msgs = append(msgs,
		sipMsg("REFER sip:3022889944@10.2.2.2:5060 SIP/2.0", common[0], common[1], common[2]+";tag=cd", common[3], "CSeq: 10 REFER",
			"Refer-To: <sip:4977711133@example.com>", "Referred-By: <sip:4915177733991@example.com>"),
		sipMsg("SIP/2.0 480 Number 4933388811 moved", common[0], common[1], common[2]+";tag=cd", common[3], "CSeq: 11 BYE"))

	rec := &correlate.Record{LinkKeys: []string{"cid:" + maskCallID}}
	for i, raw := range msgs {
		src, dst := caller, callee
		if strings.HasPrefix(string(raw), "SIP/2.0") {
			src, dst = callee, caller
		}
		req := !strings.HasPrefix(string(raw), "SIP/2.0")
		m := correlate.Message{TS: start + int64(i)*1e8, Src: src, Dst: dst, Transport: "udp", Request: req, Raw: raw, Frame: raw, LinkType: 1}
		if req {
			m.Method, _, _ = strings.Cut(string(raw), " ")
		} else {
			m.Status, _ = strconv.Atoi(string(raw[8:11]))
		}
		rec.Messages = append(rec.Messages, m)
	}
	to := "sip:4977711133@example.com"
	dur := 5000.0
	ua := "Yealink SIP-T46S 66.86.0.15 ext 4962119933"
	rec.Call = correlate.Call{
		ID: maskCallUID, CallID: maskCallID,
		From: `"Max 4915177733991" <sip:+4915177733991@example.com>;tag=ab`, To: `Bob 3022889944 <tel:+49-30-22889944>`,
		FromUser: "+4915177733991", ToUser: "3022889944", Caller: caller.String(), Callee: callee.String(),
		Transport: "udp", State: "failed", FinalCode: 480, FinalReason: "Number 4933388811 moved",
		Start: correlate.Time(start), End: correlate.Time(start + 5e9), DurationMs: &dur,
		EndReason: "final_response", SIPMessages: len(msgs),
		LinkedCallIDs: []string{"4989665577-leg@10.3.3.3"}, TransferredTo: &to,
		UserAgents: []string{ua, "PBX 4962119933"}, DTMF: "7294836",
		Streams: []correlate.Stream{{
			SSRC: "0xDEADBEEF", Src: "10.1.1.1:40000", Dst: "10.2.2.2:40002", Codec: "PCMU", ClockRate: 8000,
			First: correlate.Time(start), Last: correlate.Time(start + 4e9), Packets: 200, Expected: 200, DTMF: "7294836",
			Intervals: []correlate.Interval{}, Problems: []string{},
			DTMFEvents: []correlate.DTMFEvent{{Digit: "7", Start: correlate.Time(start + 1e9), DurationMs: 100}, {Digit: "2", Start: correlate.Time(start + 2e9), DurationMs: 100}},
		}},
	}
	return rec
}

type fixedLive []correlate.Call

func (l fixedLive) ActiveCalls() []correlate.Call { return append([]correlate.Call(nil), l...) }

// digitRuns returns the maximal runs of three or more ASCII digits of s.
var digitRun = regexp.MustCompile(`[0-9]{3,}`)

// leaks names the digit runs of s that are part of one of the test's numbers.
func leaks(s string) []string {
	var out []string
	for _, r := range digitRun.FindAllString(s, -1) {
		for _, n := range maskNumbers {
			if strings.Contains(n, r) {
				out = append(out, r+" (of "+n+")")
				break
			}
		}
	}
	return out
}

// TestMaskingFixtureIsFair checks the unmasked API shows every number (so the masked
// test can fail) and that nothing else in the answers collides with them.
func TestMaskingFixtureIsFair(t *testing.T) {
	h, _ := maskHandler(t, Config{})
	c := &client{t: t, h: h}
	body := c.do("GET", "/api/v1/calls/"+maskCallUID+"/ladder", nil).Body.String() +
		c.do("GET", "/api/v1/calls/"+maskCallUID, nil).Body.String() +
		c.do("GET", "/api/v1/registrations", nil).Body.String()
	for _, n := range maskNumbers {
		if !strings.Contains(body, n) && !strings.Contains(strings.ReplaceAll(body, "-", ""), n) {
			t.Errorf("unmasked answers never show %s: the fixture does not exercise it", n)
		}
	}
	// Numbers aside, the digit runs of the answers (ports, octets, lengths, times) must
	// not look like parts of the numbers.
	rest := body
	for _, n := range maskNumbers {
		rest = strings.ReplaceAll(rest, n, "")
	}
	rest = strings.ReplaceAll(rest, "+49-30-22889944", "")
	rest = strings.ReplaceAll(rest, "+49 30 22889944", "")
	if l := leaks(rest); len(l) > 0 {
		t.Fatalf("unfair fixture: digit runs %v appear outside the numbers", l)
	}
}

func maskHandler(t *testing.T, cfg Config) (http.Handler, *prometheus.Registry) {
	t.Helper()
	st := openDuck(t)
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	rec := maskRecord(start)
	if err := st.WriteCalls(ctx, []*correlate.Record{rec}); err != nil {
		t.Fatal(err)
	}
	exp := 3600
	if err := st.WriteRegistrations(ctx, []correlate.Registration{{
		AOR: "sip:4971155224411@reg.example.com", Contact: `"Desk 4971155224411" <sip:4971155224411@10.1.1.9:5060>;expires=3600`,
		Source: "10.1.1.9:5060", Expires: &exp, Outcome: "registered", FinalCode: 200, Time: correlate.Time(start), CallID: "reg-4971155224411@10.1.1.9",
	}}); err != nil {
		t.Fatal(err)
	}
	live := rec.Call
	live.ID, live.State = "fedcbafedcbafedc", "in_progress"
	reg := prometheus.NewRegistry()
	cfg.KeepRTP = "headers"
	return New(cfg, st, fixedLive{live}, reg), reg
}

// TestMaskingHolds: a masked viewer (the viewer-masked role, or anyone under
// --mask-numbers) reads every endpoint; no digit run of three or more of any number fed
// in (see maskNumbers) may survive, DTMF digits are hidden, number search is refused and
// pcap export forbidden. The expectation is the input: the numbers we wrote.
func TestMaskingHolds(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, mode := range []struct {
		name string
		cfg  Config
		auth func(*http.Request)
	}{
		{"viewer-masked", Config{RequireLogin: true, Users: []User{{Name: "noc", PasswordHash: string(hash), Role: RoleViewerMasked}},
			Tokens: []Token{{Name: "m", SHA256: HashToken("tok-m"), Role: RoleViewerMasked}}},
			func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-m") }},
		{"mask-numbers", Config{MaskNumbers: true}, nil},
	} {
		t.Run(mode.name, func(t *testing.T) {
			h, _ := maskHandler(t, mode.cfg)
			c := &client{t: t, h: h, auth: mode.auth}
			read := func(path string, want int) string {
				t.Helper()
				rec := c.do("GET", path, nil)
				if rec.Code != want {
					t.Fatalf("GET %s: %d, want %d: %.300s", path, rec.Code, want, rec.Body.String())
				}
				body := rec.Body.String()
				if path == "/metrics" {
					// Sample values are measurements (durations, counts), random digits that
					// are not text a viewer was given; names, labels and help are.
					var b strings.Builder
					for _, line := range strings.Split(body, "\n") {
						if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
							line = line[:i]
						}
						b.WriteString(line + "\n")
					}
					body = b.String()
				}
				if l := leaks(body); len(l) > 0 {
					t.Errorf("GET %s leaks %v:\n%.3000s", path, l, rec.Body.String())
				}
				return rec.Body.String()
			}
			lad := read("/api/v1/calls/"+maskCallUID+"/ladder?linked=1", 200)
			read("/api/v1/calls/"+maskCallUID, 200)
			read("/api/v1/calls?limit=10", 200)
			read("/api/v1/active", 200)
			read("/api/v1/registrations", 200)
			read("/api/v1/top?by=destination&from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z", 200)
			read("/api/v1/stats?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z&step=1h", 200)
			read("/api/v1/me", 200)
			read("/metrics", 200)
			// Search by number or AOR would answer "a call with this number exists": refused.
			read("/api/v1/calls?number=4915177733991", http.StatusForbidden)
			read("/api/v1/calls?number=177", http.StatusForbidden)
			read("/api/v1/active?number=4915177733991", http.StatusForbidden)
			read("/api/v1/registrations?aor=4971155224411", http.StatusForbidden)
			read("/api/v1/calls?call_id="+maskCallID, http.StatusForbidden)
			read("/api/v1/calls/"+maskCallUID+"/pcap", http.StatusForbidden)
			read("/api/v1/calls/"+maskCallUID+"/audio?stream=mix", http.StatusForbidden)
			read("/api/v1/calls/pcap", http.StatusForbidden)
			read("/metrics", 200) // after the refused searches: no number became a label

			// DTMF: every key hidden, not only the runs of three (INFO Signal= carries one key).
			var l Ladder
			if err := json.Unmarshal([]byte(lad), &l); err != nil {
				t.Fatal(err)
			}
			infos := 0
			for _, m := range l.Messages {
				if m.Method == "INFO" {
					infos++
					if regexp.MustCompile(`Signal=[0-9]`).MatchString(m.Raw) {
						t.Errorf("INFO body shows the key: %q", m.Raw)
					}
				}
			}
			if infos != 7 {
				t.Fatalf("ladder has %d INFO messages, fed 7", infos)
			}
			var cl correlate.Call
			c.getJSON("/api/v1/calls/"+maskCallUID, 200, &cl)
			if strings.ContainsAny(cl.DTMF, "0123456789") || strings.ContainsAny(cl.Streams[0].DTMF, "0123456789") ||
				strings.ContainsAny(cl.Streams[0].DTMFEvents[0].Digit, "0123456789") {
				t.Errorf("DTMF readable: %q %q %+v", cl.DTMF, cl.Streams[0].DTMF, cl.Streams[0].DTMFEvents)
			}
			// What masking must keep: addresses, ports, status codes, the SDP media line.
			for _, keep := range []string{"10.1.1.1:5060", "SIP/2.0 180 Ringing", "m=audio 40000 RTP/AVP 0 101", "c=IN IP4 10.1.1.1", "CSeq: 1 INVITE"} {
				if !strings.Contains(lad, keep) {
					t.Errorf("masking destroyed %q", keep)
				}
			}
			if cl.Caller != "10.1.1.1:5060" || cl.Streams[0].Src != "10.1.1.1:40000" || cl.ToUser != "xxxxxxxx44" {
				t.Errorf("masked call: caller %s src %s to_user %s", cl.Caller, cl.Streams[0].Src, cl.ToUser)
			}
		})
	}
}
