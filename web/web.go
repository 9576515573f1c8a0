package web

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed assets
var assetFS embed.FS

// LiveSource publishes the calls still in progress. ActiveCalls must be safe for
// concurrent use and return a snapshot the caller only reads.
type LiveSource interface {
	ActiveCalls() []correlate.Call
}

// Roles a user or token may have.
const (
	RoleAdmin        = "admin"         // everything
	RoleViewer       = "viewer"        // everything read-only (the API is read-only)
	RoleViewerMasked = "viewer-masked" // like viewer, phone numbers masked, no pcap export
)

// User may log in to the dashboard.
type User struct {
	Name         string `json:"name" yaml:"name"`
	PasswordHash string `json:"password_bcrypt" yaml:"password_bcrypt"` // bcrypt hash
	Role         string `json:"role" yaml:"role"`
}

// Token is an API token sent as "Authorization: Bearer TOKEN". SHA256 is the hex SHA-256
// of the token, so the config file need not hold the secret itself.
type Token struct {
	Name   string `json:"name" yaml:"name"`
	SHA256 string `json:"sha256" yaml:"sha256"`
	Role   string `json:"role" yaml:"role"`
}

// Config configures the handler. The zero value serves without login.
type Config struct {
	// RequireLogin demands a session or token for everything but /healthz, /readyz and
	// the login page. Set it whenever the listen address is not loopback.
	RequireLogin bool
	Users        []User
	Tokens       []Token
	// MaskNumbers masks phone numbers for every viewer (otherwise only for the
	// viewer-masked role): digits but the last two become 'x'.
	MaskNumbers bool
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// SessionKey signs session cookies (at least 32 bytes); random when empty, so
	// sessions end with the process.
	SessionKey []byte
	// SecureCookie sets the Secure attribute on session cookies always; without it they
	// get it when the request came over TLS (directly, or per X-Forwarded-Proto: https).
	SecureCookie bool
	// MaxSessions bounds the server-side session table (default 10000); beyond it the
	// oldest session ends (callscope_web_login_evictions_total{table="session"}).
	MaxSessions int
	// LoginTableSize bounds each login rate-limit table, by source and by user name
	// (default 10000 entries each; evictions counted by table).
	LoginTableSize int
	// KeepRTP is reported by the dashboard (none|headers|full).
	KeepRTP string
	Logger  *slog.Logger
	// Now is the clock for sessions (tests); time.Now when nil.
	Now func() time.Time
	// Alerts returns the built-in alerts pending or firing now (GET /api/v1/alerts);
	// nil when built-in alerting is off. Safe for concurrent use.
	Alerts func() []store.AlertEvent
}

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	authFail   *prometheus.CounterVec
	loginEvict *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_web_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callscope_web_request_duration_seconds", Help: "HTTP request time by route.",
			Buckets: []float64{.001, .005, .01, .05, .1, .3, 1, 3, 10},
		}, []string{"route"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_web_auth_failures_total", Help: "Rejected logins, tokens, session cookies and cross-origin posts, by reason.",
		}, []string{"reason"}),
		loginEvict: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callscope_web_login_evictions_total", Help: "Entries evicted from a full login table: session, source or user (rate limits).",
		}, []string{"table"}),
	}
	for _, r := range failReasons {
		m.authFail.WithLabelValues(r)
	}
	for _, t := range []string{"session", "source", "user"} {
		m.loginEvict.WithLabelValues(t)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.authFail, m.loginEvict} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}

type server struct {
	cfg  Config
	st   store.Store
	live LiveSource
	log  *slog.Logger
	m    *metrics
	auth *authenticator
	gath prometheus.Gatherer
}

