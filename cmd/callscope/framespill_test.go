package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/internal/chtest"
	"github.com/callscope/callscope/internal/gen"
)

// TestServeFrameSpill runs serve -r on a generated load (40 overlapping 6-s calls, G.711
// both ways, so every call seals several 2 KiB chunks of kept headers) twice: with the
// frame spill (the default) and with frame_spill_max_bytes -1 (every chunk in memory).
// The spill must really be used (bytes written to its files), leave no file behind
// once the calls are stored, and change nothing a user sees: every call's exported pcap
// is byte for byte the one exported without the spill.
func TestServeFrameSpill(t *testing.T) {
	dir := t.TempDir()
	load := filepath.Join(dir, "load.pcap")
	sc := gen.Load(40, 6, 3)
	if _, err := sc.WriteFile(load); err != nil {
		t.Fatal(err)
	}
	off := filepath.Join(dir, "nospill.yaml")
	if err := os.WriteFile(off, []byte("frame_spill_max_bytes: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, extra ...string) (pcaps map[string][]byte, metrics string, spillDir string) {
		data := filepath.Join(dir, name)
		args := append([]string{"--store", "duckdb:" + filepath.Join(data, "cs.duckdb"), "--keep-rtp", "headers", "-r", load}, extra...)
		pcaps, metrics = servePcaps(t, name, 40, args...)
		return pcaps, metrics, filepath.Join(data, "framespill")
	}
	with, m, spill := run("spill")
	without, m2, _ := run("nospill", "--config", off)
	written := metricValue(m, "callscope_correlate_frame_spill_written_bytes_total")
	if written <= 0 || metricValue(m2, "callscope_correlate_frame_spill_written_bytes_total") != 0 {
		t.Fatalf("spill bytes written: %v with the spill, %v without", written, metricValue(m2, "callscope_correlate_frame_spill_written_bytes_total"))
	}
	if v := metricValue(m, "callscope_correlate_frame_spill_errors_total"); v != 0 {
		t.Errorf("%v spill errors", v)
	}
	if v := metricValue(m, "callscope_correlate_frame_spill_bytes"); v != 0 {
		t.Errorf("%v bytes still in spill files after every call ended", v)
	}
	var left []string
	filepath.Walk(spill, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("spill files left after stop: %v", left)
	}
	for id, b := range without {
		if !bytes.Equal(with[id], b) {
			t.Errorf("call %s: pcap of %d bytes with the spill, %d without", id, len(with[id]), len(b))
		}
	}
	t.Logf("%d calls, %v spill bytes written, pcaps identical", len(with), written)
}

// servePcaps runs serve with args until it has stored want calls, exports every call's
// pcap (/api/v1/calls/:id/pcap), reads /metrics, and stops it.
func servePcaps(t *testing.T, name string, want int, args ...string) (map[string][]byte, string) {
	t.Helper()
	s := startServe(t, args...)
	var page struct {
		Calls []struct {
			ID string `json:"id"`
		}
	}
	if err := getJSON(t, s.base+"/api/v1/calls?limit=1000", &page); err != nil || len(page.Calls) != want {
		t.Fatalf("%s: %v, %d calls, want %d", name, err, len(page.Calls), want)
	}
	pcaps := map[string][]byte{}
	for _, c := range page.Calls {
		resp, err := http.Get(s.base + "/api/v1/calls/" + c.ID + "/pcap")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) < 24 {
			t.Fatalf("%s: pcap of %s: %s, %d bytes", name, c.ID, resp.Status, len(b))
		}
		pcaps[c.ID] = b
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.stop()
	for s.out.Scan() { // serve's shutdown report: it blocks until read
	}
	if err := <-s.done; err != nil {
		t.Fatalf("%s: serve returned %v", name, err)
	}
	s.done <- nil
	return pcaps, string(m)
}

// TestServeClickHouseFrames: with a ClickHouse store (a real clickhouse-server on
// loopback) the writer hands each call's frame segment over from its write-ahead log
// (store.SegmentWriter, as for DuckDB), and every exported pcap is byte-identical to the
// DuckDB store's, whose frames TestServeFrameSpill and the correlator's pack tests check
// against the capture.
func TestServeClickHouseFrames(t *testing.T) {
	srv := chtest.Launch(t)
	dir := t.TempDir()
	load := filepath.Join(dir, "load.pcap")
	sc := gen.Load(30, 6, 5)
	if _, err := sc.WriteFile(load); err != nil {
		t.Fatal(err)
	}
	duck, _ := servePcaps(t, "duckdb", 30, "--store", "duckdb:"+filepath.Join(dir, "d", "cs.duckdb"), "--keep-rtp", "headers", "-r", load)
	t.Chdir(t.TempDir()) // a ClickHouse store's spool and write-ahead log go to ./callscope-data
	ch, m := servePcaps(t, "clickhouse", 30, "--store", srv.URL("frames"), "--keep-rtp", "headers", "-r", load)
	if v := metricValue(m, "callscope_store_wal_appended_total"); v < 30 {
		t.Fatalf("clickhouse: %v calls through the write-ahead log, want 30", v)
	}
	for id, b := range duck {
		if !bytes.Equal(ch[id], b) {
			t.Fatalf("call %s: ClickHouse pcap %d bytes, DuckDB %d, differ", id, len(ch[id]), len(b))
		}
	}
}
