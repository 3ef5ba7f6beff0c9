//go:build unix

package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive lock on a run directory, held by one process. It is an advisory
// flock on dir/run.lock, which the kernel releases when the holder dies, so a lock left by a
// killed process is taken over without manual cleanup; the file records the holder's pid.
type Lock struct {
	f    *os.File
	path string
	// TookOverFrom is the pid of a dead process whose lock file was found (0 if none).
	TookOverFrom int
}

// ErrLocked is wrapped by Acquire when another live process holds the run directory.
var ErrLocked = errors.New("run directory is locked")

// Acquire creates dir if needed and locks it for this process. If another process holds it,
// the error wraps ErrLocked and names the holder's pid.
func Acquire(dir string) (*Lock, error) {
	if err := Ensure(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rundir: run directory %s is not writable: %w", dir, err)
	}
	prev := readPid(f)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if prev > 0 {
				holder = "process " + strconv.Itoa(prev)
			}
			return nil, fmt.Errorf("rundir: %w: %s is in use by %s (lock %s)", ErrLocked, dir, holder, path)
		}
		return nil, fmt.Errorf("rundir: locking %s: %w", path, err)
	}
	l := &Lock{f: f, path: path}
	if prev > 0 && prev != os.Getpid() {
		l.TookOverFrom = prev // its flock is gone, so the process is dead (or exited uncleanly)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		f.Sync()
	}
	return l, nil
}

func readPid(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// Unlock releases the lock and removes the lock file. Safe to call twice.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	os.Remove(l.path)
	err := l.f.Close() // closing releases the flock
	l.f = nil
	return err
}

// InUse reports whether a live process holds dir's lock: the lock file names a process that
// still exists. It only reads (taking the flock, even shared, could make a launcher's Acquire
// fail at that instant), so a recycled pid can make a dead holder look alive.
func InUse(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
