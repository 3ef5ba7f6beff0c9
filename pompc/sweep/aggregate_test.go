package sweep

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

func TestAggregateStatisticsByHand(t *testing.T) {
	require.InDelta(t, 4.5, IQM([]float64{8, 1, 7, 2, 6, 3, 5, 4}), 1e-12) // drops 1, 2, 7, 8
	require.InDelta(t, 5.5, IQM([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), 1e-12)
	require.InDelta(t, 3.0, IQM([]float64{5, 4, 3, 2, 1}), 1e-12) // scipy trim_mean(·, 0.25): drops one each end
	require.InDelta(t, 2.0, IQM([]float64{2}), 1e-12)
	require.True(t, math.IsNaN(IQM(nil)))
	require.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	require.Equal(t, 3.0, Median([]float64{5, 1, 3}))
	require.InDelta(t, 0.2, OptimalityGap([]float64{0.5, 1.2, 0.9}), 1e-12)
	require.InDelta(t, 2.5, Percentile([]float64{1, 2, 3, 4}, 0.5), 1e-12)
	require.InDelta(t, 1.3, Percentile([]float64{1, 2, 3, 4}, 0.1), 1e-12)

	// P(X > Y) with ties counting ½: task 1: 1<2, 1<2, 2=2, 2=2, 3>2, 3>2 → 3/6; task 2: 1.
	x := [][]float64{{1, 2, 3}, {5}}
	y := [][]float64{{2, 2}, {4}}
	require.InDelta(t, (0.5+1)/2, ProbabilityOfImprovement(x, y), 1e-12)
	require.InDelta(t, 0.5, ProbabilityOfImprovement(x, x), 1e-12)
	require.InDelta(t, 1-ProbabilityOfImprovement(x, y), ProbabilityOfImprovement(y, x), 1e-12)

	// Profiles average the per-task fractions: task 1 has 1 of 3 above 0.55, task 2 all.
	require.InDelta(t, (1.0/3+1)/2, ProfileAt([][]float64{{0.1, 0.5, 0.9}, {0.6}}, 0.55), 1e-12)
}

// The bootstrap interval of the mean of a normal sample matches the closed form
// mean ± 1.96·s/√n within Monte Carlo error.
func TestBootstrapMatchesClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 400)
	for i := range xs {
		xs[i] = 0.5 + 0.1*rng.NormFloat64()
	}
	mean, s := 0.0, 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		s += (x - mean) * (x - mean)
	}
	half := 1.96 * math.Sqrt(s/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
	iv := StratifiedBootstrap([][]float64{xs}, func(s [][]float64) float64 {
		sum := 0.0
		for _, x := range s[0] {
			sum += x
		}
		return sum / float64(len(s[0]))
	}, 0.95, 4000, rand.New(rand.NewPCG(3, 4)))
	require.InDelta(t, mean, iv.Point, 1e-12)
	require.InDelta(t, mean-half, iv.Lo, 0.1*half)
	require.InDelta(t, mean+half, iv.Hi, 0.1*half)
}

// Stratification: every resample keeps each task's number of runs, so with constant scores per
// task the mean over runs × tasks never moves (a plain bootstrap over the pooled runs would).
func TestBootstrapIsStratified(t *testing.T) {
	a := make([]float64, 2)
	b := []float64{1, 1, 1, 1, 1, 1, 1, 1}
	iv := StratifiedBootstrap([][]float64{a, b}, func(s [][]float64) float64 {
		sum, n := 0.0, 0
		for _, t := range s {
			for _, x := range t {
				sum += x
				n++
			}
		}
		return sum / float64(n)
	}, 0.95, 500, rand.New(rand.NewPCG(5, 6)))
	require.Equal(t, Interval{0.8, 0.8, 0.8}, iv)
}

func evalCurve(vals ...float64) []pompc.Record {
	var out []pompc.Record
	for i, v := range vals {
		out = append(out, pompc.Record{Key: pompc.KeyEvalReturn, Step: int64(1000 * (i + 1)), Val: v})
	}
	return out
}

