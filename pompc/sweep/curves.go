package sweep

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// MaxCurveColumns is how many evaluation steps a learning-curve table in results.md shows at
// most (results_curves.csv has them all).
const MaxCurveColumns = 10

// CurveTable is one task's learning curves as numbers: every variant's mean evaluation return at
// each agent step any of the task's runs was evaluated at, over the runs evaluated there (done or
// still training; failed runs left out), and each finished run's final return by seed.
type CurveTable struct {
	Task string
	// Steps are the task's evaluation steps, ascending.
	Steps []int64
	Rows  []CurveRow
}

// CurveRow is one variant's curve on a CurveTable's steps.
type CurveRow struct {
	Variant string
	// Runs is how many of the variant's runs count (all but the failed ones).
	Runs int
	// Mean ± CI (95% Student-t half-width) is over the N runs with a finite evaluation at each
	// step (NaN where N < 1, respectively N < 2).
	Mean, CI []float64
	N        []int
	// Finals are the finished runs' final returns (Final), by seed; a diverged run's is the
	// non-finite value its last evaluation had (the curve's cells leave such values out).
	Finals []SeedReturn
}

// SeedReturn is one run's return.
type SeedReturn struct {
	Seed   int
	Return float64
}

// evalGroup is one task and variant's runs: their finite evaluation returns by agent step and
// the finished runs' finals.
type evalGroup struct {
	task, variant, preset string
	runs                  int
	evals                 map[int64][]float64
	finals                []SeedReturn
	// last is each run's last step with a finite evaluation (runs without one left out).
	last []int64
}

// groupEvals groups the runs that keep selects (failed runs never) by task and variant, in the
// runs' order of tasks and variants.
func groupEvals(runs []Run, keep func(Run) bool) []*evalGroup {
	var groups []*evalGroup
	index := map[string]*evalGroup{}
	for _, r := range runs {
		if r.Status.State == rundir.StateFailed || (keep != nil && !keep(r)) {
			continue
		}
		v := r.Variant()
		k := r.Task + "\x00" + v
		g := index[k]
		if g == nil {
			g = &evalGroup{task: r.Task, variant: v, preset: r.Preset, evals: map[int64][]float64{}}
			index[k] = g
			groups = append(groups, g)
		}
		g.runs++
		ev := r.Metrics[pompc.KeyEvalReturn]
		// One value per run and step, its last (a run's series has no repeated step after a
		// resume, which truncates it to the checkpoint, but a hand-merged file might).
		last := map[int64]float64{}
		for _, rec := range ev {
			last[rec.Step] = rec.Val
		}
		lastStep := int64(-1)
		for st, v := range last {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				g.evals[st] = append(g.evals[st], v)
				lastStep = max(lastStep, st)
			}
		}
		if lastStep >= 0 {
			g.last = append(g.last, lastStep)
		}
		if r.Status.State == rundir.StateDone && len(ev) > 0 {
			g.finals = append(g.finals, SeedReturn{Seed: r.Seed, Return: Final(ev)})
		}
	}
	for _, g := range groups {
		slices.SortStableFunc(g.finals, func(a, b SeedReturn) int { return cmp.Compare(a.Seed, b.Seed) })
	}
	return groups
}

// Curves makes one CurveTable per task of runs (in the runs' order of tasks and variants), each
// on the union of its runs' evaluation steps; a task none of whose runs has an evaluation has none.
func Curves(runs []Run) []CurveTable {
	var tasks []string
	byTask := map[string][]*evalGroup{}
	for _, g := range groupEvals(runs, nil) {
		if _, ok := byTask[g.task]; !ok {
			tasks = append(tasks, g.task)
		}
		byTask[g.task] = append(byTask[g.task], g)
	}
	var out []CurveTable
	for _, task := range tasks {
		var steps []int64
		for _, g := range byTask[task] {
			for st := range g.evals {
				steps = append(steps, st)
			}
		}
		if len(steps) == 0 {
			continue
		}
		t := CurveTable{Task: task, Steps: uniqueSorted(steps)}
		for _, g := range byTask[task] {
			row := CurveRow{Variant: g.variant, Runs: g.runs, Finals: g.finals,
				Mean: make([]float64, 0, len(t.Steps)), CI: make([]float64, 0, len(t.Steps)), N: make([]int, 0, len(t.Steps))}
			for _, st := range t.Steps {
				m, ci := MeanCI(g.evals[st], Level)
				row.Mean, row.CI, row.N = append(row.Mean, m), append(row.CI, ci), append(row.N, len(g.evals[st]))
			}
			t.Rows = append(t.Rows, row)
		}
		out = append(out, t)
	}
	return out
}

