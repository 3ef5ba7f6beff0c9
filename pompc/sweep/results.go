package sweep

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Level is the confidence level of every interval in tables and figures.
const Level = 0.95

// Run is one point of a sweep with what its run directory holds.
type Run struct {
	Point
	Dir    string
	Status rundir.Status
	// Metrics are the run's series by key (nil if it has no metrics file yet).
	Metrics map[string][]pompc.Record
	// Label, when set, names where the run comes from (e.g. its sweep directory, when runs of
	// several sweeps are drawn together) and prefixes its variant: "walker-1m: tdmpc2".
	Label string
}

// Variant names the run's variant as Point.Variant does, except that a run whose λ changed
// while it trained (its config/lambda records: the initial value, then every change) is named by
// its λ history, e.g. "pompc λ=1→9@5000", not by its final λ; it is then a variant of its own.
func (r Run) Variant() string {
	if r.Label != "" {
		return r.Label + ": " + r.ownVariant()
	}
	return r.ownVariant()
}

// ownVariant is Variant without the Label.
func (r Run) ownVariant() string {
	h := pompc.LambdaHistory(r.Metrics[pompc.KeyLambda])
	if !strings.Contains(h, "→") {
		return r.Point.Variant()
	}
	return r.Point.variantWith(h)
}

// Load reads a sweep directory: its grid and, for every point, its status and metrics.
func Load(dir string) (Grid, []Run, error) {
	g, jobs, err := LoadJobs(dir)
	if err != nil {
		return g, nil, err
	}
	runs, err := RunsOf(jobs)
	return g, runs, err
}

// LoadJobs reads a sweep directory's grid and returns it with its jobs.
func LoadJobs(dir string) (Grid, []Job, error) {
	g, err := LoadGrid(dir)
	if err != nil {
		return g, nil, err
	}
	jobs, err := g.Jobs(dir)
	return g, jobs, err
}

// Row summarizes the finished seeds of one task and variant.
type Row struct {
	Task    string
	Variant string
	// Point is the variant's first run (its seed is meaningless here).
	Point Point
	// Seeds is the number of finished runs; Failed and Pending count the others.
	Seeds, Failed, Pending int
	// FinalMean ± FinalCI is the last evaluation return (mean over seeds, 95% Student-t half-width).
	FinalMean, FinalCI float64
	// AUCMean ± AUCCI is the normalized area under the evaluation curve (see AUC).
	AUCMean, AUCCI float64
	// WallMean is the mean wall time of a run in seconds.
	WallMean float64
}

// Summarize makes one row per task and variant, in grid order. Only finished runs count.
func Summarize(runs []Run) []Row {
	var rows []Row
	index := map[string]int{}
	finals := map[string][]float64{}
	aucs := map[string][]float64{}
	walls := map[string][]float64{}
	for _, r := range runs {
		k := r.Task + "\x00" + r.Variant()
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			rows = append(rows, Row{Task: r.Task, Variant: r.Variant(), Point: r.Point})
		}
		switch r.Status.State {
		case rundir.StateDone:
			rows[i].Seeds++
			ev := r.Metrics[pompc.KeyEvalReturn]
			finals[k] = append(finals[k], Final(ev))
			aucs[k] = append(aucs[k], AUC(ev))
			walls[k] = append(walls[k], r.Status.WallSeconds)
		case rundir.StateFailed:
			rows[i].Failed++
		default:
			rows[i].Pending++
		}
	}
	for k, i := range index {
		rows[i].FinalMean, rows[i].FinalCI = MeanCI(finals[k], Level)
		rows[i].AUCMean, rows[i].AUCCI = MeanCI(aucs[k], Level)
		rows[i].WallMean, _ = MeanCI(walls[k], Level)
	}
	return rows
}

func lambdaCell(p Point) string {
	if !math.IsNaN(p.Lambda) {
		return pompc.FormatLambda(p.Lambda)
	}
	if cfg, err := p.Config(); err == nil {
		return pompc.FormatLambda(cfg.Lambda)
	}
	return ""
}

