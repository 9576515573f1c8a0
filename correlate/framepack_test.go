package correlate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/capture"
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/internal/gen"
	"github.com/callscope/callscope/internal/testutil"
)

// TestPackedFramesMatchUnpacked replays real and generated captures with RTP kept and
// checks that every call's packed frames decode to exactly the frames the pre-pack
// correlator kept: for each RTP/RTCP packet the call took (its pack's frame count went
// up), the expected frame is built from the captured packet the way the old keepFrame
// did (time, link type, wire length, the frame cut after the RTP header or whole), not
// from the pack. With nothing dropped, the kept frames together are every RTP and RTCP
// packet tshark finds in the demo capture (`tshark -Y "rtp || rtcp"`; every stream in it
// belongs to a call).
func TestPackedFramesMatchUnpacked(t *testing.T) {
	dir := t.TempDir()
	load := filepath.Join(dir, "load.pcap")
	sc := gen.Load(40, 6, 3)
	f, err := os.Create(load)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	demo := filepath.Join(testutil.RepoRoot(t), "testdata", "demo", "sipp-calls.pcap")
	for _, file := range []string{demo, load} {
		for _, mode := range []string{KeepRTPHeaders, KeepRTPFull} {
			t.Run(filepath.Base(file)+"/"+mode, func(t *testing.T) {
				kept, sealed := replayPacked(t, file, mode)
				if sealed == 0 {
					t.Error("no call sealed a chunk: the compressed path is untested")
				}
				if file != demo {
					return
				}
				tshark := testutil.NeedTool(t, "tshark")
				out, err := exec.Command(tshark, "-r", file, "-Y", "rtp || rtcp", "-T", "fields", "-e", "frame.number").Output()
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Count(string(out), "\n"); kept != want {
					t.Errorf("%d frames kept, tshark finds %d RTP/RTCP packets", kept, want)
				}
			})
		}
	}
}

