package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// TestSpoolRecordFormat: a record with frames carries its segment raw after the JSON, and
// a record written by an older build (the segment base64-encoded as the JSON field "seg")
// still decodes to the same entry. The old form is built here by hand from the layout the
// older encodeEntry wrote: spoolWire with Seg set, encoded by encoding/json.
func TestSpoolRecordFormat(t *testing.T) {
	codec, err := NewFrameCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	s := &Spool{codec: codec}
	rec := &correlate.Record{Call: correlate.Call{ID: "c1", CallID: "a@b", Start: 1e18, End: 1e18 + 4e9,
		Streams: []correlate.Stream{}, LinkedCallIDs: []string{}, UserAgents: []string{}}}
	for j := 0; j < 40; j++ {
		rec.Media = append(rec.Media, correlate.Frame{TS: 1e18 + int64(j)*20e6, LinkType: 1, OrigLen: 214,
			Data: bytes.Repeat([]byte{0x80, byte(j)}, 27)})
	}
	e := SpoolEntry{Rec: rec}
	r, err := encodeEntryRaw(codec, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	framed, seg := append(r.head, r.seg...), r.seg
	payload := framed[spoolHeader:]
	if len(seg) == 0 || !bytes.HasSuffix(payload, append([]byte{0}, seg...)) {
		t.Fatalf("the segment (%d bytes) does not follow the JSON raw", len(seg))
	}
	got, err := s.decodeEntry(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Rec.Media, rec.Media) || got.Rec.Call.ID != "c1" || got.Rec.Call.Start != rec.Call.Start {
		t.Fatalf("new form: %d frames back, call %q", len(got.Rec.Media), got.Rec.Call.ID)
	}

	// The older form: the same record, segment inside the JSON.
	bare := *rec
	bare.Media = nil
	old := spoolWire{Rec: &bare, Seg: seg}
	eachTime(&e, func(tm *correlate.Time) { old.NS = append(old.NS, int64(*tm)) })
	ob, err := json.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	if len(ob) <= len(payload) {
		t.Errorf("old form %d bytes, new %d: the raw segment should be the smaller", len(ob), len(payload))
	}
	got2, err := s.decodeEntry(ob)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got2.Rec.Media, rec.Media) || got2.Rec.Call.End != rec.Call.End {
		t.Fatalf("old form: %d frames back", len(got2.Rec.Media))
	}
}
