package widgets

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// The figures across tasks: one of each kind for a sweep with finished runs on two tasks, drawn
// (PNG, not blank: many distinct colours) and as charts; none before any run has finished.
func TestAggregateFigures(t *testing.T) {
	var runs []sweep.Run
	for _, task := range []string{"cartpole-balance", "cartpole-swingup"} {
		for k, lambda := range []float64{1, 9} {
			for seed := range 3 {
				ev := synthCurve(float64(400+200*k+50*seed), 0.002, 1, 6, 500)[0]
				runs = append(runs, sweep.Run{Point: sweep.Point{Task: task, Preset: "pompc", Lambda: lambda, Seed: seed},
					Status: rundir.Status{State: rundir.StateDone}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: ev}})
			}
		}
	}
	figs, err := AggregateFigures(runs, SetOptions{Style: testStyle(Style{})})
	require.NoError(t, err)
	var kinds []string
	for _, f := range figs {
		kinds = append(kinds, f.Kind)
		require.Equal(t, f.Kind+"-all", f.Name)
		require.NotNil(t, f.Chart)
		var buf bytes.Buffer
		require.NoError(t, f.Figure.Write(&buf, "png"))
		img, err := png.Decode(&buf)
		require.NoError(t, err)
		colours := map[uint32]bool{}
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 3 {
			for x := b.Min.X; x < b.Max.X; x += 3 {
				r, g, bl, _ := img.At(x, y).RGBA()
				colours[r>>8<<16|g>>8<<8|bl>>8] = true
			}
		}
		require.Greater(t, len(colours), 8, "%s looks blank", f.Name)
	}
	require.Equal(t, AggregateKinds, kinds)

	for i := range runs {
		runs[i].Status.State = rundir.StateRunning
	}
	_, err = AggregateFigures(runs, SetOptions{Style: testStyle(Style{})})
	require.ErrorContains(t, err, "no task on which every variant has a finished run")
}

// TestBinRecords: a per-update series of 1000 steps becomes 200 bins of 5 steps, each the mean
// of its records at their mean step; NaN values are left out of a bin's mean; short series stay.
func TestBinRecords(t *testing.T) {
	var recs []pompc.Record
	for s := int64(1); s <= 1000; s++ {
		v := float64(s)
		if s == 7 {
			v = math.NaN()
		}
		recs = append(recs, pompc.Record{Key: "loss/x", Step: s, Val: v})
	}
	b := binRecords(recs, 200)
	require.Len(t, b, 200)
	require.Equal(t, pompc.Record{Key: "loss/x", Step: 3, Val: 3}, b[0])
	require.Equal(t, int64(8), b[1].Step, "steps 6, 8, 9, 10: 7 is NaN")
	require.InDelta(t, (6+8+9+10)/4.0, b[1].Val, 1e-12)
	require.Equal(t, pompc.Record{Key: "loss/x", Step: 998, Val: 998}, b[199])
	require.Equal(t, recs[:50], binRecords(recs[:50], 200))
}

// TestMetricFigure: a training metric per variant (labelled runs of two sources kept apart),
// drawn and charted; a key no run has is refused with the keys the runs have.
func TestMetricFigure(t *testing.T) {
	var runs []sweep.Run
	for i, label := range []string{"tiny", "1M"} {
		for seed := range 2 {
			var recs []pompc.Record
			for s := int64(1); s <= 600; s++ {
				recs = append(recs, pompc.Record{Key: pompc.KeyLossConsistency, Step: s, Val: float64(i+1) / float64(s)})
			}
			runs = append(runs, sweep.Run{Point: sweep.Point{Task: "walker-walk", Preset: "tdmpc2", Lambda: math.NaN(), Seed: seed},
				Label: label, Status: rundir.Status{State: rundir.StateRunning}, Metrics: map[string][]pompc.Record{pompc.KeyLossConsistency: recs}})
		}
	}
	f, err := MetricFigure(runs, "walker-walk", pompc.KeyLossConsistency, SetOptions{Style: testStyle(Style{})})
	require.NoError(t, err)
	require.Equal(t, "metric-walker-walk", f.Name)
	require.NotNil(t, f.Chart)
	var svg bytes.Buffer
	require.NoError(t, f.Figure.Write(&svg, "svg"))
	require.Contains(t, svg.String(), "tiny: tdmpc2 (n=2)")
	require.Contains(t, svg.String(), "1M: tdmpc2 (n=2)")
	_, err = MetricFigure(runs, "walker-walk", "loss/nosuch", SetOptions{})
	require.ErrorContains(t, err, pompc.KeyLossConsistency)
	_, err = MetricFigure(runs, "cheetah-run", pompc.KeyLossConsistency, SetOptions{})
	require.ErrorContains(t, err, "cheetah-run")
}

// TestReturnBandsClamped: with ReturnMax a return band stays within [0, ReturnMax] (three
// spread seeds give a Student-t band far past 1000), so the axis is not stretched past what a
// return can be; without it the band is drawn as computed.
func TestReturnBandsClamped(t *testing.T) {
	rec := func(s int64, v float64) pompc.Record { return pompc.Record{Key: pompc.KeyEvalReturn, Step: s, Val: v} }
	spread := Curve{Variant: "sac", Seeds: [][]pompc.Record{
		{rec(0, 0), rec(10, 950)}, {rec(0, 10), rec(10, 300)}, {rec(0, 5), rec(10, 990)}}}
	o := CurveOptions{Style: testStyle(Style{})}
	f, err := LearningCurves([]Curve{spread}, o)
	require.NoError(t, err)
	require.Greater(t, f.Plot.Y.Max, 1500.0, "unclamped: the t band of 3 spread seeds")
	o.ReturnMax = 1000
	f, err = LearningCurves([]Curve{spread}, o)
	require.NoError(t, err)
	require.LessOrEqual(t, f.Plot.Y.Max, 1000.0/(1-0.6), "clamped: 1000, raised only for the legend")
	require.Less(t, f.Plot.Y.Max, 1500.0)
	require.GreaterOrEqual(t, f.Plot.Y.Min, 0.0)
	b := clampBand(figBandData{x: []float64{0}, mean: []float64{5}, lo: []float64{-30}, hi: []float64{1200}}, 1000)
	require.Equal(t, []float64{0}, b.lo)
	require.Equal(t, []float64{1000}, b.hi)
	require.Equal(t, []float64{5}, b.mean)
}
