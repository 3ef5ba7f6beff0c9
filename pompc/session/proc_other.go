//go:build !unix

package session

import (
	"os"
	"syscall"
)

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.FindProcess(pid) // opens the process on Windows: fails if it is gone
	return err == nil
}

// detached: a child outlives its parent on this platform without more.
func detached() *syscall.SysProcAttr { return nil }
