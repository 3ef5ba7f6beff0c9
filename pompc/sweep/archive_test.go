package sweep

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// TestCompactMetrics: evaluations, episodes and knobs are kept record for record; an update
// metric becomes its mean over each window, at the window's last step; of the snapshots, the
// last of each snapshot window; the output is in step order, keys by name within a step.
func TestCompactMetrics(t *testing.T) {
	snap := pompc.SnapshotKey(pompc.SnapPlan, pompc.SnapMean, 0)
	m := map[string][]pompc.Record{
		pompc.KeyLambda:        {{Key: pompc.KeyLambda, Step: 0, Val: math.Inf(1)}},
		pompc.KeyEvalReturn:    {{Key: pompc.KeyEvalReturn, Step: 5, Val: 10}, {Key: pompc.KeyEvalReturn, Step: 10, Val: 20}},
		pompc.KeyEpisodeReturn: {{Key: pompc.KeyEpisodeReturn, Step: 3, Val: 7}},
		pompc.KeyLossConsistency: {{Key: pompc.KeyLossConsistency, Step: 1, Val: 1}, {Key: pompc.KeyLossConsistency, Step: 2, Val: 2},
			{Key: pompc.KeyLossConsistency, Step: 4, Val: 6}, {Key: pompc.KeyLossConsistency, Step: 5, Val: 8}, {Key: pompc.KeyLossConsistency, Step: 9, Val: math.NaN()}},
		snap: {{Key: snap, Step: 2, Val: 1}, {Key: snap, Step: 4, Val: 2}, {Key: snap, Step: 6, Val: 3}, {Key: snap, Step: 11, Val: 4}},
	}
	got := CompactMetrics(m, 2, 5)
	want := []pompc.Record{
		{Key: pompc.KeyLambda, Step: 0, Val: math.Inf(1)},
		{Key: pompc.KeyLossConsistency, Step: 2, Val: 1.5}, // steps 1-2
		{Key: pompc.KeyEpisodeReturn, Step: 3, Val: 7},
		{Key: pompc.KeyLossConsistency, Step: 4, Val: 6}, // steps 3-4: one record
		{Key: snap, Step: 4, Val: 2},                     // the last snapshot of steps 1-5
		{Key: pompc.KeyEvalReturn, Step: 5, Val: 10},
		{Key: pompc.KeyLossConsistency, Step: 5, Val: 8}, // steps 5-6
		{Key: snap, Step: 6, Val: 3},                     // of steps 6-10
		{Key: pompc.KeyEvalReturn, Step: 10, Val: 20},
		{Key: snap, Step: 11, Val: 4}, // of steps 11-15: the run's last
	}
	// Between step 6 and 10: steps 9-10's mean, NaN (require.Equal cannot compare NaN).
	require.Len(t, got, len(want)+1)
	nan := got[8]
	require.Equal(t, pompc.KeyLossConsistency, nan.Key)
	require.Equal(t, int64(9), nan.Step)
	require.True(t, math.IsNaN(nan.Val), "a diverged window stays NaN")
	require.Equal(t, want, append(got[:8:8], got[9:]...))
}

// TestArchiveLeavesOutUnfinished: a run not done at its target is left out (named in the
// summary), directories that are not runs and top-level files other than settings and results
// are not copied, and archiving into the source is refused.
func TestArchiveLeavesOutUnfinished(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "a")
	mk := func(name string, st rundir.Status) {
		d := filepath.Join(src, name)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(rundir.Path(d, rundir.ConfigFile), []byte(`{"eval_every": 10}`), 0o644))
		require.NoError(t, rundir.WriteStatus(d, st))
		require.NoError(t, os.WriteFile(rundir.Path(d, rundir.CheckpointFile), []byte("weights"), 0o644))
		var lines []byte
		for s := int64(1); s <= 20; s++ {
			b, _ := json.Marshal(pompc.Record{Key: pompc.KeyLossReward, Step: s, Val: float64(s)})
			lines = append(append(lines, b...), '\n')
		}
		require.NoError(t, os.WriteFile(rundir.Path(d, rundir.MetricsFile), lines, 0o644))
	}
	mk("done", rundir.Status{State: rundir.StateDone, Step: 20, TargetStep: 20})
	mk("half", rundir.Status{State: rundir.StateRunning, Step: 10, TargetStep: 20})
	mk("stopped", rundir.Status{State: rundir.StateDone, Step: 10, TargetStep: 20})
	require.NoError(t, os.MkdirAll(filepath.Join(src, "figures"), 0o755))
	for _, f := range []string{"ablation.json", "results.md", "results.csv", "abl.log", rundir.LockFile, LocalLaunchFile} {
		require.NoError(t, os.WriteFile(filepath.Join(src, f), []byte(f), 0o644))
	}
	sum, err := Archive(src, dst, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"done"}, sum.Runs)
	require.Equal(t, []string{"half", "stopped"}, sum.Skipped)
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"ablation.json", "done", "results.csv", "results.md"}, names)
	require.NoFileExists(t, rundir.Path(filepath.Join(dst, "done"), rundir.CheckpointFile))
	m, err := pompc.ReadRunMetrics(filepath.Join(dst, "done"))
	require.NoError(t, err)
	require.Equal(t, []pompc.Record{{Key: pompc.KeyLossReward, Step: 10, Val: 5.5}, {Key: pompc.KeyLossReward, Step: 20, Val: 15.5}}, m[pompc.KeyLossReward])

	_, err = Archive(src, src, 10)
	require.ErrorContains(t, err, "into itself")
	// A source without runs is refused before anything is written.
	empty := filepath.Join(t.TempDir(), "empty")
	_, err = Archive(t.TempDir(), empty, 10)
	require.ErrorContains(t, err, "not a sweep or ablation directory")
	require.NoDirExists(t, empty)
	// Archiving again: the run the archive has finished is not reported as left out.
	require.NoError(t, os.RemoveAll(filepath.Join(src, "done")))
	mk("done", rundir.Status{State: rundir.StateRunning, Step: 10, TargetStep: 20})
	sum, err = Archive(src, dst, 10)
	require.NoError(t, err)
	require.Empty(t, sum.Runs)
	require.Equal(t, []string{"half", "stopped"}, sum.Skipped)
	_, err = Archive(src, dst, 0)
	require.ErrorContains(t, err, "positive")
}

