package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/alert"
	"github.com/callscope/callscope/peers"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store/engine"
	"github.com/callscope/callscope/web"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// serveConfig is the configuration tree of `callscope serve`: defaults, then the
// --config file (YAML or JSON), then flags given on the command line, then Validate
// (parseServeConfig). Every serve flag lands here; serve reads nothing else.
type serveConfig struct {
	// Files are the capture files to replay (-r and the arguments; not in the file).
	Files []string `json:"-" yaml:"-"`
	// Interfaces are captured live (-i); Filter is a tcpdump expression run on them.
	Interfaces []string `json:"interfaces" yaml:"interfaces"`
	Filter     string   `json:"filter" yaml:"filter"`
	// HEP is the HEP listen address (UDP and TCP); empty: no HEP input.
	HEP string `json:"hep" yaml:"hep"`
	// HEPAuthKey, when set, is the shared secret every HEP packet must carry (HEPv3
	// auth key chunk); HEPAllow lists the source networks (CIDRs or addresses) accepted;
	// HEPMaxSkew is how far an agent's clock may be from ours before its capture times
	// are clamped to the receive time ("0" never clamps, for agents replaying old
	// captures).
	HEPAuthKey string   `json:"hep_auth_key" yaml:"hep_auth_key"`
	HEPAllow   []string `json:"hep_allow" yaml:"hep_allow"`
	HEPMaxSkew string   `json:"hep_max_skew" yaml:"hep_max_skew"`
	// Open opens the dashboard in a browser (--open; not in the file).
	Open bool `json:"-" yaml:"-"`

	Listen      string `json:"listen" yaml:"listen"`
	Store       string `json:"store" yaml:"store"`
	MaskNumbers bool   `json:"mask_numbers" yaml:"mask_numbers"`
	KeepRTP     string `json:"keep_rtp" yaml:"keep_rtp"`
	Retention   string `json:"retention" yaml:"retention"` // 30d, 12h, 0 (keep everything)
	// StoreBatchSize is calls per store write (the Writer's BatchSize; its queue holds 4
	// batches). 5000 by default; a ClickHouse store taking > 20,000 calls/s wants 10000.
	StoreBatchSize int `json:"store_batch_size" yaml:"store_batch_size"`
	// Workers is goroutines for a file replay (-r) and for the live input (-i, --hep):
	// 1 reads, decodes and correlates on one; 2 or more decode on a second
	// (pipeline_parallel.go, live_parallel.go), for the same calls at the cost of a
	// second busy core and a copy of each frame. Default: the CPUs.
	Workers int `json:"workers" yaml:"workers"`
	// CaptureReaders is AF_PACKET readers (PACKET_FANOUT_HASH) per -i interface; 1 by
	// default. Readers keep each flow's order but may interleave different flows by up
	// to one 20 ms batch, so a call seen on several hops (a proxy's two sides) can start
	// from the wrong hop: raise it only when one reader cannot keep up.
	CaptureReaders int `json:"capture_readers" yaml:"capture_readers"`
	// MaxRetainedBytes bounds the SIP text and media frames all calls in progress keep
	// for ladders and pcap export (correlate.Config.MaxRetainedBytes); 1 GiB by default.
	MaxRetainedBytes int64 `json:"max_retained_bytes" yaml:"max_retained_bytes"`
	// FrameSpillMaxBytes caps the scratch files where the correlator keeps the sealed
	// chunks of running calls' kept frames (correlate/spill.go), in a "framespill"
	// directory beside the spool, cleared at start: with them an open call holds only
	// its last 2 KiB chunk in memory. 4 GiB by default; -1 keeps every chunk in memory.
	FrameSpillMaxBytes int64 `json:"frame_spill_max_bytes" yaml:"frame_spill_max_bytes"`
	// MemoryLimit is the Go runtime's soft memory limit for serve, in bytes
	// (runtime/debug.SetMemoryLimit, see memory.go): the garbage collector runs harder as
	// the heap nears it instead of letting RSS grow to twice the live heap. 0 (default)
	// sizes it for the machine: 2 × max_retained_bytes + 1 GiB, at most three quarters of
	// the RAM (or of the cgroup's memory.max); the GOMEMLIMIT environment variable, when
	// set, wins. -1 leaves the runtime's default (no limit).
	MemoryLimit int64 `json:"memory_limit" yaml:"memory_limit"`
	// GCPercent is the Go collector's GOGC for serve (memory.go): 0 (default) is 50, so
	// the heap grows to 1.5× the live heap between collections instead of 2×; the GOGC
	// environment variable, when set, wins.
	GCPercent int         `json:"gc_percent" yaml:"gc_percent"`
	Users     []web.User  `json:"users" yaml:"users"`
	Tokens    []web.Token `json:"tokens" yaml:"tokens"`
	// SessionKey (hex, at least 32 bytes) keeps logins valid across restarts; random
	// per process when empty.
	SessionKey string `json:"session_key" yaml:"session_key"`
	// Security configures the security analytics (security.Config: rules, thresholds, caps).
	Security security.Config `json:"security" yaml:"security"`
	// TLSCert and TLSKey (PEM files) make the listener HTTPS; SecureCookies sets Secure
	// on session cookies behind a TLS-terminating proxy (automatic with TLS here).
	TLSCert       string `json:"tls_cert" yaml:"tls_cert"`
	TLSKey        string `json:"tls_key" yaml:"tls_key"`
	SecureCookies bool   `json:"secure_cookies" yaml:"secure_cookies"`
	// Peers, Alerts and Notify: peer groups, built-in alert rules and where alerts are
	// sent (alerting.go, docs/alerts.md).
	Peers  []peers.Group      `json:"peers" yaml:"peers"`
	Alerts alert.Config       `json:"alerts" yaml:"alerts"`
	Notify alert.NotifyConfig `json:"notify" yaml:"notify"`

	hepAllow       []netip.Prefix
	hepMaxSkew     time.Duration // capture.HEPConfig.MaxSkew: negative never clamps
	retention      time.Duration
	retentionEvery time.Duration // between retention passes; an hour when zero (tests shorten it)
	store          engine.URL
	peers          *peers.Classifier
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		Listen:             "127.0.0.1:8080",
		Store:              "duckdb:./callscope-data/callscope.duckdb",
		KeepRTP:            "headers",
		Retention:          "30d",
		HEPMaxSkew:         "60s",
		StoreBatchSize:     5000,
		Workers:            runtime.NumCPU(),
		CaptureReaders:     1,
		MaxRetainedBytes:   1 << 30,
		FrameSpillMaxBytes: 4 << 30,
		Security:           security.DefaultConfig(),
	}
}

