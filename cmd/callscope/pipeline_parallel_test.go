package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/pion/rtp"
)

// The reference for --workers 2 is --workers 1, the single-goroutine path every golden
// file was checked against (the goldens themselves are derived from the generator's truth
// and from tshark, see e2e_test.go): the expectation is "the same bytes", not a number.

// parallelInputs lists one capture set per case: every golden scenario, every shared
// capture, a load of 40 calls (many batches: its 20,000 packets span 5 batches of
// pipeBatchPkts), and two shared files merged by time.
func parallelInputs(t *testing.T) map[string][]string {
	t.Helper()
	in := map[string][]string{}
	dir := t.TempDir()
	write := func(name string, sc gen.Scenario) {
		path := filepath.Join(dir, name+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sc.Write(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		in["gen/"+name] = []string{path}
	}
	for _, sc := range gen.Catalogue() {
		write(sc.Name, sc)
	}
	write("load-40x5s", gen.Load(40, 5, 1))
	shared := testutil.SharedTestdata(t)
	ents, err := os.ReadDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	var caps []string
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && (strings.Contains(n, ".pcap") || strings.HasSuffix(n, ".gz")) {
			caps = append(caps, filepath.Join(shared, n))
			in["shared/"+n] = []string{filepath.Join(shared, n)}
		}
	}
	if len(caps) < 2 {
		t.Fatalf("%d shared captures in %s", len(caps), shared)
	}
	in["shared/merge-first-two"] = caps[:2]
	return in
}

// TestParallelReportIdentical: the analyze --json document (calls, streams, quality,
// registrations, security events, capture counters, file errors) with --workers 2 is
// byte-identical to --workers 1 on every input.
func TestParallelReportIdentical(t *testing.T) {
	for name, files := range parallelInputs(t) {
		t.Run(name, func(t *testing.T) {
			var want []byte
			var wantErr string
			for _, workers := range []int{1, 2} {
				rep, err := analyzeFilesWorkers(context.Background(), files, decode.DefaultConfig(), correlate.DefaultConfig(), &callHooks{}, workers)
				if rep == nil {
					t.Fatalf("workers %d: %v", workers, err)
				}
				got, gotErr := reportJSON(t, rep), fmt.Sprint(err)
				if workers == 1 {
					want, wantErr = got, gotErr
					continue
				}
				if gotErr != wantErr {
					t.Errorf("workers %d: error %q, workers 1: %q", workers, gotErr, wantErr)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("workers %d: report differs from workers 1 at byte %d\n%s", workers, firstDiff(got, want), diffContext(got, want))
				}
			}
		})
	}
}

// TestParallelRecordsIdentical checks what the JSON report leaves out but serve stores:
// every SIP message with its raw bytes and frame, and every RTP/RTCP frame kept whole
// (KeepMessages, KeepRTP full), as the correlator hands them over.
func TestParallelRecordsIdentical(t *testing.T) {
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages = true
	ccfg.KeepRTP = correlate.KeepRTPFull
	records := func(files []string, workers int) []byte {
		var recs []*correlate.Record
		cor := correlate.New(ccfg, correlate.Output{Call: func(r *correlate.Record) { recs = append(recs, r) }})
		pl, err := openPipeline(files, decode.DefaultConfig(), cor)
		if err != nil {
			t.Fatal(err)
		}
		defer pl.close()
		pl.workers = workers
		ticks := 0
		if err := pl.run(context.Background(), func() { ticks++; _ = pl.dec.Counters() }); err != nil {
			t.Fatal(err)
		}
		if ticks == 0 {
			t.Errorf("workers %d: tick never called", workers)
		}
		b, err := json.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, files := range parallelInputs(t) {
		t.Run(name, func(t *testing.T) {
			want, got := records(files, 1), records(files, 2)
			if !bytes.Equal(got, want) {
				t.Errorf("records differ from workers 1 at byte %d\n%s", firstDiff(got, want), diffContext(got, want))
			}
		})
	}
}

// TestParallelCancel: a cancelled context stops both goroutines and returns its error.
func TestParallelCancel(t *testing.T) {
	in := parallelInputs(t)["gen/load-40x5s"]
	cor := correlate.New(correlate.DefaultConfig(), correlate.Output{})
	pl, err := openPipeline(in, decode.DefaultConfig(), cor)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.close()
	pl.workers = 2
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pl.run(ctx, nil); err != context.Canceled {
		t.Fatalf("run after cancel: %v, want context.Canceled", err)
	}
}

// TestPipeBatchNoAlloc: copying an RTP event into a batch and rebuilding it allocates
// nothing once the batch buffers have grown.
func TestPipeBatchNoAlloc(t *testing.T) {
	frame := make([]byte, 214)
	payload := frame[42:]
	payload[0] = 0x80
	ev := decode.Event{Kind: decode.KindRTP, TS: 1, Frame: frame, Payload: payload,
		RTP: &rtp.Header{Version: 2, SSRC: 7, SequenceNumber: 9}, RTPPayloadLen: 160}
	b := &pipeBatch{events: make([]pipeEvent, 0, pipeBatchEvents), arena: make([]byte, 0, pipeBatchBytes)}
	var out decode.Event
	var hdr rtp.Header
	allocs := testing.AllocsPerRun(100, func() {
		b.reset()
		for range 64 {
			b.add(&ev)
		}
		for i := range b.events {
			b.rebuild(&b.events[i], &out, &hdr, nil)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 64 events", allocs)
	}
	if !bytes.Equal(out.Payload, payload) || !bytes.Equal(out.Frame, frame) || out.RTP.SSRC != 7 || out.RTP.SequenceNumber != 9 {
		t.Errorf("rebuilt event differs: %+v", out)
	}
	if len(b.arena) != 64*len(frame) {
		t.Errorf("arena %d bytes for 64 frames of %d: the payload inside the frame was copied again", len(b.arena), len(frame))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func diffContext(got, want []byte) string {
	i := firstDiff(got, want)
	lo := max(0, i-200)
	return fmt.Sprintf("got:  …%s…\nwant: …%s…", got[lo:min(len(got), i+200)], want[lo:min(len(want), i+200)])
}
