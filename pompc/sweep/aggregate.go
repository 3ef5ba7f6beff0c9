package sweep

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Aggregates across tasks (issue 19), as the field reports them (Agarwal et al. 2021, "Deep RL at
// the edge of the statistical precipice", the rliable library): scores normalized per task, the
// interquartile mean, mean, median and optimality gap of all runs × tasks, each with a stratified
// bootstrap interval (runs resampled within each task, so every task keeps its weight), the
// probability of improvement between variants, performance profiles and IQM curves over
// training. The per-task tables keep Student-t intervals: with one task and a few seeds the t
// interval is exact for normal returns, while a bootstrap of 3 values is far too narrow; across
// tasks the scores are not one normal population and the bootstrap is what is defensible.

// BootstrapReps is the number of bootstrap resamples of every aggregate interval: rliable's
// default. With five runs a side P(X > Y) takes few values, and a percentile of 2000 resamples
// moved by a grid step or more with the bootstrap's stream (an AUC verdict flipped between
// "reversed" and "not resolved" on the same runs); 50,000 keep the Monte Carlo error well below
// that grid.
const BootstrapReps = 50000

// TaskMax is the score that normalizes a task's returns: 1000 for every task here (DeepMind
// Control tasks and their pure-Go ports: rewards in [0, 1] over 1000 environment steps).
func TaskMax(task string) float64 { return 1000 }

// Interval is a point estimate with the bounds of its confidence interval.
type Interval struct {
	Point, Lo, Hi float64
}

// IQM is the interquartile mean: the mean of xs after dropping ⌊n/4⌋ values from each end of the
// sorted values (scipy.stats.trim_mean(xs, 0.25), as rliable computes it). NaN for no values.
func IQM(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	return iqmInPlace(s)
}

// iqmInPlace is IQM of xs (at least one value), sorting xs.
func iqmInPlace(xs []float64) float64 {
	sort.Float64s(xs)
	cut := len(xs) / 4
	return stat.Mean(xs[cut:len(xs)-cut], nil)
}

// Median is the median of xs (the mean of the two middle values for an even count, NumPy's;
// gonum's empirical quantile would return the lower one).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// OptimalityGap is the mean shortfall from a normalized score of 1: mean(1 − min(x, 1)).
func OptimalityGap(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	g := 0.0
	for _, x := range xs {
		g += 1 - math.Min(x, 1)
	}
	return g / float64(len(xs))
}

// Percentile is the p-quantile (p in [0, 1]) of xs with linear interpolation between order
// statistics (NumPy's default, R's type 7, what rliable's intervals use); gonum's stat.Quantile
// offers the empirical and the type-4 interpolation, which differ from it on small samples.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	pos := p * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// flat is every score of a tasks × runs matrix in one slice.
func flat(scores [][]float64) []float64 {
	var out []float64
	for _, t := range scores {
		out = append(out, t...)
	}
	return out
}

// resample draws, for every task, as many runs as it has, with replacement (a stratified
// bootstrap sample), into buf (reused).
func resample(rng *rand.Rand, scores, buf [][]float64) [][]float64 {
	if len(buf) != len(scores) {
		buf = make([][]float64, len(scores))
	}
	for t, s := range scores {
		buf[t] = buf[t][:0]
		for range s {
			buf[t] = append(buf[t], s[rng.IntN(len(s))])
		}
	}
	return buf
}

// StratifiedBootstrap is statistic of scores (tasks × runs) with its percentile bootstrap
// interval at level: reps resamples, each drawing every task's runs with replacement from that
// task alone. Tasks without runs are dropped; no runs at all give NaN.
func StratifiedBootstrap(scores [][]float64, statistic func([][]float64) float64, level float64, reps int, rng *rand.Rand) Interval {
	var s [][]float64
	for _, t := range scores {
		if len(t) > 0 {
			s = append(s, t)
		}
	}
	if len(s) == 0 {
		return Interval{math.NaN(), math.NaN(), math.NaN()}
	}
	stats := make([]float64, reps)
	var buf [][]float64
	for i := range stats {
		buf = resample(rng, s, buf)
		stats[i] = statistic(buf)
	}
	a := (1 - level) / 2
	return Interval{Point: statistic(s), Lo: Percentile(stats, a), Hi: Percentile(stats, 1-a)}
}

// ProbabilityOfImprovement is P(X > Y): for each task the probability that a run of x scores
// above a run of y (ties count ½, the Mann–Whitney U statistic over n·m pairs), averaged over
// the tasks both have. x and y are tasks × runs, tasks aligned.
func ProbabilityOfImprovement(x, y [][]float64) float64 {
	sum, tasks := 0.0, 0
	for t := range min(len(x), len(y)) {
		if len(x[t]) == 0 || len(y[t]) == 0 {
			continue
		}
		wins := 0.0
		for _, a := range x[t] {
			for _, b := range y[t] {
				switch {
				case a > b:
					wins++
				case a == b:
					wins += 0.5
				}
			}
		}
		sum += wins / float64(len(x[t])*len(y[t]))
		tasks++
	}
	if tasks == 0 {
		return math.NaN()
	}
	return sum / float64(tasks)
}

// bootstrapRNG is the random stream of one bootstrap, seeded from the names of what it compares
// (FNV-1a of the parts): an interval depends only on its own data and names, not on how many
// bootstraps a report drew before it, so adding a variant or a task leaves the others' intervals
// as they were, and two comparisons of the same data under the same names agree.
func bootstrapRNG(parts ...string) *rand.Rand {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(h.Sum64(), 0xb007))
}

