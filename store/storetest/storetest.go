package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

// Run runs the shared suite against the store open returns (fresh and migrated; open
// registers its own cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	data := Data(t)
	s := open(t)
	// Peer groups as cmd sets them (peers.Classifier): a third of the calls, by id, are
	// carrier-a's (the peer filter's test), the rest other.
	for _, r := range data.Records {
		r.Call.Peer = "other"
		if sum := bytesSum(r.Call.ID); sum%3 == 0 {
			r.Call.Peer = "carrier-a"
		}
	}

	// Expected state: the last record per id.
	byID := map[string]*correlate.Record{}
	for _, r := range data.Records {
		byID[r.Call.ID] = r
	}
	var calls []correlate.Call
	for _, r := range byID {
		calls = append(calls, r.Call)
	}

	t.Run("migrate-idempotent", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate #%d: %v", i+2, err)
			}
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("write-twice", func(t *testing.T) {
		recs := data.Records
		for i := 0; i < len(recs); i += 7 {
			if err := s.WriteCalls(ctx, recs[i:min(i+7, len(recs))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.WriteCalls(ctx, recs); err != nil { // again, all at once
			t.Fatal(err)
		}
		if err := s.WriteRegistrations(ctx, data.Registrations); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteRegistrations(ctx, data.Registrations); err != nil {
			t.Fatal(err)
		}
		got := searchAll(t, s, store.CallQuery{Limit: 1000})
		if len(got) != len(byID) {
			t.Fatalf("stored %d calls, want %d distinct", len(got), len(byID))
		}
		seen := map[string]bool{}
		for _, c := range got {
			if seen[c.ID] {
				t.Fatalf("call %s returned twice", c.ID)
			}
			seen[c.ID] = true
		}
	})
	t.Run("get-call", func(t *testing.T) {
		streams, intervals := 0, 0
		for id, r := range byID {
			got, err := s.GetCall(ctx, id)
			if err != nil {
				t.Fatalf("get %s: %v", id, err)
			}
			want, _ := json.Marshal(&r.Call)
			have, _ := json.Marshal(got)
			if !bytes.Equal(want, have) {
				t.Fatalf("call %s differs:\nwant %s\nhave %s", id, want, have)
			}
			if got.Start != r.Call.Start {
				t.Fatalf("call %s start %d, want %d (ns lost)", id, got.Start, r.Call.Start)
			}
			streams += len(got.Streams)
			for _, st := range got.Streams {
				intervals += len(st.Intervals)
			}
		}
		if streams == 0 || intervals == 0 {
			t.Fatalf("data holds %d streams, %d intervals: suite would prove nothing", streams, intervals)
		}
		if _, err := s.GetCall(ctx, "no-such-call"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown id: err %v, want ErrNotFound", err)
		}
	})
	t.Run("messages-media", func(t *testing.T) {
		nmsg, nframes := 0, 0
		for id, r := range byID {
			ms, err := s.Messages(ctx, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			want := append([]correlate.Message(nil), r.Messages...)
			sort.SliceStable(want, func(i, j int) bool { return want[i].TS < want[j].TS })
			if len(ms) != len(want) {
				t.Fatalf("call %s: %d messages, want %d", id, len(ms), len(want))
			}
			for i, m := range ms {
				w := want[i]
				if !bytes.Equal(m.Raw, w.Raw) || !bytes.Equal(m.Frame, w.Frame) || int64(m.TS) != w.TS ||
					m.Src != w.Src.String() || m.Dst != w.Dst.String() || m.Method != w.Method || m.Status != w.Status ||
					m.CSeq != w.CSeq || m.Retrans != w.Retrans || m.Request != w.Request || m.LinkType != w.LinkType ||
					m.Transport != w.Transport || m.CallUID != id || m.CallID != r.Call.CallID {
					t.Fatalf("call %s message %d differs: %+v", id, i, m)
				}
			}
			nmsg += len(ms)
			nframes += CheckMedia(t, s, id, r)
		}
		if nmsg == 0 || nframes == 0 {
			t.Fatalf("%d messages, %d frames stored: nothing proven", nmsg, nframes)
		}
		// Several ids at once come back merged in time order.
		ids := sortedIDs(calls)[:3]
		ms, err := s.Messages(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, id := range ids {
			n += len(byID[id].Messages)
		}
		if len(ms) != n || !sort.SliceIsSorted(ms, func(i, j int) bool { return ms[i].TS < ms[j].TS }) {
			t.Fatalf("messages of 3 calls: %d (want %d), sorted=%v", len(ms), n, sort.SliceIsSorted(ms, func(i, j int) bool { return ms[i].TS < ms[j].TS }))
		}
	})
	if sw, ok := s.(store.SegmentWriter); ok {
		t.Run("segments", func(t *testing.T) { testSegments(t, s, sw, byID) })
	}
	t.Run("legs", func(t *testing.T) { testLegs(t, s, byID) })
	t.Run("filters", func(t *testing.T) { testFilters(t, s, calls) })
	t.Run("sort-and-pages", func(t *testing.T) { testSort(t, s, calls) })
	t.Run("stats", func(t *testing.T) { testStats(t, s, calls) })
	t.Run("top", func(t *testing.T) { testTop(t, s, calls) })
	t.Run("registrations", func(t *testing.T) { testRegs(t, s, data.Registrations) })
	t.Run("alerts", func(t *testing.T) { testAlerts(t, s) })
	t.Run("security", func(t *testing.T) { testSecurity(t, s) })
	t.Run("drop-before", func(t *testing.T) { testDrop(t, s, calls) })
}

func testDrop(t *testing.T, s store.Store, calls []correlate.Call) {
	ctx := context.Background()
	sorted := append([]correlate.Call(nil), calls...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	// Cut in the middle of a day: that day stays whole.
	cut := time.Unix(0, int64(sorted[len(sorted)/2].Start)).UTC()
	day := store.DayFloor(cut)
	_, keptEv := writeRetentionEvents(t, s, day)
	if err := s.DropBefore(ctx, cut); err != nil {
		t.Fatal(err)
	}
	checkRetentionEvents(t, s, keptEv)
	var kept, gone []correlate.Call
	for _, c := range sorted {
		if int64(c.Start) >= day.UnixNano() {
			kept = append(kept, c)
		} else {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 || len(kept) == 0 {
		t.Fatalf("cut keeps %d, drops %d: proves nothing", len(kept), len(gone))
	}
	got := searchAll(t, s, store.CallQuery{Limit: 1000})
	if g, w := idSet(got), idSet(kept); !reflect.DeepEqual(g, w) {
		t.Fatalf("after DropBefore(%s): %d calls, want %d", cut, len(g), len(w))
	}
	if _, err := s.GetCall(ctx, gone[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dropped call still there: %v", err)
	}
	ms, err := s.Messages(ctx, []string{gone[0].ID})
	if err != nil || len(ms) != 0 {
		t.Fatalf("messages of a dropped call: %d, %v", len(ms), err)
	}
	if _, err := s.GetCall(ctx, kept[0].ID); err != nil {
		t.Fatalf("kept call: %v", err)
	}
	if err := s.DropBefore(ctx, cut); err != nil { // again: nothing more goes
		t.Fatal(err)
	}
	if got := searchAll(t, s, store.CallQuery{Limit: 1000}); len(got) != len(kept) {
		t.Fatalf("second DropBefore removed more: %d, want %d", len(got), len(kept))
	}
}

// testLegs checks Store.Legs on every stored call against the same rule computed here
// from the records' link keys.
func testLegs(t *testing.T, s store.Store, byID map[string]*correlate.Record) {
	ctx := context.Background()
	shares := func(a, b []string) bool {
		for _, x := range a {
			if slices.Contains(b, x) {
				return true
			}
		}
		return false
	}
	linked := 0
	for id, r := range byID {
		var want []string
		for oid, o := range byID {
			d := int64(o.Call.Start) - int64(r.Call.Start)
			if oid != id && o.Call.CallID != r.Call.CallID && d >= -int64(store.LegWindow) && d <= int64(store.LegWindow) &&
				shares(r.LinkKeys, o.LinkKeys) {
				want = append(want, oid)
			}
		}
		if len(want) > store.MaxLegs {
			continue // which MaxLegs of them is a matter of ties; the cap is checked below
		}
		legs, err := s.Legs(ctx, id)
		if err != nil {
			t.Fatalf("legs of %s: %v", id, err)
		}
		got := make([]string, 0, len(legs))
		for _, c := range legs {
			got = append(got, c.ID)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("legs of %s (%s): %v, want %v", id, r.Call.CallID, got, want)
		}
		if len(want) > 0 {
			linked++
		}
	}
	if linked == 0 {
		t.Fatal("no stored call has a leg: the dataset proves nothing")
	}
	if _, err := s.Legs(ctx, "no-such-call"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("legs of an unknown id: %v", err)
	}
}

func bytesSum(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n += int(s[i])
	}
	return n
}

// CheckMedia asserts s returns the frames of call id exactly as r (the correlator's
// record, the input) holds them, in time order, and returns how many there are.
func CheckMedia(t testing.TB, s store.Store, id string, r *correlate.Record) int {
	t.Helper()
	fr, err := s.Media(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := r.AppendMedia(nil)
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(wf, func(i, j int) bool { return wf[i].TS < wf[j].TS })
	if len(fr) != len(wf) {
		t.Fatalf("call %s: %d frames, want %d", id, len(fr), len(wf))
	}
	for i := range fr {
		if fr[i].TS != wf[i].TS || fr[i].LinkType != wf[i].LinkType || fr[i].OrigLen != wf[i].OrigLen || !bytes.Equal(fr[i].Data, wf[i].Data) {
			t.Fatalf("call %s frame %d differs", id, i)
		}
	}
	return len(fr)
}

// testSegments rewrites the calls through SegmentWriter as the writer hands them over:
// a third with their segment in a file (as the write-ahead log holds it), a third in
// memory (both with the record's frames trimmed to their count, so only the segment can
// give them), a third with none (the store encodes the record's frames). Every call's
// stored frames must equal the record's.
func testSegments(t *testing.T, s store.Store, sw store.SegmentWriter, byID map[string]*correlate.Record) {
	codec, err := store.NewFrameCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "wal-like"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var (
		recs    []*correlate.Record
		segs    []store.Segment
		scratch []byte
		off     int64
		inFile  int
	)
	for i, id := range ids {
		r := byID[id]
		var seg store.Segment
		if r.MediaCount() > 0 && i%3 != 2 {
			var b []byte
			b, scratch = codec.EncodeRecord(nil, scratch, r)
			b = append([]byte(nil), b...)
			trimmed := *r
			trimmed.Pack, trimmed.Media = correlate.MediaPack{Frames: r.MediaCount()}, nil
			r = &trimmed
			if i%3 == 0 {
				f.Write([]byte("head")) // a record's head precedes its segment in the log
				off += 4
				if _, err := f.Write(b); err != nil {
					t.Fatal(err)
				}
				seg = store.Segment{File: f.Name(), Off: off, Len: int64(len(b))}
				off += int64(len(b))
				inFile++
			} else {
				seg = store.Segment{Data: b}
			}
		}
		recs, segs = append(recs, r), append(segs, seg)
	}
	if inFile == 0 {
		t.Fatal("no call with frames: nothing proven")
	}
	if err := sw.WriteCallsSegments(context.Background(), recs, segs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		n += CheckMedia(t, s, id, byID[id])
	}
	t.Logf("%d calls, %d with their segment in a file, %d frames checked", len(ids), inFile, n)
}