// TestRestore: a finished run of the archive with its job's configuration is copied in (a
// stale checkpoint of the job removed); a job already done, a run the archive has not finished
// or does not have, are left alone; a run of another configuration is refused by field.
func TestRestore(t *testing.T) {
	from, root := t.TempDir(), t.TempDir()
	cfg := pompc.POMPC().WithSize(pompc.SizeTiny)
	cfg.Steps = 20
	put := func(dir string, c pompc.Config, st rundir.Status) {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		data, err := json.Marshal(c)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(rundir.Path(dir, rundir.ConfigFile), data, 0o644))
		require.NoError(t, os.WriteFile(rundir.Path(dir, rundir.MetricsFile), []byte(`{"key":"eval/return","step":20,"val":`+filepath.Base(dir)[:1]+"}\n"), 0o644))
		require.NoError(t, rundir.WriteStatus(dir, st))
	}
	done := rundir.Status{State: rundir.StateDone, Step: 20, TargetStep: 20}
	job := func(name string) Job { return Job{Dir: filepath.Join(root, name), Config: cfg} }
	put(filepath.Join(from, "1a"), cfg, done)
	put(filepath.Join(from, "2b"), cfg, done)
	put(filepath.Join(from, "3c"), cfg, rundir.Status{State: rundir.StateStopped, Step: 10, TargetStep: 20})
	put(filepath.Join(root, "9b"), cfg, done) // this job's own finished run (eval 9)
	require.NoError(t, os.Rename(filepath.Join(root, "9b"), filepath.Join(root, "2b")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "1a"), 0o755))
	require.NoError(t, os.WriteFile(rundir.Path(filepath.Join(root, "1a"), rundir.CheckpointFile), []byte("step 10"), 0o644))

	got, err := Restore(from, []Job{job("1a"), job("2b"), job("3c"), job("4d")})
	require.NoError(t, err)
	require.Equal(t, []string{"1a"}, got)
	require.NoFileExists(t, rundir.Path(filepath.Join(root, "1a"), rundir.CheckpointFile))
	ev, err := pompc.ReadSeries(filepath.Join(root, "1a"), pompc.KeyEvalReturn)
	require.NoError(t, err)
	require.Equal(t, []pompc.Record{{Key: pompc.KeyEvalReturn, Step: 20, Val: 1}}, ev)
	st, err := rundir.ReadStatus(filepath.Join(root, "1a"))
	require.NoError(t, err)
	require.Equal(t, rundir.StateDone, st.State)
	require.NoDirExists(t, filepath.Join(root, "4d"))
	ev, err = pompc.ReadSeries(filepath.Join(root, "2b"), pompc.KeyEvalReturn)
	require.NoError(t, err)
	require.Equal(t, 9.0, ev[0].Val, "a job already done is not overwritten")
	// Restoring again finds nothing to do.
	got, err = Restore(from, []Job{job("1a"), job("2b")})
	require.NoError(t, err)
	require.Empty(t, got)

	other := cfg
	other.Steps, other.Horizon = 20, 5
	put(filepath.Join(from, "5e"), other, done)
	_, err = Restore(from, []Job{job("5e")})
	require.ErrorContains(t, err, "horizon 5, not 3")
	require.NoDirExists(t, filepath.Join(root, "5e"))
	_, err = Restore(filepath.Join(from, "nosuch"), nil)
	require.Error(t, err)
}
