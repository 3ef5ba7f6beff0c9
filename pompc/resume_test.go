package pompc

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pompc/pompc/pompc/rundir"

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

func TestTruncateMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	s, err := NewJSONLSink(path)
	require.NoError(t, err)
	for step := int64(1); step <= 5; step++ {
		require.NoError(t, s.Write([]Record{{Key: "a", Step: step, Val: float64(step)}}))
	}
	require.NoError(t, s.Close())
	require.NoError(t, TruncateMetrics(path, -1, 3), "by step (checkpoints without a record count)")
	m, err := ReadMetrics(path)
	require.NoError(t, err)
	require.Len(t, m["a"], 3)
	require.NoError(t, TruncateMetrics(path, 2, 99), "by count: the first 2 records")
	m, err = ReadMetrics(path)
	require.NoError(t, err)
	require.Equal(t, []Record{{"a", 1, 1}, {"a", 2, 2}}, m["a"])
	require.NoError(t, TruncateMetrics(filepath.Join(t.TempDir(), "none.jsonl"), 3, 3))
	require.ErrorContains(t, TruncateMetrics(path, 5, 99), "holds 2 records but the checkpoint had written 5")

	// A damaged line is an error naming the file and the line, and leaves the file as it was.
	appendRaw(t, path, "{\"key\": garbage\n"+`{"key":"a","step":3,"val":3}`+"\n")
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	err = TruncateMetrics(path, 2, 99)
	require.ErrorContains(t, err, "metrics.jsonl is damaged")
	require.ErrorContains(t, err, "line 3")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

// TestSaveFailureKeepsPreviousCheckpoint: a save that fails half way (a full disk) leaves the
// previous checkpoint valid and no temporary file behind.
func TestSaveFailureKeepsPreviousCheckpoint(t *testing.T) {
	dir := t.TempDir()
	tr := newTestTrainer(t, fastConfig(), "cartpole-balance")
	require.NoError(t, tr.Run(context.Background(), 25))
	require.NoError(t, tr.Save(dir))
	good, err := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	require.NoError(t, err)

	require.NoError(t, tr.Run(context.Background(), 5))
	restore := rundir.SetWriteFault(func(w io.Writer, data []byte) error {
		if _, err := w.Write(data[:len(data)/2]); err != nil {
			return err
		}
		return syscall.ENOSPC
	})
	t.Cleanup(restore)
	require.ErrorContains(t, tr.Save(dir), "disk is full")
	restore()

	now, err := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
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
