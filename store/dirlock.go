package store

import "errors"

// ErrDirLocked is returned by LockDir (dirlock_unix.go) when another process holds the
// directory.
var ErrDirLocked = errors.New("in use by another process")
