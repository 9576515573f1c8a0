package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRegistrations(t *testing.T) {
	type step struct {
		d    time.Duration
		text func(d *dialog) string
	}
	reg := func(cseq int, expires string, extra ...string) func(d *dialog) string {
		return func(d *dialog) string {
			d.fromUser, d.toUser = "alice", "alice"
			hdrs := append([]string{"Contact: <sip:alice@10.0.0.1:5060>" + expires}, extra...)
			return strings.Replace(d.req("REGISTER", cseq, fmt.Sprint("r", cseq), false, "", hdrs...), "REGISTER sip:alice@example.com", "REGISTER sip:example.com", 1)
		}
	}
	res := func(code int, reason string, cseq int, extra ...string) func(d *dialog) string {
		return func(d *dialog) string {
			return d.resp(code, reason, "REGISTER", cseq, fmt.Sprint("r", cseq), false, "", extra...)
		}
	}
	cases := []struct {
		name    string
		steps   []step
		outcome string
		code    int
		expires int // -1: null
	}{
		{"401 challenge then 200", []step{
			{0, reg(1, ";expires=3600")},
			{10 * time.Millisecond, res(401, "Unauthorized", 1, `WWW-Authenticate: Digest realm="x", nonce="n"`)},
			{20 * time.Millisecond, reg(2, ";expires=3600", `Authorization: Digest username="alice"`)},
			{30 * time.Millisecond, res(200, "OK", 2, "Contact: <sip:alice@10.0.0.1:5060>;expires=1800")},
		}, "registered", 200, 1800},
		{"407 challenge then 403", []step{
			{0, reg(1, "")},
			{10 * time.Millisecond, res(407, "Proxy Authentication Required", 1)},
			{20 * time.Millisecond, reg(2, "")},
			{30 * time.Millisecond, res(403, "Forbidden", 2)},
		}, "failed", 403, -1},
		{"expires 0 unregisters", []step{
			{0, reg(1, "", "Expires: 0")},
			{10 * time.Millisecond, res(200, "OK", 1)},
		}, "unregistered", 200, 0},
		{"challenge left unanswered", []step{
			{0, reg(1, "")},
			{10 * time.Millisecond, res(401, "Unauthorized", 1)},
		}, "challenged", 401, -1},
		{"no response", []step{{0, reg(1, "", "Expires: 60")}}, "no_response", 0, 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			d := newDialog("reg-1")
			for i, s := range tc.steps {
				src, dst := aSig, pSig
				if i%2 == 1 {
					src, dst = dst, src
				}
				h.sipAt(s.d, src, dst, s.text(d))
			}
			h.finish()
			if len(h.regs) != 1 || len(h.recs) != 0 {
				t.Fatalf("registrations %d calls %d", len(h.regs), len(h.recs))
			}
			r := h.regs[0]
			exp := -1
			if r.Expires != nil {
				exp = *r.Expires
			}
			if r.Outcome != tc.outcome || r.FinalCode != tc.code || exp != tc.expires {
				t.Errorf("outcome %s code %d expires %d, want %s %d %d", r.Outcome, r.FinalCode, exp, tc.outcome, tc.code, tc.expires)
			}
			if r.AOR != "sip:alice@example.com" || r.Contact != "sip:alice@10.0.0.1:5060" || r.Source != aSig || r.Time != Time(at(0)) || r.CallID != "reg-1" {
				t.Errorf("registration %+v", r)
			}
		})
	}
}
