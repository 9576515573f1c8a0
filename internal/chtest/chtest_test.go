package chtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func query(t *testing.T, addr, q string) (uint64, error) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n uint64
	err = conn.QueryRow(ctx, q).Scan(&n)
	return n, err
}

func TestStartKillRestart(t *testing.T) {
	s := Launch(t)
	if n, err := query(t, s.Addr(), "SELECT toUInt64(1 + 1)"); err != nil || n != 2 {
		t.Fatalf("query: %d, %v", n, err)
	}
	if n, err := query(t, s.Addr(), "SELECT toUInt64(count()) FROM system.clusters WHERE cluster = 'callscope_test'"); err != nil || n != 1 {
		t.Fatalf("test cluster: %d, %v", n, err)
	}
	s.Kill()
	if _, err := query(t, s.Addr(), "SELECT toUInt64(1)"); err == nil {
		t.Fatal("killed server still answers")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if n, err := query(t, s.Addr(), "SELECT toUInt64(3)"); err != nil || n != 3 {
		t.Fatalf("after restart: %d, %v", n, err)
	}
	dir := s.Dir()
	s.Stop()
	if _, err := query(t, s.Addr(), "SELECT toUInt64(1)"); err == nil {
		t.Fatal("stopped server still answers")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("t.TempDir removed early: %v", err) // Launch's dir belongs to the test
	}
}

func TestNewOwnsDir(t *testing.T) {
	s, err := New("")
	s = Need(t, s, err)
	dir := s.Dir()
	s.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir %s left behind: %v", dir, err)
	}
}
