package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

const (
	sessionCookie = "callscope_session"
	identKey      = "callscope.ident"
)

// identity is who makes a request.
type identity struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Masked bool   `json:"masked"`
	Login  bool   `json:"login_required"`
}

type authenticator struct {
	cfg      *Config
	key      []byte
	users    map[string]User
	tokens   map[[32]byte]Token
	m        *metrics
	dummyPwd []byte
	sessions *sessionTable
	bySource *limiter
	byUser   *limiter
	bcrypts  chan struct{} // bounds concurrent bcrypt comparisons (CPU)
}

// Reasons of callscope_web_auth_failures_total.
const (
	failCredentials = "bad_credentials" // wrong password or unknown user
	failRateLimited = "rate_limited"    // login refused during a back-off
	failBadRequest  = "bad_request"     // login form or JSON unreadable or too large
	failCrossOrigin = "cross_origin"    // POST from another site (CSRF)
	failToken       = "bad_token"       // unknown bearer token
	failForged      = "forged_cookie"   // session cookie with a bad signature or shape
	failExpired     = "expired_cookie"  // session past its lifetime
	failUnknown     = "unknown_session" // signed but not in the table: logged out, evicted, restarted
	failRevoked     = "revoked_session" // the user's password or role changed, or the user is gone
)

var failReasons = []string{failCredentials, failRateLimited, failBadRequest, failCrossOrigin, failToken, failForged, failExpired, failUnknown, failRevoked}

func newAuthenticator(cfg *Config, m *metrics) *authenticator {
	a := &authenticator{cfg: cfg, key: cfg.SessionKey, users: map[string]User{}, tokens: map[[32]byte]Token{}, m: m}
	if len(a.key) < 32 {
		a.key = make([]byte, 32)
		if _, err := rand.Read(a.key); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
	}
	cost := 0
	for _, u := range cfg.Users {
		a.users[u.Name] = u
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			cost = max(cost, c)
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	for _, t := range cfg.Tokens {
		var k [32]byte
		if b, err := hex.DecodeString(t.SHA256); err == nil && len(b) == 32 {
			copy(k[:], b)
			a.tokens[k] = t
		}
	}
	// Compared against when the user is unknown, at the users' cost, so both paths take
	// one bcrypt of the same price and timing does not tell which names exist.
	a.dummyPwd, _ = bcrypt.GenerateFromPassword([]byte("callscope-dummy"), cost)
	maxSessions, tableSize := cfg.MaxSessions, cfg.LoginTableSize
	if maxSessions <= 0 {
		maxSessions = 10000
	}
	if tableSize <= 0 {
		tableSize = 10000
	}
	a.sessions = newSessionTable(maxSessions, m.loginEvict.WithLabelValues("session"))
	a.bySource = newLimiter(sourceFreeFailures, tableSize, m.loginEvict.WithLabelValues("source"))
	a.byUser = newLimiter(userFreeFailures, tableSize, m.loginEvict.WithLabelValues("user"))
	a.bcrypts = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	return a
}

// HashToken returns the hex SHA-256 of an API token, the form Token.SHA256 holds.
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func (a *authenticator) masked(role string) bool {
	return a.cfg.MaskNumbers || role == RoleViewerMasked
}

func (a *authenticator) ident(name, role string) *identity {
	return &identity{Name: name, Role: role, Masked: a.masked(role), Login: a.cfg.RequireLogin}
}

func (a *authenticator) fail(reason string) { a.m.authFail.WithLabelValues(reason).Inc() }

// require authenticates the request (bearer token, then session cookie) or rejects it:
// 401 JSON for the API, a redirect to /login for pages.
func (a *authenticator) require(c *gin.Context) {
	if id := a.authenticate(c); id != nil {
		c.Set(identKey, id)
		c.Next()
		return
	}
	if c.IsAborted() {
		return
	}
	if strings.HasPrefix(c.Request.URL.Path, "/api/") || c.Request.URL.Path == "/metrics" {
		c.Header("WWW-Authenticate", `Bearer realm="callscope"`)
		apiError(c, http.StatusUnauthorized, "login required")
		return
	}
	c.Redirect(http.StatusSeeOther, "/login")
	c.Abort()
}

// authenticate returns who makes the request, or nil (having answered it when the
// answer is not the default 401 or redirect).
func (a *authenticator) authenticate(c *gin.Context) *identity {
	if !a.cfg.RequireLogin {
		return a.ident("", RoleAdmin)
	}
	if h := c.GetHeader("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if ok {
			if t, found := a.tokens[sha256.Sum256([]byte(strings.TrimSpace(tok)))]; found {
				return a.ident("token:"+t.Name, t.Role)
			}
		}
		a.fail(failToken)
		c.Header("WWW-Authenticate", `Bearer realm="callscope"`)
		apiError(c, http.StatusUnauthorized, "invalid token")
		return nil
	}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		name, role, reason := a.verify(ck)
		if reason == "" {
			return a.ident(name, role)
		}
		a.fail(reason)
	}
	return nil
}

