package widgets

import (
	"bytes"
	"image/png"
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
	require.ErrorContains(t, err, "no finished run")
}
