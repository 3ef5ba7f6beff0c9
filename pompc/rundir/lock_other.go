//go:build !unix

package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrLocked is wrapped by Acquire when another process holds the run directory.
var ErrLocked = errors.New("run directory is locked")

// Lock is an exclusive lock on a run directory (an O_EXCL lock file on this platform).
type Lock struct {
	path string
	// TookOverFrom is always 0 on this platform: stale locks must be removed by hand.
	TookOverFrom int
}

// Acquire creates dir if needed and locks it for this process.
func Acquire(dir string) (*Lock, error) {
	if err := Ensure(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w: %s (remove %s if no process uses it)", ErrLocked, dir, path)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return &Lock{path: path}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.path == "" {
		return nil
	}
	err := os.Remove(l.path)
	l.path = ""
	return err
}

// InUse reports whether dir's lock file exists (this platform cannot tell whether its holder
// still lives).
func InUse(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, LockFile))
	return err == nil
}
