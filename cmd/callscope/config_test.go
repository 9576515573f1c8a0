package main

import (
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func configFixture(kind, name string) string { return filepath.Join("testdata", "config", kind, name) }

// TestConfigFixturesGood loads each good fixture through the whole tree (defaults, file,
// Validate) and checks the fields against what the fixture file says; fields it does not
// name keep defaultServeConfig's values.
func TestConfigFixturesGood(t *testing.T) {
	def := defaultServeConfig()
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, c serveConfig)
	}{
		{"minimal.yaml", func(t *testing.T, c serveConfig) {
			want := def
			if err := want.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got %+v, want the defaults %+v", c, want)
			}
		}},
		{"probe.yaml", func(t *testing.T, c serveConfig) {
			if c.Listen != "0.0.0.0:8080" || c.Store != "duckdb:/var/lib/callscope/callscope.duckdb" ||
				!reflect.DeepEqual(c.Interfaces, []string{"eth1", "eth2"}) || c.Filter != "udp or tcp port 5060" ||
				c.HEP != ":9060" || !c.MaskNumbers || c.KeepRTP != "full" || c.StoreBatchSize != 10000 {
				t.Errorf("fields: %+v", c)
			}
			if c.retention != 12*time.Hour {
				t.Errorf("retention %v, want 12h", c.retention)
			}
			if c.store.Path != "/var/lib/callscope/callscope.duckdb" || c.store.SpoolDir() != "/var/lib/callscope/spool" {
				t.Errorf("store %+v", c.store)
			}
			if len(c.Users) != 2 || c.Users[1].Role != "viewer-masked" || len(c.Tokens) != 1 {
				t.Errorf("users %+v tokens %+v", c.Users, c.Tokens)
			}
			if wc := c.webConfig(); !wc.RequireLogin || len(wc.SessionKey) != 32 || !wc.MaskNumbers || wc.KeepRTP != "full" {
				t.Errorf("web config %+v", wc)
			}
		}},
		{"probe.json", func(t *testing.T, c serveConfig) {
			if c.Listen != "[::]:8443" || c.store.Engine != "clickhouse" || c.HEP != "0.0.0.0:9060" || c.retention != 0 {
				t.Errorf("fields: %+v", c)
			}
			if c.KeepRTP != def.KeepRTP || c.StoreBatchSize != def.StoreBatchSize {
				t.Errorf("unnamed fields lost their defaults: %+v", c)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := parseServeConfig([]string{"--config", configFixture("good", tc.file)}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestConfigFixturesBad: each bad fixture fails, naming what is wrong.
func TestConfigFixturesBad(t *testing.T) {
	for file, want := range map[string]string{
		"unknown-key.yaml":               "colour",
		"syntax.yaml":                    "syntax.yaml",
		"bcrypt.json":                    "bcrypt",
		"role.json":                      `role "god"`,
		"token-hash.json":                "sha256",
		"filter-without-interface.yaml":  "give -i IFACE",
		"store.yaml":                     "mysql://db/calls",
		"retention.yaml":                 `retention "forever"`,
		"keep-rtp.yaml":                  "keep_rtp",
		"batch-size.yaml":                "store_batch_size",
		"session-key.yaml":               "session_key",
		"hep.yaml":                       `hep listen "9060"`,
		"open-listen-without-users.yaml": "login is required",
		"duplicate-user.yaml":            `duplicate name "alice"`,
	} {
		t.Run(file, func(t *testing.T) {
			_, err := parseServeConfig([]string{"--config", configFixture("bad", file)}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want it to mention %q", err, want)
			}
		})
	}
}

// TestConfigLayers: defaults, then the file, then the flags given; every flag reaches
// the tree.
func TestConfigLayers(t *testing.T) {
	probe := configFixture("good", "probe.yaml")
	for _, tc := range []struct {
		name  string
		args  []string
		check func(c serveConfig) bool
	}{
		{"flags alone", []string{"-r", "a.pcap", "-i", "eth0", "--filter", "udp", "--hep", ":9060", "--keep-rtp", "none",
			"--retention", "2d", "--mask-numbers", "--open", "--store", "duckdb:x/y.duckdb", "--listen", "127.0.0.1:9", "b.pcap"},
			func(c serveConfig) bool {
				return reflect.DeepEqual(c.Files, []string{"a.pcap", "b.pcap"}) && reflect.DeepEqual(c.Interfaces, []string{"eth0"}) &&
					c.Filter == "udp" && c.HEP == ":9060" && c.KeepRTP == "none" && c.retention == 48*time.Hour && c.MaskNumbers &&
					c.Open && c.store.Path == "x/y.duckdb" && c.Listen == "127.0.0.1:9"
			}},
		{"file alone", []string{"--config", probe},
			func(c serveConfig) bool {
				return c.HEP == ":9060" && c.KeepRTP == "full" && len(c.Files) == 0 && !c.Open
			}},
		{"a flag over the file", []string{"--config", probe, "--keep-rtp", "headers", "--hep", ":5000"},
			func(c serveConfig) bool {
				return c.KeepRTP == "headers" && c.HEP == ":5000" && c.retention == 12*time.Hour
			}},
		{"flags before --config still win", []string{"--hep", ":5000", "--config", probe},
			func(c serveConfig) bool { return c.HEP == ":5000" }},
		{"-i replaces the file's interfaces, then appends", []string{"--config", probe, "-i", "eth9", "-i", "eth8"},
			func(c serveConfig) bool { return reflect.DeepEqual(c.Interfaces, []string{"eth9", "eth8"}) }},
		{"a boolean flag set false over the file", []string{"--config", probe, "--mask-numbers=false"},
			func(c serveConfig) bool { return !c.MaskNumbers }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServeConfig(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
	if _, err := parseServeConfig([]string{"--no-such-flag"}, io.Discard); err != errUsage {
		t.Fatalf("unknown flag: %v, want errUsage", err)
	}
}