// serveFlags binds every serve flag to a field of c: a flag given on the command line
// overwrites what c holds (defaults, or the file's values); one not given leaves it.
func serveFlags(c *serveConfig, configFile *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(&listFlag{p: &c.Files}, "r", "capture file to ingest (pcap, pcapng, gzipped or not); repeat for several")
	fs.Var(&listFlag{p: &c.Interfaces}, "i", "network interface to capture live (AF_PACKET; needs root or CAP_NET_RAW); repeat for several")
	fs.StringVar(&c.HEP, "hep", c.HEP, "HEP listen address (UDP and TCP, e.g. :9060) for capture agents")
	fs.Var(&listFlag{p: &c.HEPAllow}, "hep-allow", "accept HEP only from this network (CIDR or address); repeat for several")
	fs.StringVar(&c.HEPMaxSkew, "hep-max-skew", c.HEPMaxSkew, "clamp HEP capture times further than this from the probe's clock (0: never)")
	fs.StringVar(&c.Filter, "filter", c.Filter, "capture filter for -i, a tcpdump expression run in the kernel (compiled with tcpdump)")
	fs.StringVar(configFile, "config", *configFile, "config file (YAML, or JSON when named .json)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP listen address; login is required when not loopback")
	fs.StringVar(&c.Store, "store", c.Store, "store URL: duckdb:PATH or clickhouse://user:pass@host:9000/db")
	fs.BoolVar(&c.MaskNumbers, "mask-numbers", c.MaskNumbers, "mask the digits of phone numbers (all but the last 2) for every viewer")
	fs.StringVar(&c.KeepRTP, "keep-rtp", c.KeepRTP, "RTP kept for pcap export: none, headers or full")
	fs.StringVar(&c.Retention, "retention", c.Retention, "drop stored days older than this (e.g. 30d; 0 keeps everything)")
	fs.BoolVar(&c.Open, "open", c.Open, "open the dashboard in a browser")
	fs.IntVar(&c.Workers, "workers", c.Workers, workersUsage)
	return fs
}

// listFlag is a repeatable flag: the first use on the command line replaces the list
// (from the defaults or the file), later ones append.
type listFlag struct {
	p   *[]string
	set bool
}

func (l *listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		*l.p, l.set = nil, true
	}
	*l.p = append(*l.p, v)
	return nil
}

// parseServeConfig builds the serve configuration from args: defaults, then the --config
// file, then the flags given, then Validate. A flag error is errUsage (the flag package
// has printed it to out).
func parseServeConfig(args []string, out io.Writer) (serveConfig, error) {
	cfg := defaultServeConfig()
	var configFile string
	fs := serveFlags(&cfg, &configFile, out)
	if err := fs.Parse(args); err != nil {
		return cfg, errUsage
	}
	if configFile != "" {
		// The file goes under the flags: load it over the defaults, then parse the
		// flags again over it (the first parse has checked them).
		cfg = defaultServeConfig()
		if err := loadConfigFile(configFile, &cfg); err != nil {
			return cfg, err
		}
		fs = serveFlags(&cfg, &configFile, io.Discard)
		if err := fs.Parse(args); err != nil {
			return cfg, errUsage
		}
	}
	cfg.Files = append(cfg.Files, fs.Args()...)
	return cfg, cfg.Validate()
}

