package store_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/internal/testutil"
	"github.com/callscope/callscope/store"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	ptu "github.com/prometheus/client_golang/prometheus/testutil"
)

// mediaRec is a call with n frames of size bytes each, the data derived from i.
func mediaRec(i, n, size int) *correlate.Record {
	r := fakeRec(i).Rec
	r.Call.Streams = []correlate.Stream{}
	for j := 0; j < n; j++ {
		d := bytes.Repeat([]byte{byte(i), byte(j)}, size/2)
		r.Media = append(r.Media, correlate.Frame{TS: int64(r.Call.Start) + int64(j)*20e6, LinkType: 1, OrigLen: size + 160, Data: d})
	}
	return r
}

func TestFrameCodecRoundTrip(t *testing.T) {
	c, err := store.NewFrameCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := mediaRec(3, 50, 54)
	r.Media[10].LinkType = 113 // a link type change mid-call starts a new pcap header
	seg, _ := c.Encode(nil, nil, r.Media)
	got, err := c.Decode(nil, seg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(r.Media) {
		t.Fatalf("%d frames back, want %d", len(got), len(r.Media))
	}
	for i := range got {
		w := r.Media[i]
		if got[i].TS != w.TS || got[i].LinkType != w.LinkType || got[i].OrigLen != w.OrigLen || !bytes.Equal(got[i].Data, w.Data) {
			t.Fatalf("frame %d: %+v, want %+v", i, got[i], w)
		}
	}
	// Damaged segments are errors, never panics.
	for cut := 0; cut < len(seg); cut += 7 {
		c.Decode(nil, seg[:cut])
	}
}

// A segment of one link type opens to a pcap file other tools read: tshark counts the
// frames we put in (the expectation is the input, 40 frames).
func TestFrameSegmentIsPcap(t *testing.T) {
	tshark := testutil.NeedTool(t, "tshark")
	c, err := store.NewFrameCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seg, _ := c.Encode(nil, nil, mediaRec(1, 40, 60).Media)
	raw, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	pcap, err := correlate.OpenSegment(nil, seg, raw, store.MaxSegmentBytes)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "seg.pcap")
	if err := os.WriteFile(p, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", p, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if n := bytes.Count(out, []byte("\n")); n != 40 {
		t.Fatalf("tshark reads %d frames, want 40", n)
	}
}

// gated is a real DuckDB store whose writes wait until open is closed.
type gated struct {
	store.Store
	open chan struct{}
}

func (g *gated) WriteCalls(ctx context.Context, recs []*correlate.Record) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.WriteCalls(ctx, recs)
}

// The writer never holds more frame data than MaxFrameBytes: with the store stalled,
// calls beyond the budget go to the spool (counted), and all arrive once it answers.
func TestWriterFrameBudget(t *testing.T) {
	g := &gated{Store: openDuck(t), open: make(chan struct{})}
	cfg := testConfig(t.TempDir())
	cfg.QueueSize, cfg.BatchSize = 100, 100
	cfg.MaxFrameBytes = 20 << 10 // 20 KiB: five calls of 4 KiB
	cfg.WriteTimeout = 10 * time.Second
	reg := prometheus.NewRegistry()
	w, err := store.NewWriter(g, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*correlate.Record
	peak := int64(0)
	for i := 0; i < 30; i++ {
		r := mediaRec(i, 40, 100) // 4,000 bytes of frame data
		recs = append(recs, r)
		w.Write(r)
		peak = max(peak, w.FrameBytesHeld())
	}
	if peak > cfg.MaxFrameBytes {
		t.Fatalf("writer held %d bytes of frames, budget %d", peak, cfg.MaxFrameBytes)
	}
	spooled := ptu.ToFloat64(reg2c(t, reg, "callscope_store_frame_budget_spooled_total"))
	// 30 calls × 4,000 B against 20 KiB: at most 5 fit, so at least 25 were spooled.
	if spooled < 25 {
		t.Fatalf("%v calls spooled for the budget, want ≥ 25", spooled)
	}
	close(g.open)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, g.Store, distinct(recs))
	for _, r := range recs {
		fr, err := g.Store.Media(ctx, []string{r.Call.ID})
		if err != nil || len(fr) != len(r.Media) || !bytes.Equal(fr[7].Data, r.Media[7].Data) {
			t.Fatalf("call %s: %d frames back, want %d (%v)", r.Call.ID, len(fr), len(r.Media), err)
		}
	}
}
