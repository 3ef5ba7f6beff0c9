package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
	"github.com/stretchr/testify/require"
)

// sweepTrainArgs keep each run to a few seconds: 60 steps, updates from step 20, two evaluations.
var sweepTrainArgs = []string{"--", "--seed_steps", "20", "--batch_size", "8", "--num_samples", "16", "--num_pi_trajs", "2",
	"--num_elites", "4", "--iterations", "2", "--eval_every", "30", "--eval_episodes", "1", "--reanalyze_seqs", "2",
	"--snapshot_every", "10", "--save-every", "10"}

func countDone(t *testing.T, dir string) int {
	n := 0
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if st, err := rundir.ReadStatus(filepath.Join(dir, e.Name())); err == nil && st.State == rundir.StateDone {
			n++
		}
	}
	return n
}

// TestSweepKilledAndResumed runs a 2 lambdas x 2 seeds sweep as a subprocess, SIGKILLs it, resumes
// it with the same command, and checks that finished runs were skipped, killed ones continued,
// and the tables and figures cover all four runs. With one process per run (--batched=false) the
// kill comes as soon as the first run is done (its children die with it); batched, the four
// runs are one population (they share λ-finite PO-MPC's graphs) and the kill comes once a run
// has checkpointed past the seed phase. Both modes write the same tables and figures.
func TestSweepKilledAndResumed(t *testing.T) {
	t.Run("process", func(t *testing.T) {
		sweepKilledAndResumed(t, false, func(dir string) bool { return countDone(t, dir) >= 1 })
	})
	t.Run("batched", func(t *testing.T) {
		sweepKilledAndResumed(t, true, func(dir string) bool {
			step, err := pompc.CheckpointStep(filepath.Join(dir, "cartpole-balance_pompc_lam1_s0"))
			return err == nil && step >= 30
		})
	})
}

