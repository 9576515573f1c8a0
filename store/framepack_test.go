package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
)

// TestEncodeRecordMatchesEncode checks that a segment written from a correlator's pack
// (sealed chunks plus the open chunk sealed, no frame expanded) opens to byte for byte
// the stream the pre-pack writer made from the same frames with Encode,
// for every call of a generated load (calls long enough to seal several chunks).
func TestEncodeRecordMatchesEncode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := gen.Load(20, 8, 5)
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c, err := NewFrameCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := correlate.DefaultConfig()
	cfg.KeepMessages, cfg.KeepRTP = true, correlate.KeepRTPHeaders
	calls := 0
	cor := correlate.New(cfg, correlate.Output{Call: func(r *correlate.Record) {
		if r.MediaCount() == 0 {
			return
		}
		calls++
		frames, err := r.AppendMedia(nil)
		if err != nil {
			t.Fatal(err)
		}
		seg, _ := c.EncodeRecord(nil, nil, r)
		old, _ := c.Encode(nil, nil, frames)
		got, err := correlate.OpenSegment(nil, seg, c.dec, MaxSegmentBytes)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := correlate.OpenSegment(nil, old, c.dec, MaxSegmentBytes)
		if !bytes.Equal(got, want) || len(r.Pack.Sealed) == 0 {
			t.Fatalf("call %s: segment stream of %d bytes (%d sealed) differs from the %d of Encode", r.Call.ID, len(got), len(r.Pack.Sealed), len(want))
		}
		back, err := c.Decode(nil, seg)
		if err != nil || len(back) != len(frames) {
			t.Fatalf("call %s: %d frames back (%v), want %d", r.Call.ID, len(back), err, len(frames))
		}
	}})
	dec := decode.New(decode.DefaultConfig())
	src, err := capture.OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, cor.Event)
	}
	cor.Finish()
	if calls != 20 {
		t.Errorf("%d calls with media, want the load's 20", calls)
	}
}