func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// Report is what a sweep's tables hold: a row per task and variant (Student-t intervals over
// seeds), and across tasks a row per variant of aggregate normalized scores and the probability
// of improvement between every pair of variants (stratified bootstrap intervals, aggregate.go).
type Report struct {
	// AtStep, when positive, is the agent step the runs were cut at (AtStep) before they were
	// summarized; the tables say so.
	AtStep int64
	Rows   []Row
	// Tasks are the tasks of the aggregates, in grid order (the columns of AggregateRow.PerTask):
	// those every variant has finished runs on (CommonScores); LeftOut are the sweep's others.
	Tasks      []string
	LeftOut    []LeftTask
	Aggregates []AggregateRow
	POI        []POIRow
	// Claims check the paper's ordering (Claims), Ordering answers it per task (OrderingAnswer).
	Claims   []Claim
	Ordering []string
	// Curves are each task's learning curves as numbers (Curves).
	Curves []CurveTable
	// Published compares the TD-MPC2 and BMPC presets with their published curves
	// (ComparePublished; the caller fills it, since the curves live in widgets).
	Published []PublishedRow
}

// POIRow is P(X > Y): the probability that a run of variant X scores above a run of Y on a task,
// averaged over the tasks both have finished runs on (Tasks), with its 95% interval (pairPOI).
type POIRow struct {
	X, Y  string
	P     Interval
	Tasks []string
}

// POITable is P(X > Y) of the final returns for every ordered pair of variants with finished
// runs on a common task, in the variants' order.
func POITable(runs []Run) []POIRow {
	tasks, vs := Scores(runs)
	var rows []POIRow
	for _, x := range vs {
		for _, y := range vs {
			if x.Variant == y.Variant {
				continue
			}
			if p, shared := pairPOI("final", x.Variant, y.Variant, tasks, x.Final, y.Final); len(shared) > 0 {
				rows = append(rows, POIRow{X: x.Variant, Y: y.Variant, P: p, Tasks: shared})
			}
		}
	}
	return rows
}

// NewReport summarizes runs: Summarize's rows and the learning curves, then the aggregates, the
// probabilities of improvement and the paper's claims (bootstraps seeded, so a report is
// reproducible).
func NewReport(runs []Run) Report {
	rep := Report{Rows: Summarize(runs), Curves: Curves(runs), POI: POITable(runs)}
	rep.Tasks, rep.Aggregates, rep.LeftOut = Aggregate(runs, 1)
	rep.Claims = Claims(runs)
	rep.Ordering = OrderingAnswer(rep.Claims)
	return rep
}

// AtStep is runs as they stood at agent step n: every metric series cut to its records at steps
// <= n, and a run that trained past step n (a record after n, an evaluation at n, or done at n
// or later) counted as done there, so its final return is its last evaluation at or before n and
// its AUC spans its evaluations up to n. Runs still training, and runs trained longer, then
// compare at one step (an interim report of a long ablation, or a comparison with published
// curves at their step). Runs that have not reached n keep their state, and runs that ended
// before n lose theirs (pending in the tables, left out of the aggregates); failed runs stay
// failed.
func AtStep(runs []Run, n int64) []Run {
	out := make([]Run, len(runs))
	for i, r := range runs {
		// Past n: done there, a record after n (step n's evaluation, written before the
		// next step's records, is in), or an evaluation at n itself.
		reached := r.Status.State == rundir.StateDone && r.Status.Step >= n
		cut := make(map[string][]pompc.Record, len(r.Metrics))
		for k, recs := range r.Metrics {
			j := len(recs)
			for j > 0 && recs[j-1].Step > n {
				j--
			}
			if j < len(recs) || (k == pompc.KeyEvalReturn && j > 0 && recs[j-1].Step == n) {
				reached = true
			}
			cut[k] = recs[:j:j]
		}
		r.Metrics = cut
		switch {
		case r.Status.State == rundir.StateFailed:
		case reached:
			r.Status.State, r.Status.Step = rundir.StateDone, n
		case r.Status.State == rundir.StateDone:
			r.Status.State = "" // ended before n: not there (pending in the tables)
		}
		out[i] = r
	}
	return out
}

// AllTasks is the task cell of the aggregate rows.
const AllTasks = "all tasks"

