package duckdb

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/callscope/callscope/correlate"
)

// TestMessageTextOnce: a message whose frame ends with its text (UDP, HEP) is stored with
// only the frame's head in the frame column (text_in_frame, schema version 9), one whose
// text is elsewhere (TCP reassembly) or missing is stored whole; every message reads
// back with the frame and text it was written with.
func TestMessageTextOnce(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "t.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	text := []byte("INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: a@b\r\n\r\n")
	head := bytes.Repeat([]byte{0x45}, 42)
	ap := netip.MustParseAddrPort("10.0.0.1:5060")
	msgs := []correlate.Message{
		{TS: 1, Src: ap, Dst: ap, Raw: text, Frame: append(append([]byte(nil), head...), text...)}, // text is the tail
		{TS: 2, Src: ap, Dst: ap, Raw: text, Frame: append(append([]byte(nil), text...), head...)}, // text elsewhere
		{TS: 3, Src: ap, Dst: ap, Frame: head},                                                     // no text
		{TS: 4, Src: ap, Dst: ap, Raw: text},                                                       // no frame
	}
	rec := &correlate.Record{Call: correlate.Call{ID: "m1", CallID: "a@b", Start: 1e18}, Messages: msgs}
	if err := s.WriteCalls(context.Background(), []*correlate.Record{rec}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.DB().Query(`SELECT octet_length(frame), text_in_frame FROM sip_messages ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for rows.Next() {
		var n int
		var in bool
		if err := rows.Scan(&n, &in); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, strconv.Itoa(n)+"/"+strconv.FormatBool(in))
	}
	rows.Close()
	want := []string{"42/true", strconv.Itoa(len(text)+42) + "/false", "42/false", "0/false"}
	if len(stored) != len(want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
	for i := range want {
		if stored[i] != want[i] {
			t.Fatalf("stored (frame bytes/text_in_frame) %v, want %v", stored, want)
		}
	}
	got, err := s.Messages(context.Background(), []string{"m1"})
	if err != nil || len(got) != len(msgs) {
		t.Fatalf("messages: %d, %v", len(got), err)
	}
	for i, m := range got {
		if !bytes.Equal(m.Frame, msgs[i].Frame) || !bytes.Equal(m.Raw, msgs[i].Raw) {
			t.Fatalf("message %d: frame %q text %q, want %q %q", i, m.Frame, m.Raw, msgs[i].Frame, msgs[i].Raw)
		}
	}
}

// A database at schema version 8 keeps its messages' whole frames: after migration 9
// they read back unchanged (text_in_frame NULL is false).
func TestMigrateTextInFrame(t *testing.T) {
	s := openAtVersion(t, 8, `INSERT INTO calls (id, call_id, start, obj) VALUES ('a1', 'c1', 1000, '{"id":"a1","call_id":"c1"}')`,
		`INSERT INTO sip_messages VALUES ('a1', 'c1', 1000, 0, 1000, '10.0.0.1:5060', '10.0.0.2:5060', 'udp', true, 'INVITE',
			0, 1, false, 'INVITE sip:b SIP/2.0'::BLOB, 'HEADINVITE sip:b SIP/2.0'::BLOB, 1)`)
	got, err := s.Messages(context.Background(), []string{"a1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("messages: %v, %v", got, err)
	}
	if string(got[0].Frame) != "HEADINVITE sip:b SIP/2.0" || string(got[0].Raw) != "INVITE sip:b SIP/2.0" {
		t.Fatalf("old row read back as frame %q text %q", got[0].Frame, got[0].Raw)
	}
}
