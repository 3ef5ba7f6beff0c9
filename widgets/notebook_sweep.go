package widgets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"gonum.org/v1/plot"
)

// SweepOptions configures Sweep. The zero value is usable.
type SweepOptions struct {
	// Title heads the live plots.
	Title string
	// Parallel is how many runs train at once (0: sweep.DefaultParallel); the runs share the
	// cores by sweep.Threads.
	Parallel int
	// Interval is the minimum time between redraws (0: 1 s).
	Interval time.Duration
	// Columns of the panel grid (0: 3).
	Columns int
	// Hide draws nothing: for a cell that only collects the results of finished runs (for
	// figures) without showing the sweep again.
	Hide bool
}

// sweepItem is the view's state of one job, updated from the engine's reports.
type sweepItem struct {
	job    sweep.Job
	group  string
	reader *pompc.MetricsReader
	st     pompc.Status
	state  string // queued, running, done, failed, stopped
	err    error
	step   int64
}

// Sweep runs jobs through launcher with the one sweep engine (sweep.Engine: resumable, Parallel
// at a time, a status record per run) and is a view over its progress: one live figure compares
// the variants (episode return, KL(π_s‖prior), KL(π_p‖planner), policy entropy, value loss,
// mean ± std over each variant's runs, each variant in its SweepFigures colour; one set of
// panels per task when the runs span several) above
// a status table. The notebooks launch with session.Launcher. It returns the runs (point,
// directory, status record, metrics) for SweepFigures and sweep.Summarize, and the failures
// joined in the error. Interrupting the cell stops the runs in progress (each saves a
// checkpoint; re-running the cell resumes them).
func Sweep(ctx context.Context, jobs []sweep.Job, launcher sweep.Launcher, opts SweepOptions) ([]sweep.Run, error) {
	if len(jobs) == 0 {
		return nil, errors.New("widgets: Sweep: no runs")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Columns <= 0 {
		opts.Columns = 3
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	items := make([]*sweepItem, len(jobs))
	for i, j := range jobs {
		if err := rundir.Ensure(j.Dir); err != nil {
			return nil, fmt.Errorf("widgets: Sweep: %w", err)
		}
		rd, err := pompc.OpenMetrics(j.Dir)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		name := j.Name
		if name == "" {
			name = j.Point.Name()
		}
		jobs[i].Name = name
		items[i] = &sweepItem{job: jobs[i], group: j.Point.Variant(), reader: rd, state: "queued"}
	}
	var variants []string
	for _, it := range items {
		variants = append(variants, it.group)
	}
	// The palette of SweepFigures for the same runs: a variant has one colour, live and on paper.
	view := &sweepView{items: items, opts: opts, pal: NewPalette(variants...), plotID: "pompc_sweep_plot_" + uniqueID(),
		tableID: "pompc_sweep_table_" + uniqueID(), series: make([]map[string][]pompc.Record, len(items))}
	for i := range view.series {
		view.series[i] = map[string][]pompc.Record{}
	}

	var mu sync.Mutex // guards the items between the engine's goroutines and the view
	eng := sweep.Engine{Launcher: launcher, Parallel: opts.Parallel, OnUpdate: func(u sweep.Update) {
		mu.Lock()
		defer mu.Unlock()
		it := items[u.Job]
		it.state, it.step, it.err = u.State, u.Step, u.Err
		if u.Status.Task != "" {
			it.st = u.Status
		}
	}}
	type result struct {
		sum sweep.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := eng.Run(ctx, jobs)
		done <- result{sum, err}
	}()

	tick := time.NewTicker(waitTick)
	defer tick.Stop()
	var last time.Time
	var res result
loop:
	for {
		select {
		case res = <-done:
			break loop
		case <-tick.C:
			if time.Since(last) >= opts.Interval {
				mu.Lock()
				view.draw()
				mu.Unlock()
				last = time.Now()
			}
		}
	}
	mu.Lock()
	view.draw()
	mu.Unlock()
	syncDisplay()
	if res.err != nil {
		return nil, res.err
	}
	runs, err := sweep.RunsOf(jobs)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, j := range jobs {
		if items[i].err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", j.Name, items[i].err))
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return runs, errors.Join(errs...)
}

// sweepView draws a sweep's live figure and status table.
type sweepView struct {
	items   []*sweepItem
	pal     *Palette
	opts    SweepOptions
	plotID  string
	tableID string
	series  []map[string][]pompc.Record
	redraws int
	lastTab string
}

var sweepPanels = []struct{ key, title string }{
	{pompc.KeyEpisodeReturn, "episode return"},
	{pompc.KeyEvalReturn, "eval return"},
	{pompc.KeyKLPolicyPrior, "KL(π_s‖prior)"},
	{pompc.KeyKLPriorPlanner, "KL(π_p‖planner)"},
	{pompc.KeyPolicyEntropy, "policy entropy"},
	{pompc.KeyLossValue, pompc.KeyLossValue},
}

func (v *sweepView) draw() {
	if v.opts.Hide {
		return
	}
	for i, it := range v.items {
		recs, err := it.reader.Next()
		if err == nil {
			if it.reader.Restarted() {
				v.series[i] = map[string][]pompc.Record{}
			}
			for _, r := range recs {
				v.series[i][r.Key] = append(v.series[i][r.Key], r)
			}
		}
	}
	if tab := v.table(); tab != v.lastTab {
		updateHTML(v.tableID, tab)
		v.lastTab = tab
	}
	html, err := v.plotHTML()
	if err != nil {
		html = fmt.Sprintf(`<pre>%s</pre>`, htmlEscape(err.Error()))
	}
	updateHTML(v.plotID, html)
	v.redraws++
}

func (v *sweepView) groups() []string {
	var gs []string
	seen := map[string]bool{}
	for _, it := range v.items {
		g := it.group
		if !seen[g] {
			seen[g] = true
			gs = append(gs, g)
		}
	}
	return gs
}

func (v *sweepView) plotHTML() (string, error) {
	groups := v.groups()
	var ps []*plot.Plot
	maxStep := int64(0)
	for _, it := range v.items {
		maxStep = max(maxStep, it.job.Steps())
	}
	// One set of panels per task: a variant's curve averages its seeds, never its tasks.
	var tasks []string
	for _, it := range v.items {
		if !slices.Contains(tasks, it.job.Point.Task) {
			tasks = append(tasks, it.job.Point.Task)
		}
	}
	// A panel is drawn for every task once any task has its metric, so that each task's panels
	// sit in the same places of the grid.
	has := map[string]bool{}
	for i := range v.items {
		for _, pan := range sweepPanels {
			has[pan.key] = has[pan.key] || len(v.series[i][pan.key]) > 0
		}
	}
	for _, task := range tasks {
		for _, pan := range sweepPanels {
			title := pan.title
			if len(tasks) > 1 {
				title += " · " + task
			}
			p := newPanel(title, "")
			any := has[pan.key] && len(tasks) > 1
			for _, g := range groups {
				var runs [][]pompc.Record
				for i, it := range v.items {
					if it.group == g && it.job.Point.Task == task && len(v.series[i][pan.key]) > 0 {
						runs = append(runs, v.series[i][pan.key])
					}
				}
				if len(runs) == 0 {
					continue
				}
				any = true
				mean, std := binnedMeanStd(runs, maxStep, 60)
				addBand(p, g, v.pal.Color(g), mean, std)
			}
			if any {
				p.Legend.Top, p.Legend.Left = true, false
				ps = append(ps, p)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="pompc-sweep" data-redraw="%d">`, v.redraws+1)
	if len(ps) == 0 {
		fmt.Fprintf(&b, `<p><i>%s: waiting for the first metrics…</i></p></div>`, htmlEscape(v.opts.Title))
		return b.String(), nil
	}
	o := LiveOptions{Columns: v.opts.Columns}.withDefaults()
	img, err := render(ps, o, v.opts.Title)
	if err != nil {
		return "", err
	}
	b.Write(stripXMLProlog(img))
	b.WriteString(`</div>`)
	return b.String(), nil
}

// binnedMeanStd averages each run over nbins equal step bins up to maxStep, then takes the
// mean and standard deviation across the runs that have a value in a bin. The records carry
// the bins' centres as steps.
func binnedMeanStd(runs [][]pompc.Record, maxStep int64, nbins int) (mean, std []pompc.Record) {
	if maxStep <= 0 {
		maxStep = 1
	}
	w := float64(maxStep) / float64(nbins)
	perRun := make([][]float64, len(runs))
	for ri, recs := range runs {
		sum := make([]float64, nbins+1)
		n := make([]float64, nbins+1)
		for _, r := range recs {
			if math.IsNaN(r.Val) || math.IsInf(r.Val, 0) {
				continue
			}
			b := int(float64(r.Step) / w)
			if b > nbins {
				b = nbins
			}
			sum[b] += r.Val
			n[b]++
		}
		perRun[ri] = make([]float64, nbins+1)
		for b := range sum {
			if n[b] > 0 {
				perRun[ri][b] = sum[b] / n[b]
			} else {
				perRun[ri][b] = math.NaN()
			}
		}
	}
	for b := 0; b <= nbins; b++ {
		var xs []float64
		for ri := range perRun {
			if x := perRun[ri][b]; !math.IsNaN(x) {
				xs = append(xs, x)
			}
		}
		if len(xs) == 0 {
			continue
		}
		m, s := pompc.MeanStd(xs)
		step := int64((float64(b) + 0.5) * w)
		mean = append(mean, pompc.Record{Step: step, Val: m})
		std = append(std, pompc.Record{Step: step, Val: s})
	}
	return mean, std
}

func (v *sweepView) table() string {
	var b strings.Builder
	b.WriteString(`<table class="pompc-sweep-table" style="font-family:monospace;font-size:85%"><tr><th>run</th><th>state</th><th>step</th><th>λ</th><th>prior</th><th>KL</th><th>last return</th><th>last eval</th><th>steps/s</th></tr>`)
	idx := make([]int, len(v.items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v.items[idx[a]].group < v.items[idx[b]].group })
	for _, i := range idx {
		it := v.items[i]
		st := it.st
		state := it.state
		if it.err != nil {
			state += ": " + it.err.Error()
		}
		ret, ev := "", ""
		if st.Episodes > 0 && st.LastEpisodeReturn != 0 && !math.IsNaN(st.LastEpisodeReturn) {
			ret = fmt.Sprintf("%.1f", st.LastEpisodeReturn)
		}
		if st.LastEval != 0 && !math.IsNaN(st.LastEval) {
			ev = fmt.Sprintf("%.1f", st.LastEval)
		}
		cfg := it.job.Config
		lam, prior, kl := cfg.Lambda, cfg.Prior, cfg.PriorKL
		if st.Task != "" { // what the run reports wins (knobs changed from the controls)
			lam, prior, kl = st.Lambda, st.Prior, st.PriorKL
		}
		fmt.Fprintf(&b, `<tr data-state="%s"><td>%s</td><td>%s</td><td>%d / %d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.0f</td></tr>`,
			htmlEscape(it.state), htmlEscape(it.job.Name), htmlEscape(state), max(it.step, st.Step), it.job.Steps(),
			pompc.FormatLambda(lam), htmlEscape(string(prior)), htmlEscape(string(kl)), ret, ev, st.StepsPerSec)
	}
	b.WriteString(`</table>`)
	return b.String()
}

// PointOf describes a config as a sweep point: the preset, and λ, prior and KL direction where
// they differ from the preset's (so that "pompc λ=1 prior=planner" and "pompc λ=1 kl=forward"
// are told apart from "pompc λ=1").
func PointOf(task string, cfg pompc.Config) (sweep.Point, error) {
	def, err := pompc.PresetByName(cfg.Preset)
	if err != nil {
		return sweep.Point{}, err
	}
	p := sweep.Point{Task: task, Preset: cfg.Preset, Lambda: math.NaN(), Seed: int(cfg.Seed)}
	if cfg.Lambda != def.Lambda {
		p.Lambda = cfg.Lambda
	}
	if cfg.Prior != def.Prior {
		p.Prior = string(cfg.Prior)
	}
	if cfg.PriorKL != def.PriorKL {
		p.KL = string(cfg.PriorKL)
	}
	return p, nil
}

// ExportFigures saves every figure under dir as <name>.<ext> for each extension (default pdf,
// svg and png) and returns the paths written.
func ExportFigures(figs []NamedFigure, dir string, exts ...string) ([]string, error) {
	if len(exts) == 0 {
		exts = []string{"pdf", "svg", "png"}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("widgets: %w", err)
	}
	var paths []string
	for _, f := range figs {
		for _, ext := range exts {
			p := filepath.Join(dir, f.Name+"."+strings.TrimPrefix(ext, "."))
			if err := f.Figure.Save(p); err != nil {
				return paths, fmt.Errorf("widgets: saving %s: %w", p, err)
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// ShowFigure displays a figure in the notebook as inline SVG (GoNB sends SVG as HTML, which
// also survives nbconvert). Outside a notebook it does nothing.
func ShowFigure(f *Figure) error {
	if !InNotebook() {
		return nil
	}
	var b bytes.Buffer
	if err := f.Write(&b, "svg"); err != nil {
		return err
	}
	displayHTML(`<div class="pompc-figure">` + string(stripXMLProlog(b.Bytes())) + `</div>`)
	// Flush: a cell that ends right after a display can otherwise finish before GoNB has
	// forwarded it, and the figure is missing from the saved notebook.
	syncDisplay()
	return nil
}

// Variant names a run's variant as the figures and summary tables do (sweep.Point.Variant):
// the preset, then λ, prior kind and KL direction where they differ from the preset's, e.g.
// "tdmpc2", "pompc λ=0.1", "pompc λ=1 prior=planner".
func Variant(task string, cfg pompc.Config) (string, error) {
	p, err := PointOf(task, cfg)
	if err != nil {
		return "", err
	}
	return p.Variant(), nil
}
