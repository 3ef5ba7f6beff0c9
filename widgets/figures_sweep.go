package widgets

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
)

// Figure kinds made by SweepFigures (the first part of each figure's name).
const (
	FigLearning  = "learning"   // learning curves per variant (+ published curves)
	FigLambda    = "lambda"     // final return against lambda
	FigLambdaAUC = "lambda-auc" // area under the curve against lambda
	FigKL        = "kl"         // KL(π_s||prior) and KL(π_p||planner) over training
	FigActions   = "actions"    // planner vs policy vs prior action distributions
)

// FigureKinds lists the figure kinds in the order SweepFigures makes them: per task, then across
// tasks (AggregateKinds).
var FigureKinds = append([]string{FigLearning, FigLambda, FigLambdaAUC, FigKL, FigActions}, AggregateKinds...)

// NamedFigure is one figure of a sweep or run, as a paper figure and as an interactive chart.
type NamedFigure struct {
	// Name is "<kind>-<task>", e.g. "learning-cartpole-swingup".
	Name, Kind, Task string
	Figure           *Figure
	Chart            *charts.Line
}

// SetOptions configures SweepFigures.
type SetOptions struct {
	Style Style
	// Smooth is the moving-average width for learning and KL curves (KL curves use at least 5:
	// per-update values are noisy).
	Smooth int
	// Reference overlays the published TD-MPC2, BMPC and SAC curves of the task, when there are some,
	// clipped to the steps of the runs.
	Reference bool
	// Palette colours the variants; nil makes one from all the runs' variants, so every figure of
	// the set uses the same colours.
	Palette *Palette
}

// palette is o.Palette, or one made from all the runs' variants (so every figure of a set uses
// the same colours).
func (o SetOptions) palette(runs []sweep.Run) *Palette {
	if o.Palette != nil {
		return o.Palette
	}
	var vs []string
	for _, r := range runs {
		vs = append(vs, r.Variant())
	}
	return NewPalette(vs...)
}

// RunFromDir describes a single run directory (not part of a sweep) as a sweep.Run, reading its
// config.json (or checkpoint) and metrics.
func RunFromDir(dir string) (sweep.Run, error) {
	cfg, task, err := pompc.LoadConfig(dir)
	if err != nil {
		return sweep.Run{}, err
	}
	m, err := pompc.ReadRunMetrics(dir)
	if err != nil {
		return sweep.Run{}, err
	}
	p, err := PointOf(task, cfg)
	if err != nil {
		return sweep.Run{}, err
	}
	return sweep.Run{Point: p, Dir: dir, Status: rundir.Status{State: rundir.StateDone}, Metrics: m}, nil
}

// usable reports whether a run's metrics go into figures: finished runs, and runs still going
// (a live sweep); not failed ones.
func usable(r sweep.Run) bool { return r.Metrics != nil && r.Status.State != rundir.StateFailed }

