package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/alert"
	"github.com/callscope/callscope/peers"
	"github.com/callscope/callscope/web"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// serveConfig is the configuration tree of `callscope serve`: defaults, then the
// --config file (YAML or JSON), then flags given on the command line, then Validate.
type serveConfig struct {
	Listen      string `json:"listen" yaml:"listen"`
	Store       string `json:"store" yaml:"store"`
	MaskNumbers bool   `json:"mask_numbers" yaml:"mask_numbers"`
	KeepRTP     string `json:"keep_rtp" yaml:"keep_rtp"`
	Retention   string `json:"retention" yaml:"retention"` // 30d, 12h, 0 (keep everything)
	// StoreBatchSize is calls per store write (the Writer's BatchSize; its queue holds 4
	// batches). 5000 by default; a ClickHouse store taking > 20,000 calls/s wants 10000.
	StoreBatchSize int         `json:"store_batch_size" yaml:"store_batch_size"`
	Users          []web.User  `json:"users" yaml:"users"`
	Tokens         []web.Token `json:"tokens" yaml:"tokens"`
	// SessionKey (hex, at least 32 bytes) keeps logins valid across restarts; random
	// per process when empty.
	SessionKey string `json:"session_key" yaml:"session_key"`
	// Peers, Alerts and Notify: peer groups, built-in alert rules and where alerts are
	// sent (alerting.go, docs/alerts.md).
	Peers  []peers.Group      `json:"peers" yaml:"peers"`
	Alerts alert.Config       `json:"alerts" yaml:"alerts"`
	Notify alert.NotifyConfig `json:"notify" yaml:"notify"`

	retention time.Duration
	peers     *peers.Classifier
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		Listen:         "127.0.0.1:8080",
		Store:          "duckdb:./callscope-data/callscope.duckdb",
		KeepRTP:        "headers",
		Retention:      "30d",
		StoreBatchSize: 5000,
	}
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
	if !strings.HasPrefix(c.Store, "duckdb:") && !strings.HasPrefix(c.Store, "clickhouse://") {
		errs = append(errs, fmt.Errorf("store %q: want duckdb:PATH or clickhouse://user:pass@host:9000/db", c.Store))
	}
	switch c.KeepRTP {
	case "none", "headers", "full":
	default:
		errs = append(errs, fmt.Errorf("keep_rtp %q: want none, headers or full", c.KeepRTP))
	}
	if c.StoreBatchSize < 1 || c.StoreBatchSize > 100000 {
		errs = append(errs, fmt.Errorf("store_batch_size %d: want 1 to 100000", c.StoreBatchSize))
	}
	var err error
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
		KeepRTP:      c.KeepRTP,
	}
}