// New returns the HTTP handler: dashboard at /, API under /api/v1, /healthz, /readyz,
// /metrics. live may be nil (no in-progress calls). reg receives the web metrics and is
// served on /metrics when it is also a prometheus.Gatherer (a *prometheus.Registry);
// nil means prometheus.DefaultRegisterer.
func New(cfg Config, st store.Store, live LiveSource, reg prometheus.Registerer) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	gath, ok := reg.(prometheus.Gatherer)
	if !ok {
		gath = prometheus.DefaultGatherer
	}
	s := &server{cfg: cfg, st: st, live: live, log: cfg.Logger, m: newMetrics(reg), gath: gath}
	s.auth = newAuthenticator(&s.cfg, s.m)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.HandleMethodNotAllowed = true
	_ = r.SetTrustedProxies(nil) // the client is RemoteAddr: X-Forwarded-For is anyone's to write
	r.Use(gin.Recovery(), s.observe, securityHeaders, limitBody)

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.GET("/readyz", s.readyz)
	r.GET("/login", s.loginPage)
	r.POST("/login", s.login)
	r.POST("/logout", s.logout)

	sub, _ := fs.Sub(assetFS, "assets")
	files := http.FileServer(http.FS(sub))
	authed := r.Group("/", s.auth.require)
	authed.GET("/metrics", gin.WrapH(promhttp.HandlerFor(gath, promhttp.HandlerOpts{})))
	authed.GET("/", func(c *gin.Context) { serveAsset(c, sub, "index.html") })
	// The stylesheet is public: the login page needs it. Everything else is behind login.
	r.GET("/assets/*file", func(c *gin.Context) {
		if c.Param("file") != "/app.css" {
			if s.auth.require(c); c.IsAborted() {
				return
			}
		}
		name := c.Param("file")
		if fi, err := fs.Stat(sub, strings.TrimPrefix(name, "/")); err != nil || fi.IsDir() {
			apiError(c, http.StatusNotFound, "no such asset "+name)
			return
		}
		c.Request.URL.Path = name
		files.ServeHTTP(c.Writer, c.Request)
	})

	api := r.Group("/api/v1", s.auth.require)
	api.GET("/me", s.me)
	api.GET("/calls", s.searchCalls)
	api.GET("/active", s.activeCalls)
	api.GET("/calls/pcap", s.multiPcap) // multipcap.go
	api.GET("/calls/:id", s.getCall)
	api.GET("/calls/:id/ladder", s.ladder)
	api.GET("/calls/:id/pcap", s.pcap)
	api.GET("/calls/:id/audio", s.audio) // audio.go
	api.GET("/stats", s.stats)
	api.GET("/top", s.top)
	api.GET("/registrations", s.registrations)
	api.GET("/registrations/:id/ladder", s.regLadder)
	api.GET("/alerts", s.alerts) // alerts.go
	s.securityRoutes(api)        // security.go
	r.NoRoute(func(c *gin.Context) { apiError(c, http.StatusNotFound, "not found") })
	r.NoMethod(func(c *gin.Context) {
		apiError(c, http.StatusMethodNotAllowed, "method "+c.Request.Method+" not allowed here")
	})
	return r
}

func serveAsset(c *gin.Context, sub fs.FS, name string) {
	b, err := fs.ReadFile(sub, name)
	if err != nil {
		apiError(c, http.StatusNotFound, "not found")
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", b)
}

func (s *server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.m.requests.WithLabelValues(route, itoa(c.Writer.Status())).Inc()
	s.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// maxBody caps every request body (the API is read-only; a login form is a few hundred
// bytes): beyond it reads fail with *http.MaxBytesError and the connection is closed.
const maxBody = 64 << 10

func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	}
	c.Next()
}

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	c.Next()
}

func (s *server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		c.String(http.StatusServiceUnavailable, "store not ready: %v\n", err)
		return
	}
	c.String(http.StatusOK, "ready\n")
}

type errorBody struct {
	Error string `json:"error"`
}

func apiError(c *gin.Context, code int, msg string) {
	c.AbortWithStatusJSON(code, errorBody{Error: msg})
}
