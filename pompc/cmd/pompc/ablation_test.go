package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// TestAblationCommand: `pompc ablation` trains the λ ablation, then the prior ablation at its
// best λ (7 variants, the default prior at that λ once), writes the tables per task and across
// tasks, and a second run trains nothing.
func TestAblationCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "abl")
	args := append([]string{"--dir", dir, "--tasks", "cartpole-balance", "--seeds", "1", "--steps", "60"}, sweepTrainArgs...)
	out, err := pompcCmd(t, append([]string{"ablation"}, args...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "best λ = ", "the prior ablation runs at the λ ablation's winner")
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err)
	for _, v := range []string{"| tdmpc2 |", "| bmpc |", "| pompc λ=0.1 |", "| pompc λ=1 |", "| pompc λ=9 |", "planner", "forward"} {
		require.Contains(t, string(md), v)
	}
	require.Contains(t, string(md), "| variant | tasks | runs | IQM |")
	require.Contains(t, string(md), "### Learning curves\n\ncartpole-balance, mean evaluation return at agent step:\n\n| variant | 30 | 60 | seeds' finals |")
	curves, err := os.ReadFile(filepath.Join(dir, "results_curves.csv"))
	require.NoError(t, err)
	require.Equal(t, 1+7*2, strings.Count(string(curves), "\n"), "a line per variant and evaluation step: %s", curves)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var runs []string
	for _, e := range entries {
		if st, err := rundir.ReadStatus(filepath.Join(dir, e.Name())); err == nil && st.State == rundir.StateDone {
			runs = append(runs, e.Name())
		}
	}
	require.Len(t, runs, 7, "5 λ variants + planner prior + forward KL: %s", strings.Join(runs, ", "))
	// The full budget's keys, then the extra train flags over them.
	cfg, err := os.ReadFile(filepath.Join(dir, runs[0], "config.json"))
	require.NoError(t, err)
	for _, kv := range []string{`"steps": 60,`, `"eval_every": 30,`, `"eval_episodes": 1,`, `"seed_steps": 20,`, `"seed": 1`} {
		require.Contains(t, string(cfg), kv)
	}
	before, err := rundir.ReadStatus(filepath.Join(dir, runs[0]))
	require.NoError(t, err)
	require.NoError(t, runAblationAsChild(t, args))
	// With no settings flags, the directory's ablation.json resumes the same ablation.
	require.NoError(t, runAblationAsChild(t, []string{"--dir", dir}))
	after, err := rundir.ReadStatus(filepath.Join(dir, runs[0]))
	require.NoError(t, err)
	require.Equal(t, before, after, "a finished run trained again")
	require.ErrorContains(t, runAblation(context.Background(), []string{"--dir", dir, "--seeds", "1,2"}), "other settings")

	// The launch recorded for --status: an ablation's runs always train as populations.
	launch, ok, err := sweep.LoadLocalLaunch(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, launch.Batched)
	require.Equal(t, sweep.GroupAuto, launch.Populations)
	// --status: every run done, the latest evaluation of each variant, the best λ.
	out, err = pompcCmd(t, "ablation", "--dir", dir, "--status").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, want := range []string{"7 points: 7 done", "latest evaluation", "cartpole-balance  pompc λ=9 ", "the prior ablation runs at the best λ = "} {
		require.Contains(t, string(out), want)
	}
	// --report --at-step: the runs cut at step 30 (their first evaluation).
	out, err = pompcCmd(t, "ablation", "--dir", dir, "--report", "--at-step", "30").CombinedOutput()
	require.NoError(t, err, string(out))
	md, err = os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "at agent step 30")
	require.NotContains(t, string(md), " pending)", "every run reached step 30")
	// pompc plot reads the ablation directory (its runs so far), also cut at a step.
	png := filepath.Join(t.TempDir(), "lambda.png")
	out, err = pompcCmd(t, "plot", dir, "-o", png, "--figure", "lambda", "--at-step", "30").CombinedOutput()
	require.NoError(t, err, string(out))
	_, err = os.Stat(png)
	require.NoError(t, err)
	out, err = pompcCmd(t, "plot", dir, "-o", png, "--variants", "tdmpc2; pompc λ=9").CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = pompcCmd(t, "plot", dir, "-o", png, "--variants", "sac").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `no run of the variants "sac"`)
	require.Contains(t, string(out), `its variants: "tdmpc2;`, "the error names the variants there are")
	_, err = os.Stat(filepath.Join(dir, "figures", "aggregate-all.png"))
	require.NoError(t, err)
	require.ErrorContains(t, runAblation(context.Background(), []string{"--dir", dir, "--tasks", "nosuch"}), "unknown task")
	require.ErrorContains(t, runAblation(context.Background(), []string{"--dir", dir, "--budget", "huge"}), "unknown budget")
}

// runAblationAsChild runs `pompc ablation args` as this test binary acting as pompc (the
// population children need the executable to be pompc).
func runAblationAsChild(t *testing.T, args []string) error {
	out, err := pompcCmd(t, append([]string{"ablation"}, args...)...).CombinedOutput()
	if err != nil {
		t.Log(string(out))
	}
	return err
}

