package gen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// BurstSpec is a run of out-of-dialog SIP requests from one source, the traffic of an
// attack: a scanner probing users, a brute force against a registrar, a flood. Every
// request is its own transaction (new Call-ID, CSeq 1, a branch of its own, no To tag);
// responses, when Answers is set, come back 10 ms later.
type BurstSpec struct {
	Method   string         // OPTIONS, REGISTER or INVITE
	Source   netip.AddrPort // the sender
	Target   netip.AddrPort // the server it probes
	Count    int            // requests
	Start    time.Duration
	Interval time.Duration // between requests (default 10 ms)
	// Users is how many distinct To users the requests cycle through (default 1):
	// request i is for user "1000"+i%Users.
	Users int
	// UserAgent of every request (default callscope-gen/1.0).
	UserAgent string
	// Credentials puts an Authorization header (Digest, a guessed password) in every
	// request.
	Credentials bool
	// Answers are the response codes cycled through, one response per request; none
	// when empty.
	Answers []int
}

// burstEvents builds the messages of one burst.
func burstEvents(sc *Scenario, b *BurstSpec, idx int, rng *rand.Rand) []event {
	users, every := max(b.Users, 1), b.Interval
	if every <= 0 {
		every = 10 * time.Millisecond
	}
	ua := b.UserAgent
	if ua == "" {
		ua = "callscope-gen/1.0"
	}
	var msgs []sipMsg
	for i := range b.Count {
		t := b.Start + time.Duration(i)*every
		user := strconv.Itoa(1000 + i%users)
		cid := fmt.Sprintf("burst-%d-%d-%s@%s", idx, i, randHex(rng, 8), b.Source.Addr())
		via := "SIP/2.0/" + viaProto(sc.Transport) + " " + hostport(b.Source) + ";branch=z9hG4bK" + randHex(rng, 16) + ";rport"
		from := "<sip:" + user + "@" + host(b.Target) + ">;tag=" + randHex(rng, 10)
		to := "<sip:" + user + "@" + host(b.Target) + ">"
		ruri := "sip:" + user + "@" + host(b.Target)
		if b.Method == "REGISTER" {
			ruri = "sip:" + host(b.Target)
		}
		var m msgBuilder
		m.line(b.Method, " ", ruri, " SIP/2.0")
		m.line("Via: ", via)
		m.line("Max-Forwards: 70")
		m.line("From: ", from)
		m.line("To: ", to)
		m.line("Call-ID: ", cid)
		m.line("CSeq: 1 ", b.Method)
		m.line("Contact: <sip:", user, "@", hostport(b.Source), ">")
		if b.Credentials {
			m.line(`Authorization: Digest username="`, user, `", realm="callscope.test", nonce="`, randHex(rng, 32),
				`", uri="`, ruri, `", response="`, randHex(rng, 32), `", algorithm=MD5`)
		}
		m.line("User-Agent: ", ua)
		msgs = append(msgs, sipMsg{t, b.Source, b.Target, m.finish("", nil)})
		if len(b.Answers) == 0 {
			continue
		}
		code := b.Answers[i%len(b.Answers)]
		var r msgBuilder
		r.line("SIP/2.0 ", strconv.Itoa(code), " ", reason(code))
		r.line("Via: ", via)
		r.line("From: ", from)
		r.line("To: ", to, ";tag=", randHex(rng, 10))
		r.line("Call-ID: ", cid)
		r.line("CSeq: 1 ", b.Method)
		if code == 401 {
			r.line(`WWW-Authenticate: Digest realm="callscope.test", nonce="`, randHex(rng, 32), `", algorithm=MD5`)
		}
		r.line("Server: callscope-gen/1.0")
		msgs = append(msgs, sipMsg{t + 10*time.Millisecond, b.Target, b.Source, r.finish("", nil)})
	}
	return transportEvents(sc, msgs, rng)
}

// Security scenarios: each rule of package security fired once (the documented default
// thresholds: security.DefaultConfig) and missed once by one request or call less.
// Sources are in 203.0.113.0/24 (TEST-NET-3), the attacked servers in 10.0.0.0/8.
const (
	// ScanUsers is security.Config.Scanner.DistinctUsers: OPTIONS from one source to this
	// many distinct users in a window raise scanner/many_users.
	ScanUsers = 20
	// BruteFailures is BruteForce.SourceFailures: failed authentications from one source
	// in a window raise brute_force/source_failures.
	BruteFailures = 10
	// FloodRequests is Flood.Options: OPTIONS from one source in a window raise
	// flood/options_rate.
	FloodRequests = 3000
	// WangiriCalls is TollFraud.ShortCalls: answered calls under 3 s from one caller IP
	// to as many distinct users in a window raise toll_fraud/short_calls.
	WangiriCalls = 10
)

func securityScenarios() []Scenario {
	burst := func(name string, b BurstSpec) Scenario {
		return one(name, func(s *Scenario) { s.Calls, s.Bursts = nil, []BurstSpec{b} })
	}
	scan := func(n int) BurstSpec { // one OPTIONS per user, 50 ms apart, unanswered
		return BurstSpec{Method: "OPTIONS", Source: ap("203.0.113.66:5070"), Target: ap("10.0.0.1:5060"),
			Count: n, Users: n, Interval: 50 * time.Millisecond}
	}
	brute := func(n int) BurstSpec { // REGISTER with credentials for one user, answered 401 and 403 in turn
		return BurstSpec{Method: "REGISTER", Source: ap("203.0.113.77:5060"), Target: ap("10.0.0.1:5060"),
			Count: n, Interval: 200 * time.Millisecond, Credentials: true, Answers: []int{401, 403}}
	}
	flood := func(n int) BurstSpec { // OPTIONS to one user every 5 ms: 3000 in 15 s
		return BurstSpec{Method: "OPTIONS", Source: ap("203.0.113.88:5060"), Target: ap("10.0.0.1:5060"),
			Count: n, Interval: 5 * time.Millisecond}
	}
	wangiri := func(name string, n int) Scenario {
		return one(name, func(s *Scenario) {
			s.Calls = nil
			for i := 1; i <= n; i++ { // 1 s answered calls from 203.0.113.99 to n distinct users
				c := basicCall(name, i)
				c.Caller, c.CallerMedia = ap("203.0.113.99:5060"), ap(fmt.Sprintf("203.0.113.99:%d", 40000+2*i))
				c.TalkMs, c.RingMs = 1000, 200
				s.Calls = append(s.Calls, c)
			}
		})
	}
	return []Scenario{
		burst("sec-scanner", scan(ScanUsers)),
		burst("sec-scanner-below", scan(ScanUsers-1)),
		burst("sec-brute-force", brute(BruteFailures)),
		burst("sec-brute-force-below", brute(BruteFailures-1)),
		burst("sec-flood", flood(FloodRequests)),
		burst("sec-flood-below", flood(FloodRequests-1)),
		wangiri("sec-wangiri", WangiriCalls),
		wangiri("sec-wangiri-below", WangiriCalls-1),
	}
}