// Aggregate normalizes by the task maximum and takes the statistics over runs × tasks; the IQM
// curve uses the evaluation steps every run has.
func TestAggregateOfRuns(t *testing.T) {
	run := func(task string, lambda float64, seed int, vals ...float64) Run {
		return Run{Point: Point{Task: task, Preset: "pompc", Lambda: lambda, Seed: seed},
			Status: rundir.Status{State: rundir.StateDone}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: evalCurve(vals...)}}
	}
	runs := []Run{
		run("cartpole-swingup", 1, 0, 100, 500), run("cartpole-swingup", 1, 1, 200, 700),
		run("cartpole-balance", 1, 0, 300, 900), run("cartpole-balance", 1, 1, 400, 1000),
		run("cartpole-swingup", 9, 0, 0, 100), run("cartpole-swingup", 9, 1, 0, 300),
		run("cartpole-balance", 9, 0, 0, 200),
	}
	tasks, rows, left := Aggregate(runs, 1)
	require.Equal(t, []string{"cartpole-swingup", "cartpole-balance"}, tasks)
	require.Empty(t, left)
	require.Len(t, rows, 2)
	r := rows[0]
	require.Equal(t, 2, r.Tasks)
	require.Equal(t, 4, r.Runs)
	require.InDelta(t, (0.5+0.7+0.9+1.0)/4, r.Mean.Point, 1e-12)
	require.InDelta(t, (0.7+0.9)/2, r.IQM.Point, 1e-12)
	require.InDelta(t, (0.5+0.3+0.1+0)/4, r.OptGap.Point, 1e-12)
	require.InDelta(t, (0.6+0.95)/2, r.Median.Point, 1e-12, "the median of the per-task means (rliable)")
	require.LessOrEqual(t, r.IQM.Lo, r.IQM.Point)
	require.GreaterOrEqual(t, r.IQM.Hi, r.IQM.Point)
	require.Equal(t, 2, rows[1].Tasks)
	require.Equal(t, 3, rows[1].Runs)
	require.InDelta(t, 0.2, rows[1].PerTask[0], 1e-12)
	require.InDelta(t, 0.2, rows[1].PerTask[1], 1e-12)

	// Without λ = 9's run on cartpole-balance the aggregates keep to the task both variants have
	// finished runs on, and say which they left out; a variant with no finished run (here a
	// running one, on a third task no run has finished) does not narrow them.
	unfinished := run("walker-walk", 3, 0, 0, 500)
	unfinished.Status.State = rundir.StateRunning
	tasks, rows, left = Aggregate(append(runs[:6:6], unfinished), 1)
	require.Equal(t, []string{"cartpole-swingup"}, tasks)
	require.Equal(t, []LeftTask{{"cartpole-balance", "no run: pompc λ=9"}, {"walker-walk", "no finished run yet"}}, left)
	require.Len(t, rows, 3)
	require.Equal(t, 1, rows[0].Tasks)
	require.Equal(t, 2, rows[0].Runs)
	require.InDelta(t, (0.5+0.7)/2, rows[0].Mean.Point, 1e-12)
	require.Equal(t, []float64{0.6}, rows[0].PerTask)
	require.Equal(t, 0, rows[2].Runs)
	require.True(t, math.IsNaN(rows[2].IQM.Point))
	var md strings.Builder
	require.NoError(t, WriteMarkdown(&md, NewReport(append(runs[:6:6], unfinished))))
	require.Contains(t, md.String(), "Across tasks (cartpole-swingup; left out: cartpole-balance (no run: pompc λ=9); left out: walker-walk (no finished run yet)): ")
	// Why a task is left out: a variant still training there, failed there, or diverged there.
	for _, c := range []struct {
		state string
		final float64
		why   string
	}{{rundir.StateRunning, 200, "not finished: pompc λ=9"}, {rundir.StateFailed, 200, "failed every run: pompc λ=9"}, {rundir.StateDone, math.NaN(), "diverged: pompc λ=9"}} {
		r := run("cartpole-balance", 9, 0, 0, c.final)
		r.Status.State = c.state
		_, _, left = Aggregate(append(runs[:6:6], r), 1)
		require.Equal(t, []LeftTask{{"cartpole-balance", c.why}}, left)
	}
	// Only the second task in common: every variant's finals and curves keep to it.
	second := []Run{runs[0], runs[2], runs[3], runs[6]} // λ = 1 on both tasks, λ = 9 on cartpole-balance
	tasks, _, left = Aggregate(second, 1)
	require.Equal(t, []string{"cartpole-balance"}, tasks)
	require.Equal(t, []LeftTask{{"cartpole-swingup", "no run: pompc λ=9"}}, left)
	_, vs, _ := CommonScores(second)
	for _, v := range vs {
		require.Len(t, v.Final, 1)
		require.Len(t, v.Curves, 1)
		require.Len(t, v.Curves[0], len(v.Final[0]))
	}
	require.Equal(t, []float64{0.9, 1.0}, vs[0].Final[0])
	require.InDelta(t, 0.3, vs[0].Curves[0][0][0].Val, 1e-12, "λ = 1's first balance run's first evaluation")
	require.Equal(t, []float64{0.2}, vs[1].Final[0])
	// Variants on disjoint tasks have no common ground: no aggregate.
	tasks, rows, left = Aggregate([]Run{runs[2], runs[4]}, 1)
	require.Empty(t, tasks)
	require.Equal(t, []LeftTask{{"cartpole-balance", "no run: pompc λ=9"}, {"cartpole-swingup", "no run: pompc λ=1"}}, left)
	require.Zero(t, rows[0].Runs+rows[1].Runs)
	md.Reset()
	require.NoError(t, WriteMarkdown(&md, NewReport([]Run{runs[2], runs[4]})))
	require.Contains(t, md.String(), "No aggregates across tasks yet: no task has finished runs of every variant "+
		"(left out: cartpole-balance (no run: pompc λ=9); left out: cartpole-swingup (no run: pompc λ=1)).")
	require.NotContains(t, md.String(), "| variant | tasks | runs | IQM")

	_, vs = Scores(runs)
	steps, iqm := IQMCurve(vs[0].Curves, 0.95, 200, rand.New(rand.NewPCG(1, 1)))
	require.Equal(t, []int64{1000, 2000}, steps)
	require.InDelta(t, (0.2+0.3)/2, iqm[0].Point, 1e-12) // IQM of 0.1, 0.2, 0.3, 0.4
}

