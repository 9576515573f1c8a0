package main

// The DuckDB bindings link with -rdynamic so that extensions loaded at run time find
// DuckDB's symbols; that exports some 80,000 symbols, 6.6 MB of symbol tables the
// dynamic linker pages in at every start (6.7 MiB of the RSS of every callscope
// process). callscope uses only the extensions linked in (JSON, Parquet, ICU, core
// functions) and never loads one, so it takes the export back: cgo passes the flag after
// the bindings' own, and the last one wins. A LOAD of an extension would fail with an
// unresolved symbol, not misbehave.

// #cgo LDFLAGS: -Wl,--no-export-dynamic
import "C"