// POIInterval is ProbabilityOfImprovement with its stratified bootstrap interval (the runs of x
// and of y resampled independently within each task).
func POIInterval(x, y [][]float64, level float64, reps int, rng *rand.Rand) Interval {
	stats := make([]float64, reps)
	var bx, by [][]float64
	for i := range stats {
		bx, by = resample(rng, x, bx), resample(rng, y, by)
		stats[i] = ProbabilityOfImprovement(bx, by)
	}
	a := (1 - level) / 2
	return Interval{Point: ProbabilityOfImprovement(x, y), Lo: Percentile(stats, a), Hi: Percentile(stats, 1-a)}
}

// pairPOI is P(X > Y) of x's and y's scores (tasks × runs, aligned with tasks) over the tasks
// both have runs on (shared), with its stratified bootstrap interval seeded by what it compares:
// kind ("final" or "auc"), the two variants and the shared tasks. So a comparison gets one
// interval wherever a report makes it (the P(X > Y) table, a claim on one task or across
// tasks), whatever other tasks either variant has runs on.
func pairPOI(kind, x, y string, tasks []string, xs, ys [][]float64) (iv Interval, shared []string) {
	var bx, by [][]float64
	for t, task := range tasks {
		if t < len(xs) && t < len(ys) && len(xs[t]) > 0 && len(ys[t]) > 0 {
			shared, bx, by = append(shared, task), append(bx, xs[t]), append(by, ys[t])
		}
	}
	if len(shared) == 0 {
		return Interval{math.NaN(), math.NaN(), math.NaN()}, nil
	}
	rng := bootstrapRNG(append([]string{"poi", kind, x, y}, shared...)...)
	return POIInterval(bx, by, Level, BootstrapReps, rng), shared
}

// ProfileAt is the performance profile at threshold tau: the fraction of runs scoring above tau,
// averaged over tasks (every task weighs the same, whatever its number of runs).
func ProfileAt(scores [][]float64, tau float64) float64 {
	sum, tasks := 0.0, 0
	for _, t := range scores {
		if len(t) == 0 {
			continue
		}
		above := 0
		for _, x := range t {
			if x > tau {
				above++
			}
		}
		sum += float64(above) / float64(len(t))
		tasks++
	}
	if tasks == 0 {
		return math.NaN()
	}
	return sum / float64(tasks)
}

// Profile is ProfileAt at every threshold of taus, each with its stratified bootstrap band (the
// same resamples for every threshold, so the band is one of curves).
func Profile(scores [][]float64, taus []float64, level float64, reps int, rng *rand.Rand) []Interval {
	out := make([]Interval, len(taus))
	samples := make([][]float64, len(taus))
	var buf [][]float64
	for range reps {
		buf = resample(rng, scores, buf)
		for i, tau := range taus {
			samples[i] = append(samples[i], ProfileAt(buf, tau))
		}
	}
	a := (1 - level) / 2
	for i, tau := range taus {
		out[i] = Interval{Point: ProfileAt(scores, tau), Lo: Percentile(samples[i], a), Hi: Percentile(samples[i], 1-a)}
	}
	return out
}

// VariantScores are one variant's normalized scores across a sweep's tasks.
type VariantScores struct {
	Variant string
	// Final[t][r] is run r's last evaluation return on task Tasks[t], / TaskMax.
	Final [][]float64
	// Curves[t][r] is run r's evaluation curve on task Tasks[t], normalized.
	Curves [][][]pompc.Record
}

