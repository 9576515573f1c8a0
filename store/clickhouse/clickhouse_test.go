package clickhouse_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callscope/callscope/correlate"
	"github.com/callscope/callscope/internal/chtest"
	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/clickhouse"
	"github.com/callscope/callscope/store/storetest"
)

// One clickhouse-server for the package; tests that kill it start their own.
var (
	srv    *chtest.Server
	srvErr error
	dbSeq  atomic.Int64
)

func TestMain(m *testing.M) {
	srv, srvErr = chtest.New("")
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// openFresh opens a migrated store on a new database of the shared server.
func openFresh(t testing.TB) *clickhouse.Store {
	t.Helper()
	s := chtest.Need(t, srv, srvErr)
	return openURL(t, s.URL(fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))))
}

func openURL(t testing.TB, url string) *clickhouse.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := clickhouse.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func TestMigrationsRecordedOnce(t *testing.T) {
	s := openFresh(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, []uint32{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("applied migrations %v, want [1 2 3 4 5 6 7 8]", v)
	}
	if !strings.HasPrefix(s.ServerVersion(), "1") && !strings.HasPrefix(s.ServerVersion(), "2") {
		t.Fatalf("server version %q", s.ServerVersion())
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"duckdb:x", "http://127.0.0.1:9000/db", "clickhouse://127.0.0.1:1/a`b"} {
		if _, err := clickhouse.Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	// Nothing listening: a clear error, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := clickhouse.Open(ctx, "clickhouse://default:@127.0.0.1:1/x?dial_timeout=1s"); err == nil {
		t.Error("Open on a closed port succeeded")
	}
}

// Times keep their nanoseconds and unknown times stay unknown.
func TestTimeRoundTrip(t *testing.T) {
	s := openFresh(t)
	ctx := context.Background()
	start := correlate.Time(time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC).UnixNano())
	c := correlate.Call{CallID: "rt@x", Start: start, End: start + 1, State: "in_progress",
		LinkedCallIDs: []string{}, UserAgents: []string{}, Streams: []correlate.Stream{}}
	c.ID = correlate.CallUID(c.CallID, c.Start)
	if err := s.WriteCalls(ctx, []*correlate.Record{{Call: c}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCall(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Start != c.Start || got.End != c.End || got.Answer != 0 || got.Ringing != 0 {
		t.Fatalf("times %d %d %d %d, want %d %d 0 0", got.Start, got.End, got.Answer, got.Ringing, c.Start, c.End)
	}
}

// A database migrated before the search column existed gets it from migration 2, and
// calls written before the upgrade are found by number afterwards.
func TestMigrationAddsSearchColumn(t *testing.T) {
	s := chtest.Need(t, srv, srvErr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := clickhouse.Open(ctx, s.URL(fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ddl := clickhouse.LegacyCallsDDL()
	if strings.Contains(ddl, "search") {
		t.Fatalf("legacy DDL has the search column: %s", ddl)
	}
	sddl := clickhouse.LegacyStreamsDDL()
	if sddl == "" || strings.Contains(sddl, "extra") {
		t.Fatalf("legacy streams DDL: %s", sddl)
	}
	for _, q := range []string{ddl, sddl,
		"CREATE TABLE schema_migrations (version UInt32, name String, applied DateTime('UTC')) ENGINE = ReplacingMergeTree ORDER BY version",
		"INSERT INTO schema_migrations (version, name, applied) SELECT 1, 'initial tables', now()"} {
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	recs := synthBatch(20, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	for _, r := range recs { // only the calls table exists yet
		r.Messages, r.Call.Streams, r.Media = nil, nil, nil
	}
	if err := st.WriteCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := st.AppliedMigrations(ctx); err != nil || len(v) != 8 {
		t.Fatalf("migrations %v, %v", v, err)
	}
	var extraCols uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = 'rtp_streams' AND name = 'extra'",
		st.Database()).Scan(&extraCols); err != nil || extraCols != 1 {
		t.Fatalf("rtp_streams.extra after migration 3: %d, %v", extraCols, err)
	}
	want := recs[7].Call
	p, err := st.SearchCalls(ctx, store.CallQuery{Number: strings.ToUpper(want.From[4:])})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Calls) != 1 || p.Calls[0].ID != want.ID {
		t.Fatalf("search after upgrade: %d calls, want %s", len(p.Calls), want.ID)
	}
}