func sweepKilledAndResumed(t *testing.T, batched bool, killNow func(dir string) bool) {
	dir := filepath.Join(t.TempDir(), "sweep")
	archive := filepath.Join(t.TempDir(), "archive")
	args := append([]string{"sweep", "--dir", dir, "--tasks", "cartpole-balance", "--presets", "pompc",
		"--lambdas", "1,9", "--seeds", "0,1", "--jobs", "2", "--steps", "60", fmt.Sprintf("--batched=%v", batched),
		"--archive", archive}, sweepTrainArgs...)
	cmd := pompcCmd(t, args...)
	var first bytes.Buffer
	cmd.Stdout, cmd.Stderr = &first, &first
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(3 * time.Minute)
	killed := false
	// Meanwhile another process (this one) follows a run's metrics as the child writes them.
	reader, err := pompc.OpenMetrics(filepath.Join(dir, "cartpole-balance_pompc_lam1_s0", rundir.MetricsFile))
	require.NoError(t, err)
	defer reader.Close()
	live := 0
	for !killed {
		recs, err := reader.Next()
		require.NoError(t, err, "reading metrics while they are written")
		for _, r := range recs {
			require.NotEmpty(t, r.Key)
		}
		live += len(recs)
		select {
		case err := <-done:
			t.Fatalf("the sweep finished before it could be killed (err %v):\n%s", err, first.String())
		case <-deadline:
			t.Fatalf("no run finished in time:\n%s", first.String())
		case <-time.After(100 * time.Millisecond):
			if killNow(dir) {
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				<-done
				killed = true
			}
		}
	}
	doneAtKill := countDone(t, dir)
	t.Logf("killed with %d of 4 runs done; %d records read while being written", doneAtKill, live)
	require.Greater(t, live, 0)
	require.Less(t, doneAtKill, 4)

	// Resume: the same command (an existing sweep.json must match the flags).
	out, err := pompcCmd(t, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	if doneAtKill > 0 {
		require.Contains(t, string(out), "already done, skipped")
	}
	require.Contains(t, string(out), "all 4 runs done")
	require.Equal(t, 4, countDone(t, dir))
	// --archive: every run archived as it finished, before the kill or after the resume, without
	// its checkpoint, with the sweep's grid.
	require.Equal(t, 4, countDone(t, archive))
	require.FileExists(t, filepath.Join(archive, sweep.GridFile))
	// The launch is recorded for --status (the sweep's --batched and --jobs), not archived.
	launch, ok, err := sweep.LoadLocalLaunch(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, batched, launch.Batched)
	require.Equal(t, 2, launch.Jobs)
	require.NoFileExists(t, filepath.Join(archive, sweep.LocalLaunchFile))
	ckpts, _ := filepath.Glob(filepath.Join(archive, "*", rundir.CheckpointFile))
	require.Empty(t, ckpts)
	resumed := false
	for _, name := range []string{"lam1_s0", "lam1_s1", "lam9_s0", "lam9_s1"} {
		log, err := os.ReadFile(filepath.Join(dir, "cartpole-balance_pompc_"+name, "train.log"))
		require.NoError(t, err)
		resumed = resumed || strings.Contains(string(log), "--resume") || strings.Contains(string(log), "resumed ")
	}
	t.Logf("a killed run continued from its checkpoint: %v", resumed)
	if batched {
		require.True(t, resumed, "the killed population must continue from its runs' checkpoints")
		st, err := rundir.ReadStatus(filepath.Join(dir, "cartpole-balance_pompc_lam9_s1"))
		require.NoError(t, err)
		require.Equal(t, "population", st.Launcher)
	}

	// Results table: one row per lambda, two seeds each, with a final return and an interval.
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	require.NoError(t, err)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	require.NoError(t, err)
	require.Len(t, rows, 5, "header, a row per λ, an aggregate row per λ")
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, lam := range []string{"1", "9"} {
		r := rows[i+1]
		require.Equal(t, lam, r[col["lambda"]])
		require.Equal(t, "2", r[col["seeds"]])
		require.NotEmpty(t, r[col["final_mean"]])
		require.NotEmpty(t, r[col["final_ci95"]])
		require.NotEmpty(t, r[col["auc_mean"]])
		require.NotEmpty(t, r[col["wall_s_mean"]])
	}
	for _, r := range rows[3:] {
		require.Equal(t, sweep.AllTasks, r[col["task"]])
		require.NotEmpty(t, r[col["norm_iqm"]])
		require.LessOrEqual(t, r[col["norm_iqm_lo"]], r[col["norm_iqm_hi"]])
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "| cartpole-balance | pompc λ=9 | 2 |")
	require.Contains(t, string(md), "| variant | tasks | runs | IQM | mean | median | optimality gap |")
	require.Contains(t, string(md), "pompc λ=1 | pompc λ=9 |")
	for _, fig := range widgets.AggregateKinds {
		for _, ext := range []string{".pdf", ".png"} {
			st, err := os.Stat(filepath.Join(dir, "figures", fig+"-all"+ext))
			require.NoError(t, err)
			require.Greater(t, st.Size(), int64(1000))
		}
		out := filepath.Join(t.TempDir(), fig+".svg")
		require.NoError(t, runPlot(context.Background(), []string{dir, "-o", out, "--figure", fig}))
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Contains(t, string(data), "<svg")
	}
	for _, fig := range []string{"learning", "lambda", "lambda-auc", "kl", "actions"} {
		for _, ext := range []string{".pdf", ".png"} {
			st, err := os.Stat(filepath.Join(dir, "figures", fig+"-cartpole-balance"+ext))
			require.NoError(t, err)
			require.Greater(t, st.Size(), int64(1000))
		}
	}
	if toolsRequired() {
		_, err := os.Stat(filepath.Join(dir, "figures", "index.html"))
		require.NoError(t, err)
	}

	// A sweep directory refuses a different grid.
	err = runSweep(context.Background(), []string{"--dir", dir, "--lambdas", "3", "--seeds", "0"})
	require.ErrorContains(t, err, "different grid")

	// pompc plot exports figures of the sweep and of one run.
	svg := filepath.Join(t.TempDir(), "lambda.svg")
	require.NoError(t, runPlot(context.Background(), []string{dir, "-o", svg, "--figure", "lambda", "--width", "double"}))
	data, err := os.ReadFile(svg)
	require.NoError(t, err)
	require.Contains(t, string(data), "<svg")
	png := filepath.Join(t.TempDir(), "run.png")
	require.NoError(t, runPlot(context.Background(), []string{filepath.Join(dir, "cartpole-balance_pompc_lam9_s0"), "-o", png, "--smooth", "2"}))
	// A training metric, and two directories drawn together (each run's variant prefixed with
	// its directory's name): the sweep and one of its runs.
	metric := filepath.Join(t.TempDir(), "metric.svg")
	runDir := filepath.Join(dir, "cartpole-balance_pompc_lam9_s0")
	require.NoError(t, runPlot(context.Background(), []string{dir, runDir, "-o", metric, "--figure", "metric", "--key", "loss/consistency"}))
	data, err = os.ReadFile(metric)
	require.NoError(t, err)
	require.Contains(t, string(data), "<svg")
	require.Contains(t, string(data), "sweep: pompc λ=9", "the sweep's runs labelled by its directory")
	require.Contains(t, string(data), "cartpole-balance_pompc_lam9_s0: pompc λ=9", "the run labelled by its directory")
	require.ErrorContains(t, runPlot(context.Background(), []string{dir, "-o", metric, "--figure", "metric", "--key", "nosuch"}), "loss/consistency")
	require.ErrorContains(t, runPlot(context.Background(), []string{dir, "-o", metric, "--figure", "metric"}), "--key")
	require.ErrorContains(t, runPlot(context.Background(), []string{dir, "-o", png, "--figure", "nosuch"}), "unknown figure")
	require.ErrorContains(t, runPlot(context.Background(), []string{t.TempDir(), "-o", png}), "neither a sweep")
	require.ErrorContains(t, runPlot(context.Background(), []string{dir}), "-o FILE")
}

// TestSweepReportsBrokenRunAndGoesOn: a run that fails (here an unknown task, which `pompc
// sweep` itself would refuse up front) is recorded as failed with its error, and the other runs
// finish.
func TestSweepReportsBrokenRunAndGoesOn(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "sweep")
	g := sweep.Grid{Tasks: []string{"cartpole-balance", "nosuch-task"}, Presets: []string{"tdmpc2"}, Seeds: []int{0},
		TrainArgs: append([]string{"--steps", "30"}, sweepTrainArgs[1:]...)}
	var log bytes.Buffer
	sum, err := sweep.Runner{Exe: exe, Env: append(os.Environ(), "POMPC_TEST_AS_MAIN=1"), Jobs: 2, Log: &log}.Run(context.Background(), dir, g)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Done, log.String())
	require.Len(t, sum.Failed, 1)
	require.Equal(t, "nosuch-task_tdmpc2_s0", sum.Failed[0].Name)
	require.Contains(t, sum.Failed[0].Err, "unknown task")
	require.Contains(t, log.String(), "FAILED nosuch-task_tdmpc2_s0")
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") { // each line starts with its UTC time
		stamp, _, _ := strings.Cut(line, "Z ")
		at, err := time.Parse(sweep.LogTimeFormat, stamp+"Z")
		require.NoError(t, err, "log line without its time: %q", line)
		require.WithinDuration(t, time.Now().UTC(), at, 10*time.Minute, "the time is UTC: %q", line)
	}
	st, err := rundir.ReadStatus(filepath.Join(dir, "nosuch-task_tdmpc2_s0"))
	require.NoError(t, err)
	require.Equal(t, rundir.StateFailed, st.State)
	_, runs, err := sweep.Load(dir)
	require.NoError(t, err)
	rows := sweep.Summarize(runs)
	require.Len(t, rows, 2)
	require.Equal(t, 1, rows[0].Seeds)
	require.Equal(t, 1, rows[1].Failed)

	// The command refuses unknown tasks before starting anything.
	err = runSweep(context.Background(), []string{"--dir", filepath.Join(t.TempDir(), "s"), "--tasks", "nosuch"})
	require.ErrorContains(t, err, "unknown task")
	require.Error(t, runSweep(context.Background(), []string{"--tasks", "cartpole-balance"}))
	require.Error(t, runSweep(context.Background(), []string{"--dir", t.TempDir(), "--lambdas", "-1"}))
}