// Scores collects every finished run's normalized final score (and evaluation curve) per variant
// and task: tasks in grid order, variants in order of appearance.
func Scores(runs []Run) (tasks []string, vs []VariantScores) {
	vi := map[string]int{}
	ti := map[string]int{}
	for _, r := range runs {
		if _, ok := ti[r.Task]; !ok {
			ti[r.Task] = len(tasks)
			tasks = append(tasks, r.Task)
		}
		if _, ok := vi[r.Variant()]; !ok {
			vi[r.Variant()] = len(vs)
			vs = append(vs, VariantScores{Variant: r.Variant()})
		}
	}
	for i := range vs {
		vs[i].Final = make([][]float64, len(tasks))
		vs[i].Curves = make([][][]pompc.Record, len(tasks))
	}
	for _, r := range runs {
		ev := r.Metrics[pompc.KeyEvalReturn]
		if r.Status.State != rundir.StateDone || len(ev) == 0 || math.IsNaN(Final(ev)) {
			continue
		}
		m := TaskMax(r.Task)
		curve := make([]pompc.Record, len(ev))
		for i, rec := range ev {
			curve[i] = pompc.Record{Key: rec.Key, Step: rec.Step, Val: rec.Val / m}
		}
		v, t := vi[r.Variant()], ti[r.Task]
		vs[v].Final[t] = append(vs[v].Final[t], Final(ev)/m)
		vs[v].Curves[t] = append(vs[v].Curves[t], curve)
	}
	return tasks, vs
}

// LeftTask is a task the aggregates leave out (CommonScores) and why: the variants without a
// finished run there, each as not finished yet, failed (every run there failed) or diverged (its
// runs there finished with a final return that is not a number), or no finished run of any.
type LeftTask struct {
	Task, Why string
}

// CommonScores is Scores on the tasks where every variant that has a finished run anywhere has
// finished runs: aggregates compare variants over the same tasks (rliable's statistics assume
// every algorithm scored on every task; an IQM over two tasks against one over one task mixes
// the tasks' difficulties into the comparison). Left are the other tasks, in grid order, each
// with why: some variant has not finished there yet (an interim report of an ablation still
// training), failed or diverged there (a failure the per-task table shows; the aggregates then
// compare the variants on the other tasks), or no run has finished there.
func CommonScores(runs []Run) (tasks []string, vs []VariantScores, left []LeftTask) {
	all, vs := Scores(runs)
	type states struct{ done, failed, other int }
	st := map[string]*states{}
	for _, r := range runs {
		k := r.Task + "\x00" + r.Variant()
		if st[k] == nil {
			st[k] = &states{}
		}
		switch r.Status.State {
		case rundir.StateDone:
			st[k].done++
		case rundir.StateFailed:
			st[k].failed++
		default:
			st[k].other++
		}
	}
	finished := make([]bool, len(vs))
	for i, v := range vs {
		finished[i] = len(flat(v.Final)) > 0
	}
	keep := make([]bool, len(all))
	for t, task := range all {
		some := false
		why := map[string][]string{}
		var reasons []string
		for i, v := range vs {
			if len(v.Final[t]) > 0 {
				some = true
				continue
			}
			if !finished[i] {
				continue
			}
			reason := "no run"
			if c := st[task+"\x00"+v.Variant]; c != nil {
				switch {
				case c.other > 0:
					reason = "not finished"
				case c.done > 0:
					reason = "diverged"
				case c.failed > 0:
					reason = "failed every run"
				}
			}
			if why[reason] == nil {
				reasons = append(reasons, reason)
			}
			why[reason] = append(why[reason], v.Variant)
		}
		keep[t] = some && len(reasons) == 0
		switch {
		case keep[t]:
			tasks = append(tasks, task)
		case !some:
			left = append(left, LeftTask{Task: task, Why: "no finished run yet"})
		default:
			parts := make([]string, len(reasons))
			for i, reason := range reasons {
				parts[i] = reason + ": " + strings.Join(why[reason], ", ")
			}
			left = append(left, LeftTask{Task: task, Why: strings.Join(parts, "; ")})
		}
	}
	for i, v := range vs {
		var final [][]float64
		var curves [][][]pompc.Record
		for t := range all {
			if keep[t] {
				final, curves = append(final, v.Final[t]), append(curves, v.Curves[t])
			}
		}
		vs[i].Final, vs[i].Curves = final, curves
	}
	return tasks, vs, left
}

// AggregateRow is one variant's aggregate scores across tasks, each with its stratified
// bootstrap 95% interval.
type AggregateRow struct {
	Variant string
	// Tasks and Runs count the tasks with finished runs and those runs (of the tasks every
	// variant has finished runs on: CommonScores).
	Tasks, Runs int
	// IQM and OptGap are of the normalized final scores of all runs × tasks, Mean and Median of
	// the per-task mean scores (rliable's definitions).
	IQM, Mean, Median, OptGap Interval
	// PerTask is the mean normalized final score on each task (NaN without runs).
	PerTask []float64
}

