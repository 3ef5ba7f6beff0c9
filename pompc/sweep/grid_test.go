package sweep

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

func TestGridPoints(t *testing.T) {
	g := Grid{Tasks: []string{"cartpole-balance"}, Presets: []string{"tdmpc2", "pompc"},
		Lambdas: []float64{0.1, math.Inf(1)}, KLs: []string{"forward", "reverse"}, Seeds: []int{0, 1}}
	pts, err := g.Points()
	require.NoError(t, err)
	// tdmpc2 ignores the lambda and KL axes: 2 seeds; pompc: 2 lambdas x 2 KLs x 2 seeds.
	require.Len(t, pts, 2+8)
	require.Equal(t, "cartpole-balance_tdmpc2_s0", pts[0].Name())
	require.Equal(t, "tdmpc2", pts[0].Variant())
	p := pts[2]
	require.Equal(t, "cartpole-balance_pompc_lam0.1_forward_s0", p.Name())
	require.Equal(t, "pompc λ=0.1 kl=forward", p.Variant())
	cfg, err := p.Config()
	require.NoError(t, err)
	require.Equal(t, 0.1, cfg.Lambda)
	require.Equal(t, pompc.KLForward, cfg.PriorKL)
	args := strings.Join(p.TrainArgs(g, "/r"), " ")
	require.Contains(t, args, "--preset pompc")
	require.Contains(t, args, "--set lambda=0.1")
	require.Contains(t, args, "--set prior_kl=forward")
	require.Contains(t, args, "--seed 0")
	require.Equal(t, "cartpole-balance_pompc_laminf_reverse_s1", pts[9].Name())

	// Every bad value is reported.
	_, err = Grid{Tasks: []string{"x"}, Presets: []string{"nope", "pompc"}, KLs: []string{"sideways"}, Seeds: []int{0}}.Points()
	require.ErrorContains(t, err, "nope")
	require.ErrorContains(t, err, "sideways")
	_, err = Grid{}.Points()
	require.ErrorContains(t, err, "no tasks")
	_, err = pompc.ParseLambda("-1")
	require.Error(t, err)
	l, err := pompc.ParseLambda("inf")
	require.NoError(t, err)
	require.True(t, math.IsInf(l, 1))
}

func TestGridFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	g := Grid{Tasks: []string{"a"}, Presets: []string{"pompc"}, Lambdas: []float64{0, 1, math.Inf(1)}, Seeds: []int{3}, TrainArgs: []string{"--steps", "5"}}
	require.NoError(t, SaveGrid(dir, g))
	require.NoError(t, SaveGrid(dir, g), "the same grid again is fine")
	back, err := LoadGrid(dir)
	require.NoError(t, err)
	require.Equal(t, g, back)
	data, _ := os.ReadFile(filepath.Join(dir, GridFile))
	require.Contains(t, string(data), `"inf"`)
	g.Seeds = []int{4}
	require.ErrorContains(t, SaveGrid(dir, g), "different grid")
	_, err = LoadGrid(t.TempDir())
	require.ErrorContains(t, err, "not a sweep directory")
	var bad Grid
	require.Error(t, json.Unmarshal([]byte(`{"lambdas":["x"]}`), &bad))
}

