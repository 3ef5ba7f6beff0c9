package rundir

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// noTemps fails if a temporary file of WriteWith is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".tmp-", "temporary file left behind")
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := Path(dir, ConfigFile)
	require.NoError(t, WriteFile(p, []byte("one"), 0o644))
	require.NoError(t, WriteFile(p, []byte("two"), 0o600))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "two", string(b))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	noTemps(t, dir)
}

// TestWriteJSON: indented JSON with a final newline at the given permissions; a value JSON
// cannot encode is an error that leaves the old file as it was.
func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	p := Path(dir, ServerFile)
	require.NoError(t, WriteJSON(p, map[string]int{"step": 3}, 0o600))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "{\n  \"step\": 3\n}\n", string(b))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Error(t, WriteJSON(p, map[string]any{"c": make(chan int)}, 0o600))
	b, err = os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "{\n  \"step\": 3\n}\n", string(b))
	noTemps(t, dir)
}

// TestWriteFileFullDisk: a write that fails half way (ENOSPC) says the disk is full, leaves the
// old file as it was and no temporary file behind.
func TestWriteFileFullDisk(t *testing.T) {
	dir := t.TempDir()
	p := Path(dir, CheckpointFile)
	require.NoError(t, WriteFile(p, []byte("good checkpoint"), 0o644))
	defer SetWriteFault(func(w io.Writer, data []byte) error {
		if _, err := w.Write(data[:len(data)/2]); err != nil {
			return err
		}
		return syscall.ENOSPC
	})()
	err := WriteFile(p, []byte("a newer checkpoint that does not fit"), 0o644)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorContains(t, err, "disk is full")
	require.ErrorContains(t, err, p)
	b, rerr := os.ReadFile(p)
	require.NoError(t, rerr)
	require.Equal(t, "good checkpoint", string(b))
	noTemps(t, dir)
}

// TestFileWhereDirectory: a file standing where the run directory (or a parent) must be is one
// clear error naming it, from Ensure, Acquire and WriteFile alike.
func TestFileWhereDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "runs")
	require.NoError(t, os.WriteFile(file, []byte("not a directory"), 0o644))
	for _, dir := range []string{file, filepath.Join(file, "cartpole-s1")} {
		err := Ensure(dir)
		require.ErrorContains(t, err, file+" is a file, not a directory")
		_, err = Acquire(dir)
		require.ErrorContains(t, err, "is a file, not a directory")
	}
	err := WriteFile(filepath.Join(file, MetricsFile), []byte("x"), 0o644)
	require.ErrorContains(t, err, file+" is a file, not a directory")
	b, rerr := os.ReadFile(file)
	require.NoError(t, rerr)
	require.Equal(t, "not a directory", string(b), "the file in the way is untouched")
}

func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l1, err := Acquire(dir)
	require.NoError(t, err)
	require.Zero(t, l1.TookOverFrom)

	// A second process gets a clear error naming the holder's pid. (flock locks belong to the
	// open file, so a second open in this process conflicts just like another process would.)
	_, err = Acquire(dir)
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, strconv.Itoa(os.Getpid()))
	require.NoError(t, l1.Unlock())
	require.NoError(t, l1.Unlock())

	// A stale lock file from a dead process is taken over.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid
	require.NoError(t, os.WriteFile(Path(dir, LockFile), []byte(strconv.Itoa(dead)+"\n"), 0o644))
	l2, err := Acquire(dir)
	require.NoError(t, err)
	require.Equal(t, dead, l2.TookOverFrom)
	require.NoError(t, l2.Unlock())
}

func TestStatusRoundTripAndDamage(t *testing.T) {
	dir := t.TempDir()
	st, err := ReadStatus(dir)
	require.NoError(t, err)
	require.Equal(t, "", st.State, "a run never launched has no status")
	want := Status{State: StateFailed, Step: 1200, TargetStep: 5000, WallSeconds: 12.5, Attempts: 2,
		Launcher: "process", Error: "exit status 1"}
	require.NoError(t, WriteStatus(dir, want))
	got, err := ReadStatus(dir)
	require.NoError(t, err)
	require.False(t, got.Updated.IsZero())
	got.Updated = want.Updated
	require.Equal(t, want, got)

	require.NoError(t, os.WriteFile(Path(dir, StatusFile), []byte(`{"state": "do`), 0o644))
	_, err = ReadStatus(dir)
	require.ErrorContains(t, err, "damaged")
	require.ErrorContains(t, err, StatusFile)
}

// TestInUse: a run directory is in use while the process its lock names lives: this process's
// lock is, a lock left by a process that has exited is not, and no lock is not.
func TestInUse(t *testing.T) {
	dir := t.TempDir()
	require.False(t, InUse(dir), "no lock file")
	l, err := Acquire(dir)
	require.NoError(t, err)
	require.True(t, InUse(dir), "held by this process")
	require.NoError(t, l.Unlock())
	require.False(t, InUse(dir), "released")
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	require.NoError(t, os.WriteFile(filepath.Join(dir, LockFile), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644))
	require.False(t, InUse(dir), "left by a process that exited")
}

// TestBuildAndNoteBuild: a build is the stamped revision's first 12 digits with "+dirty" for a
// modified tree, empty without a revision; NoteBuild lists a build once per change, with the
// step it took over from, and ignores an empty one.
func TestBuildAndNoteBuild(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "457489c0123456789abcdef0123456789abcdef0"}}
	require.Equal(t, "457489c01234", buildOf(rev))
	require.Equal(t, "457489c01234+dirty", buildOf(append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})))
	require.Equal(t, "457489c01234", buildOf(append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "false"})))
	require.Equal(t, "", buildOf([]debug.BuildSetting{{Key: "GOEXPERIMENT", Value: "simd"}}))

	var st Status
	st.NoteBuild(0, "")
	require.Empty(t, st.Builds)
	st.NoteBuild(0, "a")
	st.NoteBuild(1000, "a")
	st.NoteBuild(25000, "b")
	st.NoteBuild(30000, "")
	require.Equal(t, []BuildAt{{0, "a"}, {25000, "b"}}, st.Builds)
}
