package correlate

import (
	"fmt"
	"testing"
	"time"
	"unsafe"
)

const sec = time.Second

// TestCallRules drives one call per case through the rules of issue 3 and checks the
// finished call.
func TestCallRules(t *testing.T) {
	type tc struct {
		name  string
		cfg   func(*Config)
		run   func(h *harness, d *dialog)
		check func(t *testing.T, h *harness, c *Call)
	}
	cases := []tc{
		{
			name: "answered, BYE by caller, normal clearing",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec+20*time.Millisecond, 10*sec)
				h.bye(d, 10*sec, false, "Reason: Q.850;cause=16;text=\"Normal call clearing\"")
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if c.State != "answered" || c.FinalCode != 200 || c.EndReason != "bye" || str(c.EndedBy) != "caller" {
					t.Errorf("state %s code %d end %s by %s", c.State, c.FinalCode, c.EndReason, str(c.EndedBy))
				}
				wantMs(t, "pdd_ms", c.PDDMs, 100)
				wantMs(t, "setup_ms", c.SetupMs, 1000)
				wantMs(t, "duration_ms", c.DurationMs, 9000)
				if c.Q850Cause == nil || *c.Q850Cause != 16 || c.Dropped || c.OneWayAudio {
					t.Errorf("q850 %v dropped %v one-way %v", c.Q850Cause, c.Dropped, c.OneWayAudio)
				}
				if c.Start != Time(at(0)) || c.Answer != Time(at(sec)) || c.End != Time(at(10*sec)) || c.Ringing != Time(at(100*time.Millisecond)) {
					t.Errorf("times %v %v %v %v", c.Start, c.Ringing, c.Answer, c.End)
				}
				if c.SIPMessages != 7 || c.Retrans != 0 || len(c.Streams) != 2 {
					t.Errorf("messages %d retrans %d streams %d", c.SIPMessages, c.Retrans, len(c.Streams))
				}
				if c.Caller != aSig || c.Callee != bSig || c.FromUser != "alice" || c.ToUser != "bob" || c.Transport != "udp" {
					t.Errorf("parties %s %s %s %s %s", c.Caller, c.Callee, c.FromUser, c.ToUser, c.Transport)
				}
				for _, s := range c.Streams {
					if s.MediaAddressMismatch || s.Codec != "PCMU" || s.Lost != 0 || s.Packets < 440 {
						t.Errorf("stream %+v", s)
					}
				}
			},
		},
		{
			name: "BYE by callee",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.bye(d, 5*sec, true)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if str(c.EndedBy) != "callee" || c.EndReason != "bye" || c.Q850Cause != nil || c.Dropped {
					t.Errorf("ended by %s end %s q850 %v dropped %v", str(c.EndedBy), c.EndReason, c.Q850Cause, c.Dropped)
				}
			},
		},
		{
			name: "busy 486: pdd to the final response",
			run:  func(h *harness, d *dialog) { h.fail(d, 486, "Busy Here", false); h.finish() },
			check: func(t *testing.T, h *harness, c *Call) {
				if c.State != "busy" || c.EndReason != "error_response" || c.FinalCode != 486 || c.FinalReason != "Busy Here" {
					t.Errorf("%s %s %d %q", c.State, c.EndReason, c.FinalCode, c.FinalReason)
				}
				wantMs(t, "pdd_ms", c.PDDMs, 500)
				if c.SetupMs != nil || c.DurationMs != nil || c.EndedBy != nil || c.Dropped {
					t.Errorf("setup %s duration %s ended_by %s dropped %v", msOf(c.SetupMs), msOf(c.DurationMs), str(c.EndedBy), c.Dropped)
				}
			},
		},
		{
			name: "busy 600",
			run:  func(h *harness, d *dialog) { h.fail(d, 600, "Busy Everywhere", true); h.finish() },
			check: func(t *testing.T, h *harness, c *Call) {
				if c.State != "busy" {
					t.Errorf("state %s", c.State)
				}
				wantMs(t, "pdd_ms", c.PDDMs, 100)
			},
		},
		{
			name: "cancelled: CANCEL then 487",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
				h.sipAt(200*time.Millisecond, bSig, aSig, d.resp(180, "Ringing", "INVITE", 1, "inv", false, "", "To: <sip:bob@example.com>;tag=x"))
				h.sipAt(3*sec, aSig, bSig, d.req("CANCEL", 1, "inv", false, "", "Reason: Q.850;cause=16"))
				h.sipAt(3*sec+time.Millisecond, bSig, aSig, d.resp(200, "OK", "CANCEL", 1, "inv", false, ""))
				d.ttag = "x"
				h.sipAt(3*sec+2*time.Millisecond, bSig, aSig, d.resp(487, "Request Terminated", "INVITE", 1, "inv", false, ""))
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if c.State != "cancelled" || c.EndReason != "cancel" || c.FinalCode != 487 || c.Dropped {
					t.Errorf("%s %s %d dropped %v", c.State, c.EndReason, c.FinalCode, c.Dropped)
				}
				wantMs(t, "pdd_ms", c.PDDMs, 200)
			},
		},
		{
			name:  "no answer 480",
			run:   func(h *harness, d *dialog) { h.fail(d, 480, "Temporarily Unavailable", true); h.finish() },
			check: func(t *testing.T, h *harness, c *Call) { wantState(t, c, "no_answer", "error_response") },
		},
		{
			name:  "no answer 408",
			run:   func(h *harness, d *dialog) { h.fail(d, 408, "Request Timeout", true); h.finish() },
			check: func(t *testing.T, h *harness, c *Call) { wantState(t, c, "no_answer", "error_response") },
		},
		{
			name:  "redirected 302",
			run:   func(h *harness, d *dialog) { h.fail(d, 302, "Moved Temporarily", false); h.finish() },
			check: func(t *testing.T, h *harness, c *Call) { wantState(t, c, "redirected", "error_response") },
		},
		{
			name: "failed 503 with a Q.850 cause is not a drop",
			run: func(h *harness, d *dialog) {
				h.fail(d, 503, "Service Unavailable", false, "Reason: Q.850;cause=34")
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "failed", "error_response")
				if c.Q850Cause == nil || *c.Q850Cause != 34 || c.Dropped {
					t.Errorf("q850 %v dropped %v", c.Q850Cause, c.Dropped)
				}
			},
		},
		{
			name: "drop: abnormal Q.850 cause on BYE",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.bye(d, 5*sec, true, "Reason: Q.850;cause=41")
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantDrop(t, c, "abnormal_q850_cause")
				if c.Q850Cause == nil || *c.Q850Cause != 41 {
					t.Errorf("q850 %v", c.Q850Cause)
				}
			},
		},
		{
			name: "drop: Q.850 cause 31 is normal",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.bye(d, 5*sec, true, "Reason: Q.850;cause=31")
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) { wantDrop(t, c, "") },
		},
		{
			name: "drop: rtp timeout while the capture goes on",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				for s := 6 * sec; s <= 40*sec; s += sec {
					h.tick(s)
				}
				if h.c.ActiveCalls() != 0 {
					h.t.Errorf("call not emitted after rtp timeout and linger: %d active", h.c.ActiveCalls())
				}
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "answered", "rtp_timeout")
				wantDrop(t, c, "rtp_timeout")
				if c.End != c.Streams[1].Last || c.EndedBy != nil {
					t.Errorf("end %v, last media %v, ended by %s", c.End, c.Streams[1].Last, str(c.EndedBy))
				}
				wantMs(t, "duration_ms", c.DurationMs, float64(c.Streams[1].Last-c.Answer)/1e6)
			},
		},
		{
			name: "rtp timeout decided at Finish from the last packet of the capture",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.tick(36 * sec) // the only later packet: Finish must still time the call out
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "answered", "rtp_timeout")
				wantDrop(t, c, "rtp_timeout")
			},
		},
		{
			name: "capture ending sooner than the rtp timeout gives capture_end",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.tick(20 * sec)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "answered", "capture_end")
				wantDrop(t, c, "")
				if c.End != c.Streams[1].Last {
					t.Errorf("end %v want last media %v", c.End, c.Streams[1].Last)
				}
			},
		},
		{
			name: "drop: media stopped 2 s before the BYE",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.bye(d, 7*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) { wantDrop(t, c, "media_stopped_before_bye") },
		},
		{
			name: "media stopped 0.5 s before the BYE is not a drop",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.bye(d, 5*sec+500*time.Millisecond, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) { wantDrop(t, c, "") },
		},
		{
			name: "drop: 481 to an in-dialog request",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.sipAt(5*sec, aSig, bSig, d.req("INVITE", 2, "re", false, sdpBody(aMedia, "")))
				h.sipAt(5*sec+time.Millisecond, bSig, aSig, d.resp(481, "Call/Transaction Does Not Exist", "INVITE", 2, "re", false, ""))
				h.bye(d, 5*sec+10*time.Millisecond, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) { wantDrop(t, c, "in_dialog_481") },
		},
		{
			name: "drop: 408 to an in-dialog request",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.sipAt(5*sec, aSig, bSig, d.req("UPDATE", 2, "up", false, ""))
				h.sipAt(5*sec+time.Millisecond, bSig, aSig, d.resp(408, "Request Timeout", "UPDATE", 2, "up", false, ""))
				h.bye(d, 5*sec+10*time.Millisecond, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) { wantDrop(t, c, "in_dialog_408") },
		},
		{
			name: "hold is not loss: no rtp timeout, no media-stopped drop",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.sipAt(5*sec, aSig, bSig, d.req("INVITE", 2, "hold", false, sdpBody(aMedia, "sendonly")))
				h.sipAt(5*sec+time.Millisecond, bSig, aSig, d.resp(200, "OK", "INVITE", 2, "hold", false, sdpBody(bMedia, "recvonly")))
				for s := 6 * sec; s <= 60*sec; s += sec {
					h.tick(s)
				}
				h.bye(d, 60*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "answered", "bye")
				wantDrop(t, c, "")
				if c.OneWayAudio {
					t.Error("one-way audio on hold")
				}
				wantMs(t, "duration_ms", c.DurationMs, 59000)
			},
		},
		{
			name: "port move by re-INVITE stays one call",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.sipAt(5*sec, bSig, aSig, d.req("INVITE", 1, "move", true, sdpBody("10.0.0.2:6100", "")))
				h.sipAt(5*sec+time.Millisecond, aSig, bSig, d.resp(200, "OK", "INVITE", 1, "move", true, sdpBody(aMedia, "")))
				h.media(5*sec+10*time.Millisecond, 10*sec, aMedia, "10.0.0.2:6100", 0xC)
				h.media(5*sec+10*time.Millisecond, 10*sec, "10.0.0.2:6100", aMedia, 0xD)
				h.bye(d, 10*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if len(c.Streams) != 4 || len(h.orphans) != 0 || len(h.recs) != 1 {
					t.Errorf("streams %d orphans %d calls %d", len(c.Streams), len(h.orphans), len(h.recs))
				}
				wantDrop(t, c, "")
				for _, s := range c.Streams {
					if s.MediaAddressMismatch {
						t.Errorf("mismatch on %s -> %s", s.Src, s.Dst)
					}
				}
			},
		},
		{
			name: "early media on 183 is attached",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
				d.ttag = "tt"
				h.sipAt(300*time.Millisecond, bSig, aSig, d.resp(183, "Session Progress", "INVITE", 1, "inv", false, sdpBody(bMedia, "")))
				h.media(400*time.Millisecond, 3*sec, bMedia, aMedia, 0xE)
				h.sipAt(3*sec, bSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, "")))
				h.sipAt(3*sec+time.Millisecond, aSig, bSig, d.req("ACK", 1, "ack", false, ""))
				h.media(3*sec+20*time.Millisecond, 6*sec, bMedia, aMedia, 0xE)
				h.media(3*sec+20*time.Millisecond, 6*sec, aMedia, bMedia, 0xA)
				h.bye(d, 6*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantMs(t, "pdd_ms", c.PDDMs, 300)
				wantMs(t, "setup_ms", c.SetupMs, 3000)
				if len(c.Streams) != 2 || len(h.orphans) != 0 {
					t.Fatalf("streams %d orphans %d", len(c.Streams), len(h.orphans))
				}
				if s := c.Streams[0]; s.SSRC != "0x0000000E" || s.First != Time(at(400*time.Millisecond)) {
					t.Errorf("early stream %s first %v", s.SSRC, s.First)
				}
			},
		},
		{
			name: "fork: a busy branch then the answered branch wins",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, pSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
				d.ttag = "branch1"
				h.sipAt(100*time.Millisecond, pSig, aSig, d.resp(180, "Ringing", "INVITE", 1, "inv", false, ""))
				d.ttag = "branch2"
				h.sipAt(150*time.Millisecond, pSig, aSig, d.resp(180, "Ringing", "INVITE", 1, "inv", false, ""))
				d.ttag = "branch1"
				h.sipAt(time.Second, pSig, aSig, d.resp(486, "Busy Here", "INVITE", 1, "inv", false, "", "Reason: Q.850;cause=17"))
				d.ttag = "branch2"
				h.sipAt(2*sec, pSig, aSig, d.resp(200, "OK", "INVITE", 1, "inv", false, sdpBody(bMedia, "")))
				h.sipAt(2*sec+time.Millisecond, aSig, pSig, d.req("ACK", 1, "ack", false, ""))
				h.both(2*sec+20*time.Millisecond, 6*sec)
				h.bye(d, 6*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if len(h.recs) != 1 {
					t.Fatalf("%d calls", len(h.recs))
				}
				wantState(t, c, "answered", "bye")
				wantDrop(t, c, "")
				if c.FinalCode != 200 || c.Q850Cause != nil || len(c.Streams) != 2 {
					t.Errorf("final %d q850 %v streams %d", c.FinalCode, c.Q850Cause, len(c.Streams))
				}
				wantMs(t, "setup_ms", c.SetupMs, 2000)
				wantMs(t, "duration_ms", c.DurationMs, 4000)
			},
		},
		{
			name: "retransmitted INVITE is counted, not a new transaction",
			cfg:  func(c *Config) { c.KeepMessages = true },
			run: func(h *harness, d *dialog) {
				inv := d.req("INVITE", 1, "inv", false, sdpBody(aMedia, ""))
				h.sipAt(0, aSig, bSig, inv)
				h.sipAt(500*time.Millisecond, aSig, bSig, inv)
				h.sipAt(1500*time.Millisecond, aSig, bSig, inv)
				d.ttag = "tt"
				h.sipAt(1600*time.Millisecond, bSig, aSig, d.resp(486, "Busy Here", "INVITE", 1, "inv", false, ""))
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if c.SIPMessages != 4 || c.Retrans != 2 || c.Start != Time(at(0)) {
					t.Errorf("messages %d retrans %d start %v", c.SIPMessages, c.Retrans, c.Start)
				}
				wantMs(t, "pdd_ms", c.PDDMs, 1600)
				r := h.record(c.CallID)
				if len(r.Messages) != 4 || r.Messages[0].Retrans || !r.Messages[1].Retrans || !r.Messages[2].Retrans || r.Messages[3].Retrans {
					t.Errorf("ladder %+v", r.Messages)
				}
			},
		},
		{
			name: "proxy hops are one call with one ladder entry per hop",
			cfg:  func(c *Config) { c.KeepMessages = true },
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, pSig, d.req("INVITE", 1, "hop1", false, sdpBody(aMedia, "")))
				h.sipAt(2*time.Millisecond, pSig, bSig, d.req("INVITE", 1, "hop2", false, sdpBody(aMedia, ""), "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKhop1"))
				d.ttag = "tt"
				h.sipAt(sec, bSig, pSig, d.resp(200, "OK", "INVITE", 1, "hop2", false, sdpBody(bMedia, "")))
				h.sipAt(sec+time.Millisecond, pSig, aSig, d.resp(200, "OK", "INVITE", 1, "hop1", false, sdpBody(bMedia, "")))
				h.sipAt(sec+2*time.Millisecond, aSig, pSig, d.req("ACK", 1, "ack1", false, ""))
				h.sipAt(sec+3*time.Millisecond, pSig, bSig, d.req("ACK", 1, "ack2", false, ""))
				h.both(sec+20*time.Millisecond, 3*sec)
				h.bye(d, 3*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if len(h.recs) != 1 || c.SIPMessages != 8 || c.Retrans != 0 {
					t.Errorf("calls %d messages %d retrans %d", len(h.recs), c.SIPMessages, c.Retrans)
				}
				wantMs(t, "setup_ms", c.SetupMs, 1000)
				if c.Caller != aSig || c.Callee != pSig {
					t.Errorf("caller %s callee %s", c.Caller, c.Callee)
				}
				r := h.record(c.CallID)
				for _, m := range r.Messages {
					if m.Retrans {
						t.Errorf("hop %s %s -> %s marked retransmission", m.Method, m.Src, m.Dst)
					}
				}
			},
		},
		{
			name: "media from another address than the SDP: attached and flagged",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.media(sec, 5*sec, aMedia, bMedia, 0xA)
				h.media(sec, 5*sec, "192.0.2.7:7000", aMedia, 0xB) // callee behind NAT
				h.bye(d, 5*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if len(c.Streams) != 2 || len(h.orphans) != 0 {
					t.Fatalf("streams %d orphans %d", len(c.Streams), len(h.orphans))
				}
				for _, s := range c.Streams {
					if want := s.Src == "192.0.2.7:7000"; s.MediaAddressMismatch != want {
						t.Errorf("%s -> %s mismatch %v", s.Src, s.Dst, s.MediaAddressMismatch)
					}
				}
				if c.OneWayAudio {
					t.Error("one-way audio with both directions present")
				}
			},
		},
		{
			name: "one-way audio",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.media(sec, 10*sec, aMedia, bMedia, 0xA)
				h.bye(d, 10*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if !c.OneWayAudio {
					t.Error("one_way_audio not set")
				}
				wantDrop(t, c, "")
			},
		},
		{
			name: "one direction for less than OneWayAfter is not one-way audio",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.media(sec, 3*sec, aMedia, bMedia, 0xA)
				h.bye(d, 3*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if c.OneWayAudio {
					t.Error("one_way_audio set for a 2 s call")
				}
			},
		},
		{
			name: "no response: sip_timeout after Timer B",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
				for s := sec; s <= 45*sec; s += sec {
					h.tick(s)
				}
				if h.c.ActiveCalls() != 0 {
					h.t.Errorf("%d calls still active", h.c.ActiveCalls())
				}
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "failed", "sip_timeout")
				if c.End != Time(at(0)) || c.PDDMs != nil {
					t.Errorf("end %v pdd %s", c.End, msOf(c.PDDMs))
				}
			},
		},
		{
			name: "ringing without answer: ring timeout",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
				d.ttag = "tt"
				h.sipAt(100*time.Millisecond, bSig, aSig, d.resp(180, "Ringing", "INVITE", 1, "inv", false, ""))
				for s := sec; s <= 60*sec; s += sec {
					h.tick(s)
				}
				if len(h.recs) != 0 || h.c.ActiveCalls() != 1 { // OPTIONS are not calls
					h.t.Errorf("ringing call ended before the ring timeout: %d active, %d emitted", h.c.ActiveCalls(), len(h.recs))
				}
				for s := 61 * sec; s <= 200*sec; s += sec {
					h.tick(s)
				}
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "no_answer", "sip_timeout")
				wantMs(t, "pdd_ms", c.PDDMs, 100)
			},
		},
		{
			name: "capture end: answered call without BYE",
			run: func(h *harness, d *dialog) {
				h.answer(d, 0)
				h.both(sec, 5*sec)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				wantState(t, c, "answered", "capture_end")
				wantDrop(t, c, "")
				if c.EndedBy != nil || c.End == 0 {
					t.Errorf("ended by %s end %v", str(c.EndedBy), c.End)
				}
			},
		},
		{
			name: "capture end: INVITE without response is in progress",
			run: func(h *harness, d *dialog) {
				h.sipAt(0, aSig, bSig, d.req("INVITE", 1, "inv", false, sdpBody(aMedia, "")))
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) { wantState(t, c, "in_progress", "capture_end") },
		},
		{
			name: "mid-dialog start: BYE without INVITE",
			run: func(h *harness, d *dialog) {
				d.ttag = "tt"
				h.both(0, 2*sec)
				h.bye(d, 2*sec, false)
				h.finish()
			},
			check: func(t *testing.T, h *harness, c *Call) {
				if c.State != "answered" || c.EndReason != "bye" || str(c.EndedBy) != "caller" || c.SetupMs != nil {
					t.Errorf("%s %s %s setup %s", c.State, c.EndReason, str(c.EndedBy), msOf(c.SetupMs))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			d := newDialog("call-1")
			tc.run(h, d)
			tc.check(t, h, h.call("call-1"))
		})
	}
}