// BenchmarkAblation is the ablation of issue 17 as a benchmark (README "The ablation"), run
// once: POMPC_ABLATION_DIR (resumable; default a temp dir), POMPC_ABLATION_TASKS (default
// cartpole-swingup), POMPC_ABLATION_BUDGET (default full: 5 seeds × 50k steps, sweep.Budgets),
// POMPC_ABLATION_SEEDS and POMPC_ABLATION_STEPS (default the budget's), POMPC_ABLATION_SIZE
// (default tiny). It reports each variant's IQM of normalized final returns across the tasks,
// and writes the tables and figures into the directory.
func BenchmarkAblation(b *testing.B) {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	dir := env("POMPC_ABLATION_DIR", filepath.Join(b.TempDir(), "ablation"))
	args := []string{"--dir", dir, "--tasks", env("POMPC_ABLATION_TASKS", "cartpole-swingup"), "--budget", env("POMPC_ABLATION_BUDGET", "full"),
		"--seeds", env("POMPC_ABLATION_SEEDS", ""), "--steps", env("POMPC_ABLATION_STEPS", "0"), "--size", env("POMPC_ABLATION_SIZE", "tiny")}
	for range b.N {
		cmd := pompcCmd(b, append([]string{"ablation"}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		require.NoError(b, cmd.Run())
	}
	// Each variant's IQM across tasks: the "all tasks" rows of results.csv.
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	require.NoError(b, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(b, err)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, r := range rows[1:] {
		if r[col["task"]] == sweep.AllTasks && r[col["norm_iqm"]] != "" {
			v, err := strconv.ParseFloat(r[col["norm_iqm"]], 64)
			require.NoError(b, err)
			b.ReportMetric(v, "IQM:"+strings.ReplaceAll(r[col["variant"]], " ", "_"))
		}
	}
}

// TestAblationAddTasks: --add-tasks extends an ablation's tasks (its other settings kept)
// until its prior ablation at the best λ has started, and never while it trains.
func TestAblationAddTasks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "abl")
	spec := ablationSpec{Tasks: []string{"cartpole-balance"}, Lambdas: []string{"1", "9"}, PriorLambda: "best",
		Budget: "tiny", Seeds: []int{1}, Steps: 60, Size: "tiny"}
	require.NoError(t, saveAblation(dir, spec))
	got, err := addAblationTasks(dir, spec, []string{"cartpole-balance", "pendulum-swingup"})
	require.NoError(t, err)
	require.Equal(t, []string{"cartpole-balance", "pendulum-swingup"}, got.Tasks)
	saved, err := loadAblation(dir)
	require.NoError(t, err)
	require.Equal(t, got, saved)
	want := got
	want.Tasks = spec.Tasks
	require.Equal(t, spec, want, "nothing else changed")
	_, err = addAblationTasks(dir, saved, []string{"nosuch-task"})
	require.ErrorContains(t, err, "unknown task")

	// Not while the ablation trains (its process holds the directory).
	lock, err := rundir.Acquire(dir)
	require.NoError(t, err)
	_, err = addAblationTasks(dir, saved, []string{"cartpole-swingup"})
	require.ErrorContains(t, err, "stop the ablation")
	require.NoError(t, lock.Unlock())

	// Once a run of the prior ablation has started, the best λ may not change.
	lj, err := saved.lambdaJobs(dir)
	require.NoError(t, err)
	pj, err := saved.priorJobs(dir, 9)
	require.NoError(t, err)
	started := newJobs(lj, pj)[0]
	require.NoError(t, rundir.Ensure(started.Dir))
	require.NoError(t, rundir.WriteStatus(started.Dir, rundir.Status{State: rundir.StateRunning}))
	_, err = addAblationTasks(dir, saved, []string{"cartpole-swingup"})
	require.ErrorContains(t, err, "prior ablation of")
	// Submitted to SLURM and queued (no status record yet) counts as started.
	require.NoError(t, os.Remove(rundir.Path(started.Dir, rundir.StatusFile)))
	_, err = addAblationTasks(dir, saved, []string{"cartpole-swingup"})
	require.NoError(t, err, "nothing of the prior ablation started")
	saved, err = loadAblation(dir)
	require.NoError(t, err)
	sub := filepath.Join(dir, sweep.SlurmDir, "0")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "submission.json"),
		[]byte(`{"n":0,"job_id":"7","batched":true,"items":[["`+filepath.Base(started.Dir)+`"]]}`), 0o644))
	_, err = addAblationTasks(dir, saved, []string{"cartpole-balance-sparse"})
	require.ErrorContains(t, err, "started or is submitted")
	// With a fixed prior λ it does not depend on the tasks: adding one is fine.
	saved.PriorLambda = "1"
	got, err = addAblationTasks(dir, saved, []string{"cartpole-balance-sparse"})
	require.NoError(t, err)
	require.Len(t, got.Tasks, 4)
	// The command: --add-tasks with another settings flag, or with --status, is refused; alone
	// it only adds (training is the next command's).
	require.ErrorContains(t, runAblation(context.Background(), []string{"--dir", dir, "--add-tasks", "cartpole-balance-sparse", "--seeds", "2"}),
		"give no other settings flag")
	require.ErrorContains(t, runAblation(context.Background(), []string{"--dir", dir, "--add-tasks", "cartpole-balance-sparse", "--status"}),
		"not with --status")
	dir2 := filepath.Join(t.TempDir(), "abl2")
	require.NoError(t, saveAblation(dir2, spec))
	require.NoError(t, runAblation(context.Background(), []string{"--dir", dir2, "--add-tasks", "cartpole-swingup"}))
	entries, err := os.ReadDir(dir2)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only ablation.json: nothing trained")
}
