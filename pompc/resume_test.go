package pompc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestResumeIsExact: N steps, save, load into a fresh trainer, M more steps gives the same
// parameters and metric records, bit for bit, as N+M steps in one go — with the checkpoint in the
// middle of an episode, during the update phase, with reanalysis and an evaluation after it.
func TestResumeIsExact(t *testing.T) {
	const n, m = 37, 30
	for _, task := range []string{"cartpole-swingup", "pendulum-swingup"} {
		t.Run(task, func(t *testing.T) {
			cfg := fastConfig()
			if task == "cartpole-swingup" {
				cfg.EvalEvery = 50 // an evaluation after the checkpoint (500 planner calls)
				cfg.EvalEpisodes = 1
			}

			whole := newTestTrainer(t, cfg, task)
			wholeSink := &MemorySink{}
			whole.Subscribe(wholeSink)
			require.NoError(t, whole.Run(context.Background(), n+m))

			dir := t.TempDir()
			first := newTestTrainer(t, cfg, task)
			require.NoError(t, first.Run(context.Background(), n))
			require.NoError(t, first.Save(dir))

			second := newTestTrainer(t, cfg, task)
			require.NoError(t, second.Load(dir))
			sink := &MemorySink{}
			second.Subscribe(sink)
			require.NoError(t, second.Run(context.Background(), m))

			var after []Record
			for _, r := range wholeSink.Records() {
				if r.Step > n {
					after = append(after, r)
				}
			}
			require.NotEmpty(t, after)
			require.Equal(t, after, sink.Records())
			require.Empty(t, thParamsDiff(t, thParams(t, whole.Agent()), thParams(t, second.Agent())))
		})
	}
}

func TestRunLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l1, err := LockRunDir(dir)
	require.NoError(t, err)
	require.Zero(t, l1.TookOverFrom)

	// A second process gets a clear error naming the holder's pid. (flock locks belong to the
	// open file, so a second open in this process conflicts just like another process would.)
	_, err = LockRunDir(dir)
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, strconv.Itoa(os.Getpid()))
	require.NoError(t, l1.Unlock())
	require.NoError(t, l1.Unlock())

	// A stale lock file from a dead process is taken over.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid
	require.NoError(t, os.WriteFile(filepath.Join(dir, LockFile), []byte(strconv.Itoa(dead)+"\n"), 0o644))
	l2, err := LockRunDir(dir)
	require.NoError(t, err)
	require.Equal(t, dead, l2.TookOverFrom)
	require.NoError(t, l2.Unlock())

	// A run directory that cannot be created is an error, not a panic.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = LockRunDir(filepath.Join(file, "run"))
	require.Error(t, err)
}

func TestTruncateMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	s, err := NewJSONLSink(path)
	require.NoError(t, err)
	for step := int64(1); step <= 5; step++ {
		require.NoError(t, s.Write([]Record{{Key: "a", Step: step, Val: float64(step)}}))
	}
	require.NoError(t, s.Close())
	require.NoError(t, TruncateMetrics(path, 3))
	m, err := ReadMetrics(path)
	require.NoError(t, err)
	require.Len(t, m["a"], 3)
	require.NoError(t, TruncateMetrics(filepath.Join(t.TempDir(), "none.jsonl"), 3))
}

// TestSaveFailureKeepsPreviousCheckpoint: a save that fails half way (a full disk) leaves the
// previous checkpoint valid and no temporary file behind.
func TestSaveFailureKeepsPreviousCheckpoint(t *testing.T) {
	dir := t.TempDir()
	tr := newTestTrainer(t, fastConfig(), "cartpole-balance")
	require.NoError(t, tr.Run(context.Background(), 25))
	require.NoError(t, tr.Save(dir))
	good, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	require.NoError(t, err)

	require.NoError(t, tr.Run(context.Background(), 5))
	writeHook = func(f *os.File, data []byte) error {
		if _, err := f.Write(data[:len(data)/2]); err != nil {
			return err
		}
		return errors.New("write: no space left on device")
	}
	t.Cleanup(func() { writeHook = nil })
	require.ErrorContains(t, tr.Save(dir), "no space left")
	writeHook = nil

	now, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	require.NoError(t, err)
	require.Equal(t, good, now, "the previous checkpoint is untouched")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".tmp")
	}
	other := newTestTrainer(t, fastConfig(), "cartpole-balance")
	require.NoError(t, other.Load(dir))
	require.Equal(t, int64(25), other.StepCount())
}