// BestLambda picks the PO-MPC λ with the highest IQM of normalized finals, ignoring other
// presets and the prior variants.
func TestBestLambda(t *testing.T) {
	run := func(preset string, lambda float64, prior string, final float64) Run {
		return Run{Point: Point{Task: "cartpole-swingup", Preset: preset, Lambda: lambda, Prior: prior},
			Status: rundir.Status{State: rundir.StateDone}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: evalCurve(0, final)}}
	}
	runs := []Run{run("pompc", 0.1, "", 500), run("pompc", 1, "", 700), run("pompc", 1, "", 600), run("pompc", 9, "", 600),
		run("tdmpc2", math.NaN(), "", 990), run("pompc", 9, "planner", 1000)}
	best, iqm, ok := BestLambda(runs, []float64{0.1, 1, 9})
	require.True(t, ok)
	require.Equal(t, 1.0, best)
	require.InDelta(t, 0.65, iqm, 1e-12)
	_, _, ok = BestLambda(runs[:1], []float64{9})
	require.False(t, ok)
	// A λ without runs on a task the others have does not compete.
	hard := run("pompc", 1, "", 100)
	hard.Task = "cheetah-run"
	other := run("pompc", 9, "", 50)
	other.Task = "cheetah-run"
	best, _, ok = BestLambda(append(runs, hard, other), []float64{0.1, 1, 9})
	require.True(t, ok)
	require.Equal(t, 1.0, best, "0.1 has no cheetah-run run")
	// A diverged run (NaN final) has no score: the first λ's NaN IQM would otherwise win every
	// comparison (nothing is greater than NaN).
	diverged := run("pompc", 0.1, "", math.NaN())
	best, iqm, ok = BestLambda([]Run{diverged, runs[1], runs[2]}, []float64{0.1, 1})
	require.True(t, ok)
	require.Equal(t, 1.0, best)
	require.InDelta(t, 0.65, iqm, 1e-12)
}

// TestOneComparisonOneInterval: the P(X > Y) table and the paper's claims give one comparison
// one interval, and runs on a task only one side has do not move it.
func TestOneComparisonOneInterval(t *testing.T) {
	nan := math.NaN()
	run := func(task, preset string, lambda, final float64, seed int) Run {
		return Run{Point: Point{Task: task, Preset: preset, Lambda: lambda, Seed: seed},
			Status: rundir.Status{State: rundir.StateDone}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: evalCurve(final/2, final)}}
	}
	var runs []Run
	// Eleven interleaved runs a side: P(X > Y) takes 121 values, so two bootstraps of different
	// streams land on different percentiles.
	for i := range 11 {
		f := 600 + float64((i*37)%11)*20
		runs = append(runs, run("a", "tdmpc2", nan, f, i), run("a", "pompc", 1, f+float64((i*53)%7)*13-20, i), run("a", "bmpc", nan, f+5, i))
	}
	find := func(rep Report) (poi, claim Interval) {
		for _, p := range rep.POI {
			if p.X == "pompc λ=1" && p.Y == "tdmpc2" {
				poi = p.P
			}
		}
		for _, c := range rep.Claims {
			if c.Task == "a" && c.X == "pompc λ=1" && c.Y == "tdmpc2" {
				claim = c.Final
			}
		}
		return poi, claim
	}
	poi, claim := find(NewReport(runs))
	require.False(t, math.IsNaN(poi.Lo))
	require.Equal(t, poi, claim, "the table's interval and the claim's")
	require.Less(t, poi.Lo, poi.Point)
	more := append(runs[:len(runs):len(runs)], run("b", "tdmpc2", nan, 300, 0), run("b", "tdmpc2", nan, 310, 1))
	rep2 := NewReport(more)
	poi2, claim2 := find(rep2)
	var md strings.Builder
	require.NoError(t, WriteMarkdown(&md, rep2))
	require.Contains(t, md.String(), " | pompc λ=1 | tdmpc2 | a |\n", "the P(X > Y) table names the tasks of each pair")
	require.Equal(t, poi, poi2, "TD-MPC2's runs on a task PO-MPC has none on")
	require.Equal(t, claim, claim2)
	// Both are the bootstrap of task a's scores alone, seeded by the pair and that task.
	_, vs := Scores(more)
	var x, y [][]float64
	for _, v := range vs {
		switch v.Variant {
		case "pompc λ=1":
			x = v.Final[:1]
		case "tdmpc2":
			y = v.Final[:1]
		}
	}
	require.Len(t, y[0], 11)
	want := POIInterval(x, y, Level, BootstrapReps, bootstrapRNG("poi", "final", "pompc λ=1", "tdmpc2", "a"))
	require.Equal(t, want, poi2)
}
