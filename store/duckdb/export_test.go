package duckdb

// LoadSynthetic exposes loadSynthetic to the benchmarks of package duckdb_test.
var LoadSynthetic = (*Store).loadSynthetic
