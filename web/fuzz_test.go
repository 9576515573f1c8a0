package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

var (
	fuzzOnce  sync.Once
	fuzzH     http.Handler
	fuzzClock atomic.Int64
)

// fuzzHandler is a login-required handler without a store (the auth paths never reach
// it): user alice, password "s3cret".
func fuzzHandler() http.Handler {
	fuzzOnce.Do(func() {
		hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
		fuzzH = New(Config{
			RequireLogin: true, LoginTableSize: 64, MaxSessions: 64,
			Users: []User{{Name: "alice", PasswordHash: string(hash), Role: RoleAdmin}},
			// An hour per call: back-offs lapse, so the fuzzer explores more than 429s.
			Now: func() time.Time {
				return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(fuzzClock.Add(1)) * time.Hour)
			},
		}, nil, nil, prometheus.NewRegistry())
	})
	return fuzzH
}

// FuzzLogin posts arbitrary login forms and JSON with arbitrary cookies and origins.
// Nothing may panic, the answer is one of the documented codes, and no request without
// alice's password gets a session.
func FuzzLogin(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "user=alice&password=wrong", "", "")
	f.Add("application/json", `{"user":"alice","password":"x"}`, "", "http://callscope.test")
	f.Add("application/json", `{"user":`, "abc.def", "null")
	f.Add("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nalice\r\n--x--\r\n", "", "")
	f.Add("text/plain", "\x00\xff", strings.Repeat("A", 43)+"."+strings.Repeat("B", 43), "https://evil.example")
	h := fuzzHandler()
	f.Fuzz(func(t *testing.T, ctype, body, cookie, origin string) {
		req := httptest.NewRequest("POST", "http://callscope.test/login", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.RemoteAddr = "192.0.2.1:1234"
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if cookie != "" {
			req.Header.Set("Cookie", sessionCookie+"="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 303, 400, 401, 403, 413, 429:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		if !strings.Contains(body, "s3cret") {
			for _, c := range rec.Result().Cookies() {
				if c.Name == sessionCookie && c.Value != "" {
					t.Fatalf("session granted without the password: %q", body)
				}
			}
		}
		// The cookie sent is never honoured (no session was made with it).
		req = httptest.NewRequest("GET", "http://callscope.test/api/v1/me", nil)
		if cookie != "" {
			req.Header.Set("Cookie", sessionCookie+"="+cookie)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Fatalf("GET /api/v1/me with cookie %q: %d", cookie, rec.Code)
		}
	})
}

// FuzzSessionCookie: verify never panics and never accepts a value it did not sign for a
// live session.
func FuzzSessionCookie(f *testing.F) {
	f.Add("")
	f.Add(".")
	f.Add(strings.Repeat("A", 43) + "." + strings.Repeat("A", 43))
	f.Add("YWxpY2UAYWRtaW4AOTk5OTk5OTk5OQ.c2ln")
	a := newAuthenticator(&Config{Now: time.Now}, newMetrics(nil))
	f.Fuzz(func(t *testing.T, v string) {
		if _, _, reason := a.verify(v); reason == "" {
			t.Fatalf("accepted %q", v)
		}
		if sameOrigin(&http.Request{Host: "h", Header: http.Header{"Origin": {v}}}) && v != "" {
			if u, err := url.Parse(v); err != nil || !strings.EqualFold(u.Host, "h") {
				t.Fatalf("origin %q passes as same-origin for host h", v)
			}
		}
	})
}
