package pompc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// openTestRun opens a run of fastConfig on cartpole-swingup in dir.
func openTestRun(t *testing.T, dir string, mode ResumeMode) (*Run, error) {
	t.Helper()
	cfg := fastConfig()
	r, err := OpenRun(RunOptions{Dir: dir, Task: "cartpole-swingup", Config: &cfg, Resume: mode})
	if err == nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, err
}

// TestRunKilledDuringSeedBurstResumesExactly: the run checkpoints at the end of the seed phase
// and during its burst of updates; a run killed in the burst resumes from the last of those
// checkpoints and ends with the parameters and metrics file of a run never interrupted.
func TestRunKilledDuringSeedBurstResumesExactly(t *testing.T) {
	const steps = 30
	wholeDir := t.TempDir()
	whole, err := openTestRun(t, wholeDir, ResumeNever)
	require.NoError(t, err)
	var saves []int
	count := Hook{Name: "count-saves", Fn: func(tr *Trainer, ev Event) error {
		if ev == EventSeedEnd || (ev == EventUpdate && tr.InBurst()) {
			saves = append(saves, tr.pending)
		}
		return nil
	}}
	require.NoError(t, whole.Trainer.Run(context.Background(), steps, append(whole.CheckpointHooks(0), count)...))
	require.NoError(t, whole.Save())

	dir := t.TempDir()
	first, err := openTestRun(t, dir, ResumeNever)
	require.NoError(t, err)
	errKilled := errors.New("killed")
	var savedAt []int
	kill := Hook{Name: "kill", Fn: func(tr *Trainer, ev Event) error {
		if ev == EventSeedEnd {
			savedAt = append(savedAt, tr.pending)
		}
		if ev == EventUpdate && tr.InBurst() && first.SavedStep() == tr.StepCount() && tr.pending == 7 {
			return errKilled // three updates after the checkpoint at 10 updates owed
		}
		return nil
	}}
	err = first.Trainer.Run(context.Background(), steps, append(first.CheckpointHooks(0), kill)...)
	require.ErrorIs(t, err, errKilled)
	require.Equal(t, []int{20}, savedAt, "a checkpoint at the end of the seed phase, all 20 updates owed")
	require.NoError(t, first.Close()) // killed: no save

	second, err := openTestRun(t, dir, ResumeRequired)
	require.NoError(t, err)
	require.True(t, second.Resumed)
	require.Equal(t, int64(20), second.Trainer.StepCount())
	require.Equal(t, 8, second.Trainer.pending, "the burst checkpoint that owes 8 of the 20 updates")
	require.NoError(t, second.Trainer.Run(context.Background(), steps-20, second.CheckpointHooks(0)...))
	require.NoError(t, second.Save())

	require.Empty(t, thParamsDiff(t, thParams(t, whole.Trainer.Agent()), thParams(t, second.Trainer.Agent())))
	want, err := os.ReadFile(rundir.Path(wholeDir, rundir.MetricsFile))
	require.NoError(t, err)
	got, err := os.ReadFile(rundir.Path(dir, rundir.MetricsFile))
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "the metrics of the resumed run are those of the whole run")
	require.Contains(t, saves, 8)
}

