package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSchemaCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runSchema([]string{"--clickhouse-cluster", "voip", "--db", "cs"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	ddl := out.String()
	for _, want := range []string{
		"CREATE DATABASE IF NOT EXISTS `cs` ON CLUSTER `voip`",
		"CREATE TABLE IF NOT EXISTS `cs`.calls_local ON CLUSTER `voip`",
		"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/cs/calls_local', '{replica}', ver)",
		"ENGINE = Distributed(`voip`, `cs`, calls_local, cityHash64(id))",
		"`cs`.sip_messages ON CLUSTER", "`cs`.registrations ON CLUSTER", "`cs`.media_frames ON CLUSTER",
		"INSERT INTO `cs`.schema_migrations (version, name, applied) SELECT 1,",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q", want)
		}
	}
	for _, args := range [][]string{nil, {"--clickhouse-cluster", "a b"}, {"--clickhouse-cluster", "c", "--db", "x;y"}, {"--bogus"}} {
		out.Reset()
		if err := runSchema(args, &out, &errb); !errors.Is(err, errUsage) || out.Len() != 0 {
			t.Errorf("%q: err %v, output %d bytes", args, err, out.Len())
		}
	}
}