// replayPacked replays file and compares each emitted call's frames with the reference;
// it returns the frames kept and how many calls sealed at least one chunk.
func replayPacked(t *testing.T, file, mode string) (kept, sealed int) {
	cfg := DefaultConfig()
	cfg.KeepMessages, cfg.KeepRTP = true, mode
	ref := map[*call][]Frame{}
	var c *Correlator
	c = New(cfg, Output{Call: func(r *Record) {
		var want []Frame
		for cl, fr := range ref {
			if cl.id == r.Call.CallID {
				want = fr
				delete(ref, cl)
			}
		}
		got, err := r.AppendMedia(nil)
		if err != nil {
			t.Fatalf("call %s: %v", r.Call.ID, err)
		}
		if len(got) != len(want) || r.MediaCount() != len(want) {
			t.Fatalf("call %s: %d frames (count %d), want %d", r.Call.ID, len(got), r.MediaCount(), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.TS != w.TS || g.LinkType != w.LinkType || g.OrigLen != w.OrigLen || !bytes.Equal(g.Data, w.Data) {
				t.Fatalf("call %s frame %d: %+v, want %+v", r.Call.ID, i, g, w)
			}
		}
		kept += len(got)
		if len(r.Pack.Sealed) > 0 {
			sealed++
		}
	}})
	replayFile(t, file, func(ev *decode.Event) {
		counts := map[*call]int{}
		for _, cl := range c.calls {
			if cl.keep != nil {
				counts[cl] = cl.keep.frames
			}
		}
		c.Event(ev)
		for _, cl := range c.calls {
			if cl.keep == nil || cl.keep.frames == counts[cl] {
				continue
			}
			data := ev.Frame
			if mode == KeepRTPHeaders && ev.Kind == decode.KindRTP {
				data = data[:rtpHeaderEnd(data, ev.Payload, rtpHeaderLen(ev.Payload))]
			}
			ref[cl] = append(ref[cl], Frame{TS: ev.TS, LinkType: ev.LinkType, OrigLen: len(ev.Frame), Data: bytes.Clone(data)})
		}
	}, nil)
	c.Finish()
	if len(ref) != 0 {
		t.Errorf("%d calls with kept frames never emitted", len(ref))
	}
	t.Logf("%s %s: %d frames kept, %d calls sealed chunks", filepath.Base(file), mode, kept, sealed)
	return kept, sealed
}

// rtpHeaderLen is the RTP header length of an RTP payload (RFC 3550 §5.1, §5.3.1): 12
// bytes, the CSRCs and the extension.
func rtpHeaderLen(p []byte) int {
	if len(p) < 12 {
		return len(p)
	}
	n := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 && len(p) >= n+4 {
		n += 4 + 4*(int(p[n+2])<<8|int(p[n+3]))
	}
	return min(n, len(p))
}

// TestSealerMatchesInPlace replays a generated load with kept frames three times:
// sealing full chunks in place on the correlator's goroutine (the sealer removed), on
// the sealer goroutine, and on the sealer with the chunks spilled to files (spill.go).
// Every call's Record must hold the same bytes in all three, the retained-bytes account
// must return to zero, and (under -race) live views taken while chunks are in flight or
// spilled must decode on another goroutine to the frames the call had kept. With the
// spill, chunks must really have gone to files, and every file must be gone at the end.
func TestSealerMatchesInPlace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "load.pcap")
	sc := gen.Load(60, 8, 5)
	if _, err := sc.WriteFile(file); err != nil {
		t.Fatal(err)
	}
	spillDir := t.TempDir()
	// spill: 0 none, 1 to files, 2 to files of 64 KiB (rotations while calls hold
	// pieces), 3 capped at 200 KB (later chunks stay in memory: calls mix both).
	run := func(async bool, mode int) (map[string]MediaPack, int64) {
		spill := mode > 0
		cfg := DefaultConfig()
		cfg.KeepMessages, cfg.KeepRTP = true, KeepRTPHeaders
		if spill {
			cfg.FrameSpillDir = spillDir
		}
		if mode == 3 {
			cfg.FrameSpillMaxBytes = 200_000
		}
		packs := map[string]MediaPack{}
		c := New(cfg, Output{Call: func(r *Record) { packs[r.Call.ID] = r.Pack }})
		if !async {
			c.sealer = nil
		} else if c.sealer == nil || (c.sealer.spill != nil) != spill {
			t.Fatal("no sealer, or no spill")
		}
		if mode == 2 {
			c.sealer.spill.maxFile = 64 << 10
		}
		defer func() {
			if !spill {
				return
			}
			sp := c.sealer.spill
			left, _ := filepath.Glob(filepath.Join(spillDir, "*", "*"))
			dirs, _ := filepath.Glob(filepath.Join(spillDir, "*"))
			t.Logf("spill mode %d: %d bytes written, %d files removed, %d chunks kept in memory, %d errors, %d left, %d dirs left",
				mode, sp.written.Load(), sp.removed.Load(), sp.full.Load(), sp.errors.Load(), len(left), len(dirs))
			if sp.written.Load() == 0 || sp.errors.Load() != 0 || len(left) != 0 || len(dirs) != 0 || sp.bytes.Load() != 0 ||
				(mode == 2 && sp.removed.Load() < 10) || (mode == 3) != (sp.full.Load() > 0) {
				t.Errorf("spill not used cleanly")
			}
		}()
		views := make(chan []Record, 4)
		done := make(chan error)
		go func() {
			var err error
			decoded, gone := 0, 0
			defer func() {
				t.Logf("mode %d: %d views decoded, %d of calls whose spill file went since", mode, decoded, gone)
			}()
			for recs := range views {
				for i := range recs {
					fr, e := recs[i].Pack.AppendFrames(nil)
					if e != nil && errors.Is(e, os.ErrClosed) {
						gone++ // the call ended and its file was removed: allowed, its record has the frames
						continue
					}
					decoded++
					if e == nil && len(fr) != recs[i].Pack.Frames {
						e = fmt.Errorf("view of %s: %d frames decoded, %d counted", recs[i].Call.ID, len(fr), recs[i].Pack.Frames)
					}
					if e != nil && err == nil {
						err = e
					}
				}
			}
			done <- err
		}()
		n := 0
		replayFile(t, file, c.Event, func() {
			if n++; async && n%20000 == 0 {
				views <- c.LiveRecords(100)
			}
		})
		c.Finish()
		close(views)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return packs, c.Counters().RetainedBytes
	}
	want, wantRetained := run(false, 0)
	for mode := range 4 {
		got, gotRetained := run(true, mode)
		comparePacks(t, got, want, gotRetained, wantRetained)
	}
}