// toolsRequired: on CI (CI set) or with POMPC_REQUIRE_TOOLS=1 the npm echarts package must be
// there, so the interactive figures are checked.
func toolsRequired() bool { return os.Getenv("CI") != "" || os.Getenv("POMPC_REQUIRE_TOOLS") == "1" }

// TestPointStatusGroupsSeeds: the seeds of a variant standing at the same place share a line;
// a seed elsewhere, a failed run (with its log) and a name without a seed keep their own.
func TestPointStatusGroupsSeeds(t *testing.T) {
	out := captureStdout(t, func() {
		printPointStatus([]sweep.PointStatus{
			{Name: "t_pompc_lam1_s1", State: "running", Step: 10, Target: 50},
			{Name: "t_pompc_lam1_s2", State: "running", Step: 10, Target: 50},
			{Name: "t_pompc_lam1_s3", State: "running", Step: 10, Target: 50},
			{Name: "t_pompc_lam9_s1", State: "running", Step: 10, Target: 50},
			{Name: "t_pompc_lam9_s2", State: "failed", Step: 5, Target: 50, LogTail: "boom"},
			{Name: "t_pompc_lam9_s3", State: "failed", Step: 5, Target: 50, LogTail: "boom"},
			{Name: "odd", State: "done", Step: 50, Target: 50},
		}, true)
	})
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 8, string(out))
	require.True(t, strings.HasPrefix(lines[0], "t_pompc_lam1_s{1,2,3} "), lines[0])
	require.Contains(t, lines[0], "running       10/50")
	require.True(t, strings.HasPrefix(lines[1], "t_pompc_lam9_s1 "), lines[1])
	require.True(t, strings.HasPrefix(lines[2], "t_pompc_lam9_s2 "), "a failed run keeps its line and log")
	require.Equal(t, "    | boom", lines[3])
	require.True(t, strings.HasPrefix(lines[6], "odd "))
	require.Equal(t, "7 points: 4 running, 2 failed, 1 done", lines[7], "nothing stopped: no note")
	// Stopped runs of a directory a live process trains are waiting for it; of a directory no
	// process holds, they wait for the command to be run again.
	stopped := []sweep.PointStatus{{Name: "t_bmpc_s1", State: "stopped", Step: 10, Target: 50}}
	out = captureStdout(t, func() { printPointStatus(stopped, true) })
	require.Contains(t, string(out), "1 points: 1 stopped (the stopped ones wait for the process training this directory, which resumes them)")
	out = captureStdout(t, func() { printPointStatus(stopped, false) })
	require.Contains(t, string(out), "1 points: 1 stopped\n")
}