// sessionID makes a new random session ID.
func newSessionID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign makes the cookie value of a session: ID "." base64url(HMAC-SHA256(key, ID)).
func (a *authenticator) sign(id string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks a cookie value; reason is empty when it names a live session.
func (a *authenticator) verify(v string) (name, role, reason string) {
	id, sig, found := strings.Cut(v, ".")
	if !found || len(id) != 43 || len(sig) != 43 {
		return "", "", failForged
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return "", "", failForged
	}
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(id))
	if !hmac.Equal(mac, m.Sum(nil)) {
		return "", "", failForged
	}
	s, ok, expired := a.sessions.get(id, a.cfg.Now())
	switch {
	case expired:
		return "", "", failExpired
	case !ok:
		return "", "", failUnknown
	}
	// A user removed from the config, or given a new password or role, loses access.
	if u, known := a.users[s.name]; !known || userPrint(u) != s.fp {
		a.sessions.remove(id)
		return "", "", failRevoked
	}
	return s.name, s.role, ""
}

// check verifies a password; it costs one bcrypt comparison, at the users' cost, whether
// or not the user exists. At most GOMAXPROCS comparisons run at once.
func (a *authenticator) check(ctx context.Context, name, password string) (User, bool) {
	select {
	case a.bcrypts <- struct{}{}:
		defer func() { <-a.bcrypts }()
	case <-ctx.Done():
		return User{}, false
	}
	u, ok := a.users[name]
	hash := a.dummyPwd
	if ok {
		hash = []byte(u.PasswordHash)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || err != nil {
		return User{}, false
	}
	return u, true
}

// sameOrigin is the CSRF check of a POST: the browser's Sec-Fetch-Site must say
// same-origin when sent; otherwise Origin (or, without it, Referer) must name this
// host. "Origin: null" passes only with Sec-Fetch-Site: same-origin (our pages send
// Referrer-Policy: no-referrer, which makes browsers send a null Origin). A request
// with none of these headers is not from a browser and passes.
func sameOrigin(r *http.Request) bool {
	fetchSite := r.Header.Get("Sec-Fetch-Site")
	if fetchSite != "" && fetchSite != "same-origin" {
		return false
	}
	sameHost := func(v string) bool {
		u, err := url.Parse(v)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) && (u.Scheme == "http" || u.Scheme == "https")
	}
	if o := r.Header.Get("Origin"); o != "" {
		if o == "null" {
			return fetchSite == "same-origin"
		}
		return sameHost(o)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		return sameHost(ref)
	}
	return true
}

