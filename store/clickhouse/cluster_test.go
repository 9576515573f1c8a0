package clickhouse_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/store"
	"github.com/callscope/callscope/store/clickhouse"
)

// The cluster DDL runs on the real server: without ZooKeeper, ON CLUSTER and the
// Replicated engines are swapped for their single-node forms, the Distributed tables
// over the one-shard cluster callscope_test (chtest's config) stay as printed. A store
// on those Distributed tables then writes, deduplicates and reads like the plain schema.
func TestClusterDDL(t *testing.T) {
	openFresh(t) // the shared server, or skip/fail when clickhouse-server is missing
	ddl := clickhouse.ClusterDDL("callscope_test", "clu")
	repl := regexp.MustCompile(`ReplicatedReplacingMergeTree\('[^']*', '\{replica\}'(, ver)?\)`)
	ddl = repl.ReplaceAllStringFunc(ddl, func(m string) string {
		if strings.HasSuffix(m, ", ver)") {
			return "ReplacingMergeTree(ver)"
		}
		return "ReplacingMergeTree"
	})
	ddl = strings.ReplaceAll(ddl, " ON CLUSTER `callscope_test`", "")
	boot := openURL(t, srv.URL("default"))
	ctx := context.Background()
	n := 0
	for _, stmt := range strings.Split(ddl, ";\n") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		stmt = strings.TrimSpace(strings.Join(lines, "\n"))
		if stmt == "" {
			continue
		}
		if err := boot.Conn().Exec(ctx, stmt); err != nil {
			t.Fatalf("%s\n: %v", stmt, err)
		}
		n++
	}
	if n < 2+2*9 { // the database and two statements per table (schema_migrations and 8 more)
		t.Fatalf("only %d statements in the cluster DDL", n)
	}
	// Synchronous distributed inserts so the test can read its writes at once.
	st := openURL(t, srv.URL("clu")+"?insert_distributed_sync=1")
	if v, err := st.AppliedMigrations(ctx); err != nil || len(v) != 8 {
		t.Fatalf("migrations recorded by the DDL: %v, %v", v, err)
	}
	base := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		recs := synthBatch(100, base)
		if err := st.WriteCalls(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	p, err := st.SearchCalls(ctx, store.CallQuery{Limit: 1000})
	if err != nil || len(p.Calls) != 100 {
		t.Fatalf("search over Distributed tables: %d calls, %v", len(p.Calls), err)
	}
	c, err := st.GetCall(ctx, p.Calls[0].ID)
	if err != nil || len(c.Streams) != 2 || len(c.Streams[0].Intervals) != 6 {
		t.Fatalf("get call: %+v, %v", c, err)
	}
	ms, err := st.Messages(ctx, []string{c.ID})
	if err != nil || len(ms) != 7 {
		t.Fatalf("messages: %d, %v", len(ms), err)
	}
	if err := st.DropBefore(ctx, base.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p, err := st.SearchCalls(ctx, store.CallQuery{}); err != nil || len(p.Calls) != 0 {
		t.Fatalf("after retention on the local tables: %d calls, %v", len(p.Calls), err)
	}
}