// TestPrintPublished: --status's line per preset and published step, here TD-MPC2's five runs
// on cartpole-swingup at 50k agent steps against the published TD-MPC2 (839.4 in [732.3,
// 946.5]); PO-MPC has no published curve and prints nothing, nor do runs not there yet.
func TestPrintPublished(t *testing.T) {
	var runs []sweep.Run
	for i, v := range []float64{700, 750, 800, 650, 850} {
		runs = append(runs, sweep.Run{Point: sweep.Point{Task: "cartpole-swingup", Preset: "tdmpc2", Lambda: math.NaN(), Seed: i},
			Status:  rundir.Status{State: rundir.StateDone},
			Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: {{Key: pompc.KeyEvalReturn, Step: 50_000, Val: v}}}})
		runs = append(runs, sweep.Run{Point: sweep.Point{Task: "cartpole-swingup", Preset: "pompc", Lambda: 1, Seed: i},
			Status:  rundir.Status{State: rundir.StateDone},
			Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: {{Key: pompc.KeyEvalReturn, Step: 50_000, Val: v}}}})
	}
	capture := func(runs []sweep.Run) string { return string(captureStdout(t, func() { printPublished(runs) })) }
	lines := strings.Split(strings.TrimSpace(capture(runs)), "\n")
	require.Len(t, lines, 2, lines)
	require.Contains(t, lines[0], "against the published curves")
	require.Contains(t, lines[1], "cartpole-swingup  tdmpc2")
	require.Contains(t, lines[1], "step 50000")
	require.Contains(t, lines[1], "750.0 ± 98.2  (5 runs)   TD-MPC2 839.4 [732.3, 946.5]: inside")
	require.Empty(t, capture(runs[1:2]), "PO-MPC alone: nothing")
}

