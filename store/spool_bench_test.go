package store

import (
	"bytes"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// BenchmarkSpoolRecord: encoding one finished call into a WAL/spool record and decoding
// it back (what a call costs the writer when the queue is over its budget and the
// replay reads it), for a call shaped like a HEP-fed one: 7 SIP messages of ~816 bytes,
// the text the tail of its frame, no media.
func BenchmarkSpoolRecord(b *testing.B) {
	s := codecSpool(b)
	codec := s.codec
	rec := &correlate.Record{Call: correlate.Call{ID: "c1", CallID: "a@b", Start: 1e18, End: 1e18 + 4e9,
		From: "sip:alice@example.com", To: "sip:bob@example.com"}}
	for j := range 7 {
		frame := append(make([]byte, 42), bytes.Repeat([]byte("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK"), 17)...)
		rec.Messages = append(rec.Messages, correlate.Message{TS: int64(j), Method: "INVITE", Request: true,
			Raw: frame[42:], Frame: frame, Transport: "udp"})
	}
	e := SpoolEntry{Rec: rec}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		r, err := encodeEntryRaw(codec, &e, nil)
		if err != nil {
			b.Fatal(err)
		}
		size = int(r.size())
		if _, err := s.decodeEntry(r.head[spoolHeader:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "record-bytes")
}
