//go:build !unix

package pompc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LockFile is the name of the lock file inside a run directory.
const LockFile = "run.lock"

// ErrLocked is wrapped by LockRunDir when another process holds the run directory.
var ErrLocked = errors.New("run directory is locked")

// RunLock is an exclusive lock on a run directory (an O_EXCL lock file on this platform).
type RunLock struct {
	path string
	// TookOverFrom is always 0 on this platform: stale locks must be removed by hand.
	TookOverFrom int
}

// LockRunDir creates dir if needed and locks it for this process.
func LockRunDir(dir string) (*RunLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pompc: run directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pompc: %w: %s (remove %s if no process uses it)", ErrLocked, dir, path)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return &RunLock{path: path}, nil
}

// Unlock releases the lock.
func (l *RunLock) Unlock() error {
	if l == nil || l.path == "" {
		return nil
	}
	err := os.Remove(l.path)
	l.path = ""
	return err
}
