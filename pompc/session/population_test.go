package session

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// The notebooks' batched launcher: a 2 λ × 2 seeds grid is one population trained by one child
// (this test binary restarted with EnvPopulation); every run ends an ordinary run directory at
// its target with a status record, and its metrics are exactly those of the same population
// trained in this process (pompc.TrainTogether), run for run.
func TestPopulationLauncherTrainsTheGridTogether(t *testing.T) {
	root := t.TempDir()
	var jobs []sweep.Job
	for _, lam := range []float64{1, 9} {
		for _, seed := range []int{0, 1} {
			c := testConfig()
			c.Lambda, c.Seed = lam, int64(seed)
			p := sweep.Point{Task: testTask, Preset: "pompc", Lambda: lam, Seed: seed}
			jobs = append(jobs, sweep.Job{Point: p, Name: p.Name(), Dir: filepath.Join(root, "child", p.Name()), Config: c})
		}
	}
	l, err := PopulationLauncher(25)
	require.NoError(t, err)
	sum, err := sweep.Engine{Launcher: l}.Run(context.Background(), jobs)
	require.NoError(t, err)
	require.Equal(t, 4, sum.Done, "%+v", sum.Failed)

	// The same population in this process.
	var runs []*pompc.Run
	var targets []int64
	for _, j := range jobs {
		c := j.Config
		r, err := pompc.OpenRun(pompc.RunOptions{Dir: filepath.Join(root, "here", j.Name), Task: testTask, Config: &c})
		require.NoError(t, err)
		defer r.Close()
		runs = append(runs, r)
		targets = append(targets, j.Steps())
	}
	backend, err := pompc.NewBackend("")
	require.NoError(t, err)
	for _, err := range pompc.TrainTogether(context.Background(), backend, runs, targets, nil, nil) {
		require.NoError(t, err)
	}
	for i, j := range jobs {
		step, err := pompc.CheckpointStep(j.Dir)
		require.NoError(t, err)
		require.Equal(t, j.Steps(), step)
		st, err := rundir.ReadStatus(j.Dir)
		require.NoError(t, err)
		require.Equal(t, rundir.StateDone, st.State)
		require.Equal(t, "population", st.Launcher)
		require.NoError(t, runs[i].Save())
		child, here := runMetrics(t, j.Dir), runMetrics(t, runs[i].Dir)
		require.NotEmpty(t, child[pompc.KeyLossPi])
		require.Equal(t, here, child, "run %s: the child's population and this process's must agree", j.Name)
	}
}