func wantState(t *testing.T, c *Call, state, end string) {
	t.Helper()
	if string(c.State) != state || string(c.EndReason) != end {
		t.Errorf("state %s end_reason %s, want %s %s", c.State, c.EndReason, state, end)
	}
}

// wantDrop checks dropped and drop_reason; reason "" means not dropped.
func wantDrop(t *testing.T, c *Call, reason string) {
	t.Helper()
	if c.Dropped != (reason != "") || str(c.DropReason) != map[bool]string{true: reason, false: "null"}[reason != ""] {
		t.Errorf("dropped %v reason %s, want %q", c.Dropped, str(c.DropReason), reason)
	}
}

// TestEvictionInBatches floods a full call table with new Call-IDs: the table never
// exceeds its cap, evictions come cap/64 at a time, the oldest calls go first, and no
// call is lost (every evicted call is emitted).
func TestEvictionInBatches(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCalls = 640 })
	const n = 1000
	for i := 0; i < n; i++ {
		d := newDialog(fmt.Sprintf("flood-%04d", i))
		h.sipAt(time.Duration(i)*time.Millisecond, aSig, bSig, d.req("INVITE", 1, "b", false, sdpBody(aMedia, "")))
		if got := h.c.ActiveCalls(); got > 640 {
			t.Fatalf("after %d calls the table holds %d, cap 640", i+1, got)
		}
	}
	ev := h.c.Counters().CallsEvicted
	if ev == 0 || ev%10 != 0 {
		t.Errorf("evicted %d calls, want a multiple of the batch (640/64 = 10)", ev)
	}
	if len(h.recs) != int(ev) {
		t.Fatalf("%d evicted but %d emitted", ev, len(h.recs))
	}
	for i, r := range h.recs {
		if want := fmt.Sprintf("flood-%04d", i); r.Call.CallID != want {
			t.Fatalf("eviction %d was %s, want the oldest, %s", i, r.Call.CallID, want)
		}
	}
	h.finish()
	if len(h.recs) != n {
		t.Errorf("%d calls emitted in all, want %d", len(h.recs), n)
	}
}

// TestCallSize guards the 768-byte size class of the call struct: past it every call
// costs 128 bytes more (BenchmarkMemory100k).
func TestCallSize(t *testing.T) {
	if n := unsafe.Sizeof(call{}); n > 768 {
		t.Fatalf("call is %d bytes, over the 768-byte size class", n)
	}
}
