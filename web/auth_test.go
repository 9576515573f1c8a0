package web

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	pemlib "encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
)

// authFixture is a login-required handler over an empty DuckDB store with two users
// whose password is "s3cret", a clock the test moves, and the registry it reports to.
type authFixture struct {
	t   *testing.T
	h   http.Handler
	reg *prometheus.Registry
	now *time.Time
	cfg Config
}

func newAuthFixture(t *testing.T, mod func(*Config)) *authFixture {
	t.Helper()
	st := openDuck(t)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &authFixture{t: t, reg: prometheus.NewRegistry(), now: &now}
	f.cfg = Config{
		RequireLogin: true,
		Users:        []User{{Name: "alice", PasswordHash: string(hash), Role: RoleAdmin}, {Name: "bob", PasswordHash: string(hash), Role: RoleViewer}},
		SessionTTL:   time.Hour,
		Now:          func() time.Time { return *f.now },
	}
	if mod != nil {
		mod(&f.cfg)
	}
	f.h = New(f.cfg, st, nil, f.reg)
	return f
}

// login posts the form from ip (RemoteAddr) with the browser headers set in hdr.
func (f *authFixture) login(ip, user, pass string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "http://callscope.test/login", strings.NewReader(url.Values{"user": {user}, "password": {pass}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = ip + ":40000"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *authFixture) get(path string, ck *http.Cookie) int {
	req := httptest.NewRequest("GET", "http://callscope.test"+path, nil)
	if ck != nil {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code
}

func (f *authFixture) session(rec *httptest.ResponseRecorder) *http.Cookie {
	f.t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return c
		}
	}
	f.t.Fatalf("no session cookie: %d %v", rec.Code, rec.Header())
	return nil
}

func (f *authFixture) failures(reason string) float64 {
	return testutil.ToFloat64(metricVec(f.t, f.reg, "callscope_web_auth_failures_total", "reason", reason))
}

// metricVec finds one series of a counter vector in reg by its single label.
func metricVec(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
					c.Add(m.GetCounter().GetValue())
					return c
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return nil
}

// lazyBody yields n bytes without holding them: a 300 MB body the server must not read.
type lazyBody struct {
	prefix  string
	n, read int64
}

func (b *lazyBody) Read(p []byte) (int, error) {
	if b.read >= b.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > b.n-b.read {
		k = b.n - b.read
	}
	for i := int64(0); i < k; i++ {
		if off := b.read + i; off < int64(len(b.prefix)) {
			p[i] = b.prefix[off]
		} else {
			p[i] = 'a'
		}
	}
	b.read += k
	return int(k), nil
}

func TestLoginBodyCapped(t *testing.T) {
	f := newAuthFixture(t, nil)
	for _, ct := range []string{"application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x"} {
		prefix := "user=alice&password="
		switch ct {
		case "application/json":
			prefix = `{"user":"alice","password":"`
		case "multipart/form-data; boundary=x":
			prefix = "--x\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n"
		}
		body := &lazyBody{prefix: prefix, n: 300 << 20}
		req := httptest.NewRequest("POST", "http://callscope.test/login", body)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		// The cap is 64 KiB: reading more than a few buffers past it means the body was taken.
		if body.read > 1<<20 || rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: POST /login of 300 MB: status %d after reading %d bytes, want 413 after at most 1 MiB", ct, rec.Code, body.read)
		}
	}
}

