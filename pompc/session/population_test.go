package session

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	require.Len(t, sweep.Items(l, jobs, []int{0, 1, 2, 3}), 2, "on the pure-Go backend: one population per λ")
	l.Group = sweep.GroupShared // the whole grid as one population, as on a GPU
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

// A run of a population is steered like any session run: session.Open attaches to its member
// server, SetLambda and SetPriorKL change its knobs from the next update on (also to λ = 0,
// TD-MPC2's update: the population's graph follows), and only its own; training it alone is
// refused with what to do; Stop stops the population, every run saved.
func TestPopulationMemberIsSteerable(t *testing.T) {
	root := t.TempDir()
	var pf sweep.PopulationFile
	for i, lam := range []float64{1, 3} {
		c := testConfig()
		c.Lambda, c.Seed, c.Steps = lam, int64(i), 100_000
		pf.Runs = append(pf.Runs, sweep.PopulationRun{Dir: filepath.Join(root, fmt.Sprintf("r%d", i)), Task: testTask, Config: c, Steps: int64(c.Steps)})
	}
	file := filepath.Join(root, "population.json")
	data, err := json.Marshal(pf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, data, 0o644))
	done := make(chan error, 1)
	go func() { done <- TrainPopulationFile(context.Background(), file, -1) }()

	var run *Run
	require.Eventually(t, func() bool {
		if !rundir.Exists(pf.Runs[1].Dir, rundir.ServerFile) {
			return false
		}
		run, err = Open(context.Background(), Options{Dir: pf.Runs[1].Dir})
		return err == nil
	}, time.Minute, 50*time.Millisecond)
	defer run.Close()
	require.Eventually(t, func() bool { // past step 0 (whose knob records hold the initial values)
		st, err := run.Status()
		return err == nil && st.Step > 0
	}, time.Minute, 20*time.Millisecond)
	require.NoError(t, run.SetLambda(9))
	st, err := run.Status()
	require.NoError(t, err)
	require.Equal(t, 9.0, st.Lambda)
	require.True(t, st.Training)
	require.NoError(t, run.SetPriorKL(pompc.KLForward))
	require.ErrorContains(t, run.Start(10), "population")
	require.Eventually(t, func() bool { // a few more updates with the new knobs
		st, err := run.Status()
		return err == nil && st.Updates > 40
	}, time.Minute, 20*time.Millisecond)
	require.NoError(t, run.SetLambda(0))
	st, err = run.Status()
	require.NoError(t, err)
	require.Eventually(t, func() bool { // and updates of TD-MPC2's form, in the mixed graph
		s2, err := run.Status()
		return err == nil && s2.Updates > st.Updates+5 && s2.LastUpdate != nil && s2.Lambda == 0
	}, time.Minute, 20*time.Millisecond)
	require.Equal(t, 0.0, mustStatus(t, run).Lambda)
	require.NoError(t, run.Stop())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Stop did not stop the population")
	}
	for i, want := range [][]float64{{1}, {3, 9, 0}} {
		var lams []float64
		for _, r := range runMetrics(t, pf.Runs[i].Dir)[pompc.KeyLambda] {
			lams = append(lams, r.Val)
		}
		require.Equal(t, want, lams, "run %d's λ records", i)
		step, err := pompc.CheckpointStep(pf.Runs[i].Dir)
		require.NoError(t, err)
		require.Greater(t, step, int64(0), "run %d saved when stopped", i)
		require.False(t, rundir.Exists(pf.Runs[i].Dir, rundir.ServerFile), "server.json removed")
	}
}

func mustStatus(t *testing.T, r *Run) pompc.Status {
	t.Helper()
	st, err := r.Status()
	require.NoError(t, err)
	return st
}
