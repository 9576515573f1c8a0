package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"

	"github.com/callscope/callscope/store/clickhouse"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// runSchema prints the ClickHouse cluster DDL: `callscope schema --clickhouse-cluster
// NAME [--db callscope]` (see docs/deploy.md).
func runSchema(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cluster := fs.String("clickhouse-cluster", "", "ClickHouse cluster name (from remote_servers)")
	db := fs.String("db", "callscope", "database")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "schema: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *cluster == "" {
		fmt.Fprintln(stderr, "schema: --clickhouse-cluster NAME is required")
		return errUsage
	}
	for _, v := range []string{*cluster, *db} {
		if !identRE.MatchString(v) {
			fmt.Fprintf(stderr, "schema: %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)\n", v)
			return errUsage
		}
	}
	_, err := io.WriteString(stdout, clickhouse.ClusterDDL(*cluster, *db))
	return err
}
