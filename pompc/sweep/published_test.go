package sweep

import (
	"math"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// TestPublishedBand: the band of three published seeds is their mean ± t(0.975, 2)·s/√3, here
// TD-MPC2's cartpole-swingup at 100k environment steps (789.8, 867.9, 860.5: mean 839.4, band
// [732, 947] as README states), and a step not every seed has is left out.
func TestPublishedBand(t *testing.T) {
	rec := func(step int64, v float64) pompc.Record {
		return pompc.Record{Key: pompc.KeyEvalReturn, Step: step, Val: v}
	}
	p := PublishedBand("TD-MPC2 (published)", [][]pompc.Record{
		{rec(0, 2), rec(50_000, 789.8), rec(100_000, 877.6)},
		{rec(0, 4.8), rec(50_000, 867.9)},
		{rec(0, 1.5), rec(50_000, 860.5), rec(100_000, 859.1)},
	})
	require.Equal(t, 3, p.Seeds)
	require.Equal(t, []int64{0, 50_000}, p.Steps)
	xs := []float64{789.8, 867.9, 860.5}
	mean := (xs[0] + xs[1] + xs[2]) / 3
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	const t2 = 4.302652729749464 // Student-t 97.5% quantile, 2 degrees of freedom
	half := t2 * math.Sqrt(ss/2) / math.Sqrt(3)
	require.InDelta(t, mean, p.Mean[1], 1e-9)
	require.InDelta(t, mean-half, p.Lo[1], 1e-6)
	require.InDelta(t, mean+half, p.Hi[1], 1e-6)
	require.InDelta(t, 732, p.Lo[1], 1)
	require.InDelta(t, 947, p.Hi[1], 1)
}

// TestComparePublished: only a preset's own variant on a task with a published curve is
// compared, at each published step (after 0) where two or more of its runs have an evaluation;
// the verdict places our mean against the band.
func TestComparePublished(t *testing.T) {
	nan := math.NaN()
	run := func(task, preset string, lambda float64, kl string, state string, evals map[int64]float64) Run {
		var recs []pompc.Record
		for _, st := range []int64{0, 25_000, 50_000, 100_000} {
			if v, ok := evals[st]; ok {
				recs = append(recs, pompc.Record{Key: pompc.KeyEvalReturn, Step: st, Val: v})
			}
		}
		return Run{Point: Point{Task: task, Preset: preset, Lambda: lambda, KL: kl},
			Status: rundir.Status{State: state}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: recs}}
	}
	runs := []Run{
		// TD-MPC2 on a: three runs at 50k (mean 800, inside), two at 100k (mean 600, below).
		run("a", "tdmpc2", nan, "", rundir.StateDone, map[int64]float64{0: 1, 50_000: 700, 100_000: 500}),
		run("a", "tdmpc2", nan, "", rundir.StateDone, map[int64]float64{0: 1, 50_000: 800, 100_000: 700}),
		run("a", "tdmpc2", nan, "", rundir.StateRunning, map[int64]float64{0: 1, 50_000: 900}),
		// A failed run never counts.
		run("a", "tdmpc2", nan, "", rundir.StateFailed, map[int64]float64{50_000: 0, 100_000: 0}),
		// BMPC on a: one run at 50k, no row; two at 25k, not a published step.
		run("a", "bmpc", nan, "", rundir.StateDone, map[int64]float64{25_000: 5, 50_000: 990}),
		run("a", "bmpc", nan, "", rundir.StateRunning, map[int64]float64{25_000: 7}),
		// BMPC with the forward KL is not BMPC: no row.
		run("a", "bmpc", nan, "forward", rundir.StateDone, map[int64]float64{50_000: 990}),
		run("a", "bmpc", nan, "forward", rundir.StateDone, map[int64]float64{50_000: 990}),
		// PO-MPC has no published curve.
		run("a", "pompc", 1, "", rundir.StateDone, map[int64]float64{50_000: 990}),
		run("a", "pompc", 1, "", rundir.StateDone, map[int64]float64{50_000: 990}),
		// BMPC on b: two runs at 50k, mean 995, above.
		run("b", "bmpc", nan, "", rundir.StateDone, map[int64]float64{50_000: 990}),
		run("b", "bmpc", nan, "", rundir.StateDone, map[int64]float64{50_000: 1000}),
		// TD-MPC2 on c: no published curve for c.
		run("c", "tdmpc2", nan, "", rundir.StateDone, map[int64]float64{50_000: 990}),
		run("c", "tdmpc2", nan, "", rundir.StateDone, map[int64]float64{50_000: 990}),
	}
	var asked []string
	pub := func(task, preset string) (Published, bool) {
		asked = append(asked, task+"/"+preset)
		if task == "c" || preset == "pompc" {
			return Published{}, false
		}
		return Published{Name: preset + " (published)", Seeds: 3, Steps: []int64{0, 50_000, 100_000},
			Mean: []float64{0, 839, 880}, Lo: []float64{0, 732, 860}, Hi: []float64{0, 947, 900}}, true
	}
	rows := ComparePublished(runs, pub)
	require.Equal(t, []string{"a/tdmpc2", "a/bmpc", "b/bmpc", "c/tdmpc2"}, asked)
	require.Len(t, rows, 3)

	r := rows[0]
	require.Equal(t, "a", r.Task)
	require.Equal(t, "tdmpc2", r.Variant)
	require.Equal(t, int64(50_000), r.Step)
	require.Equal(t, 3, r.Seeds)
	require.InDelta(t, 800, r.Mean, 1e-9)
	require.InDelta(t, 4.302652729749464*100/math.Sqrt(3), r.CI, 1e-6)
	require.Equal(t, [3]float64{839, 732, 947}, [3]float64{r.PubMean, r.PubLo, r.PubHi})
	require.Equal(t, "inside", r.Verdict())

	r = rows[1]
	require.Equal(t, int64(100_000), r.Step)
	require.Equal(t, 2, r.Seeds)
	require.InDelta(t, 600, r.Mean, 1e-9)
	require.Equal(t, "below", r.Verdict())

	r = rows[2]
	require.Equal(t, "b", r.Task)
	require.Equal(t, "bmpc", r.Variant)
	require.InDelta(t, 995, r.Mean, 1e-9)
	require.Equal(t, "above", r.Verdict())

	require.Nil(t, ComparePublished(runs, nil))

	var md strings.Builder
	require.NoError(t, WriteMarkdown(&md, Report{Published: rows}))
	require.Contains(t, md.String(), "### Against the published curves")
	require.Contains(t, md.String(), "| a | tdmpc2 | 50000 | 800.0 ± 248.4 (3 runs) | tdmpc2, 3 seeds | 839.0 | [732.0, 947.0] | inside |")
	require.Contains(t, md.String(), "| b | bmpc | 50000 | 995.0 ± 63.5 (2 runs) | bmpc, 3 seeds | 839.0 | [732.0, 947.0] | above |")
}

