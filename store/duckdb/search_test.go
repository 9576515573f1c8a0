package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/store"
)

func searchIDs(t *testing.T, s *Store, q store.CallQuery) []string {
	t.Helper()
	p, err := s.SearchCalls(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	ids := []string{}
	for _, c := range p.Calls {
		ids = append(ids, c.ID)
	}
	return ids
}

// openAtVersion creates a database at schema version (migrations up to it applied and
// recorded, as a build of that version left it), runs rows on it, and opens it with Open,
// which migrates it to the current version.
func openAtVersion(t *testing.T, version int, rows ...string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v"+strconv.Itoa(version)+".duckdb")
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)`}
	for _, m := range migrations()[:version] {
		stmts = append(stmts, m.stmts...)
		stmts = append(stmts, "INSERT INTO schema_migrations (version, name) VALUES ("+strconv.Itoa(m.version)+", "+quote(m.name)+")")
	}
	for _, st := range append(stmts, rows...) {
		if _, err := db.Exec(st); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A database at schema version 2 (before calls.numbers) gets the column filled by
// migration 3, and number searches then find its old calls.
func TestMigrateFillsNumbers(t *testing.T) {
	s := openAtVersion(t, 2, `INSERT INTO calls (id, call_id, start, from_uri, to_uri, from_user, to_user, obj) VALUES
		('a1', 'c1', 1000, 'sip:Alice@X.example', 'sip:+4930123@y.example', 'Alice', '+4930123', '{"id":"a1","call_id":"c1"}')`)
	for _, n := range []string{"alice", "x.EXAMPLE", "4930123", "+49"} {
		if got := searchIDs(t, s, store.CallQuery{Number: n}); len(got) != 1 || got[0] != "a1" {
			t.Errorf("number %q: %v, want [a1]", n, got)
		}
	}
	if got := searchIDs(t, s, store.CallQuery{Number: "bob"}); len(got) != 0 {
		t.Errorf("number bob: %v, want none", got)
	}
}

// A database at schema version 3 (before calls.link_keys) gets each old call's own
// Call-ID as its link key, so a new leg naming it in X-CID finds it, both ways.
func TestMigrateFillsLinkKeys(t *testing.T) {
	start := int64(1_700_000_000_000_000_000)
	s := openAtVersion(t, 3, fmt.Sprintf(`INSERT INTO calls (id, call_id, start, obj) VALUES
		('old-a', 'leg-a@pbx', %d, '{"id":"old-a","call_id":"leg-a@pbx"}'),
		('old-z', 'other@pbx', %d, '{"id":"old-z","call_id":"other@pbx"}')`, start, start))
	rec := &correlate.Record{Call: correlate.Call{ID: "new-b", CallID: "leg-b@sbc", Start: correlate.Time(start + 2e9),
		State: "answered", LinkedCallIDs: []string{}, UserAgents: []string{}},
		LinkKeys: []string{"cid:leg-b@sbc", "cid:leg-a@pbx"}}
	if err := s.WriteCalls(context.Background(), []*correlate.Record{rec}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"old-a": "new-b", "new-b": "old-a", "old-z": ""} {
		legs, err := s.Legs(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range legs {
			got = append(got, c.ID)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("legs of %s: %v, want %q", id, got, want)
		}
	}
}

// numbersOf leaves out user parts their URI already contains, but a search for a user
// part that differs from its URI (or a string spanning two fields) still behaves.
func TestNumberSearchEdges(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "x.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mk := func(id, callID, from, fu, to, tu string) *correlate.Record {
		return &correlate.Record{Call: correlate.Call{ID: id, CallID: callID, From: from, FromUser: fu, To: to, ToUser: tu,
			Start: 1_700_000_000_000_000_000, State: "answered", LinkedCallIDs: []string{}, UserAgents: []string{}}}
	}
	recs := []*correlate.Record{
		mk("a", "it's-a", "sip:Alice@x.example", "Alice", "sip:bob@y.example", "bob"),
		mk("b", "b", "sip:%2B15550001@x.example", "+15550001", "tel:+4930", "Carol"),
	}
	if err := s.WriteCalls(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    string
		want int
	}{{"alice", 1}, {"ALICE@X", 1}, {"+1555", 1}, {"%2b1555", 1}, {"carol", 1}, {"example", 2},
		{"example\x00sip", 0}, // NUL is dropped from queries: no match across fields
		{"examplesip", 0}, {"bobcarol", 0}} {
		if got := searchIDs(t, s, store.CallQuery{Number: tc.n}); len(got) != tc.want {
			t.Errorf("number %q: %v, want %d calls", tc.n, got, tc.want)
		}
	}
	if got := searchIDs(t, s, store.CallQuery{CallID: "it's-a"}); len(got) != 1 || got[0] != "a" {
		t.Errorf("call-id with a quote: %v, want [a]", got)
	}
}