// SweepFigures makes every figure the runs support, per task: learning curves; the final return
// and AUC against λ (with two or more λ values); the KL terms (runs with a prior); the action
// distributions of the first run with planner snapshots. Then, once runs have finished, the
// figures across tasks (AggregateFigures, task "all").
func SweepFigures(runs []sweep.Run, o SetOptions) ([]NamedFigure, error) {
	pal := o.palette(runs)
	tasks := map[string]bool{}
	for _, r := range runs {
		if usable(r) {
			tasks[r.Task] = true
		}
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("widgets: no run has metrics to draw yet")
	}
	var taskList []string
	for t := range tasks {
		taskList = append(taskList, t)
	}
	sort.Strings(taskList)
	var out []NamedFigure
	add := func(kind, task string, f *Figure, c *charts.Line) {
		out = append(out, NamedFigure{Name: kind + "-" + task, Kind: kind, Task: task, Figure: f, Chart: c})
	}
	for _, task := range taskList {
		var trs []sweep.Run
		for _, r := range runs {
			if r.Task == task && usable(r) {
				trs = append(trs, r)
			}
		}
		// Learning curves.
		curves := curvesOf(trs, pompc.KeyEvalReturn)
		co := CurveOptions{Style: o.Style, Title: task, Smooth: o.Smooth, Palette: pal, ClipReference: true, ReturnMax: sweep.TaskMax(task)}
		if o.Reference {
			for _, algo := range []string{"tdmpc2", "bmpc", "sac"} {
				if c, err := ReferenceCurve(algo, task); err == nil {
					co.Reference = append(co.Reference, c)
				}
			}
		}
		if len(curves) > 0 {
			f, err := LearningCurves(curves, co)
			if err != nil {
				return nil, err
			}
			c, err := EchartsLearningCurves(curves, co)
			if err != nil {
				return nil, err
			}
			add(FigLearning, task, f, c)
		}
		// Lambda sweeps.
		for _, kind := range []string{FigLambda, FigLambdaAUC} {
			series, nLambdas := lambdaSeriesOf(trs, kind == FigLambdaAUC)
			if nLambdas < 2 {
				continue
			}
			lo := LambdaOptions{Style: o.Style, Title: task, Palette: pal, YLabel: "final return"}
			if kind == FigLambdaAUC {
				lo.YLabel = "AUC (mean return over training)"
			}
			f, err := LambdaSweep(series, lo)
			if err != nil {
				return nil, err
			}
			c, err := EchartsLambdaSweep(series, lo)
			if err != nil {
				return nil, err
			}
			add(kind, task, f, c)
		}
		// KL terms.
		pp, ppl := curvesOf(trs, pompc.KeyKLPolicyPrior), curvesOf(trs, pompc.KeyKLPriorPlanner)
		if len(pp)+len(ppl) > 0 {
			ko := CurveOptions{Style: o.Style, Title: task + ": KL terms", Smooth: max(o.Smooth, 5), Palette: pal}
			f, err := KLCurves(pp, ppl, ko)
			if err != nil {
				return nil, err
			}
			c, err := EchartsKLCurves(pp, ppl, ko)
			if err != nil {
				return nil, err
			}
			add(FigKL, task, f, c)
		}
		// Action distributions of the first run with snapshots.
		for _, r := range trs {
			if len(r.Metrics["snapshot/plan/mean/0"]) == 0 {
				continue
			}
			ao := ActionOptions{Style: o.Style, Step: -1}
			last := r.Metrics["snapshot/plan/mean/0"]
			ao.Title = fmt.Sprintf("%s, %s seed %d: actions at step %s", task, r.Variant(), r.Seed, figNumber(float64(last[len(last)-1].Step)))
			f, err := ActionDistributions(r.Metrics, ao)
			if err != nil {
				return nil, err
			}
			c, err := EchartsActionDistributions(r.Metrics, ao)
			if err != nil {
				return nil, err
			}
			add(FigActions, task, f, c)
			break
		}
	}
	// Across tasks, once runs have finished (a live sweep has none yet).
	if agg, err := AggregateFigures(runs, SetOptions{Style: o.Style, Palette: pal}); err == nil {
		out = append(out, agg...)
	}
	return out, nil
}

// curvesOf groups the runs' series of key by variant (in run order); variants without the key
// are left out.
func curvesOf(runs []sweep.Run, key string) []Curve {
	var out []Curve
	idx := map[string]int{}
	for _, r := range runs {
		recs := r.Metrics[key]
		if len(recs) == 0 {
			continue
		}
		v := r.Variant()
		i, ok := idx[v]
		if !ok {
			i = len(out)
			idx[v] = i
			out = append(out, Curve{Variant: v})
		}
		out[i].Seeds = append(out[i].Seeds, recs)
	}
	return out
}

// lambdaSeriesOf groups finished runs by their variant without λ (KL direction, prior kind), each
// a line over λ of the runs' final return (or AUC); it also returns the number of distinct λ.
func lambdaSeriesOf(runs []sweep.Run, auc bool) ([]LambdaSeries, int) {
	type key struct {
		series string
		lambda float64
	}
	vals := map[key][]float64{}
	var order []string
	seen := map[string]bool{}
	lambdas := map[float64]bool{}
	for _, r := range runs {
		if r.Status.State != rundir.StateDone || len(r.Metrics[pompc.KeyEvalReturn]) == 0 {
			continue
		}
		cfg, err := r.Config()
		if err != nil {
			continue
		}
		name := lambdaSeriesName(r.Point)
		if !seen[name] {
			seen[name] = true
			order = append(order, name)
		}
		v := sweep.Final(r.Metrics[pompc.KeyEvalReturn])
		if auc {
			v = sweep.AUC(r.Metrics[pompc.KeyEvalReturn])
		}
		k := key{name, cfg.Lambda}
		vals[k] = append(vals[k], v)
		lambdas[cfg.Lambda] = true
	}
	var out []LambdaSeries
	for _, name := range order {
		s := LambdaSeries{Variant: name}
		for k, v := range vals {
			if k.series == name {
				s.Points = append(s.Points, LambdaPoint{Lambda: k.lambda, Values: v})
			}
		}
		sort.Slice(s.Points, func(i, j int) bool { return s.Points[i].Lambda < s.Points[j].Lambda })
		out = append(out, s)
	}
	return out, len(lambdas)
}

