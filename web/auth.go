package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
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
	fail     prometheus.Counter
	dummyPwd []byte
}

func newAuthenticator(cfg *Config, fail prometheus.Counter) *authenticator {
	a := &authenticator{cfg: cfg, key: cfg.SessionKey, users: map[string]User{}, tokens: map[[32]byte]Token{}, fail: fail}
	if len(a.key) < 32 {
		a.key = make([]byte, 32)
		if _, err := rand.Read(a.key); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
	}
	for _, u := range cfg.Users {
		a.users[u.Name] = u
	}
	for _, t := range cfg.Tokens {
		var k [32]byte
		if b, err := hex.DecodeString(t.SHA256); err == nil && len(b) == 32 {
			copy(k[:], b)
			a.tokens[k] = t
		}
	}
	// Compared against when the user is unknown, so both paths cost one bcrypt.
	a.dummyPwd, _ = bcrypt.GenerateFromPassword([]byte("callscope-dummy"), bcrypt.MinCost)
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

// require authenticates the request (bearer token, then session cookie) or rejects it:
// 401 JSON for the API, a redirect to /login for pages.
func (a *authenticator) require(c *gin.Context) {
	if !a.cfg.RequireLogin {
		c.Set(identKey, a.ident("", RoleAdmin))
		c.Next()
		return
	}
	if h := c.GetHeader("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if ok {
			if t, found := a.tokens[sha256.Sum256([]byte(strings.TrimSpace(tok)))]; found {
				c.Set(identKey, a.ident("token:"+t.Name, t.Role))
				c.Next()
				return
			}
		}
		a.fail.Inc()
		c.Header("WWW-Authenticate", `Bearer realm="callscope"`)
		apiError(c, http.StatusUnauthorized, "invalid token")
		return
	}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if name, role, ok := a.verify(ck); ok {
			c.Set(identKey, a.ident(name, role))
			c.Next()
			return
		}
	}
	if strings.HasPrefix(c.Request.URL.Path, "/api/") || c.Request.URL.Path == "/metrics" {
		c.Header("WWW-Authenticate", `Bearer realm="callscope"`)
		apiError(c, http.StatusUnauthorized, "login required")
		return
	}
	c.Redirect(http.StatusSeeOther, "/login")
	c.Abort()
}

// sign makes a session value: base64url("name\x00role\x00expiry") "." base64url(HMAC).
func (a *authenticator) sign(name, role string, exp int64) string {
	payload := name + "\x00" + role + "\x00" + strconv.FormatInt(exp, 10)
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *authenticator) verify(v string) (name, role string, ok bool) {
	p, sig, found := strings.Cut(v, ".")
	if !found {
		return "", "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	m := hmac.New(sha256.New, a.key)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return "", "", false
	}
	f := strings.Split(string(payload), "\x00")
	if len(f) != 3 {
		return "", "", false
	}
	exp, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || a.cfg.Now().Unix() >= exp {
		return "", "", false
	}
	// A user removed from the config loses access at once.
	u, known := a.users[f[0]]
	if !known || u.Role != f[1] {
		return "", "", false
	}
	return f[0], f[1], true
}

// check verifies a password; it costs one bcrypt comparison whether or not the user exists.
func (a *authenticator) check(name, password string) (User, bool) {
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

func (s *server) loginPage(c *gin.Context) {
	b, err := assetFS.ReadFile("assets/login.html")
	if err != nil {
		apiError(c, http.StatusInternalServerError, "login page missing")
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", b)
}

func (s *server) login(c *gin.Context) {
	var in struct {
		User     string `json:"user" form:"user"`
		Password string `json:"password" form:"password"`
	}
	if err := c.ShouldBind(&in); err != nil {
		apiError(c, http.StatusBadRequest, "user and password expected")
		return
	}
	u, ok := s.auth.check(in.User, in.Password)
	if !ok {
		s.m.authFail.Inc()
		if strings.Contains(c.GetHeader("Accept"), "application/json") || c.ContentType() == "application/json" {
			apiError(c, http.StatusUnauthorized, "wrong user or password")
			return
		}
		c.Redirect(http.StatusSeeOther, "/login?failed=1")
		return
	}
	exp := s.cfg.Now().Add(s.cfg.SessionTTL)
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: s.auth.sign(u.Name, u.Role, exp.Unix()), Path: "/",
		Expires: exp, HttpOnly: true, Secure: s.cfg.SecureCookie, SameSite: http.SameSiteStrictMode,
	})
	if c.ContentType() == "application/json" {
		c.JSON(http.StatusOK, s.auth.ident(u.Name, u.Role))
		return
	}
	c.Redirect(http.StatusSeeOther, "/")
}

func (s *server) logout(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.SecureCookie, SameSite: http.SameSiteStrictMode,
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