// captureStdout returns what f prints on standard output.
func captureStdout(t *testing.T, f func()) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	f()
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

// TestStatusUsesLastLaunch: --status groups and schedules the work left as the last local
// launch recorded it (sweep.LocalLaunch) unless a flag says otherwise, and says so. Three
// pending 1,000-step runs at the finished run's 1 step/s: one at a time (the record's --jobs 1),
// 50 minutes, whichever the grouping (a population of three shares its slot's throughput).
func TestStatusUsesLastLaunch(t *testing.T) {
	dir := t.TempDir()
	flags := func(args ...string) *flag.FlagSet {
		fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
		fs.String("dir", "", "")
		fs.Bool("status", false, "")
		fs.String("populations", "auto", "")
		fs.Int("jobs", 0, "")
		fs.Bool("batched", true, "")
		require.NoError(t, fs.Parse(args))
		return fs
	}
	defaults := sweep.LocalLaunch{Batched: true, Populations: sweep.GroupAuto}
	// No record: the flags as given.
	got, note, err := statusLaunch(flags("--status"), dir, defaults)
	require.NoError(t, err)
	require.Equal(t, defaults, got)
	require.Empty(t, note)

	require.NoError(t, sweep.SaveLocalLaunch(dir, sweep.LocalLaunch{Batched: true, Populations: sweep.GroupRun, Jobs: 1}))
	got, note, err = statusLaunch(flags("--status"), dir, defaults)
	require.NoError(t, err)
	require.Equal(t, sweep.GroupRun, got.Populations)
	require.Equal(t, 1, got.Jobs)
	require.True(t, got.Batched)
	require.Contains(t, note, "as the last launch here, --populations run --jobs 1 --batched=true (local.json)")
	// A flag given wins over the record; the note names only what the record gave.
	got, note, err = statusLaunch(flags("--status", "--populations", "variant"), dir, sweep.LocalLaunch{Batched: true, Populations: sweep.GroupVariant})
	require.NoError(t, err)
	require.Equal(t, sweep.GroupVariant, got.Populations)
	require.Equal(t, 1, got.Jobs)
	require.NotContains(t, note, "--populations")
	require.Contains(t, note, "--jobs 1")

	// The estimate under the record: 1 slot, not one per CPU.
	cfg := pompc.TDMPC2().WithSize(pompc.SizeTiny)
	cfg.Steps = 1000
	var jobs []sweep.Job
	var pts []sweep.PointStatus
	for seed := 1; seed <= 4; seed++ {
		j := sweep.Job{Point: sweep.Point{Task: "cartpole-balance", Preset: "tdmpc2", Lambda: math.NaN(), Seed: seed},
			Dir: filepath.Join(dir, fmt.Sprintf("s%d", seed)), Config: cfg}
		p := sweep.PointStatus{Name: j.Point.Name(), State: "pending", Target: 1000}
		if seed == 1 {
			require.NoError(t, rundir.Ensure(j.Dir))
			require.NoError(t, rundir.WriteStatus(j.Dir, rundir.Status{State: rundir.StateDone, Step: 1000, TargetStep: 1000, WallSeconds: 1000, Members: 1}))
			p.State, p.Step = rundir.StateDone, 1000
		}
		jobs, pts = append(jobs, j), append(pts, p)
	}
	for _, group := range []sweep.Grouping{sweep.GroupRun, sweep.GroupVariant} {
		launch := sweep.LocalLaunch{Batched: true, Populations: group, Jobs: 1}
		out := string(captureStdout(t, func() { printTimeLeft("sweep", jobs, pts, launch, "(the note)", nil) }))
		require.Contains(t, out, "the rest of the sweep takes about 50m0s once resumed", group)
		require.Contains(t, out, "1 at a time)\n(the note)\n", group)
	}
	// Nothing left to estimate: no line, no note.
	out := string(captureStdout(t, func() { printTimeLeft("sweep", jobs[:1], pts[:1], got, "(the note)", nil) }))
	require.Empty(t, out)
}
