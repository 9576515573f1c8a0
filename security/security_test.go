package security

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// feeder turns SIP text into decoder events, as the decoder would hand them over.
type feeder struct {
	d   *Detector
	msg sip.Message
	ev  decode.Event
	out []Event
}

func newFeeder(t testing.TB, cfg Config) *feeder {
	f := &feeder{}
	d, err := New(cfg, Output{Ended: func(e *Event) { f.out = append(f.out, *e) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return f
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

func (f *feeder) send(t testing.TB, ts int64, src, dst string, raw string) {
	t.Helper()
	if err := sip.Parse([]byte(raw), &f.msg); err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	f.ev = decode.Event{Kind: decode.KindSIP, TS: ts, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst),
		Payload: []byte(raw), SIP: &f.msg}
	f.d.Event(&f.ev)
}

func request(method, user, callID string, cseq int, ua, extra string) string {
	return fmt.Sprintf("%s sip:%s@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK%s%d\r\n"+
		"From: <sip:%s@10.0.0.1>;tag=a1\r\nTo: <sip:%s@10.0.0.1>\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Max-Forwards: 70\r\nUser-Agent: %s\r\n%sContent-Length: 0\r\n\r\n",
		method, user, callID, cseq, user, user, callID, cseq, method, ua, extra)
}

func response(code int, method, user, callID string, cseq int) string {
	return fmt.Sprintf("SIP/2.0 %d X\r\nVia: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK%s%d\r\n"+
		"From: <sip:%s@10.0.0.1>;tag=a1\r\nTo: <sip:%s@10.0.0.1>;tag=b2\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
		code, callID, cseq, user, user, callID, cseq, method)
}

func (f *feeder) finish() []Event {
	f.d.Finish()
	Sort(f.out)
	return f.out
}

func only(t *testing.T, evs []Event, typ Type, rule Rule) []Event {
	var r []Event
	for _, e := range evs {
		if e.Type == typ && e.Rule == rule {
			r = append(r, e)
		}
	}
	return r
}

// The thresholds are the defaults; each case sends exactly the threshold and one below
// it, so the expected counts are worked from the input by hand.
func TestSourceRules(t *testing.T) {
	const src, srv = "192.0.2.7:5060", "10.0.0.1:5060"
	cases := []struct {
		name  string
		typ   Type
		rule  Rule
		n     int
		send  func(f *feeder, i int, ts int64)
		count uint64 // expected count when the threshold is reached (n messages)
	}{
		{"many users", TypeScanner, RuleManyUsers, 20, func(f *feeder, i int, ts int64) {
			f.send(t, ts, src, srv, request("REGISTER", fmt.Sprint(100+i), fmt.Sprint("c", i), 1, "Linphone", ""))
		}, 20},
		{"flood options", TypeFlood, RuleOptionsRate, 3000, func(f *feeder, i int, ts int64) {
			f.send(t, ts, src, srv, request("OPTIONS", "ping", fmt.Sprint("o", i), 1, "Linphone", ""))
		}, 3000},
		{"brute force", TypeBruteForce, RuleSourceFailures, 10, func(f *feeder, i int, ts int64) {
			// challenge (not counted), then a credentialed attempt rejected (counted)
			id := fmt.Sprint("b", i)
			f.send(t, ts, src, srv, request("REGISTER", "alice", id, 1, "Linphone", ""))
			f.send(t, ts, srv, src, response(401, "REGISTER", "alice", id, 1))
			f.send(t, ts, src, srv, request("REGISTER", "alice", id, 2, "Linphone", "Authorization: Digest username=\"alice\"\r\n"))
			f.send(t, ts, srv, src, response(401, "REGISTER", "alice", id, 2))
		}, 10},
		{"max forwards", TypeAnomaly, RuleMaxForwards, 1, func(f *feeder, i int, ts int64) {
			f.send(t, ts, src, srv, request("INVITE", "bob", "loop", 1, "x", "Max-Forwards: 0\r\n"))
		}, 1},
	}
	for _, c := range cases {
		for _, n := range []int{c.n - 1, c.n} {
			t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
				f := newFeeder(t, DefaultConfig())
				for i := 0; i < n; i++ {
					c.send(f, i, t0+int64(i)*int64(time.Millisecond))
				}
				got := only(t, f.finish(), c.typ, c.rule)
				if n < c.n {
					if len(got) != 0 {
						t.Fatalf("below threshold: %+v", got)
					}
					return
				}
				if len(got) != 1 || got[0].Count != c.count || got[0].Source != "192.0.2.7" {
					t.Fatalf("want one event from 192.0.2.7 with count %d, got %+v", c.count, got)
				}
			})
		}
	}
}

func TestScannerUserAgentAndNormalDigest(t *testing.T) {
	f := newFeeder(t, DefaultConfig())
	// A normal digest exchange: 401 to a request without credentials is not a failure.
	for i := 0; i < 100; i++ {
		id := fmt.Sprint("n", i)
		ts := t0 + int64(i)*int64(time.Second)
		f.send(t, ts, "192.0.2.1:5060", "10.0.0.1:5060", request("REGISTER", "bob", id, 1, "Yealink", ""))
		f.send(t, ts, "10.0.0.1:5060", "192.0.2.1:5060", response(401, "REGISTER", "bob", id, 1))
		f.send(t, ts, "192.0.2.1:5060", "10.0.0.1:5060", request("REGISTER", "bob", id, 2, "Yealink", "Authorization: Digest x\r\n"))
		f.send(t, ts, "10.0.0.1:5060", "192.0.2.1:5060", response(200, "REGISTER", "bob", id, 2))
	}
	f.send(t, t0, "198.51.100.9:5070", "10.0.0.1:5060", request("OPTIONS", "100", "s1", 1, "friendly-scanner", ""))
	f.send(t, t0+1, "198.51.100.9:5070", "10.0.0.1:5060", request("OPTIONS", "100", "s2", 1, "friendly-scanner", ""))
	evs := f.finish()
	if len(evs) != 1 || evs[0].Rule != RuleUserAgent || evs[0].Count != 2 || evs[0].Source != "198.51.100.9" ||
		len(evs[0].CallIDs) != 2 || evs[0].UserAgent != "friendly-scanner" {
		t.Fatalf("want one user_agent event of 2 requests from 198.51.100.9, got %+v", evs)
	}
}

func TestEventEndsAfterHoldAndReplayIsIdentical(t *testing.T) {
	run := func() []Event {
		f := newFeeder(t, DefaultConfig())
		f.send(t, t0, "198.51.100.9:5070", "10.0.0.1:5060", request("OPTIONS", "1", "s1", 1, "sipcli/v1", ""))
		// 61 s later (Hold is 60 s): the first event has ended; this starts a second.
		f.send(t, t0+61*int64(time.Second), "198.51.100.9:5070", "10.0.0.1:5060", request("OPTIONS", "1", "s2", 1, "sipcli/v1", ""))
		return f.finish()
	}
	a, b := run(), run()
	if len(a) != 2 || a[0].Count != 1 || a[1].Count != 1 {
		t.Fatalf("want two events of one request, got %+v", a)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("replay differs:\n%v\n%v", a, b)
	}
}

func call(id, from, to, caller, callee string, start time.Duration, dur time.Duration, challenges int) *correlate.Record {
	st := t0 + int64(start)
	c := correlate.Call{CallID: id, FromUser: from, ToUser: to, Caller: caller, Callee: callee,
		Start: correlate.Time(st), Answer: correlate.Time(st + 1), End: correlate.Time(st + int64(dur)), AuthChallenges: challenges}
	ms := float64(dur) / 1e6
	c.DurationMs = &ms
	return &correlate.Record{Call: c}
}

func TestTollFraud(t *testing.T) {
	t.Run("premium", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.TollFraud.PremiumPrefixes = []string{"+88216", "900"}
		f := newFeeder(t, cfg)
		f.d.Call(call("a", "alice", "+882161234", "192.0.2.1:5060", "10.0.0.1:5060", 0, time.Minute, 1))
		f.d.Call(call("b", "alice", "4930123", "192.0.2.1:5060", "10.0.0.1:5060", 0, time.Minute, 1))
		f.d.Call(call("c", "alice", "900555", "192.0.2.1:5060", "10.0.0.1:5060", 0, time.Minute, 1))
		evs := only(t, f.finish(), TypeTollFraud, RulePremiumPrefix)
		if len(evs) != 2 || evs[0].Count != 1 || evs[1].Count != 1 {
			t.Fatalf("want 2 premium events (+88216, 900), got %+v", evs)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.TollFraud.MaxConcurrent = 3
		for _, n := range []int{3, 4} {
			f := newFeeder(t, cfg)
			for i := 0; i < n; i++ { // n overlapping calls of one account
				f.d.Call(call(fmt.Sprint(i), "acct", "49301", "192.0.2.1:5060", "10.0.0.1:5060", time.Duration(i)*time.Second, time.Minute, 1))
			}
			evs := only(t, f.finish(), TypeTollFraud, RuleConcurrent)
			if n == 3 && len(evs) != 0 || n == 4 && (len(evs) != 1 || evs[0].Distinct != 4 || evs[0].Target != "acct") {
				t.Fatalf("%d simultaneous calls, limit 3: %+v", n, evs)
			}
		}
	})
	t.Run("wangiri", func(t *testing.T) {
		for _, n := range []int{9, 10} {
			f := newFeeder(t, DefaultConfig())
			for i := 0; i < n; i++ { // n one-second answered calls to distinct numbers
				f.d.Call(call(fmt.Sprint(i), "x", fmt.Sprint("4930", i), "192.0.2.5:5060", "10.0.0.1:5060", time.Duration(i)*time.Second, time.Second, 0))
			}
			// the same number again and again is a test load, not wangiri
			for i := 0; i < 20; i++ {
				f.d.Call(call(fmt.Sprint("s", i), "x", "4930", "192.0.2.6:5060", "10.0.0.1:5060", time.Duration(i)*time.Second, time.Second, 0))
			}
			evs := only(t, f.finish(), TypeTollFraud, RuleShortCalls)
			if n == 9 && len(evs) != 0 || n == 10 && (len(evs) != 1 || evs[0].Count != 10 || evs[0].Source != "192.0.2.5") {
				t.Fatalf("%d short calls: %+v", n, evs)
			}
		}
	})
	t.Run("open relay", func(t *testing.T) {
		f := newFeeder(t, DefaultConfig())
		for i := 0; i < 10; i++ { // the proxy challenges every call
			f.d.Call(call(fmt.Sprint(i), "alice", "bob", "192.0.2.1:5060", "10.0.0.1:5060", 0, time.Minute, 1))
		}
		f.d.Call(call("relay", "eve", "bob", "203.0.113.66:5060", "10.0.0.1:5060", 0, time.Minute, 0))
		evs := only(t, f.finish(), TypeTollFraud, RuleOpenRelay)
		if len(evs) != 1 || evs[0].Source != "203.0.113.66" || evs[0].Target != "10.0.0.1" {
			t.Fatalf("want one open relay event from 203.0.113.66, got %+v", evs)
		}
	})
}

// TestTablesBounded: a flood from 100,000 spoofed sources, each with a scanner
// User-Agent, stays within MaxSources and MaxEvents and counts the evictions; every
// event still comes out (ended early).
func TestTablesBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSources, cfg.MaxEvents = 1000, 100
	f := newFeeder(t, cfg)
	const n = 100000
	for i := 0; i < n; i++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
		f.send(t, t0+int64(i), src.String(), "10.0.0.1:5060", request("OPTIONS", "1", "x", 1, "friendly-scanner", ""))
		if s := f.d.Sizes(); s["sources"] > 1000 || s["events"] > 100 {
			t.Fatalf("over the caps: %v", s)
		}
	}
	st := f.d.Stats()
	if st.Evictions["sources"] != n-1000 || st.Evictions["events"] != n-100 {
		t.Fatalf("evictions %v, want sources %d events %d", st.Evictions, n-1000, n-100)
	}
	if evs := f.finish(); len(evs) != n {
		t.Fatalf("%d events out, want %d", len(evs), n)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Trusted = []string{"10.0.0.0/8", "192.0.2.1"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"window":   func(c *Config) { c.Window = 0 },
		"trusted":  func(c *Config) { c.Trusted = []string{"nope"} },
		"distinct": func(c *Config) { c.Scanner.DistinctUsers = MaxDistinct + 1 },
		"negative": func(c *Config) { c.Flood.Invite = -1 },
		"cap":      func(c *Config) { c.MaxEvents = 0 },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}
