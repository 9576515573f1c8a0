package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/prometheus/client_golang/prometheus"
)

type liveCalls []correlate.Call

func (l liveCalls) ActiveCalls() []correlate.Call { return l }

// TestAPIInput: every bad parameter is a 400 whose JSON body names the parameter and
// says what is expected, never a Go parser's message; wrong methods are 405; unknown
// assets a JSON 404. The expectations are the API's contract (issue 14), not its output.
func TestAPIInput(t *testing.T) {
	ds := testData(t)
	st := openDuck(t)
	fill(t, st, ds)
	live := liveCalls{{ID: "live1", CallID: "live-1@x", Caller: "192.0.2.1:5060", Callee: "[2001:db8::2]:5060", State: "in_progress"}}
	c := &client{t: t, h: New(Config{KeepRTP: "headers"}, st, live, prometheus.NewRegistry())}
	id := ds.Records[0].Call.ID
	// A cursor of the right shape but naming no call: base64url of {"s":"start","d":true,"i":5}.
	noID := store.Cursor{Sort: "start", Desc: true, Int: 5}.Encode()
	for _, tc := range []struct{ path, param string }{
		{"/api/v1/calls?mos_below=NaN", "mos_below"},
		{"/api/v1/calls?mos_below=Inf", "mos_below"},
		{"/api/v1/calls?mos_below=-Inf", "mos_below"},
		{"/api/v1/calls?mos_below=1e999", "mos_below"},
		{"/api/v1/calls?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "from"},
		{"/api/v1/registrations?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "from"},
		{"/api/v1/stats?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "from"},
		{"/api/v1/calls?cursor=" + noID, "cursor"},
		{"/api/v1/calls?cursor=%21%21", "cursor"},
		{"/api/v1/calls?cursor=bm90IGpzb24", "cursor"}, // base64url of "not json"
		{"/api/v1/calls?ip=bad", "ip"},
		{"/api/v1/calls?ip=192.0.2.300", "ip"},
		{"/api/v1/active?ip=bad", "ip"},
		{"/api/v1/calls/" + id + "/ladder?linked=maybe", "linked"},
		{"/api/v1/calls/" + id + "/pcap?linked=maybe", "linked"},
		{"/api/v1/calls?code=abc", "code"},
		{"/api/v1/calls?dropped=maybe", "dropped"},
		{"/api/v1/stats?step=fortnight", "step"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := c.do("GET", tc.path, nil)
			var body errorBody
			if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
				t.Fatalf("status %d %s, want 400 with a JSON error", rec.Code, rec.Body.String())
			}
			if !strings.Contains(body.Error, "parameter "+tc.param+":") || !strings.Contains(body.Error, "want") && !strings.Contains(body.Error, "must") {
				t.Errorf("error %q does not name %s and what is expected", body.Error, tc.param)
			}
			for _, raw := range []string{"strconv", "Parse", "illegal", "invalid character", "unexpected", "time: "} {
				if strings.Contains(body.Error, raw) {
					t.Errorf("error %q carries a parser message (%q)", body.Error, raw)
				}
			}
		})
	}
	// Good input still works: an IPv6 filter on /active, linked=1/true/false.
	var act struct{ Calls []correlate.Call }
	c.getJSON("/api/v1/active?ip=2001:db8::2", 200, &act)
	if len(act.Calls) != 1 {
		t.Errorf("/active?ip=2001:db8::2 found %d calls, want the one live call", len(act.Calls))
	}
	c.getJSON("/api/v1/active?ip=192.0.2.9", 200, &act)
	if len(act.Calls) != 0 {
		t.Errorf("/active?ip=192.0.2.9 found %d calls, want none", len(act.Calls))
	}
	for _, v := range []string{"1", "true", "0", "false"} {
		c.getJSON("/api/v1/calls/"+id+"/ladder?linked="+v, 200, nil)
	}
	c.getJSON("/api/v1/calls?mos_below=3.6", 200, nil)

	t.Run("method not allowed", func(t *testing.T) {
		for _, p := range []string{"/api/v1/calls", "/api/v1/stats", "/healthz"} {
			rec := c.do("POST", p, nil)
			if rec.Code != 405 || !strings.Contains(rec.Body.String(), `"error"`) {
				t.Errorf("POST %s: %d %s, want 405 with a JSON error", p, rec.Code, rec.Body.String())
			}
		}
		if rec := c.do("DELETE", "/api/v1/calls/"+id, nil); rec.Code != 405 {
			t.Errorf("DELETE a call: %d, want 405", rec.Code)
		}
		if rec := c.do("GET", "/api/v1/nothing", nil); rec.Code != 404 {
			t.Errorf("GET an unknown API path: %d, want 404", rec.Code)
		}
	})
	t.Run("assets", func(t *testing.T) {
		for _, p := range []string{"/assets/nope.js", "/assets/", "/assets/../web.go"} {
			rec := c.do("GET", p, nil)
			var body errorBody
			if rec.Code != 404 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" {
				t.Errorf("GET %s: %d %q %s, want a JSON 404", p, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
			}
		}
		for _, p := range []string{"/assets/app.js", "/assets/app.css", "/assets/alerts.js"} {
			if rec := c.do("GET", p, nil); rec.Code != 200 {
				t.Errorf("GET %s: %d", p, rec.Code)
			}
		}
	})
}