// WriteCSV writes the report's rows with a header line: one per task and variant, then one per
// variant over all tasks (task "all tasks", seeds = runs, the normalized aggregate columns with
// their 95% bootstrap bounds, and norm_tasks: the tasks they cover, ";"-separated, those every
// variant has finished runs on). Empty cells are undefined values (no finished seed, one seed for
// an interval, or a column of the other kind of row).
func WriteCSV(w io.Writer, rep Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"task", "variant", "preset", "lambda", "prior_kl", "prior", "seeds", "failed", "pending",
		"final_mean", "final_ci95", "auc_mean", "auc_ci95", "wall_s_mean",
		"norm_iqm", "norm_iqm_lo", "norm_iqm_hi", "norm_mean", "norm_mean_lo", "norm_mean_hi",
		"norm_median", "norm_median_lo", "norm_median_hi", "opt_gap", "opt_gap_lo", "opt_gap_hi", "norm_tasks"})
	blank := make([]string, 13)
	for _, r := range rep.Rows {
		cfg, _ := r.Point.Config()
		_ = cw.Write(append([]string{r.Task, r.Variant, r.Point.Preset, lambdaCell(r.Point), string(cfg.PriorKL), string(cfg.Prior),
			strconv.Itoa(r.Seeds), strconv.Itoa(r.Failed), strconv.Itoa(r.Pending),
			num(r.FinalMean), num(r.FinalCI), num(r.AUCMean), num(r.AUCCI), num(r.WallMean)}, blank...))
	}
	for _, a := range rep.Aggregates {
		row := []string{AllTasks, a.Variant, "", "", "", "", strconv.Itoa(a.Runs), "", "", "", "", "", "", ""}
		for _, iv := range []Interval{a.IQM, a.Mean, a.Median, a.OptGap} {
			row = append(row, num3(iv.Point), num3(iv.Lo), num3(iv.Hi))
		}
		_ = cw.Write(append(row, strings.Join(rep.Tasks, ";")))
	}
	cw.Flush()
	return cw.Error()
}

