package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// codecSpool is a Spool with only a frame codec (closed at the end of the test): enough
// to encode and decode records without a directory.
func codecSpool(tb testing.TB) *Spool {
	tb.Helper()
	codec, err := NewFrameCodec()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(codec.Close)
	return &Spool{codec: codec}
}

// TestSpoolRecordFormat: a record with frames carries its segment raw after the JSON, and
// a record written by an older build (the segment base64-encoded as the JSON field "seg")
// still decodes to the same entry. The old form is built here by hand from the layout the
// older encodeEntry wrote: spoolWire with Seg set, encoded by encoding/json.
func TestSpoolRecordFormat(t *testing.T) {
	s := codecSpool(t)
	codec := s.codec
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

// TestSpoolMessageBytes: a call's SIP messages keep their bytes out of the JSON (after
// the NUL, laid out by "mb"), the text of a message whose frame ends with it stored once,
// and come back byte for byte, nil where they were nil; a record of an older build (the
// bytes base64 in the messages) decodes to the same messages.
func TestSpoolMessageBytes(t *testing.T) {
	s := codecSpool(t)
	codec := s.codec
	text := []byte("INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: a@b\r\n\r\n")
	frame := append(bytes.Repeat([]byte{0x45}, 42), text...)
	other := []byte("SIP/2.0 200 OK\r\n\r\n")
	msgs := []correlate.Message{
		{TS: 1, Method: "INVITE", Request: true, Raw: frame[42:], Frame: frame},         // text is the frame's tail
		{TS: 2, Status: 200, Raw: other, Frame: bytes.Repeat([]byte{7}, 60)},            // text of its own
		{TS: 3, Status: 100, Frame: bytes.Repeat([]byte{9}, 50)},                        // no text
		{TS: 4, Method: "BYE", Request: true, Raw: []byte("BYE sip:x SIP/2.0\r\n\r\n")}, // no frame
	}
	rec := &correlate.Record{Call: correlate.Call{ID: "c1", CallID: "a@b", Start: 1e18, End: 1e18 + 4e9}, Messages: msgs}
	for j := range 5 {
		rec.Media = append(rec.Media, correlate.Frame{TS: 1e18 + int64(j)*20e6, LinkType: 1, OrigLen: 214,
			Data: bytes.Repeat([]byte{0x80, byte(j)}, 27)})
	}
	e := SpoolEntry{Rec: rec}
	r, err := encodeEntryRaw(codec, &e, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := append(append([]byte(nil), r.head[spoolHeader:]...), r.seg...)
	js := payload[:bytes.IndexByte(payload, 0)]
	if bytes.Contains(js, []byte(`"Raw":"`)) || bytes.Contains(js, []byte(`"Frame":"`)) {
		t.Fatalf("message bytes in the JSON: %s", js)
	}
	// Stored once each: the frames, the second message's and the fourth's own text.
	if want := len(frame) + 60 + len(other) + 50 + len(msgs[3].Raw); len(r.head)-spoolHeader-len(js)-1 != want {
		t.Fatalf("%d bytes after the JSON before the segment, want %d", len(r.head)-spoolHeader-len(js)-1, want)
	}
	if len(rec.Messages[0].Raw) == 0 || rec.Messages[1].Frame == nil {
		t.Fatal("encoding changed the record's messages")
	}
	for _, keep := range []bool{false, true} {
		s.KeepSegments(keep)
		got, err := s.decodeEntry(payload)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Rec.Messages, msgs) {
			t.Fatalf("keep=%v: messages back\n%+v\nwant\n%+v", keep, got.Rec.Messages, msgs)
		}
		if keep && !bytes.Equal(got.Segment(), r.seg) || !keep && !reflect.DeepEqual(got.Rec.Media, rec.Media) {
			t.Fatalf("keep=%v: frames did not come back", keep)
		}
	}

	// The older form: the messages with their bytes in the JSON.
	s.KeepSegments(false)
	bare := *rec
	bare.Media = nil
	old := spoolWire{Rec: &bare}
	eachTime(&e, func(tm *correlate.Time) { old.NS = append(old.NS, int64(*tm)) })
	ob, err := json.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decodeEntry(ob)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Rec.Messages, msgs) {
		t.Fatalf("old form: messages back\n%+v", got.Rec.Messages)
	}

	// A layout that runs past the record is an error, never a panic or a short message.
	for _, b := range [][]byte{
		bytes.Replace(payload, fmt.Appendf(nil, `"mb":[%d,`, len(frame)), []byte(`"mb":[99999,`), 1),                                                 // a frame past the record
		bytes.Replace(payload, fmt.Appendf(nil, `"mb":[%d,`, len(frame)), fmt.Appendf(nil, `"mb":[%d,1,`, len(frame)), 1),                            // one number too many
		bytes.Replace(payload, fmt.Appendf(nil, `"mb":[%d,%d`, len(frame), len(text)), fmt.Appendf(nil, `"mb":[%d,%d`, len(frame), len(frame)+1), 1), // text longer than its frame
	} {
		if bytes.Equal(b, payload) {
			t.Fatal("the layout was not found to damage")
		}
		if _, err := s.decodeEntry(b); err == nil {
			t.Fatalf("a bad layout decoded: %s", b[:bytes.IndexByte(b, 0)])
		}
	}
}
