package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary act as the pompc command (for the subprocess tests).
func TestMain(m *testing.M) {
	if os.Getenv("POMPC_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"pompc"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pompcCmd runs this test binary as `pompc args...`.
func pompcCmd(t testing.TB, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, args...)
	// Its temporary files (a population's file) go to the test's own folder: a child killed
	// by the test cannot remove them.
	cmd.Env = append(os.Environ(), "POMPC_TEST_AS_MAIN=1", "TMPDIR="+t.TempDir())
	return cmd
}

// TestSIGKILLDuringSavesResumesExactly starts `pompc train` as a subprocess that checkpoints
// after every step, kills it with SIGKILL at random moments several times (so most kills land
// in or next to a save), checks each time that the run directory holds a valid checkpoint, resumes
// it, and finally checks that the finished run's checkpoint (all parameters, optimizer state,
// buffer, RNG) and metrics equal those of an uninterrupted run byte for byte.
func TestSIGKILLDuringSavesResumesExactly(t *testing.T) {
	args := func(dir string, extra ...string) []string {
		a := append([]string{"train", "--task", "cartpole-swingup", "--run-dir", dir}, tinyArgs...)
		a = append(a, "--steps", "70", "--save-every", "1", "--eval_every", "35")
		return append(a, extra...)
	}
	ref := filepath.Join(t.TempDir(), "ref")
	out, err := pompcCmd(t, args(ref)...).CombinedOutput()
	require.NoError(t, err, string(out))

	dir := filepath.Join(t.TempDir(), "killed")
	rng := rand.New(rand.NewPCG(7, 7))
	kills := 0
	for attempt := 0; attempt < 12 && kills < 4; attempt++ {
		extra := []string{}
		if _, err := os.Stat(filepath.Join(dir, rundir.CheckpointFile)); err == nil {
			extra = append(extra, "--resume")
		}
		cmd := pompcCmd(t, args(dir, extra...)...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, buf.String())
			attempt = 99 // finished before the kill
			continue
		case <-time.After(time.Duration(300+rng.IntN(1200)) * time.Millisecond):
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-done
		kills++
		if _, err := os.Stat(filepath.Join(dir, rundir.CheckpointFile)); err == nil {
			_, _, err := pompc.LoadConfig(dir)
			require.NoError(t, err, "after kill %d the checkpoint must be valid", kills)
		}
	}
	t.Logf("killed %d times", kills)
	require.GreaterOrEqual(t, kills, 2, "the runs finished too fast to be killed")
	// Finish the run.
	extra := []string{}
	if _, err := os.Stat(filepath.Join(dir, rundir.CheckpointFile)); err == nil {
		extra = append(extra, "--resume")
	}
	out, err = pompcCmd(t, args(dir, extra...)...).CombinedOutput()
	require.NoError(t, err, string(out))

	want, err := pompc.ReadMetrics(filepath.Join(ref, rundir.MetricsFile))
	require.NoError(t, err)
	got, err := pompc.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
	require.NoError(t, err)
	require.Equal(t, want, got, "metrics after %d kills", kills)
	a, err := os.ReadFile(filepath.Join(ref, rundir.CheckpointFile))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "final checkpoints differ after %d kills", kills)
}

// TestSecondProcessIsLockedOut: while one `pompc train` holds a run directory, another gets a
// clear error naming the holder's pid.
func TestSecondProcessIsLockedOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	lock, err := rundir.Acquire(dir)
	require.NoError(t, err)
	defer lock.Unlock()
	out, err := pompcCmd(t, append([]string{"train", "--run-dir", dir}, tinyArgs...)...).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "in use by process")
}