func TestSummarizeAndTables(t *testing.T) {
	ev := func(vals ...float64) map[string][]pompc.Record {
		var recs []pompc.Record
		for i, v := range vals {
			recs = append(recs, pompc.Record{Key: pompc.KeyEvalReturn, Step: int64(i * 10), Val: v})
		}
		return map[string][]pompc.Record{pompc.KeyEvalReturn: recs}
	}
	p := Point{Task: "t", Preset: "pompc", Lambda: 9}
	runs := []Run{
		{Point: p, Status: rundir.Status{State: rundir.StateDone, WallSeconds: 10}, Metrics: ev(0, 10)},
		{Point: p, Status: rundir.Status{State: rundir.StateDone, WallSeconds: 20}, Metrics: ev(0, 20)},
		{Point: p, Status: rundir.Status{State: rundir.StateDone, WallSeconds: 30}, Metrics: ev(0, 30)},
		{Point: p, Status: rundir.Status{State: rundir.StateFailed}},
		{Point: Point{Task: "t", Preset: "tdmpc2", Lambda: math.NaN()}},
	}
	rows := Summarize(runs)
	require.Len(t, rows, 2)
	r := rows[0]
	require.Equal(t, 3, r.Seeds)
	require.Equal(t, 1, r.Failed)
	require.InDelta(t, 20, r.FinalMean, 1e-12)
	// s = 10, t_{0.975,2} = 4.3027: half = 4.3027 * 10 / sqrt(3) = 24.84.
	require.InDelta(t, 24.84, r.FinalCI, 0.01)
	require.InDelta(t, 10, r.AUCMean, 1e-12)
	require.InDelta(t, 20, r.WallMean, 1e-12)
	require.Equal(t, 1, rows[1].Pending)
	require.True(t, math.IsNaN(rows[1].FinalMean))

	var csvBuf, mdBuf bytes.Buffer
	rep := NewReport(runs)
	require.Len(t, rep.Rows, len(rows))
	require.Equal(t, rows[0], rep.Rows[0])
	require.NoError(t, WriteCSV(&csvBuf, rep))
	lines := strings.Split(strings.TrimSpace(csvBuf.String()), "\n")
	require.Len(t, lines, 5, "2 per-task rows, then one aggregate row per variant")
	blank := strings.Repeat(",", 13)
	require.Equal(t, "t,pompc λ=9,pompc,9,reverse,learned,3,1,0,20.00,24.84,10.00,12.42,20.00"+blank, lines[1])
	require.Equal(t, "t,tdmpc2,tdmpc2,0,reverse,none,0,0,1,,,,,"+blank, lines[2])
	// Normalized finals 0.02, 0.01, 0.03: IQM (one dropped each end... none at n = 3) 0.02, median 0.02, gap 0.98.
	require.True(t, strings.HasPrefix(lines[3], "all tasks,pompc λ=9,,,,,3,,,,,,,,0.020,"), lines[3])
	require.Contains(t, lines[3], ",0.980,")
	require.True(t, strings.HasSuffix(lines[3], ",t"), "the aggregates' tasks: %s", lines[3])
	require.Equal(t, "all tasks,tdmpc2,,,,,0,,,,,,,"+strings.Repeat(",", 12)+",t", lines[4])
	require.NoError(t, WriteMarkdown(&mdBuf, rep))
	require.Contains(t, mdBuf.String(), "| t | pompc λ=9 | 3 (1 failed) | 20.0 ± 24.8 | 10.0 ± 12.4 | 20 |")
	require.Contains(t, mdBuf.String(), "| t | tdmpc2 | 0 (1 pending) | – | – | – |")
	require.Contains(t, mdBuf.String(), "| pompc λ=9 | 1 | 3 | 0.020 [")
	require.Contains(t, mdBuf.String(), "Across tasks (t): ")
	require.NoError(t, WriteTables(t.TempDir(), rep))
	// An interim report names the tasks its aggregates leave out (no finished run yet).
	mdBuf.Reset()
	rep.LeftOut = []LeftTask{{"u", "no finished run yet"}}
	rep.Rows = append(rep.Rows, Row{Task: "u", Variant: "tdmpc2", Pending: 5})
	require.NoError(t, WriteMarkdown(&mdBuf, rep))
	require.Contains(t, mdBuf.String(), "Across tasks (t; left out: u (no finished run yet)): ")
	// With no finished run anywhere there is no across-tasks table to introduce.
	mdBuf.Reset()
	pending := NewReport(nil)
	pending.Tasks = []string{"u"}
	pending.Rows = []Row{{Task: "u", Variant: "tdmpc2", Pending: 5}}
	pending.Aggregates = []AggregateRow{{Variant: "tdmpc2"}}
	require.NoError(t, WriteMarkdown(&mdBuf, pending))
	require.NotContains(t, mdBuf.String(), "Across tasks")
	require.NotContains(t, mdBuf.String(), "| variant | tasks | runs | IQM")
}

// TestRunVariantByLambdaHistory: a run whose λ changed is labelled by its λ history, one whose
// λ did not by its point.
func TestRunVariantByLambdaHistory(t *testing.T) {
	p := Point{Task: "cartpole-balance", Preset: "pompc", Lambda: 9, KL: "forward", Seed: 1}
	kept := Run{Point: p, Metrics: map[string][]pompc.Record{pompc.KeyLambda: {{Key: pompc.KeyLambda, Val: 9}}}}
	if got := kept.Variant(); got != "pompc λ=9 kl=forward" {
		t.Errorf("kept λ: %q", got)
	}
	changed := Run{Point: p, Metrics: map[string][]pompc.Record{pompc.KeyLambda: {
		{Key: pompc.KeyLambda, Step: 0, Val: 1}, {Key: pompc.KeyLambda, Step: 300, Val: 1},
		{Key: pompc.KeyLambda, Step: 5000, Val: 9}, {Key: pompc.KeyLambda, Step: 7000, Val: math.Inf(1)}}}}
	if got := changed.Variant(); got != "pompc λ=1→9@5000→inf@7000 kl=forward" {
		t.Errorf("changed λ: %q", got)
	}
	if got := (Run{Point: Point{Preset: "tdmpc2"}}).Variant(); got != "tdmpc2" {
		t.Errorf("tdmpc2: %q", got)
	}
}