// TestComparePublishedOddInputs: a published curve's steps in any order, repeated, or longer
// than its means are read by index, never out of range; evaluations that are not numbers do not
// count (two NaN evaluations give no row, a NaN beside one number leaves too few runs); a band
// that is not a number gives no verdict.
func TestComparePublishedOddInputs(t *testing.T) {
	nan := math.NaN()
	run := func(evals map[int64]float64) Run {
		var recs []pompc.Record
		for _, st := range []int64{50_000, 100_000, 150_000} {
			if v, ok := evals[st]; ok {
				recs = append(recs, pompc.Record{Key: pompc.KeyEvalReturn, Step: st, Val: v})
			}
		}
		return Run{Point: Point{Task: "a", Preset: "tdmpc2", Lambda: nan}, Status: rundir.Status{State: rundir.StateDone},
			Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: recs}}
	}
	runs := []Run{
		run(map[int64]float64{50_000: 100, 100_000: nan, 150_000: 7}),
		run(map[int64]float64{50_000: 300, 100_000: 500, 150_000: 9}),
		run(map[int64]float64{100_000: nan}),
	}
	pub := func(string, string) (Published, bool) {
		// 150k has no mean (the slices are shorter than Steps); 50k is listed twice.
		return Published{Name: "x", Seeds: 3, Steps: []int64{100_000, 50_000, 0, 50_000, 150_000},
			Mean: []float64{10, 20, 0, 99}, Lo: []float64{5, 15, 0, 99}, Hi: []float64{15, 25, 0, 99}}, true
	}
	rows := ComparePublished(runs, pub)
	require.Len(t, rows, 1, "50k once (its first index), 100k has one finite evaluation, 150k no published mean")
	require.Equal(t, int64(50_000), rows[0].Step)
	require.Equal(t, 2, rows[0].Seeds)
	require.Equal(t, [3]float64{20, 15, 25}, [3]float64{rows[0].PubMean, rows[0].PubLo, rows[0].PubHi})
	require.Equal(t, "above", rows[0].Verdict())

	require.Equal(t, "–", PublishedRow{Mean: nan, PubLo: 0, PubHi: 1}.Verdict())
	require.Equal(t, "–", PublishedRow{Mean: 1, PubLo: nan, PubHi: nan}.Verdict())
	one := PublishedBand("x", [][]pompc.Record{{{Key: pompc.KeyEvalReturn, Step: 50_000, Val: 5}}})
	require.Equal(t, 5.0, one.Mean[0])
	require.True(t, math.IsNaN(one.Lo[0]) && math.IsNaN(one.Hi[0]), "one seed has no band")
}

// TestLabelledRuns: a Label prefixes the variant (runs of two sweeps drawn together stay apart),
// and a labelled preset's own variant is still compared with its published curve.
func TestLabelledRuns(t *testing.T) {
	run := func(label string, v float64) Run {
		return Run{Point: Point{Task: "a", Preset: "tdmpc2", Lambda: math.NaN()}, Label: label, Status: rundir.Status{State: rundir.StateDone},
			Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: {{Key: pompc.KeyEvalReturn, Step: 50_000, Val: v}}}}
	}
	require.Equal(t, "tdmpc2", run("", 0).Variant())
	require.Equal(t, "walker-1m: tdmpc2", run("walker-1m", 0).Variant())
	pub := func(string, string) (Published, bool) {
		return Published{Name: "x", Seeds: 3, Steps: []int64{50_000}, Mean: []float64{900}, Lo: []float64{850}, Hi: []float64{950}}, true
	}
	rows := ComparePublished([]Run{run("tiny", 400), run("tiny", 500), run("1M", 900), run("1M", 920)}, pub)
	require.Len(t, rows, 2)
	require.Equal(t, "tiny: tdmpc2", rows[0].Variant)
	require.Equal(t, "below", rows[0].Verdict())
	require.Equal(t, "1M: tdmpc2", rows[1].Variant)
	require.Equal(t, "inside", rows[1].Verdict())
}