// loadConfigFile merges the file at path into c. A .json file is read as strict JSON;
// anything else as YAML. Unknown keys are errors.
func loadConfigFile(path string, c *serveConfig) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// parseRetention reads "30d", "36h", "90m" or "0" (keep everything).
func parseRetention(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("retention %q: want e.g. 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("retention %q: want e.g. 30d or 12h", s)
	}
	return v, nil
}

// parseAllow reads the HEP allow-list: CIDRs, or addresses meaning one host.
func parseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("hep_allow %q: want a CIDR (10.0.0.0/8) or an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// isLoopback reports whether a listen address only accepts local connections.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Validate checks the tree and fills the parsed fields.
func (c *serveConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %v", c.Listen, err))
	}
	var err error
	if c.store, err = engine.Parse(c.Store); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	if c.Filter != "" && len(c.Interfaces) == 0 {
		errs = append(errs, errors.New("serve --filter applies to live capture: give -i IFACE"))
	}
	if c.HEP != "" {
		if _, _, err := net.SplitHostPort(c.HEP); err != nil {
			errs = append(errs, fmt.Errorf("hep listen %q: %v", c.HEP, err))
		}
	}
	if c.hepAllow, err = parseAllow(c.HEPAllow); err != nil {
		errs = append(errs, err)
	}
	if d, err := time.ParseDuration(c.HEPMaxSkew); c.HEPMaxSkew == "0" {
		c.hepMaxSkew = -1
	} else if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("hep_max_skew %q: want e.g. 60s, or 0 to never clamp", c.HEPMaxSkew))
	} else {
		c.hepMaxSkew = d
	}
	switch c.KeepRTP {
	case "none", "headers", "full":
	default:
		errs = append(errs, fmt.Errorf("keep_rtp %q: want none, headers or full", c.KeepRTP))
	}
	if c.MaxRetainedBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max_retained_bytes %d: want at least 1 MiB", c.MaxRetainedBytes))
	}
	if c.GCPercent < 0 || c.GCPercent > 10000 {
		errs = append(errs, fmt.Errorf("gc_percent %d: want 1 to 10000, or 0 for the default (50)", c.GCPercent))
	}
	if c.MemoryLimit != 0 && c.MemoryLimit != -1 && c.MemoryLimit < 64<<20 {
		errs = append(errs, fmt.Errorf("memory_limit %d: want at least 64 MiB, 0 (sized for the machine) or -1 (none)", c.MemoryLimit))
	}
	if c.CaptureReaders < 1 || c.CaptureReaders > 64 {
		errs = append(errs, fmt.Errorf("capture_readers %d: want 1 to 64", c.CaptureReaders))
	}
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers %d: want 1 to 1024", c.Workers))
	}
	if c.StoreBatchSize < 1 || c.StoreBatchSize > 100000 {
		errs = append(errs, fmt.Errorf("store_batch_size %d: want 1 to 100000", c.StoreBatchSize))
	}
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.retention, err = parseRetention(c.Retention); err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	for i, u := range c.Users {
		switch {
		case u.Name == "":
			errs = append(errs, fmt.Errorf("users[%d]: name is empty", i))
		case names[u.Name]:
			errs = append(errs, fmt.Errorf("users[%d]: duplicate name %q", i, u.Name))
		}
		names[u.Name] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("users[%d] %q: password_bcrypt is not a bcrypt hash (make one with `htpasswd -nbB user pass`)", i, u.Name))
		}
		if !validRole(u.Role) {
			errs = append(errs, fmt.Errorf("users[%d] %q: role %q: want admin, viewer or viewer-masked", i, u.Name, u.Role))
		}
	}
	for i, t := range c.Tokens {
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("tokens[%d] %q: sha256 must be 64 hex digits (sha256sum of the token)", i, t.Name))
		}
		if !validRole(t.Role) {
			errs = append(errs, fmt.Errorf("tokens[%d] %q: role %q: want admin, viewer or viewer-masked", i, t.Name, t.Role))
		}
	}
	if c.SessionKey != "" {
		if b, err := hex.DecodeString(c.SessionKey); err != nil || len(b) < 32 {
			errs = append(errs, errors.New("session_key: want at least 64 hex digits"))
		}
	}
	if c.peers, err = peers.New(c.Peers); err != nil {
		errs = append(errs, err)
	}
	if err := c.Alerts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !isLoopback(c.Listen) && len(c.Users) == 0 && len(c.Tokens) == 0 {
		errs = append(errs, fmt.Errorf("listen %q is not loopback, so login is required, but the config file has no users or tokens", c.Listen))
	}
	return errors.Join(errs...)
}

func validRole(r string) bool {
	return r == web.RoleAdmin || r == web.RoleViewer || r == web.RoleViewerMasked
}

// webConfig derives the handler's configuration.
func (c *serveConfig) webConfig() web.Config {
	key, _ := hex.DecodeString(c.SessionKey)
	return web.Config{
		RequireLogin: !isLoopback(c.Listen),
		Users:        c.Users,
		Tokens:       c.Tokens,
		MaskNumbers:  c.MaskNumbers,
		SessionKey:   key,
		SecureCookie: c.SecureCookies || c.TLSCert != "",
		KeepRTP:      c.KeepRTP,
	}
}
