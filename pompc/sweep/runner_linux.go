package sweep

import (
	"os/exec"
	"runtime"
	"syscall"
)

// runChild starts cmd so that the kernel kills it if the sweep process dies (SIGKILL included):
// an orphaned run would keep its run directory locked and race the resumed sweep. Pdeathsig fires
// when the forking thread exits, so the goroutine stays on its thread until the child is reaped.
func runChild(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd.Run()
}
