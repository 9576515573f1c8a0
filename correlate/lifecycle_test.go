package correlate

import (
	"testing"
	"time"
)

// TestLifecycleRules drives the call lifecycle (lifecycle.go) through the rules of the
// issue "Calls right on real-world traffic". Each expectation is what RFC 3261 says the
// flow is: a 401/407 to an INVITE followed by an INVITE with credentials (§22.2) is one
// attempt; a 3xx followed by a new INVITE is one attempt (§8.1.3.4); a failed re-INVITE
// leaves the session as it was (§14.1); a challenge nobody answers is final after Timer B
// (64*T1 = 32 s, §17.1.1.2).
func TestLifecycleRules(t *testing.T) {
	const ms = time.Millisecond
	challenge := func(h *harness, d *dialog, code int) {
		h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv1", false, sdpBody(aMedia, "")))
		d.ttag = "chal"
		h.sipAt(5*ms, bSig, aSig, d.resp(code, "Proxy Authentication Required", "INVITE", 1, "inv1", false, "",
			`Proxy-Authenticate: Digest realm="x", nonce="n"`))
		h.sipAt(8*ms, aSig, bSig, d.req("ACK", 1, "inv1", false, ""))
		d.ttag = ""
	}
	retry := func(h *harness, d *dialog, at time.Duration) {
		h.sipAt(at, aSig, bSig, d.req("INVITE", 2, "inv2", false, sdpBody(aMedia, ""), `Proxy-Authorization: Digest username="alice"`))
		d.ttag = "tt"
		h.sipAt(at+100*ms, bSig, aSig, d.resp(180, "Ringing", "INVITE", 2, "inv2", false, ""))
		h.sipAt(at+time.Second, bSig, aSig, d.resp(200, "OK", "INVITE", 2, "inv2", false, sdpBody(bMedia, "")))
		h.sipAt(at+time.Second+10*ms, aSig, bSig, d.req("ACK", 2, "ack2", false, ""))
	}
	cases := []struct {
		name  string
		run   func(h *harness, d *dialog)
		check func(t *testing.T, c *Call)
	}{
		{
			name: "407, credentials, answered: one call, outcome of the last INVITE",
			run: func(h *harness, d *dialog) {
				challenge(h, d, 407)
				retry(h, d, 20*ms)
				h.both(1100*ms, 5*sec)
				h.sipAt(5*sec, aSig, bSig, d.req("BYE", 3, "bye", false, ""))
				h.sipAt(5*sec+5*ms, bSig, aSig, d.resp(200, "OK", "BYE", 3, "bye", false, ""))
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if c.State != "answered" || c.FinalCode != 200 || c.AuthChallenges != 1 || c.EndReason != "bye" || str(c.EndedBy) != "caller" {
					t.Errorf("%s %d auth %d end %s by %s", c.State, c.FinalCode, c.AuthChallenges, c.EndReason, str(c.EndedBy))
				}
				// PDD and setup from the INVITE that carried the credentials (docs/calls.md).
				wantMs(t, "pdd_ms", c.PDDMs, 100)
				wantMs(t, "setup_ms", c.SetupMs, 1000)
				if c.Start != Time(at(0)) {
					t.Errorf("start %v, want the first INVITE", c.Start)
				}
			},
		},
		{
			name: "407 and no retry: final after Timer B",
			run: func(h *harness, d *dialog) {
				challenge(h, d, 407)
				h.tick(31 * sec)
				if len(h.recs) != 0 {
					t.Error("ended before Timer B")
				}
				h.tick(33 * sec)
			},
			check: func(t *testing.T, c *Call) {
				if c.State != "failed" || c.FinalCode != 407 || c.AuthChallenges != 1 || c.EndReason != "error_response" {
					t.Errorf("%s %d auth %d end %s", c.State, c.FinalCode, c.AuthChallenges, c.EndReason)
				}
				if c.End != Time(at(5*ms)) {
					t.Errorf("end %v, want the challenge", c.End)
				}
			},
		},
		{
			name: "401 at the end of the capture is the final answer",
			run:  func(h *harness, d *dialog) { challenge(h, d, 401); h.finish() },
			check: func(t *testing.T, c *Call) {
				if c.State != "failed" || c.FinalCode != 401 || c.EndReason != "error_response" {
					t.Errorf("%s %d %s", c.State, c.FinalCode, c.EndReason)
				}
			},
		},
		{
			name: "302 and a follow-up INVITE: the follow-up's outcome",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv1", false, sdpBody(aMedia, "")))
				d.ttag = "r"
				h.sipAt(5*ms, bSig, aSig, d.resp(302, "Moved Temporarily", "INVITE", 1, "inv1", false, "", "Contact: <sip:bob@elsewhere>"))
				h.sipAt(8*ms, aSig, bSig, d.req("ACK", 1, "inv1", false, ""))
				d.ttag = ""
				retry(h, d, 30*ms)
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if c.State != "answered" || c.FinalCode != 200 || c.AuthChallenges != 0 {
					t.Errorf("%s %d auth %d", c.State, c.FinalCode, c.AuthChallenges)
				}
			},
		},
		{
			name: "challenged BYE still ends the call by BYE",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(1020*ms, 4*sec)
				h.sipAt(4*sec, aSig, bSig, d.req("BYE", 2, "bye2", false, ""))
				h.sipAt(4*sec+5*ms, bSig, aSig, d.resp(407, "Proxy Authentication Required", "BYE", 2, "bye2", false, ""))
				h.sipAt(4*sec+10*ms, aSig, bSig, d.req("BYE", 3, "bye3", false, "", `Proxy-Authorization: Digest username="alice"`))
				h.sipAt(4*sec+15*ms, bSig, aSig, d.resp(200, "OK", "BYE", 3, "bye3", false, ""))
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if c.State != "answered" || c.EndReason != "bye" || str(c.EndedBy) != "caller" || c.Dropped || c.AuthChallenges != 0 {
					t.Errorf("%s end %s by %s dropped %v auth %d", c.State, c.EndReason, str(c.EndedBy), c.Dropped, c.AuthChallenges)
				}
			},
		},
		{
			name: "re-INVITE answered 488: the call goes on",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(1020*ms, 6*sec)
				h.sipAt(3*sec, aSig, bSig, d.req("INVITE", 2, "re", false, sdpBody(aMedia, "")))
				h.sipAt(3*sec+5*ms, bSig, aSig, d.resp(488, "Not Acceptable Here", "INVITE", 2, "re", false, ""))
				h.bye(d, 6*sec, true)
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if c.State != "answered" || c.FinalCode != 200 || c.EndReason != "bye" || c.Dropped {
					t.Errorf("%s %d end %s dropped %v", c.State, c.FinalCode, c.EndReason, c.Dropped)
				}
			},
		},
		{
			name: "481 to a refresh, then a refresh answered 200: not dropped",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(1020*ms, 6*sec)
				h.sipAt(2*sec, aSig, bSig, d.req("UPDATE", 2, "u1", false, ""))
				h.sipAt(2*sec+5*ms, bSig, aSig, d.resp(481, "Call/Transaction Does Not Exist", "UPDATE", 2, "u1", false, ""))
				h.sipAt(3*sec, aSig, bSig, d.req("UPDATE", 3, "u2", false, ""))
				h.sipAt(3*sec+5*ms, bSig, aSig, d.resp(200, "OK", "UPDATE", 3, "u2", false, ""))
				h.bye(d, 6*sec, false)
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if c.Dropped {
					t.Errorf("dropped: %s", str(c.DropReason))
				}
			},
		},
		{
			name: "481 to a refresh and nothing after: in_dialog_481",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(1020*ms, 6*sec)
				h.sipAt(6*sec, aSig, bSig, d.req("UPDATE", 2, "u1", false, ""))
				h.sipAt(6*sec+5*ms, bSig, aSig, d.resp(481, "Call/Transaction Does Not Exist", "UPDATE", 2, "u1", false, ""))
				h.bye(d, 6*sec+10*ms, false)
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if !c.Dropped || str(c.DropReason) != "in_dialog_481" {
					t.Errorf("dropped %v %s", c.Dropped, str(c.DropReason))
				}
			},
		},
		{
			name: "callee re-INVITE with the caller's CSeq number does not touch the outcome",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(1020*ms, 5*sec)
				// The callee's own CSeq space starts at 1 too (RFC 3261 §12.2.1.1).
				h.sipAt(2*sec, bSig, aSig, d.req("INVITE", 1, "cre", true, sdpBody(bMedia, "")))
				h.sipAt(2*sec+5*ms, aSig, bSig, d.resp(491, "Request Pending", "INVITE", 1, "cre", true, ""))
				h.bye(d, 5*sec, false)
				h.finish()
			},
			check: func(t *testing.T, c *Call) {
				if c.State != "answered" || c.FinalCode != 200 || c.Dropped {
					t.Errorf("%s %d dropped %v", c.State, c.FinalCode, c.Dropped)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			d := newDialog("lc-" + tc.name[:3])
			tc.run(h, d)
			c := h.call(d.id)
			tc.check(t, c)
			if n := len(h.recs); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}