// TestConfigInReadsFlagsAsTrainDoes: a job's configuration follows `pompc train`'s order
// (pompc.BuildConfig): the size preset first wherever --size stands, the last of each
// config-key flag, then every --set in order over them, then the point's own axes and seed.
func TestConfigInReadsFlagsAsTrainDoes(t *testing.T) {
	g := Grid{Tasks: []string{"cartpole-balance"}, Presets: []string{"pompc"}, Lambdas: []float64{9}, Seeds: []int{7},
		TrainArgs: []string{"--batch_size", "8", "--eval_every", "5000", "--set", "batch_size=16", "--size", "tiny",
			"--save-every", "10", "--eval_every=30", "--set", "lambda=3", "--quiet", "--log_std_min", "-4"}}
	jobs, err := g.Jobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := jobs[0].Config
	if c.Size.Name != "tiny" || c.NumSamples != pompc.POMPC().WithSize(pompc.SizeTiny).NumSamples {
		t.Errorf("size not applied first: %+v", c.Size)
	}
	if c.BatchSize != 16 || c.EvalEvery != 30 || c.LogStdMin != -4 || c.Seed != 7 || c.Lambda != 9 {
		t.Errorf("batch %d (want 16: --set over the flag), eval_every %d (want 30: the last flag), log_std_min %g, seed %d, λ %g (want 9: the point's λ comes after the grid's --set lambda=3)",
			c.BatchSize, c.EvalEvery, c.LogStdMin, c.Seed, c.Lambda)
	}
	g.TrainArgs = []string{"--batch_size", "x"}
	if _, err := g.Jobs(t.TempDir()); err == nil {
		t.Error("a bad flag value: want an error")
	}
}

// TestAtStep: runs cut at one step compare there: a finished run and a run past the step count
// as done with their evaluation at the step, a run not there yet stays pending; the runs given
// are not changed.
func TestAtStep(t *testing.T) {
	rec := func(key string, steps []int64, vals ...float64) []pompc.Record {
		var out []pompc.Record
		for i, s := range steps {
			out = append(out, pompc.Record{Key: key, Step: s, Val: vals[i]})
		}
		return out
	}
	p := Point{Task: "t", Preset: "pompc", Lambda: 1}
	runs := []Run{
		{Point: p, Status: rundir.Status{State: rundir.StateDone, Step: 100}, Metrics: map[string][]pompc.Record{
			pompc.KeyEvalReturn: rec(pompc.KeyEvalReturn, []int64{25, 50, 75, 100}, 100, 200, 300, 400)}},
		{Point: p, Status: rundir.Status{State: rundir.StateRunning}, Metrics: map[string][]pompc.Record{
			pompc.KeyEvalReturn: rec(pompc.KeyEvalReturn, []int64{25, 50}, 10, 20),
			"loss/value":        rec("loss/value", []int64{40, 60}, 1, 2)}},
		{Point: p, Status: rundir.Status{State: rundir.StateRunning}, Metrics: map[string][]pompc.Record{
			pompc.KeyEvalReturn: rec(pompc.KeyEvalReturn, []int64{25}, 5),
			"loss/value":        rec("loss/value", []int64{40}, 1)}},
	}
	cut := AtStep(runs, 50)
	for i, want := range []string{rundir.StateDone, rundir.StateDone, rundir.StateRunning} {
		require.Equal(t, want, cut[i].Status.State, "run %d", i)
	}
	require.Equal(t, 200.0, Final(cut[0].Metrics[pompc.KeyEvalReturn]))
	require.Equal(t, 20.0, Final(cut[1].Metrics[pompc.KeyEvalReturn]))
	require.Len(t, cut[1].Metrics["loss/value"], 1)
	require.Len(t, runs[0].Metrics[pompc.KeyEvalReturn], 4, "the runs given are not changed")
	require.Equal(t, rundir.StateRunning, runs[1].Status.State)
	rows := Summarize(cut)
	require.Equal(t, 2, rows[0].Seeds)
	require.Equal(t, 1, rows[0].Pending)
	require.InDelta(t, 110, rows[0].FinalMean, 1e-12)

	// At an evaluation step, a run whose records of that step are written but whose
	// evaluation is still running has not reached it; a finished run that ended before the
	// step is not there either.
	evaluating := Run{Point: p, Status: rundir.Status{State: rundir.StateRunning}, Metrics: map[string][]pompc.Record{
		pompc.KeyEvalReturn: rec(pompc.KeyEvalReturn, []int64{25}, 5),
		"loss/value":        rec("loss/value", []int64{40, 50}, 1, 2)}}
	cut = AtStep([]Run{evaluating, runs[0]}, 50)
	require.Equal(t, rundir.StateRunning, cut[0].Status.State)
	cut = AtStep(runs[:1], 200)
	require.Empty(t, cut[0].Status.State, "a run done at 100 is not at step 200")
	require.Equal(t, 1, Summarize(cut)[0].Pending)
}