func num3(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// interval formats a bootstrap interval: "0.712 [0.650, 0.770]".
func interval(iv Interval) string {
	if math.IsNaN(iv.Point) {
		return "–"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", iv.Point, iv.Lo, iv.Hi)
}

func pm(m, h float64) string {
	switch {
	case math.IsNaN(m):
		return "–"
	case math.IsNaN(h):
		return fmt.Sprintf("%.1f", m)
	}
	return fmt.Sprintf("%.1f ± %.1f", m, h)
}

// WriteMarkdown writes the report as Markdown: the per-task table (mean ± 95% Student-t
// half-width over seeds), then the aggregates across tasks and the probabilities of improvement
// (95% stratified bootstrap intervals), the learning curves as numbers (Curves), the comparison
// with the published curves (Published) and the paper's ordering (Claims, Ordering).
func WriteMarkdown(w io.Writer, rep Report) error {
	var b strings.Builder
	b.WriteString("| task | variant | seeds | final return | AUC | wall time (s) |\n|---|---|---|---|---|---|\n")
	for _, r := range rep.Rows {
		seeds := strconv.Itoa(r.Seeds)
		if r.Failed > 0 {
			seeds += fmt.Sprintf(" (%d failed)", r.Failed)
		}
		if r.Pending > 0 {
			seeds += fmt.Sprintf(" (%d pending)", r.Pending)
		}
		wall := "–"
		if !math.IsNaN(r.WallMean) {
			wall = fmt.Sprintf("%.0f", r.WallMean)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Task, r.Variant, seeds, pm(r.FinalMean, r.FinalCI), pm(r.AUCMean, r.AUCCI), wall)
	}
	b.WriteString("\nFinal return: last evaluation return; AUC: area under the evaluation curve over its step span " +
		"(mean return during training). Mean ± half-width of the 95% Student-t interval over seeds.\n")
	if rep.AtStep > 0 {
		fmt.Fprintf(&b, "All runs as they stood at agent step %d (runs still training or trained longer cut there; "+
			"pending: not there yet); wall time is each run's time so far.\n", rep.AtStep)
	}
	if rep.aggregated() {
		fmt.Fprintf(&b, "\n| variant | tasks | runs | IQM | mean | median | optimality gap |\n|---|---|---|---|---|---|---|\n")
		for _, a := range rep.Aggregates {
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s |\n", a.Variant, a.Tasks, a.Runs,
				interval(a.IQM), interval(a.Mean), interval(a.Median), interval(a.OptGap))
		}
		fmt.Fprintf(&b, "\nAcross tasks (%s): final returns normalized by the task maximum (1000); IQM (the mean of the middle 50%%) "+
			"and optimality gap (the mean of 1 − min(score, 1), lower is better) over all runs × tasks, mean and median of the per-task means. "+
			"[95%% stratified bootstrap interval, %d resamples of the runs within each task.]\n", rep.aggregateTasks(), BootstrapReps)
	} else if rep.finished() && len(rep.LeftOut) > 0 {
		// Finished runs, but on no task every variant has finished: say why there is no table.
		fmt.Fprintf(&b, "\nNo aggregates across tasks yet: no task has finished runs of every variant (%s).\n",
			strings.TrimPrefix(rep.aggregateTasks(), "; "))
	}
	if len(rep.POI) > 0 {
		b.WriteString("\n| P(X > Y) | X | Y | tasks |\n|---|---|---|---|\n")
		for _, p := range rep.POI {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", interval(p.P), p.X, p.Y, strings.Join(p.Tasks, ", "))
		}
		b.WriteString("\nProbability of improvement: the chance that a run of X ends above a run of Y on a task " +
			"(ties ½), averaged over the tasks both have finished runs on; 0.5 is no difference. [95% stratified bootstrap interval.]\n")
	}
	writeCurves(&b, rep.Curves)
	writePublished(&b, rep.Published)
	if len(rep.Claims) > 0 {
		b.WriteString("\n### The paper's ordering\n\n")
		for _, a := range rep.Ordering {
			fmt.Fprintf(&b, "- %s\n", a)
		}
		b.WriteString("\n| claim | task | P(X > Y), final return | P(X > Y), AUC |\n|---|---|---|---|\n")
		for _, c := range rep.Claims {
			fmt.Fprintf(&b, "| %s | %s | %s %s | %s %s |\n", c.Text, c.Task, interval(c.Final), c.FinalOutcome(), interval(c.AUC), c.AUCOutcome())
		}
		b.WriteString("\nThe paper's claims (an intermediate λ beats both TD-MPC2 and BMPC; the learned prior beats the planner " +
			"prior; the forward KL helps some tasks and hurts others) as probabilities of improvement of X, the claim's subject, " +
			"over Y: holds when the 95% stratified bootstrap interval is above ½, reversed when below, not resolved when it " +
			"contains ½; no verdict with fewer than 4 runs a side on a task (a complete separation of 3 against 3 " +
			"is not significant). Each interval is of its own comparison (no correction for the several made, and the prior " +
			"ablation's λ was chosen on these runs).\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTables writes dir/results.csv, dir/results_curves.csv and dir/results.md.
func WriteTables(dir string, rep Report) error {
	curves := func(w io.Writer, rep Report) error { return WriteCurvesCSV(w, rep.Curves) }
	for name, write := range map[string]func(io.Writer, Report) error{"results.csv": WriteCSV, "results_curves.csv": curves, "results.md": WriteMarkdown} {
		if err := rundir.WriteWith(filepath.Join(dir, name), 0o644, func(w io.Writer) error { return write(w, rep) }); err != nil {
			return err
		}
	}
	return nil
}

// finished reports whether any task and variant has a finished run.
func (rep Report) finished() bool {
	for _, r := range rep.Rows {
		if r.Seeds > 0 {
			return true
		}
	}
	return false
}

// aggregated reports whether any aggregate has a finished run (an ablation whose runs are all
// still training has no across-tasks table yet).
func (rep Report) aggregated() bool {
	for _, a := range rep.Aggregates {
		if a.Runs > 0 {
			return true
		}
	}
	return false
}

// aggregateTasks names the aggregates' tasks, then those left out of them and why.
func (rep Report) aggregateTasks() string {
	s := strings.Join(rep.Tasks, ", ")
	for _, l := range rep.LeftOut {
		s += "; left out: " + l.Task + " (" + l.Why + ")"
	}
	return s
}
