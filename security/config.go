package security

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Duration is a time.Duration written as "60s", "5m" in YAML and JSON.
type Duration time.Duration

// MarshalText renders d like time.Duration.String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a Go duration ("60s", "5m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config configures the Detector: the rules, their thresholds and the table caps. The
// config file key is `security`. A threshold of 0 turns its rule off.
//
// Source rules count per source IP in windows of Window (a window starts at a source's
// first message after the previous window passed). An event, once raised, keeps counting
// while its activity goes on and ends after Hold without any.
type Config struct {
	// Enabled turns the detector on (default true).
	Enabled bool `json:"enabled" yaml:"enabled"`
	// Window is the counting window of the source and AOR rules (default 60s).
	Window Duration `json:"window" yaml:"window"`
	// Hold ends an event after this long without matching activity (default 60s).
	Hold Duration `json:"hold" yaml:"hold"`
	// Trusted sources (CIDRs: your proxies, trunks, PBXs) are exempt from the scanner,
	// brute_force and flood rules.
	Trusted []string `json:"trusted" yaml:"trusted"`

	Scanner    ScannerConfig    `json:"scanner" yaml:"scanner"`
	BruteForce BruteForceConfig `json:"brute_force" yaml:"brute_force"`
	Flood      FloodConfig      `json:"flood" yaml:"flood"`
	TollFraud  TollFraudConfig  `json:"toll_fraud" yaml:"toll_fraud"`
	Anomaly    AnomalyConfig    `json:"anomaly" yaml:"anomaly"`

	// Table caps; the oldest entry is recycled (and counted) when a table is full.
	MaxSources  int `json:"max_sources" yaml:"max_sources"`   // per-source state (default 16384)
	MaxAORs     int `json:"max_aors" yaml:"max_aors"`         // per-AOR failure counters (default 16384)
	MaxEvents   int `json:"max_events" yaml:"max_events"`     // events in progress (default 4096)
	MaxAccounts int `json:"max_accounts" yaml:"max_accounts"` // accounts for concurrent calls (default 4096)
	MaxPeers    int `json:"max_peers" yaml:"max_peers"`       // proxies learnt for open relay (default 1024)

	trusted []netip.Prefix
}

// ScannerConfig: the scanner rules.
type ScannerConfig struct {
	// UserAgents are case-insensitive substrings of a request's User-Agent that mark a
	// scanning tool; one such request raises an event.
	UserAgents []string `json:"user_agents" yaml:"user_agents"`
	// DistinctUsers: out-of-dialog INVITE, REGISTER and OPTIONS requests from one source
	// to this many distinct To users in a window (default 20, at most MaxDistinct).
	DistinctUsers int `json:"distinct_users" yaml:"distinct_users"`
	// DistinctHosts: the same requests to this many distinct destination IPs (default 20).
	DistinctHosts int `json:"distinct_hosts" yaml:"distinct_hosts"`
}

// BruteForceConfig: failed authentications, i.e. a 401 or 407 to a REGISTER or INVITE
// that carried credentials (Authorization or Proxy-Authorization), or any 403 to one.
// The first 401/407 of a normal digest exchange answers a request without credentials
// and does not count.
type BruteForceConfig struct {
	SourceFailures int `json:"source_failures" yaml:"source_failures"` // per source in a window (default 10)
	AORFailures    int `json:"aor_failures" yaml:"aor_failures"`       // per AOR, any sources, in a window (default 20)
}

// FloodConfig: requests of one method from one source in a window.
type FloodConfig struct {
	Invite   int `json:"invite" yaml:"invite"`     // default 3000 (50/s over 60s)
	Register int `json:"register" yaml:"register"` // default 3000
	Options  int `json:"options" yaml:"options"`   // default 3000
}

// TollFraudConfig: rules over finished calls.
type TollFraudConfig struct {
	// PremiumPrefixes: a call whose to_user (a leading '+' removed) starts with one of
	// these raises an event per caller IP and prefix (default none).
	PremiumPrefixes []string `json:"premium_prefixes" yaml:"premium_prefixes"`
	// MaxConcurrent: more simultaneous calls from one account (from_user) than this
	// (default 0: off).
	MaxConcurrent int `json:"max_concurrent" yaml:"max_concurrent"`
	// ShortCalls answered calls shorter than ShortCallMax from one caller IP to as many
	// distinct to_users in a window (wangiri; default 10 calls under 3s; at most MaxDistinct).
	ShortCalls   int      `json:"short_calls" yaml:"short_calls"`
	ShortCallMax Duration `json:"short_call_max" yaml:"short_call_max"`
	// OpenRelay: once a callee (proxy) has challenged at least this many answered calls
	// and at least 90% of its answered calls, an answered call to it without any
	// challenge raises an event (default 10).
	OpenRelay int `json:"open_relay" yaml:"open_relay"`
}