func comparePacks(t *testing.T, got, want map[string]MediaPack, gotRetained, wantRetained int64) {
	t.Helper()
	if len(got) != len(want) || len(want) < 60 {
		t.Fatalf("%d calls with the sealer, %d without", len(got), len(want))
	}
	sealed := 0
	for id, w := range want {
		g := got[id]
		if !bytes.Equal(g.Sealed, w.Sealed) || !bytes.Equal(g.Open, w.Open) || g.Frames != w.Frames {
			t.Fatalf("call %s: sealer gives %d sealed + %d open bytes, %d frames; in place %d + %d, %d",
				id, len(g.Sealed), len(g.Open), g.Frames, len(w.Sealed), len(w.Open), w.Frames)
		}
		if len(w.Sealed) > 0 {
			sealed++
		}
	}
	if sealed < len(want)/2 || gotRetained != 0 || wantRetained != 0 {
		t.Fatalf("%d of %d calls sealed chunks; retained bytes after Finish: %d with the sealer, %d without", sealed, len(want), gotRetained, wantRetained)
	}
}

// replayFile decodes every packet of file into fn, calling after (when not nil) once
// per packet.
func replayFile(t *testing.T, file string, fn func(*decode.Event), after func()) {
	t.Helper()
	dec := decode.New(decode.DefaultConfig())
	src, err := capture.OpenFiles([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var pkt capture.Packet
	for src.Next(&pkt) == nil {
		dec.Decode(pkt.LinkType, pkt.TS, pkt.Data, fn)
		if after != nil {
			after()
		}
	}
}

// TestFileMediaPack: a pack whose segment lies in a file (what the store writer hands
// the dashboard once a call's frames are in its WAL) holds no bytes and decodes to the
// frames written there, found at an offset among other bytes. The expected frames are
// the ones this test writes (two link types, so a second file header follows), built
// by hand in the segment format, not read from a pack. A file that went, or a segment
// cut short, is ErrBadFrameStream, never frames missing in silence.
func TestFileMediaPack(t *testing.T) {
	want := []Frame{
		{TS: 1_700_000_000_123_456_789, LinkType: 1, OrigLen: 214, Data: bytes.Repeat([]byte{0xa5}, 54)},
		{TS: 1_700_000_000_143_456_789, LinkType: 1, OrigLen: 60, Data: []byte("0123456789")},
		{TS: 1_700_000_001_000_000_001, LinkType: 113, OrigLen: 9, Data: []byte("sll frame")},
	}
	le := binary.LittleEndian
	var raw []byte
	for i, f := range want {
		if i == 0 || f.LinkType != want[i-1].LinkType {
			h := make([]byte, pcapFileHeader)
			le.PutUint32(h[0:], pcapMagicNS)
			le.PutUint16(h[4:], 2)
			le.PutUint16(h[6:], 4)
			le.PutUint32(h[16:], pcapSnaplen)
			le.PutUint32(h[20:], f.LinkType)
			raw = append(raw, h...)
		}
		h := make([]byte, pcapRecHeader)
		le.PutUint32(h[0:], uint32(f.TS/1e9))
		le.PutUint32(h[4:], uint32(f.TS%1e9))
		le.PutUint32(h[8:], uint32(len(f.Data)))
		le.PutUint32(h[12:], uint32(f.OrigLen))
		raw = append(append(raw, h...), f.Data...)
	}
	pc := newPackCodec()
	// Two zstd frames, as a sealed chunk followed by the compressed open chunk.
	seg := pc.enc.EncodeAll(raw[:pcapFileHeader+pcapRecHeader+54], nil)
	seg = pc.enc.EncodeAll(raw[pcapFileHeader+pcapRecHeader+54:], seg)
	path := filepath.Join(t.TempDir(), "wal.log")
	lead := []byte("bytes of other records before the segment")
	if err := os.WriteFile(path, append(append(append([]byte{}, lead...), seg...), "trailing"...), 0o644); err != nil {
		t.Fatal(err)
	}
	p := FileMediaPack(len(want), path, int64(len(lead)), int64(len(seg)))
	if p.Size() != 0 {
		t.Fatalf("file pack holds %d B", p.Size())
	}
	got, err := p.AppendFrames(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].TS != want[i].TS || got[i].LinkType != want[i].LinkType || got[i].OrigLen != want[i].OrigLen || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("frame %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if p := FileMediaPack(0, path, 0, 10); p.Frames != 0 || p.file != nil {
		t.Fatalf("a pack of no frames reads a file: %+v", p)
	}
	short := FileMediaPack(len(want), path, int64(len(lead)), int64(len(seg))+100) // past the end
	if _, err := short.AppendFrames(nil); !errors.Is(err, ErrBadFrameStream) {
		t.Fatalf("segment past the file's end: %v, want ErrBadFrameStream", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	out, err := p.AppendFrames([]Frame{{TS: 1}})
	if !errors.Is(err, ErrBadFrameStream) || len(out) != 1 {
		t.Fatalf("file gone: %d frames, %v; want the one given and ErrBadFrameStream", len(out), err)
	}
}