// secure reports whether cookies get the Secure attribute: configured, or the request
// came over TLS (here, or at a proxy that says so).
func (s *server) secure(r *http.Request) bool {
	return s.cfg.SecureCookie || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

var loginMessages = map[string]string{
	"1":       "Wrong user or password.",
	"limited": "Too many failed logins. Wait a moment and try again.",
}

// loginPage serves the login form, with a message after a failed attempt.
func (s *server) loginPage(c *gin.Context) {
	s.renderLogin(c, http.StatusOK, loginMessages[c.Query("failed")])
}

func (s *server) renderLogin(c *gin.Context, code int, msg string) {
	b, err := assetFS.ReadFile("assets/login.html")
	if err != nil {
		apiError(c, http.StatusInternalServerError, "login page missing")
		return
	}
	if msg != "" {
		b = bytes.Replace(b, []byte("<!--message-->"), []byte(`<p class="error" role="alert">`+html.EscapeString(msg)+`</p>`), 1)
	}
	c.Header("Cache-Control", "no-store")
	c.Data(code, "text/html; charset=utf-8", b)
}

func wantsJSON(c *gin.Context) bool {
	return strings.Contains(c.GetHeader("Accept"), "application/json") || c.ContentType() == "application/json"
}

func (s *server) login(c *gin.Context) {
	if !sameOrigin(c.Request) {
		s.auth.fail(failCrossOrigin)
		apiError(c, http.StatusForbidden, "cross-origin login refused")
		return
	}
	var in struct {
		User     string `json:"user" form:"user"`
		Password string `json:"password" form:"password"`
	}
	if err := c.ShouldBind(&in); err != nil {
		s.auth.fail(failBadRequest)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiError(c, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		apiError(c, http.StatusBadRequest, "user and password expected")
		return
	}
	if len(in.User) > maxUserName {
		s.auth.fail(failBadRequest)
		apiError(c, http.StatusBadRequest, "user name too long")
		return
	}
	now := s.cfg.Now()
	src := sourceKey(c.Request.RemoteAddr)
	if wait := max(s.auth.bySource.wait(src, now), s.auth.byUser.wait(in.User, now)); wait > 0 {
		s.auth.fail(failRateLimited)
		c.Header("Retry-After", itoa(int((wait+time.Second-1)/time.Second)))
		if wantsJSON(c) {
			apiError(c, http.StatusTooManyRequests, "too many failed logins; retry later")
			return
		}
		s.renderLogin(c, http.StatusTooManyRequests, loginMessages["limited"])
		c.Abort()
		return
	}
	u, ok := s.auth.check(c.Request.Context(), in.User, in.Password)
	if !ok {
		s.auth.fail(failCredentials)
		s.auth.bySource.fail(src, now)
		s.auth.byUser.fail(in.User, now)
		if wantsJSON(c) {
			apiError(c, http.StatusUnauthorized, "wrong user or password")
			return
		}
		c.Redirect(http.StatusSeeOther, "/login?failed=1")
		return
	}
	s.auth.byUser.reset(in.User)
	exp := now.Add(s.cfg.SessionTTL)
	id := newSessionID()
	s.auth.sessions.add(&session{id: id, name: u.Name, role: u.Role, fp: userPrint(u), exp: exp}, now)
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: s.auth.sign(id), Path: "/",
		Expires: exp, HttpOnly: true, Secure: s.secure(c.Request), SameSite: http.SameSiteStrictMode,
	})
	if c.ContentType() == "application/json" {
		c.JSON(http.StatusOK, s.auth.ident(u.Name, u.Role))
		return
	}
	c.Redirect(http.StatusSeeOther, "/")
}

// logout ends the session on the server (the cookie stops working wherever it was
// copied to) and clears it in the browser.
func (s *server) logout(c *gin.Context) {
	if !sameOrigin(c.Request) {
		s.auth.fail(failCrossOrigin)
		apiError(c, http.StatusForbidden, "cross-origin logout refused")
		return
	}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if id, _, ok := strings.Cut(ck, "."); ok {
			if _, _, reason := s.auth.verify(ck); reason == "" {
				s.auth.sessions.remove(id)
			}
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(c.Request), SameSite: http.SameSiteStrictMode,
	})
	c.Redirect(http.StatusSeeOther, "/login")
}

func (s *server) me(c *gin.Context) {
	id := getIdent(c)
	c.JSON(http.StatusOK, struct {
		*identity
		KeepRTP string `json:"keep_rtp"`
	}{id, s.cfg.KeepRTP})
}

func getIdent(c *gin.Context) *identity {
	if v, ok := c.Get(identKey); ok {
		return v.(*identity)
	}
	return &identity{Role: RoleViewerMasked, Masked: true}
}