// TestOpenRunResumeModes: a new run is saved at step 0; ResumeNever refuses a directory that
// holds a run; ResumeRequired on a directory where nothing was trained starts afresh, and on one
// with metrics but no checkpoint says what to run.
func TestOpenRunResumeModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh")
	var notes []string
	cfg := fastConfig()
	r, err := OpenRun(RunOptions{Dir: dir, Task: "cartpole-swingup", Config: &cfg, Resume: ResumeRequired,
		Logf: func(f string, a ...any) { notes = append(notes, f) }})
	require.NoError(t, err)
	require.False(t, r.Resumed)
	require.Len(t, notes, 1)
	require.Contains(t, notes[0], "nothing was trained there")
	require.True(t, rundir.HasCheckpoint(dir), "a new run is saved at once")
	require.Equal(t, int64(0), r.SavedStep())
	require.NoError(t, r.Close())

	_, err = openTestRun(t, dir, ResumeNever)
	require.ErrorIs(t, err, ErrRunExists)

	stray := t.TempDir()
	require.NoError(t, os.WriteFile(rundir.Path(stray, rundir.MetricsFile), []byte(`{"key":"episode/return","step":500,"val":3}`+"\n"), 0o644))
	_, err = openTestRun(t, stray, ResumeRequired)
	require.ErrorIs(t, err, ErrNoCheckpoint)
	require.ErrorContains(t, err, "1 metric records) stopped before its first checkpoint")
	require.ErrorContains(t, err, "start it again without resuming")
	r, err = openTestRun(t, stray, ResumeNever)
	require.NoError(t, err, "without resuming it starts again")
	m, err := ReadMetrics(rundir.Path(stray, rundir.MetricsFile))
	require.NoError(t, err)
	require.Empty(t, m[KeyEpisodeReturn], "the stray metrics are replaced")
	require.NoError(t, r.Close())
}

// TestOpenRunDamagedFiles: a damaged config.json or metrics.jsonl is one clear error that says
// what to do, and the checkpoint stays resumable once it is done.
func TestOpenRunDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	r, err := openTestRun(t, dir, ResumeNever)
	require.NoError(t, err)
	require.NoError(t, r.Trainer.Run(context.Background(), 25))
	require.NoError(t, r.Save())
	require.NoError(t, r.Close())
	ckpt, err := os.ReadFile(rundir.Path(dir, rundir.CheckpointFile))
	require.NoError(t, err)

	cfgPath := rundir.Path(dir, rundir.ConfigFile)
	require.NoError(t, os.WriteFile(cfgPath, []byte(`{"preset": "pompc", "lam`), 0o644))
	_, err = openTestRun(t, dir, ResumeRequired)
	require.ErrorContains(t, err, "config.json is damaged")
	require.ErrorContains(t, err, "delete config.json and resume")
	_, err = ReadRunConfig(dir)
	require.ErrorContains(t, err, "config.json is damaged")
	require.NoError(t, os.Remove(cfgPath))
	r, err = openTestRun(t, dir, ResumeRequired)
	require.NoError(t, err)
	require.Equal(t, int64(25), r.Trainer.StepCount())
	require.NoError(t, r.Close())

	metrics := rundir.Path(dir, rundir.MetricsFile)
	data, err := os.ReadFile(metrics)
	require.NoError(t, err)
	damaged := append([]byte("{not json}\n"), data...)
	require.NoError(t, os.WriteFile(metrics, damaged, 0o644))
	_, err = openTestRun(t, dir, ResumeRequired)
	require.ErrorContains(t, err, "metrics.jsonl is damaged")
	require.ErrorContains(t, err, "line 1")
	require.ErrorContains(t, err, "move the file away")
	kept, err := os.ReadFile(metrics)
	require.NoError(t, err)
	require.Equal(t, damaged, kept, "the damaged file is left for the user")
	now, err := os.ReadFile(rundir.Path(dir, rundir.CheckpointFile))
	require.NoError(t, err)
	require.Equal(t, ckpt, now, "the checkpoint is untouched")
	require.NoError(t, os.Rename(metrics, metrics+".damaged"))
	r, err = openTestRun(t, dir, ResumeRequired)
	require.NoError(t, err, "resumable once the damaged file is moved away")
	require.Equal(t, int64(25), r.Trainer.StepCount())
}

// TestOpenRunFileWhereDirectory: a file where the run directory must be is one clear error.
func TestOpenRunFileWhereDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "runs")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := openTestRun(t, filepath.Join(file, "cartpole"), ResumeNever)
	require.ErrorContains(t, err, "is a file, not a directory")
}
