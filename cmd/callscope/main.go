// Command callscope is the passive VoIP monitor: `analyze` reads capture files and prints
// calls and streams; `serve` captures, stores and serves the dashboard; `schema` prints
// ClickHouse cluster DDL; `gen` writes scenario captures with known truth. main only
// wires packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

var version = "dev"

func main() {
	// callscope serves no profiles, so the heap profiler's sampling buckets are memory
	// for nothing: 1.5 MiB at 20,000 concurrent calls in analyze. Off before the first
	// allocation worth sampling, as runtime.MemProfileRate asks.
	runtime.MemProfileRate = 0
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: callscope <command> [flags]

commands:
  analyze -r FILE... [--json] [--alerts CONFIG]
                                analyse capture files offline and print calls and streams
                                (with --alerts: the alerts the config's rules raise)
  serve [-r FILE]... [--store URL] [--listen ADDR]
                                capture, store and serve the dashboard and REST API
  schema --clickhouse-cluster NAME
                                print ClickHouse cluster DDL (ReplicatedMergeTree + Distributed)
  gen -scenario NAME -w FILE    write a generated scenario capture (gen -list lists them)
  version                       print the version
`

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "analyze":
		err = runAnalyze(ctx, args[1:], stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "schema":
		err = runSchema(args[1:], stdout, stderr)
	case "gen":
		err = runGen(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "callscope", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "callscope: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "callscope:", err)
		return 1
	}
}
