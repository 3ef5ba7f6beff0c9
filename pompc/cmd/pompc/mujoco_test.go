//go:build mujoco

package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// TestTrainMuJoCoTasks: `pompc train` runs on MuJoCo tasks (the tiny preset, reaching the update
// phase) and resumes from a checkpoint taken in the middle of an episode, which needs the MuJoCo
// env's snapshot (qpos, qvel, warm start, ...).
func TestTrainMuJoCoTasks(t *testing.T) {
	for _, task := range []string{"cheetah-run", "humanoid-stand"} {
		t.Run(task, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			args := append([]string{"--task", task, "--run-dir", dir}, tinyArgs...)
			require.NoError(t, runTrain(context.Background(), args))
			m, err := pompc.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
			require.NoError(t, err)
			require.NotEmpty(t, m["loss/world_model"])
			require.NotEmpty(t, m[pompc.KeyEvalReturn])
			// 40 steps end inside the first 500-step episode: the resume restores the env state.
			resumed := append(append([]string{}, args...), "--resume", "--steps", "50")
			require.NoError(t, runTrain(context.Background(), resumed))
			m2, err := pompc.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
			require.NoError(t, err)
			require.Greater(t, len(m2["loss/world_model"]), len(m["loss/world_model"]))
			require.NoError(t, runEval(context.Background(), []string{"--run", dir, "--episodes", "1"}))
		})
	}
}

// TestEvalVideoMuJoCo: `pompc eval --video` renders a MuJoCo task offscreen into a GIF.
func TestEvalVideoMuJoCo(t *testing.T) {
	checkVideo(t, videoOf(t, "cheetah-run"))
}
