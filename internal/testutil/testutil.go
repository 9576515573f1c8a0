// Package testutil holds helpers shared by callscope's tests: locating the shared real
// captures and requiring external tools (a missing tool skips a test locally and fails it
// under CI=true, where the test command has installed every tool).
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testutil: no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedTestdata returns ../shared/testdata beside the repository, failing (CI) or
// skipping (locally) when it is absent.
func SharedTestdata(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "..", "shared", "testdata")
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "shared testdata at "+dir)
	}
	return dir
}

// NeedTool returns the path of an external program, failing (CI) or skipping (locally)
// when it is not installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name)
	}
	return p
}

// Missing skips the test, or fails it when CI=true.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true (scripts/test.sh installs it as root)", what)
	}
	t.Skipf("%s not available", what)
}