// Latest is one variant's latest evaluation that all its evaluated runs have reached.
type Latest struct {
	Task, Variant string
	// Step is the smallest of the runs' last evaluation steps; Furthest the largest.
	Step, Furthest int64
	// Mean is the mean evaluation return at Step over the N runs evaluated there.
	Mean float64
	N    int
}

// LatestEvals gives each task and variant's latest evaluation at the last step all its runs
// with an evaluation reached (failed runs left out), in the runs' order of tasks and variants,
// so that an interim comparison never averages a finished seed's final with another seed's early
// evaluation. Runs evaluate on one grid (eval_every), so every run counted reached Step.
func LatestEvals(runs []Run) []Latest {
	var out []Latest
	for _, g := range groupEvals(runs, nil) {
		if len(g.last) == 0 {
			continue
		}
		step, furthest := slices.Min(g.last), slices.Max(g.last)
		m, _ := MeanCI(g.evals[step], Level)
		out = append(out, Latest{Task: g.task, Variant: g.variant, Step: step, Furthest: furthest, Mean: m, N: len(g.evals[step])})
	}
	return out
}

// uniqueSorted sorts xs in place and returns its distinct values.
func uniqueSorted(xs []int64) []int64 {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// columns picks at most limit of n steps' indices for a table: all when they fit, else every
// k-th counted back from the last (the final step is always shown), ascending. It thins by index:
// runs evaluated on different schedules give uneven gaps.
func columns(n, limit int) []int {
	k := (n + limit - 1) / limit
	var idx []int
	for i := n - 1; i >= 0 && len(idx) < limit; i -= k {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// stepLabel writes an agent step compactly: 2000000 → "2M", 50000 → "50k", 2500 → "2.5k",
// 800 → "800".
func stepLabel(st int64) string {
	if st >= 1_000_000 && st%100_000 == 0 {
		return strconv.FormatFloat(float64(st)/1e6, 'f', -1, 64) + "M"
	}
	if st >= 1000 && st%100 == 0 {
		return strconv.FormatFloat(float64(st)/1000, 'f', -1, 64) + "k"
	}
	return strconv.FormatInt(st, 10)
}

// writeCurves writes the curve tables in Markdown, one per task: the mean return at (at most
// MaxCurveColumns of) its evaluation steps and the seeds' finals.
func writeCurves(b *strings.Builder, tables []CurveTable) {
	if len(tables) == 0 {
		return
	}
	b.WriteString("\n### Learning curves\n")
	for _, t := range tables {
		idx := columns(len(t.Steps), MaxCurveColumns)
		fmt.Fprintf(b, "\n%s, mean evaluation return at agent step:\n\n| variant |", t.Task)
		for _, i := range idx {
			fmt.Fprintf(b, " %s |", stepLabel(t.Steps[i]))
		}
		b.WriteString(" seeds' finals |\n|---|" + strings.Repeat("---|", len(idx)) + "---|\n")
		for _, r := range t.Rows {
			fmt.Fprintf(b, "| %s |", r.Variant)
			for _, i := range idx {
				switch {
				case r.N[i] == 0:
					b.WriteString(" – |")
				case r.N[i] < r.Runs:
					fmt.Fprintf(b, " %.0f (%d) |", r.Mean[i], r.N[i])
				default:
					fmt.Fprintf(b, " %.0f |", r.Mean[i])
				}
			}
			finals := make([]string, len(r.Finals))
			for i, f := range r.Finals {
				finals[i] = fmt.Sprintf("s%d %.0f", f.Seed, f.Return)
			}
			if len(finals) == 0 {
				finals = []string{"–"}
			}
			fmt.Fprintf(b, " %s |\n", strings.Join(finals, ", "))
		}
	}
	b.WriteString("\nMeans over the runs evaluated at that step, done or still training; (n): only n of the " +
		"variant's runs were. Seeds' finals: each finished run's last evaluation, by seed (NaN: the run " +
		"diverged). Every step, with its 95% Student-t half-width, is in results_curves.csv.\n")
}

// WriteCurvesCSV writes the curve tables in long form with a header line: one line per task,
// variant and evaluation step with a run evaluated there (n: how many were; their mean and 95%
// Student-t half-width; empty cells undefined).
func WriteCurvesCSV(w io.Writer, tables []CurveTable) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"task", "variant", "step", "n", "mean", "ci95"})
	for _, t := range tables {
		for _, r := range t.Rows {
			for i, st := range t.Steps {
				if r.N[i] == 0 {
					continue
				}
				_ = cw.Write([]string{t.Task, r.Variant, strconv.FormatInt(st, 10), strconv.Itoa(r.N[i]), num(r.Mean[i]), num(r.CI[i])})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
