package store

import (
	"bytes"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// FuzzSpoolDecode: any spool/WAL record payload decodes or fails with an error, never
// panics, with segments kept (a replay into a SegmentWriter) or decoded; a record we
// encoded comes back with its frame count either way, and with segments kept its
// segment is the one written.
func FuzzSpoolDecode(f *testing.F) {
	codec, err := NewFrameCodec()
	if err != nil {
		f.Fatal(err)
	}
	rec := &correlate.Record{Call: correlate.Call{ID: "c1", CallID: "a@b", Start: 1e18, End: 1e18 + 4e9}}
	for j := 0; j < 12; j++ {
		rec.Media = append(rec.Media, correlate.Frame{TS: 1e18 + int64(j)*20e6, LinkType: 1, OrigLen: 214,
			Data: bytes.Repeat([]byte{0x80, byte(j)}, 27)})
	}
	r, err := encodeEntryRaw(codec, &SpoolEntry{Rec: rec}, nil)
	if err != nil {
		f.Fatal(err)
	}
	good := append(append([]byte(nil), r.head[spoolHeader:]...), r.seg...)
	f.Add(good, true)
	f.Add(good, false)
	f.Add(good[:len(good)/2], true)
	f.Add([]byte(`{"rec":{"id":"x"},"ns":[1,2],"frames":3}`+"\x00junk"), true)
	f.Add([]byte{}, false)
	// A call with SIP messages: their bytes follow the NUL, laid out by "mb".
	text := []byte("SIP/2.0 200 OK\r\nCall-ID: a@b\r\n\r\n")
	withMsgs := &correlate.Record{Call: rec.Call, Media: rec.Media, Messages: []correlate.Message{
		{TS: 1, Raw: text, Frame: append(bytes.Repeat([]byte{0x45}, 42), text...)}, {TS: 2, Raw: text}}}
	if r, err := encodeEntryRaw(codec, &SpoolEntry{Rec: withMsgs}, nil); err == nil {
		f.Add(append(append([]byte(nil), r.head[spoolHeader:]...), r.seg...), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, keep bool) {
		s := &Spool{codec: codec}
		s.KeepSegments(keep)
		e, err := s.decodeEntry(b)
		if err != nil || !bytes.Equal(b, good) {
			return
		}
		if e.Rec == nil || e.Rec.MediaCount() != len(rec.Media) {
			t.Fatalf("keep=%v: the encoded record came back with %v", keep, e.Rec)
		}
		if keep && !bytes.Equal(e.Segment(), r.seg) {
			t.Fatalf("kept segment differs from the one written")
		}
	})
}
