package sweep

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// TestCurves: each task's table is on the union of its runs' evaluation steps; a cell is the
// mean (and t half-width) over the runs evaluated there, done or running, never failed; the
// finals are the finished runs' last evaluations by seed; Markdown thins the columns to
// MaxCurveColumns ending at the last step and marks partial cells; the CSV has every step.
func TestCurves(t *testing.T) {
	nan := math.NaN()
	run := func(task, preset string, seed int, state string, evals ...float64) Run {
		var recs []pompc.Record
		for i, v := range evals { // evaluations every 1000 steps from 1000
			recs = append(recs, pompc.Record{Key: pompc.KeyEvalReturn, Step: int64(i+1) * 1000, Val: v})
		}
		return Run{Point: Point{Task: task, Preset: preset, Lambda: nan, Seed: seed},
			Status: rundir.Status{State: state}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: recs}}
	}
	twelve := func(base float64) []float64 {
		v := make([]float64, 12)
		for i := range v {
			v[i] = base + float64(i)
		}
		return v
	}
	runs := []Run{
		run("a", "tdmpc2", 2, rundir.StateDone, twelve(100)...),
		run("a", "tdmpc2", 1, rundir.StateDone, twelve(300)...),
		run("a", "tdmpc2", 3, rundir.StateFailed, twelve(9000)...),
		run("a", "bmpc", 1, rundir.StateRunning, 10, 20, math.NaN()), // a NaN evaluation does not count
		run("a", "bmpc", 2, rundir.StateDone, 30, 40, 50, 60),
		run("b", "tdmpc2", 1, rundir.StateRunning), // no evaluation on b: no table
	}
	// A run of another sweep (Label) is a variant of its own.
	other := run("a", "tdmpc2", 1, rundir.StateDone, 50, math.Inf(1)) // an infinite evaluation does not count
	other.Label = "walker-1m"
	runs = append(runs, other)
	// A repeated step counts once per run, its last value.
	rep := run("c", "bmpc", 4, rundir.StateRunning, 10)
	rep.Metrics[pompc.KeyEvalReturn] = append(rep.Metrics[pompc.KeyEvalReturn], pompc.Record{Key: pompc.KeyEvalReturn, Step: 1000, Val: 30})
	diverged := run("c", "bmpc", 5, rundir.StateDone, 20, nan)
	runs = append(runs, rep, diverged)
	tables := Curves(runs)
	require.Len(t, tables, 2)
	c := tables[1]
	require.Equal(t, "c", c.Task, "tasks in the runs' order")
	require.Equal(t, []int64{1000}, c.Steps, "a step with no finite evaluation is no column")
	require.Equal(t, []int{2}, c.Rows[0].N)
	require.InDelta(t, 25, c.Rows[0].Mean[0], 1e-12, "(30 + 20)/2: the repeated step's last value")
	require.Len(t, c.Rows[0].Finals, 1)
	require.True(t, math.IsNaN(c.Rows[0].Finals[0].Return))
	a := tables[0]
	require.Equal(t, "a", a.Task)
	require.Len(t, a.Steps, 12)
	require.Equal(t, int64(1000), a.Steps[0])
	require.Equal(t, int64(12000), a.Steps[11])
	require.Len(t, a.Rows, 3)
	lab := a.Rows[2]
	require.Equal(t, "walker-1m: tdmpc2", lab.Variant)
	require.Equal(t, []int{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, lab.N)
	require.Equal(t, []SeedReturn{{1, math.Inf(1)}}, lab.Finals)

	td := a.Rows[0]
	require.Equal(t, "tdmpc2", td.Variant)
	require.Equal(t, 2, td.Runs, "the failed run does not count")
	require.InDelta(t, 200, td.Mean[0], 1e-12)
	require.InDelta(t, 12.706204736174698*100, td.CI[0], 1e-6) // t(0.975, 1) · s/√2, s = 141.42
	require.Equal(t, 2, td.N[11])
	require.Equal(t, []SeedReturn{{1, 311}, {2, 111}}, td.Finals)

	bm := a.Rows[1]
	require.Equal(t, 2, bm.Runs)
	require.Equal(t, []int{2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, bm.N)
	require.InDelta(t, 30, bm.Mean[1], 1e-12)
	require.True(t, math.IsNaN(bm.CI[2]), "one run: no interval")
	require.Equal(t, []SeedReturn{{2, 60}}, bm.Finals)

	var md strings.Builder
	writeCurves(&md, tables)
	// 12 steps thinned to every 2nd back from the last: 2k, 4k, ..., 12k.
	require.Contains(t, md.String(), "| variant | 2k | 4k | 6k | 8k | 10k | 12k | seeds' finals |\n|---|---|---|---|---|---|---|---|\n")
	require.Contains(t, md.String(), "| tdmpc2 | 201 | 203 | 205 | 207 | 209 | 211 | s1 311, s2 111 |")
	require.Contains(t, md.String(), "| bmpc | 30 | 60 (1) | – | – | – | – | s2 60 |")
	require.Contains(t, md.String(), "| walker-1m: tdmpc2 | – | – | – | – | – | – | s1 +Inf |")
	require.Contains(t, md.String(), "| bmpc | 25 | s5 NaN |")

	var csvBuf bytes.Buffer
	require.NoError(t, WriteCurvesCSV(&csvBuf, tables))
	lines := strings.Split(strings.TrimSpace(csvBuf.String()), "\n")
	require.Equal(t, "task,variant,step,n,mean,ci95", lines[0])
	require.Len(t, lines, 1+12+4+1+1)
	require.Equal(t, "a,tdmpc2,1000,2,200.00,1270.62", lines[1])
	require.Equal(t, "a,bmpc,3000,1,50.00,", lines[15])

	require.Equal(t, "c,bmpc,1000,2,25.00,63.53", lines[len(lines)-1])

	// A report carries them into results.md after the aggregates, and WriteTables into
	// results_curves.csv.
	var report bytes.Buffer
	require.NoError(t, WriteMarkdown(&report, NewReport(runs)))
	require.Contains(t, report.String(), "### Learning curves\n\na, mean evaluation return at agent step:")
	dir := t.TempDir()
	require.NoError(t, WriteTables(dir, NewReport(runs)))
	written, err := os.ReadFile(filepath.Join(dir, "results_curves.csv"))
	require.NoError(t, err)
	require.Equal(t, csvBuf.String(), string(written))

	// The latest evaluation all of a variant's evaluated runs reached: never the failed run,
	// never a non-finite value (bmpc's first run stops at 2000, its NaN at 3000 left out), no
	// entry for a variant without evaluations (b).
	require.Equal(t, []Latest{
		{Task: "a", Variant: "tdmpc2", Step: 12000, Furthest: 12000, Mean: 211, N: 2},
		{Task: "a", Variant: "bmpc", Step: 2000, Furthest: 4000, Mean: 30, N: 2},
		{Task: "a", Variant: "walker-1m: tdmpc2", Step: 1000, Furthest: 1000, Mean: 50, N: 1},
		{Task: "c", Variant: "bmpc", Step: 1000, Furthest: 1000, Mean: 25, N: 2},
	}, LatestEvals(runs))
}

// TestCurveColumns: all steps when they fit, else every k-th back from the last.
func TestCurveColumns(t *testing.T) {
	require.Equal(t, []int{0, 1, 2}, columns(3, 10))
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, columns(10, 10))
	require.Equal(t, []int{0, 2, 4, 6, 8, 10}, columns(11, 10))
	require.Equal(t, []int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}, columns(20, 10))
	require.Equal(t, []int{0, 3, 6, 9, 12, 15, 18, 21, 24, 27}, columns(28, 10))
	require.Equal(t, "50k", stepLabel(50000))
	require.Equal(t, "2.5k", stepLabel(2500))
	require.Equal(t, "800", stepLabel(800))
	require.Equal(t, "1234", stepLabel(1234))
	require.Equal(t, "2M", stepLabel(2_000_000))
	require.Equal(t, "1.5M", stepLabel(1_500_000))
}
