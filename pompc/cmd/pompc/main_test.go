package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// tinyArgs makes a run reach the update phase (and reanalysis) within a few dozen steps.
var tinyArgs = []string{"--quiet", "--steps", "40", "--seed_steps", "20", "--batch_size", "8",
	"--num_samples", "16", "--num_pi_trajs", "2", "--num_elites", "4", "--iterations", "2",
	"--eval_every", "0", "--eval_episodes", "1", "--reanalyze_seqs", "2", "--save-every", "0"}

func TestTrainWritesRunDirAndResumes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	args := append([]string{"--task", "cartpole-balance", "--run-dir", dir, "--set", "lambda=3", "--prior_kl", "forward"}, tinyArgs...)
	require.NoError(t, runTrain(context.Background(), args))
	for _, f := range []string{rundir.ConfigFile, rundir.MetricsFile, rundir.CheckpointFile, "curve.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		require.Greater(t, st.Size(), int64(0), f)
	}
	cfg, task, err := pompc.LoadConfig(dir)
	require.NoError(t, err)
	require.Equal(t, "cartpole-balance", task)
	require.Equal(t, 3.0, cfg.Lambda)
	require.Equal(t, pompc.KLForward, cfg.PriorKL)
	m, err := pompc.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
	require.NoError(t, err)
	require.NotEmpty(t, m[pompc.KeyLossWorldModel])
	require.NotEmpty(t, m[pompc.KeyEvalReturn], "a final evaluation is recorded")

	// A second train into the same directory refuses without --resume ...
	err = runTrain(context.Background(), args)
	require.ErrorContains(t, err, "--resume")
	// ... and continues with it, up to the new --steps.
	resumed := append(append([]string{}, args...), "--resume", "--steps", "45")
	require.NoError(t, runTrain(context.Background(), resumed))
	m2, err := pompc.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
	require.NoError(t, err)
	require.Greater(t, len(m2["loss/world_model"]), len(m["loss/world_model"]))

	// A swingup run resumes from its directory alone: the checkpoint's task and its own target
	// (no --task, no --steps), and is then finished.
	swing := filepath.Join(t.TempDir(), "swing")
	sargs := append([]string{"--task", "cartpole-swingup", "--run-dir", swing}, tinyArgs...)
	require.NoError(t, runTrain(context.Background(), append(append([]string{}, sargs...), "--steps", "25")))
	require.NoError(t, runTrain(context.Background(), []string{"--run-dir", swing, "--resume", "--quiet"}))
	_, task, err = pompc.LoadConfig(swing)
	require.NoError(t, err)
	require.Equal(t, "cartpole-swingup", task)
	ms, err := pompc.ReadMetrics(filepath.Join(swing, rundir.MetricsFile))
	require.NoError(t, err)
	require.Equal(t, int64(25), ms[pompc.KeyLossWorldModel][len(ms[pompc.KeyLossWorldModel])-1].Step,
		"the run's own target (25 steps) is kept")

	require.NoError(t, runEval(context.Background(), []string{"--run", dir, "--episodes", "1"}))
}

func TestCommandErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	err := runTrain(ctx, []string{"--task", "nosuch", "--run-dir", dir})
	require.ErrorContains(t, err, "unknown task")
	require.ErrorContains(t, err, "cartpole-balance")
	for _, bad := range [][]string{
		{"--lambda", "-1"}, {"--lambda", "nan"}, {"--horizon", "0"}, {"--preset", "nope"},
		{"--size", "3M"}, {"--set", "nosuchkey=1"}, {"--batch_size", "x"},
	} {
		err := runTrain(ctx, append([]string{"--run-dir", dir}, bad...))
		require.Error(t, err, strings.Join(bad, " "))
	}
	require.ErrorContains(t, runEval(ctx, []string{"--run", t.TempDir()}), "no checkpoint")
	require.Error(t, runEval(ctx, nil))
	require.ErrorContains(t, runBench(ctx, []string{"--dims", "5x1"}), "OBS/ACT")
	require.ErrorContains(t, runTrain(ctx, []string{"--run-dir", dir, "--backend", "nosuch"}), "not available")
}