// Aggregate computes the aggregate row of every variant of a sweep's runs on the tasks they all
// have finished runs on (CommonScores: tasks, the columns of PerTask; left, the others), seeded:
// the bootstrap is reproducible.
func Aggregate(runs []Run, seed uint64) (tasks []string, rows []AggregateRow, left []LeftTask) {
	tasks, vs, left := CommonScores(runs)
	for _, v := range vs {
		rng := bootstrapRNG("aggregate", strconv.FormatUint(seed, 10), v.Variant)
		row := AggregateRow{Variant: v.Variant}
		for _, t := range v.Final {
			if len(t) > 0 {
				row.Tasks++
				row.Runs += len(t)
			}
			row.PerTask = append(row.PerTask, meanOrNaN(t))
		}
		if row.Runs == 0 {
			nan := Interval{math.NaN(), math.NaN(), math.NaN()}
			row.IQM, row.Mean, row.Median, row.OptGap = nan, nan, nan, nan
		} else {
			of := func(f func([]float64) float64) func([][]float64) float64 {
				return func(s [][]float64) float64 { return f(flat(s)) }
			}
			// rliable's definitions: IQM and optimality gap over all runs × tasks; mean and median
			// of the per-task means (every task weighs the same, whatever its number of runs).
			perTask := func(f func([]float64) float64) func([][]float64) float64 {
				return func(s [][]float64) float64 {
					var means []float64
					for _, t := range s {
						if len(t) > 0 {
							means = append(means, stat.Mean(t, nil))
						}
					}
					return f(means)
				}
			}
			row.IQM = StratifiedBootstrap(v.Final, of(IQM), Level, BootstrapReps, rng)
			row.Mean = StratifiedBootstrap(v.Final, perTask(func(x []float64) float64 { return stat.Mean(x, nil) }), Level, BootstrapReps, rng)
			row.Median = StratifiedBootstrap(v.Final, perTask(Median), Level, BootstrapReps, rng)
			row.OptGap = StratifiedBootstrap(v.Final, of(OptimalityGap), Level, BootstrapReps, rng)
		}
		rows = append(rows, row)
	}
	return tasks, rows, left
}

func meanOrNaN(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return floats.Sum(xs) / float64(len(xs))
}

// IQMCurve is the IQM of the normalized evaluation returns over training (a sample-efficiency
// curve): at every evaluation step all runs of every task have, the IQM of their scores there,
// with a stratified bootstrap band (each resample draws the runs of every task once and uses them
// at every step, so the band is one of curves). curves is tasks × runs × evaluation records.
func IQMCurve(curves [][][]pompc.Record, level float64, reps int, rng *rand.Rand) (steps []int64, iqm []Interval) {
	count := map[int64]int{}
	runs := 0
	for _, t := range curves {
		for _, c := range t {
			runs++
			seen := map[int64]bool{}
			for _, r := range c {
				if !seen[r.Step] {
					seen[r.Step] = true
					count[r.Step]++
				}
			}
		}
	}
	for s, n := range count {
		if n == runs {
			steps = append(steps, s)
		}
	}
	slices.Sort(steps)
	if len(steps) == 0 {
		return nil, nil
	}
	// at[t][r][i]: run r of task t at steps[i] (its last record at that step).
	at := make([][][]float64, 0, len(curves))
	for _, t := range curves {
		if len(t) == 0 {
			continue
		}
		rows := make([][]float64, len(t))
		for r, c := range t {
			val := map[int64]float64{}
			for _, rec := range c {
				val[rec.Step] = rec.Val
			}
			rows[r] = make([]float64, len(steps))
			for i, s := range steps {
				rows[r][i] = val[s]
			}
		}
		at = append(at, rows)
	}
	var buf []float64 // one buffer for every IQM of every resample and step
	iqmAt := func(pick func(t, r int) int, i int) float64 {
		buf = buf[:0]
		for t, rows := range at {
			for r := range rows {
				buf = append(buf, rows[pick(t, r)][i])
			}
		}
		return iqmInPlace(buf)
	}
	samples := make([][]float64, len(steps))
	for i := range samples {
		samples[i] = make([]float64, 0, reps)
	}
	idx := make([][]int, len(at))
	for range reps {
		for t, rows := range at {
			idx[t] = idx[t][:0]
			for range rows {
				idx[t] = append(idx[t], rng.IntN(len(rows)))
			}
		}
		for i := range steps {
			samples[i] = append(samples[i], iqmAt(func(t, r int) int { return idx[t][r] }, i))
		}
	}
	a := (1 - level) / 2
	iqm = make([]Interval, len(steps))
	for i := range steps {
		iqm[i] = Interval{Point: iqmAt(func(_, r int) int { return r }, i), Lo: Percentile(samples[i], a), Hi: Percentile(samples[i], 1-a)}
	}
	return steps, iqm
}