// AnomalyConfig: protocol anomalies by source, per window.
type AnomalyConfig struct {
	// MaxForwards: requests with Max-Forwards 0 or 483 (Too Many Hops) responses (default 1).
	MaxForwards int `json:"max_forwards" yaml:"max_forwards"`
	// Malformed: messages without Call-ID, From, To, CSeq or Via, or with more header
	// fields than the decoder records (default 10). Messages the decoder cannot read at
	// all are counted in decode_errors.bad_sip, without a source.
	Malformed int `json:"malformed" yaml:"malformed"`
	// Oversized: messages larger than OversizedBytes (default 1, 16384 bytes).
	Oversized      int `json:"oversized" yaml:"oversized"`
	OversizedBytes int `json:"oversized_bytes" yaml:"oversized_bytes"`
}

// MaxDistinct bounds Scanner.DistinctUsers and DistinctHosts (each source keeps that many
// target hashes).
const MaxDistinct = 64

// DefaultUserAgents are the scanner User-Agent substrings of DefaultConfig.
var defaultUserAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent",
	"sundayddr", "sip-scan", "iwar", "sivus", "smap", "siparmyknife", "pplsip"}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Enabled: true,
		Window:  Duration(60 * time.Second),
		Hold:    Duration(60 * time.Second),
		Scanner: ScannerConfig{
			UserAgents:    append([]string(nil), defaultUserAgents...),
			DistinctUsers: 20,
			DistinctHosts: 20,
		},
		BruteForce: BruteForceConfig{SourceFailures: 10, AORFailures: 20},
		Flood:      FloodConfig{Invite: 3000, Register: 3000, Options: 3000},
		TollFraud: TollFraudConfig{ShortCalls: 10, ShortCallMax: Duration(3 * time.Second),
			OpenRelay: 10},
		Anomaly:     AnomalyConfig{MaxForwards: 1, Malformed: 10, Oversized: 1, OversizedBytes: 16384},
		MaxSources:  16384,
		MaxAORs:     16384,
		MaxEvents:   4096,
		MaxAccounts: 4096,
		MaxPeers:    1024,
	}
}

// Validate checks c and parses Trusted.
func (c *Config) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("security.window %v: want > 0", time.Duration(c.Window)))
	}
	if c.Hold <= 0 {
		errs = append(errs, fmt.Errorf("security.hold %v: want > 0", time.Duration(c.Hold)))
	}
	c.trusted = c.trusted[:0]
	for _, s := range c.Trusted {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("security.trusted %q: want a CIDR or an IP", s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	for _, u := range c.Scanner.UserAgents {
		if u == "" {
			errs = append(errs, errors.New("security.scanner.user_agents: empty entry"))
		}
	}
	for name, v := range map[string]int{"scanner.distinct_users": c.Scanner.DistinctUsers,
		"scanner.distinct_hosts": c.Scanner.DistinctHosts, "toll_fraud.short_calls": c.TollFraud.ShortCalls} {
		if v < 0 || v > MaxDistinct {
			errs = append(errs, fmt.Errorf("security.%s %d: want 0 to %d", name, v, MaxDistinct))
		}
	}
	neg := map[string]int{
		"brute_force.source_failures": c.BruteForce.SourceFailures, "brute_force.aor_failures": c.BruteForce.AORFailures,
		"flood.invite": c.Flood.Invite, "flood.register": c.Flood.Register, "flood.options": c.Flood.Options,
		"toll_fraud.max_concurrent": c.TollFraud.MaxConcurrent,
		"toll_fraud.open_relay":     c.TollFraud.OpenRelay, "anomaly.max_forwards": c.Anomaly.MaxForwards,
		"anomaly.malformed": c.Anomaly.Malformed, "anomaly.oversized": c.Anomaly.Oversized,
	}
	for name, v := range neg {
		if v < 0 {
			errs = append(errs, fmt.Errorf("security.%s %d: want >= 0", name, v))
		}
	}
	if c.Anomaly.Oversized > 0 && c.Anomaly.OversizedBytes < 1 {
		errs = append(errs, fmt.Errorf("security.anomaly.oversized_bytes %d: want > 0", c.Anomaly.OversizedBytes))
	}
	if c.TollFraud.ShortCalls > 0 && c.TollFraud.ShortCallMax <= 0 {
		errs = append(errs, errors.New("security.toll_fraud.short_call_max: want > 0"))
	}
	for _, p := range c.TollFraud.PremiumPrefixes {
		if p == "" {
			errs = append(errs, errors.New("security.toll_fraud.premium_prefixes: empty entry"))
		}
	}
	caps := map[string]int{"max_sources": c.MaxSources, "max_aors": c.MaxAORs, "max_events": c.MaxEvents,
		"max_accounts": c.MaxAccounts, "max_peers": c.MaxPeers}
	for name, v := range caps {
		if v < 1 || v > 1<<22 {
			errs = append(errs, fmt.Errorf("security.%s %d: want 1 to %d", name, v, 1<<22))
		}
	}
	return errors.Join(errs...)
}
