package main

import (
	"encoding/csv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// TestArchiveResumesAblation: an ablation trained one run per population is archived without
// checkpoints; the archive reports exactly as the ablation does, and a copy of it with one run
// missing (a machine lost while that run trained) resumes by training that run alone, from the
// start, to the same evaluations bit for bit.
func TestArchiveResumesAblation(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "abl")
	live := filepath.Join(root, "live")
	args := append([]string{"--dir", dir, "--tasks", "cartpole-balance", "--seeds", "1", "--steps", "60", "--prior-lambda", "", "--populations", "run",
		"--archive", live}, sweepTrainArgs...)
	out, err := pompcCmd(t, append([]string{"ablation"}, args...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "5 runs on cartpole-balance in 5 populations")

	arch := filepath.Join(root, "archive")
	out, err = pompcCmd(t, "archive", "--dir", dir, "--out", arch).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "archived 5 finished runs")
	lost := "cartpole-balance_pompc_lam1_s1"
	// --archive archived each run as it finished, as pompc archive does afterwards.
	entries, err := os.ReadDir(arch)
	require.NoError(t, err)
	runs := 0
	for _, e := range entries {
		if e.IsDir() {
			runs++
			sameFiles(t, filepath.Join(arch, e.Name()), filepath.Join(live, e.Name()), rundir.ConfigFile, rundir.StatusFile, rundir.MetricsFile)
		}
	}
	require.Equal(t, 5, runs)
	sameFiles(t, arch, live, "ablation.json")
	for _, f := range []string{rundir.CheckpointFile, rundir.TrainLogFile, rundir.CurveFile} {
		require.NoFileExists(t, filepath.Join(arch, lost, f))
	}
	for _, f := range []string{"ablation.json", "results.csv", "results.md", "results_curves.csv"} {
		require.FileExists(t, filepath.Join(arch, f))
	}
	// The archive's report is the ablation's, file for file (its status records, wall times
	// included, are the runs').
	for _, f := range []string{"results.csv", "results.md", "results_curves.csv"} {
		require.NoError(t, os.Remove(filepath.Join(arch, f)))
	}
	out, err = pompcCmd(t, "ablation", "--dir", arch, "--report").CombinedOutput()
	require.NoError(t, err, string(out))
	sameFiles(t, dir, arch, "results.csv", "results.md", "results_curves.csv")

	// A copy without one run resumes: that run trains from the start, the others are skipped.
	again := filepath.Join(root, "again")
	require.NoError(t, exec.Command("cp", "-r", arch, again).Run())
	require.NoError(t, os.RemoveAll(filepath.Join(again, lost)))
	out, err = pompcCmd(t, "ablation", "--dir", again, "--populations", "run").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "4 of 5 runs already done, skipped")
	require.Contains(t, string(out), "starting "+lost)
	want, err := pompc.ReadSeries(filepath.Join(dir, lost), pompc.KeyEvalReturn)
	require.NoError(t, err)
	got, err := pompc.ReadSeries(filepath.Join(again, lost), pompc.KeyEvalReturn)
	require.NoError(t, err)
	require.Len(t, want, 2)
	require.Equal(t, want, got, "the retrained run's evaluations")
	sameFiles(t, dir, again, "results_curves.csv")
	// results.csv too, but for the retrained run's wall time.
	a, b := csvWithout(t, filepath.Join(dir, "results.csv"), "wall_s_mean"), csvWithout(t, filepath.Join(again, "results.csv"), "wall_s_mean")
	require.Equal(t, a, b)

	// Bad input: a directory without runs, a missing --out.
	out, err = pompcCmd(t, "archive", "--dir", t.TempDir(), "--out", filepath.Join(root, "x")).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "not a sweep or ablation directory")
	out, err = pompcCmd(t, "archive", "--dir", dir).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "--out are required")
	// --dir and --out swapped: the real directory is refused as an archive, nothing written.
	before, err := os.ReadFile(filepath.Join(dir, lost, rundir.MetricsFile))
	require.NoError(t, err)
	out, err = pompcCmd(t, "archive", "--dir", arch, "--out", dir).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "not an archive")
	after, err := os.ReadFile(filepath.Join(dir, lost, rundir.MetricsFile))
	require.NoError(t, err)
	require.Equal(t, before, after)
}

// csvWithout is a CSV file's rows without the column named col.
func csvWithout(t *testing.T, path, col string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	i := slices.Index(rows[0], col)
	require.GreaterOrEqual(t, i, 0, col)
	for k, r := range rows {
		rows[k] = slices.Delete(slices.Clone(r), i, i+1)
	}
	return rows
}

// sameFiles requires the named files of two directories to be byte for byte equal.
func sameFiles(t *testing.T, a, b string, names ...string) {
	t.Helper()
	for _, n := range names {
		x, err := os.ReadFile(filepath.Join(a, n))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, n))
		require.NoError(t, err)
		require.Equal(t, string(x), string(y), n)
	}
}

// TestAblationRunsAreTheNotebooks: `pompc ablation` and the ablations notebook (its jobs(): the
// grids on the budget's args at the tiny size) give every run the same configuration, so the
// notebook's --from takes the command's archive (sweep.Restore compares configurations).
func TestAblationRunsAreTheNotebooks(t *testing.T) {
	for _, budget := range []string{"full", "tiny"} {
		b, err := sweep.BudgetByName(budget)
		require.NoError(t, err)
		spec := ablationSpec{Tasks: []string{"cartpole-swingup"}, Lambdas: []string{"0.1", "1", "9"}, Budget: b.Name, Steps: b.Steps,
			Size: "tiny", Seeds: b.SeedList()}
		cmd, err := spec.lambdaJobs(t.TempDir())
		require.NoError(t, err)
		nb, err := sweep.AblationJobs(t.TempDir(), sweep.LambdaAblation(0.1, 1, 9), spec.Tasks, b.SeedList(),
			append([]string{"--size", "tiny"}, b.TrainArgs()...))
		require.NoError(t, err)
		require.Len(t, cmd, len(nb))
		for i := range cmd {
			require.Equal(t, filepath.Base(nb[i].Dir), filepath.Base(cmd[i].Dir))
			require.Equal(t, nb[i].Config, cmd[i].Config, "%s, budget %s", cmd[i].Name, budget)
		}
	}
}

// TestLatestEvalsAtACommonStep: --status averages a variant's seeds at the last step all of
// them reached (a finished seed's final is not averaged with another's early evaluation).
func TestLatestEvalsAtACommonStep(t *testing.T) {
	ev := func(vals ...float64) map[string][]pompc.Record {
		var recs []pompc.Record
		for i, v := range vals {
			recs = append(recs, pompc.Record{Key: pompc.KeyEvalReturn, Step: int64(10 * (i + 1)), Val: v})
		}
		return map[string][]pompc.Record{pompc.KeyEvalReturn: recs}
	}
	p := sweep.Point{Task: "t", Preset: "bmpc", Lambda: math.Inf(1)}
	runs := []sweep.Run{{Point: p, Metrics: ev(1, 2, 3, 4, 5)}, {Point: p, Metrics: ev(10, 20)}, {Point: p}}
	out := captureStdout(t, func() { printLatestEvals(runs) })
	require.Contains(t, string(out), "  t  bmpc")
	require.Contains(t, string(out), "11.0  (2 seeds, step 20; the furthest to step 50)")
	out = captureStdout(t, func() { printLatestEvals(runs[1:]) })
	require.Contains(t, string(out), "20.0  (1 seed, step 20)")
	out = captureStdout(t, func() { printLatestEvals(runs[2:]) })
	require.Equal(t, "no evaluation yet\n", string(out))
}