// lambdaSeriesName is the variant without preset and λ: "kl=forward prior=learned", or
// "PO-MPC family" when the runs differ only in λ (tdmpc2 and bmpc are its λ = 0 and ∞ ends).
func lambdaSeriesName(p sweep.Point) string {
	var parts []string
	if p.KL != "" {
		parts = append(parts, "kl="+p.KL)
	}
	if p.Prior != "" {
		parts = append(parts, "prior="+p.Prior)
	}
	if len(parts) == 0 {
		return "PO-MPC family"
	}
	return strings.Join(parts, " ")
}

// FigMetric is the kind of MetricFigure's figures ("metric-<task>").
const FigMetric = "metric"

// metricBins is how many bins of agent steps MetricFigure averages a per-update series into.
const metricBins = 200

// MetricFigure draws one training metric of runs on task (any key of their metrics.jsonl, e.g.
// loss/consistency, loss/reward, loss/value, policy/std, q/pi_mean) per variant over training:
// each seed's series averaged in metricBins bins of agent steps (per-update values are one
// record per step), then the mean over seeds with its 95% Student-t band, smoothed by o.Smooth.
// It is how the losses of two settings are profiled side by side, e.g. the runs of two sweeps
// labelled by sweep (sweep.Run.Label). Without the key on task it says which keys there are.
func MetricFigure(runs []sweep.Run, task, key string, o SetOptions) (NamedFigure, error) {
	var trs []sweep.Run
	keys := map[string]bool{}
	for _, r := range runs {
		if r.Task != task || !usable(r) {
			continue
		}
		for k := range r.Metrics {
			keys[k] = true
		}
		if recs := r.Metrics[key]; len(recs) > 0 {
			r.Metrics = map[string][]pompc.Record{key: binRecords(recs, metricBins)}
			trs = append(trs, r)
		}
	}
	if len(trs) == 0 {
		var have []string
		for k := range keys {
			if !strings.HasPrefix(k, "snapshot/") {
				have = append(have, k)
			}
		}
		sort.Strings(have)
		return NamedFigure{}, fmt.Errorf("widgets: no run on %s has the metric %q; they have: %s", task, key, strings.Join(have, ", "))
	}
	curves := curvesOf(trs, key)
	co := CurveOptions{Style: o.Style, Title: task + ": " + key, YLabel: key, Smooth: o.Smooth, Palette: o.palette(runs)}
	f, err := LearningCurves(curves, co)
	if err != nil {
		return NamedFigure{}, err
	}
	c, err := EchartsLearningCurves(curves, co)
	if err != nil {
		return NamedFigure{}, err
	}
	return NamedFigure{Name: FigMetric + "-" + task, Kind: FigMetric, Task: task, Figure: f, Chart: c}, nil
}

// binRecords averages recs (in step order) over n equal bins of their step span, each bin's
// mean at its mean step; series of at most n records come back as they are.
func binRecords(recs []pompc.Record, n int) []pompc.Record {
	if len(recs) <= n {
		return recs
	}
	lo, hi := recs[0].Step, recs[len(recs)-1].Step
	width := float64(hi-lo+1) / float64(n)
	var out []pompc.Record
	var sumV, sumS float64
	cnt, bin := 0, -1
	flush := func() {
		if cnt > 0 {
			out = append(out, pompc.Record{Key: recs[0].Key, Step: int64(math.Round(sumS / float64(cnt))), Val: sumV / float64(cnt)})
		}
		sumV, sumS, cnt = 0, 0, 0
	}
	for _, r := range recs {
		b := int(float64(r.Step-lo) / width)
		if b != bin {
			flush()
			bin = b
		}
		if !math.IsNaN(r.Val) {
			sumV, sumS, cnt = sumV+r.Val, sumS+float64(r.Step), cnt+1
		}
	}
	flush()
	return out
}
