package widgets

import (
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// TestSweepViewPanelsPerTask: with runs on two tasks the live figure has one set of panels per
// task (a variant's curve averages its seeds, not its tasks); with one task the titles are
// the panels' own.
func TestSweepViewPanelsPerTask(t *testing.T) {
	view := func(tasks ...string) *sweepView {
		v := &sweepView{pal: NewPalette("tdmpc2"), opts: SweepOptions{Title: "t", Columns: 3}}
		for _, task := range tasks {
			cfg := pompc.TDMPC2()
			cfg.Steps = 100
			v.items = append(v.items, &sweepItem{job: sweep.Job{Point: sweep.Point{Task: task, Preset: "tdmpc2"}, Config: cfg}, group: "tdmpc2"})
			v.series = append(v.series, map[string][]pompc.Record{pompc.KeyEvalReturn: {
				{Key: pompc.KeyEvalReturn, Step: 50, Val: 100}, {Key: pompc.KeyEvalReturn, Step: 100, Val: 200}}})
		}
		return v
	}
	html, err := view("cartpole-swingup", "cartpole-balance").plotHTML()
	require.NoError(t, err)
	require.Contains(t, html, "eval return · cartpole-swingup")
	require.Contains(t, html, "eval return · cartpole-balance")
	// A task without the metric yet keeps its panel, so both tasks' panels line up.
	v := view("cartpole-swingup", "cartpole-balance")
	v.series[1] = map[string][]pompc.Record{}
	html, err = v.plotHTML()
	require.NoError(t, err)
	require.Contains(t, html, "eval return · cartpole-balance")
	html, err = view("cartpole-swingup").plotHTML()
	require.NoError(t, err)
	require.Contains(t, html, "eval return")
	require.False(t, strings.Contains(html, " · "), "one task: no task in the titles")
}
