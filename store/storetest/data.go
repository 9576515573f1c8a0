// Package storetest is the test suite every store.Store engine passes (Run), and the
// real pipeline data it writes (Data): the catalogue scenarios of internal/gen and the
// bundled SIPp demo capture run through capture → decode → correlate with messages and
// media kept. It starts no goroutines of its own; Run's subtests run sequentially on one
// store.
package storetest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
)

// Dataset is what the pipeline produced over the test captures.
type Dataset struct {
	Records       []*correlate.Record
	Registrations []correlate.Registration
}

// Analyze runs capture → decode → correlate over files like `callscope analyze`, keeping
// SIP messages and RTP headers, and returns the finished records and registrations.
func Analyze(ctx context.Context, files []string) (Dataset, error) {
	var ds Dataset
	src, err := capture.OpenFiles(files)
	if err != nil {
		return ds, err
	}
	defer src.Close()
	ccfg := correlate.DefaultConfig()
	ccfg.KeepMessages = true
	cor := correlate.New(ccfg, correlate.Output{
		Call:         func(r *correlate.Record) { ds.Records = append(ds.Records, r) },
		Registration: func(r *correlate.Registration) { ds.Registrations = append(ds.Registrations, *r) },
	})
	dec := decode.New(decode.DefaultConfig())
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return ds, err
		}
		dec.Decode(p.LinkType, p.TS, p.Data, cor.Event)
	}
	dec.Flush(cor.Event)
	cor.Finish()
	correlate.LinkCalls(ds.Records)
	return ds, ctx.Err()
}

// Data writes every catalogue scenario (scenario i starting 7 h after scenario i-1, so
// the calls spread over several days) plus a 40-call load scenario to t.TempDir(), runs
// them and the demo capture through the pipeline and returns everything found.
func Data(t testing.TB) Dataset {
	t.Helper()
	dir := t.TempDir()
	base := time.Date(2024, 3, 1, 0, 30, 0, 0, time.UTC)
	scs := gen.Catalogue()
	load := gen.Load(40, 2, 7)
	load.Start = base.Add(-26 * time.Hour)
	scs = append(scs, load)
	var all Dataset
	for i := range scs {
		sc := scs[i]
		if i < len(scs)-1 {
			sc.Start = base.Add(time.Duration(i) * 7 * time.Hour)
		}
		path := filepath.Join(dir, sc.Name+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Write(f); err != nil {
			f.Close()
			t.Fatalf("gen %s: %v", sc.Name, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		ds, err := Analyze(context.Background(), []string{path})
		if err != nil {
			t.Fatalf("analyze %s: %v", sc.Name, err)
		}
		all.Records = append(all.Records, ds.Records...)
		all.Registrations = append(all.Registrations, ds.Registrations...)
	}
	demo := filepath.Join(testutil.RepoRoot(t), "testdata", "demo", "sipp-calls.pcap")
	ds, err := Analyze(context.Background(), []string{demo})
	if err != nil {
		t.Fatalf("analyze demo: %v", err)
	}
	all.Records = append(all.Records, ds.Records...)
	all.Registrations = append(all.Registrations, ds.Registrations...)
	if len(all.Records) < 50 {
		t.Fatalf("pipeline produced only %d calls", len(all.Records))
	}
	return all
}
