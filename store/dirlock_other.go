//go:build !unix

package store

import "os"

// LockDir creates dir; without flock(2) it takes no lock (see dirlock_unix.go).
func LockDir(dir string) (unlock func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return func() error { return nil }, nil
}
