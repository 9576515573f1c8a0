package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/hep"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/security"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/duckdb"
)

// writeScenario writes the catalogue scenario name to dir and returns its path.
func writeScenario(t *testing.T, dir, name string) string {
	t.Helper()
	for _, sc := range gen.Catalogue() {
		if sc.Name != name {
			continue
		}
		path := filepath.Join(dir, name+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := sc.Write(f); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Fatalf("no scenario %s", name)
	return ""
}

// TestServeSecurityFiles: serve -r feeds its detector like analyze: the scanner (20
// OPTIONS to 20 users from 203.0.113.66) and wangiri (10 short calls from 203.0.113.99)
// scenarios raise one event each (TestSecurityScenarios derives why), which reach the
// store, GET /api/v1/security, /security/top and /metrics.
func TestServeSecurityFiles(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "-r", writeScenario(t, dir, "sec-scanner"), "-r", writeScenario(t, dir, "sec-wangiri"))
	var resp struct {
		Events []security.Event `json:"events"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if getJSON(t, s.base+"/api/v1/security", &resp) == nil && len(resp.Events) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var got []string
	for _, e := range resp.Events {
		got = append(got, string(e.Type)+"/"+string(e.Rule)+"/"+e.Source)
	}
	slices.Sort(got)
	if want := []string{"scanner/many_users/203.0.113.66", "toll_fraud/short_calls/203.0.113.99"}; !slices.Equal(got, want) {
		t.Fatalf("stored security events %v, want %v", got, want)
	}
	var top struct {
		Sources []store.SecuritySource `json:"sources"`
	}
	if err := getJSON(t, s.base+"/api/v1/security/top?n=1", &top); err != nil || len(top.Sources) != 1 {
		t.Fatalf("security/top?n=1: %v %+v", err, top)
	}
	r, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{`callscope_security_events_total{type="scanner"} 1`, `callscope_security_events_total{type="toll_fraud"} 1`,
		"callscope_security_store_dropped_total 0"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestServeSecurityLive: the live input has its own detector. The scanner scenario's
// SIP, sent as HEPv3 over TCP, raises scanner/many_users; at shutdown the detector ends
// the event and its final count (the 20 requests) is stored.
func TestServeSecurityLive(t *testing.T) {
	path := writeScenario(t, t.TempDir(), "sec-scanner")
	base, hepAddr, dbPath, stop := startServeHEP(t)
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var stream []byte
	dec := decode.New(decode.DefaultConfig())
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, func(ev *decode.Event) {
			if ev.Kind == decode.KindSIP {
				p := hep.Packet{Version: 3, IPProto: 17, ProtoType: 1, Src: ev.Src, Dst: ev.Dst,
					TSSec: uint32(ev.TS / 1e9), TSUsec: uint32(ev.TS % 1e9 / 1e3), CaptureID: 7, Payload: ev.Payload}
				stream = hep.Append(stream, &p)
			}
		})
	}
	c, err := net.Dial("tcp", hepAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitMetric(t, base, `callscope_security_events_total{type="scanner"} 1`)
	stop()
	st, err := duckdb.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.SecurityEvents(context.Background(), store.SecurityQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Rule != security.RuleManyUsers || evs[0].Source != "203.0.113.66" || evs[0].Count != gen.ScanUsers {
		t.Fatalf("stored after shutdown: %+v; want one many_users event from 203.0.113.66 counting %d", evs, gen.ScanUsers)
	}
}