// TestServerTimeouts: a client that sends its headers (or body) a byte at a time is cut
// off by the server's read timeouts rather than holding a connection forever.
func TestServerTimeouts(t *testing.T) {
	f := newAuthFixture(t, nil)
	srv, err := NewServer(f.h, ServerConfig{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct{ name, head string }{
		{"slow headers", "POST /login HTTP/1.1\r\nHost: x\r\n"},
		{"slow body", "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nuser=alice&password="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.head); err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			closed := make(chan struct{})
			go func() {
				io.Copy(io.Discard, bufio.NewReader(conn)) // returns when the server closes
				close(closed)
			}()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					if d := time.Since(begin); d > 3*time.Second {
						t.Fatalf("closed after %v", d)
					}
					return
				case <-tick.C:
					conn.Write([]byte("a")) // trickle: each byte arrives before any per-read idle limit
					if time.Since(begin) > 5*time.Second {
						t.Fatal("a trickling client still holds its connection after 5 s")
					}
				}
			}
		})
	}
	if srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("server limits: write %v idle %v max header %d", srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// TestLoginRateLimit: five wrong passwords for one user (from anywhere) or twenty from
// one source lock further attempts out with 429 and Retry-After, even with the right
// password, without spending a bcrypt; the lock lifts after the back-off.
func TestLoginRateLimit(t *testing.T) {
	f := newAuthFixture(t, nil)
	for i := range 5 {
		if rec := f.login("192.0.2."+itoa(i+1), "alice", "wrong", nil); rec.Code != http.StatusSeeOther {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	rec := f.login("192.0.2.99", "alice", "s3cret", nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("6th attempt for alice: %d %v, want 429 with Retry-After", rec.Code, rec.Header())
	}
	if f.failures("rate_limited") != 1 {
		t.Errorf("rate_limited failures %v", f.failures("rate_limited"))
	}
	// bob is not locked by alice's failures.
	if rec := f.login("192.0.2.50", "bob", "s3cret", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("bob: %d %v", rec.Code, rec.Header())
	}
	*f.now = f.now.Add(2 * time.Second)
	if rec := f.login("192.0.2.99", "alice", "s3cret", nil); rec.Header().Get("Location") != "/" {
		t.Fatalf("after the back-off: %d %v", rec.Code, rec.Header())
	}

	// One source guessing many users.
	for i := range 20 {
		f.login("198.51.100.7", "user"+itoa(i), "x", nil)
	}
	if rec := f.login("198.51.100.7", "bob", "s3cret", nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("21st attempt from one source: %d", rec.Code)
	}
	if rec := f.login("198.51.100.8", "bob", "s3cret", nil); rec.Header().Get("Location") != "/" {
		t.Fatalf("another source: %d", rec.Code)
	}
}

func TestLoginTablesBounded(t *testing.T) {
	f := newAuthFixture(t, func(c *Config) { c.LoginTableSize = 8; c.MaxSessions = 2 })
	for i := range 20 {
		f.login("203.0.113."+itoa(i), "nobody"+itoa(i), "x", nil)
	}
	if got := testutil.ToFloat64(metricVec(t, f.reg, "callscope_web_login_evictions_total", "table", "source")); got != 12 {
		t.Errorf("source table evictions %v, want 12 (20 sources, 8 slots)", got)
	}
	if got := testutil.ToFloat64(metricVec(t, f.reg, "callscope_web_login_evictions_total", "table", "user")); got != 12 {
		t.Errorf("user table evictions %v, want 12", got)
	}
	// Three logins in a table of two: the oldest session goes, and is counted.
	var cks []*http.Cookie
	for range 3 {
		cks = append(cks, f.session(f.login("192.0.2.1", "alice", "s3cret", nil)))
	}
	if f.get("/api/v1/me", cks[0]) != 401 || f.get("/api/v1/me", cks[1]) != 200 || f.get("/api/v1/me", cks[2]) != 200 {
		t.Fatal("session table of 2 does not keep the newest two")
	}
	if got := testutil.ToFloat64(metricVec(t, f.reg, "callscope_web_login_evictions_total", "table", "session")); got != 1 {
		t.Errorf("session evictions %v, want 1", got)
	}
}

// TestDummyHashCost: an unknown user costs the same bcrypt as a known one, so timing
// does not tell whether a name exists (the dummy hash has the users' cost).
func TestDummyHashCost(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), 6)
	a := newAuthenticator(&Config{Users: []User{{Name: "a", PasswordHash: string(hash), Role: RoleAdmin}}}, newMetrics(nil))
	if c, err := bcrypt.Cost(a.dummyPwd); err != nil || c != 6 {
		t.Fatalf("dummy hash cost %d %v, want 6 (the users' cost)", c, err)
	}
}

// TestSessionsServerSide: logout revokes the session on the server (a copied cookie
// stops working), and a session from a handler whose user changed password, even with
// the same session key, is refused.
func TestSessionsServerSide(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	f := newAuthFixture(t, func(c *Config) { c.SessionKey = key })
	ck := f.session(f.login("192.0.2.1", "alice", "s3cret", nil))
	if f.get("/api/v1/me", ck) != 200 {
		t.Fatal("fresh session refused")
	}
	req := httptest.NewRequest("POST", "http://callscope.test/logout", nil)
	req.AddCookie(ck)
	f.h.ServeHTTP(httptest.NewRecorder(), req)
	if code := f.get("/api/v1/me", ck); code != 401 {
		t.Fatalf("session after logout: %d, want 401", code)
	}

	ck = f.session(f.login("192.0.2.1", "alice", "s3cret", nil))
	newHash, _ := bcrypt.GenerateFromPassword([]byte("changed"), bcrypt.MinCost)
	g := newAuthFixture(t, func(c *Config) {
		c.SessionKey = key
		c.Users[0].PasswordHash = string(newHash)
	})
	if code := g.get("/api/v1/me", ck); code != 401 {
		t.Fatalf("session after a password change: %d, want 401", code)
	}
}

func TestSecureCookie(t *testing.T) {
	f := newAuthFixture(t, nil)
	req := httptest.NewRequest("POST", "https://callscope.test/login", strings.NewReader("user=alice&password=s3cret"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if ck := f.session(rec); !ck.Secure {
		t.Error("cookie over TLS is not Secure")
	}
	if ck := f.session(f.login("192.0.2.1", "alice", "s3cret", nil)); ck.Secure {
		t.Error("cookie over plain HTTP without secure_cookies is Secure (the browser would drop it)")
	}
	g := newAuthFixture(t, func(c *Config) { c.SecureCookie = true })
	if ck := g.session(g.login("192.0.2.1", "alice", "s3cret", nil)); !ck.Secure {
		t.Error("secure_cookies: cookie not Secure")
	}
}

// TestLoginCSRF: a POST whose Origin (or, without one, Referer) names another site, or
// that the browser marks cross-site, is refused: a page elsewhere cannot log a victim in
// or out.
func TestLoginCSRF(t *testing.T) {
	f := newAuthFixture(t, nil)
	for _, hdr := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "null"},
		{"Origin": "http://callscope.test.evil.example"},
		{"Referer": "https://evil.example/page"},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		rec := f.login("192.0.2.1", "alice", "s3cret", hdr)
		if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
			t.Errorf("POST /login with %v: %d, want 403 and no cookie", hdr, rec.Code)
		}
	}
	if f.failures("cross_origin") != 5 {
		t.Errorf("cross_origin failures %v, want 5", f.failures("cross_origin"))
	}
	for _, hdr := range []map[string]string{
		{"Origin": "http://callscope.test", "Sec-Fetch-Site": "same-origin"},
		{"Referer": "http://callscope.test/login?failed=1"},
		nil, // curl: no Origin, no Referer
	} {
		if rec := f.login("192.0.2.1", "alice", "s3cret", hdr); rec.Header().Get("Location") != "/" {
			t.Errorf("same-origin POST /login with %v: %d %v", hdr, rec.Code, rec.Header())
		}
	}
	// Logout is a POST too.
	ck := f.session(f.login("192.0.2.1", "alice", "s3cret", nil))
	req := httptest.NewRequest("POST", "http://callscope.test/logout", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.AddCookie(ck)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || f.get("/api/v1/me", ck) != 200 {
		t.Errorf("cross-site logout: %d", rec.Code)
	}
}

// TestCookieFailuresCounted: forged and expired cookies are counted by reason.
func TestCookieFailuresCounted(t *testing.T) {
	f := newAuthFixture(t, nil)
	ck := f.session(f.login("192.0.2.1", "alice", "s3cret", nil))
	for _, v := range []string{"garbage", strings.Replace(ck.Value, ".", "A.", 1), ck.Value + "A", "." + strings.SplitN(ck.Value, ".", 2)[1]} {
		if f.get("/api/v1/me", &http.Cookie{Name: sessionCookie, Value: v}) != 401 {
			t.Fatalf("forged cookie %q accepted", v)
		}
	}
	if got := f.failures("forged_cookie"); got != 4 {
		t.Errorf("forged_cookie %v, want 4", got)
	}
	*f.now = f.now.Add(2 * time.Hour)
	if f.get("/api/v1/me", ck) != 401 {
		t.Fatal("expired session accepted")
	}
	if got := f.failures("expired_cookie"); got != 1 {
		t.Errorf("expired_cookie %v, want 1", got)
	}
}

// TestLoginPageAssets: the login page's stylesheet is served without a login (the page
// is unusable otherwise), other assets are not, and a failed login says so.
func TestLoginPageAssets(t *testing.T) {
	f := newAuthFixture(t, nil)
	req := httptest.NewRequest("GET", "http://callscope.test/login", nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `href="/assets/app.css"`) {
		t.Fatal("login page does not load /assets/app.css")
	}
	if code := f.get("/assets/app.css", nil); code != 200 {
		t.Errorf("/assets/app.css without login: %d, want 200", code)
	}
	if code := f.get("/assets/app.js", nil); code != http.StatusSeeOther {
		t.Errorf("/assets/app.js without login: %d, want 303 to /login", code)
	}
	req = httptest.NewRequest("GET", "http://callscope.test/login?failed=1", nil)
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "Wrong user or password") {
		t.Errorf("/login?failed=1 shows no message:\n%s", rec.Body.String())
	}
}

// TestServerTLS: with tls_cert and tls_key the listener speaks HTTPS (and only HTTPS),
// and a login over it gets a Secure cookie.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	f := newAuthFixture(t, nil)
	if _, err := NewServer(f.h, ServerConfig{TLSCert: certFile}); err == nil {
		t.Fatal("a certificate without a key is accepted")
	}
	srv, err := NewServer(f.h, ServerConfig{TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go Serve(srv, ln)
	t.Cleanup(func() { srv.Close() })
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "callscope.test"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + ln.Addr().String()
	resp, err := cl.PostForm(base+"/login", url.Values{"user": {"alice"}, "password": {"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure || resp.TLS == nil {
		t.Fatalf("login over TLS: %d %v", resp.StatusCode, resp.Cookies())
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "callscope.test"},
		DNSNames: []string{"callscope.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pemlib.EncodeToMemory(&pemlib.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pemlib.EncodeToMemory(&pemlib.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}
