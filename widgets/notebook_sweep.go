package widgets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/session"
	"github.com/pompc/pompc/pompc/sweep"
	"gonum.org/v1/plot"
)

// SweepRun is one run of a sweep: a run directory, how to create it, and how long to train.
type SweepRun struct {
	// Name labels the run in the status table (e.g. "pompc λ=1 seed 2").
	Name string
	// Group is the variant the run belongs to (e.g. "pompc λ=1"); the live plots draw each
	// group's mean over its runs with a ±1 std band.
	Group string
	// Options open (or create) the run; Options.Dir must be unique within the sweep.
	Options session.Options
	// Steps is the agent step the run should reach: a run that already has them is not
	// trained again, one that has fewer trains the rest (re-running a sweep cell resumes it).
	Steps int
}

// SweepOptions configures Sweep. The zero value is usable.
type SweepOptions struct {
	// Title heads the live plots.
	Title string
	// Parallel is how many runs train at once (each in its own server process); 0 means
	// runtime.NumCPU().
	Parallel int
	// Interval is the minimum time between redraws (0: 1 s).
	Interval time.Duration
	// Keep leaves each run's server running when its training is done (default: shut it down,
	// freeing its memory; it restarts from its checkpoint on the next Open).
	Keep bool
	// Columns of the panel grid (0: 3).
	Columns int
	// Hide draws nothing: for a cell that only collects the results of finished runs (for
	// figures) without showing the sweep again.
	Hide bool
}

// SweepResult is the outcome of one run of a sweep.
type SweepResult struct {
	Run    SweepRun
	Status session.Status
	// Wall is the time from opening the run to the end of its training in this sweep.
	Wall time.Duration
	Err  error
}

type sweepItem struct {
	SweepRun
	reader  *pompc.MetricsReader
	run     *session.Run
	st      session.Status
	state   string // queued, starting, training, done, failed
	err     error
	started time.Time
	took    time.Duration
}

// Sweep trains many runs in the background, Parallel at a time, each owned by its own session
// server, while one live figure compares the groups (episode return, KL(π_s‖prior),
// KL(π_p‖planner) and policy entropy, mean ± std over each group's runs) above a status
// table. It returns when every run has reached its steps or failed, with one result per run
// and the failures joined in the error. Interrupting the cell stops the runs in progress
// (each saves a checkpoint; re-running the cell resumes them).
func Sweep(ctx context.Context, runs []SweepRun, opts SweepOptions) ([]SweepResult, error) {
	if len(runs) == 0 {
		return nil, errors.New("widgets: Sweep: no runs")
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Options.Dir == "" || r.Steps <= 0 {
			return nil, fmt.Errorf("widgets: Sweep: run %q needs Options.Dir and Steps > 0", r.Name)
		}
		if seen[r.Options.Dir] {
			return nil, fmt.Errorf("widgets: Sweep: run directory %s used twice", r.Options.Dir)
		}
		seen[r.Options.Dir] = true
	}
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.NumCPU()
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Columns <= 0 {
		opts.Columns = 3
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	items := make([]*sweepItem, len(runs))
	for i, r := range runs {
		if err := os.MkdirAll(r.Options.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("widgets: Sweep: %w", err)
		}
		rd, err := pompc.OpenMetrics(r.Options.Dir)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		items[i] = &sweepItem{SweepRun: r, reader: rd, state: "queued"}
	}
	view := &sweepView{items: items, opts: opts, plotID: "pompc_sweep_plot_" + uniqueID(),
		tableID: "pompc_sweep_table_" + uniqueID(), series: make([]map[string][]pompc.Record, len(items))}
	for i := range view.series {
		view.series[i] = map[string][]pompc.Record{}
	}

	var mu sync.Mutex // guards item state between the workers and the view
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				it.state, it.err = "cancelled", ctx.Err()
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			runOne(ctx, it, &mu, opts.Keep)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	tick := time.NewTicker(waitTick)
	defer tick.Stop()
	var last time.Time
loop:
	for {
		select {
		case <-done:
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

	res := make([]SweepResult, len(items))
	var errs []error
	for i, it := range items {
		res[i] = SweepResult{Run: it.SweepRun, Status: it.st, Wall: it.took, Err: it.err}
		if it.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.Name, it.err))
		}
	}
	return res, errors.Join(errs...)
}

// runOne opens a run, trains it to its steps in the server's background and waits for it.
func runOne(ctx context.Context, it *sweepItem, mu *sync.Mutex, keep bool) {
	set := func(state string, err error) {
		mu.Lock()
		it.state = state
		if err != nil {
			it.err = err
		}
		mu.Unlock()
	}
	t0 := time.Now()
	if m, err := readDone(it.Options.Dir); err == nil && m.Steps >= it.Steps {
		// Finished by an earlier sweep: no server needed.
		mu.Lock()
		it.st, it.took = m.Status, time.Duration(m.WallSeconds*float64(time.Second))
		mu.Unlock()
		set("done", nil)
		return
	}
	set("starting", nil)
	run, err := session.Open(ctx, it.Options)
	if err != nil {
		set("failed", err)
		return
	}
	defer run.Close()
	mu.Lock()
	it.run, it.started = run, t0
	mu.Unlock()
	st, err := run.Status()
	if err != nil {
		set("failed", err)
		return
	}
	if remaining := it.Steps - int(st.Step); remaining > 0 {
		set("training", nil)
		if err := run.Start(remaining); err != nil {
			set("failed", err)
			return
		}
		werr := run.Wait(ctx, func(s session.Status) {
			mu.Lock()
			it.st = s
			mu.Unlock()
		})
		if ctx.Err() != nil {
			// Interrupted: stop the background training (it saves a checkpoint).
			_ = run.Stop()
			set("cancelled", ctx.Err())
			return
		}
		if werr != nil {
			set("failed", werr)
			return
		}
	}
	if st, err := run.Status(); err == nil {
		mu.Lock()
		it.st = st
		mu.Unlock()
		if st.JobError != "" {
			set("failed", errors.New(st.JobError))
			return
		}
	}
	if !keep {
		_ = run.Shutdown()
	}
	mu.Lock()
	it.took = time.Since(t0)
	m := doneMarker{Steps: int(it.st.Step), WallSeconds: it.took.Seconds(), Status: it.st}
	mu.Unlock()
	if err := writeDone(it.Options.Dir, m); err != nil {
		set("failed", err)
		return
	}
	set("done", nil)
}

// DoneFile marks a run directory whose sweep training finished, so that re-running a sweep
// (or a cell that only draws its results) needs no server for it.
const DoneFile = "notebook-done.json"

type doneMarker struct {
	Steps       int            `json:"steps"`
	WallSeconds float64        `json:"wall_s"`
	Status      session.Status `json:"status"`
}

func readDone(dir string) (doneMarker, error) {
	var m doneMarker
	b, err := os.ReadFile(filepath.Join(dir, DoneFile))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func writeDone(dir string, m doneMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, DoneFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, DoneFile))
}

// sweepView draws a sweep's live figure and status table.
type sweepView struct {
	items   []*sweepItem
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
	{keyKLPolicyPrior, "KL(π_s‖prior)"},
	{keyKLPriorPlan, "KL(π_p‖planner)"},
	{keyEntropy, "policy entropy"},
	{"loss/value", "loss/value"},
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
		g := it.Group
		if g == "" {
			g = it.Name
		}
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
		if it.Steps > int(maxStep) {
			maxStep = int64(it.Steps)
		}
	}
	for _, pan := range sweepPanels {
		p := newPanel(pan.title, "")
		any := false
		for gi, g := range groups {
			var runs [][]pompc.Record
			for i, it := range v.items {
				if (it.Group == g || (it.Group == "" && it.Name == g)) && len(v.series[i][pan.key]) > 0 {
					runs = append(runs, v.series[i][pan.key])
				}
			}
			if len(runs) == 0 {
				continue
			}
			any = true
			mean, std := binnedMeanStd(runs, maxStep, 60)
			c := groupColor(gi)
			addBand(p, g, c, mean, std)
		}
		if any {
			p.Legend.Top, p.Legend.Left = true, false
			ps = append(ps, p)
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

// groupColor is the i-th group's colour: the Okabe-Ito palette, then greys.
func groupColor(i int) color.Color {
	if i < len(palette) {
		return palette[i]
	}
	g := uint8(60 + 25*(i-len(palette))%160)
	return color.RGBA{g, g, g, 255}
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
		m, s := meanStd(xs)
		step := int64((float64(b) + 0.5) * w)
		mean = append(mean, pompc.Record{Step: step, Val: m})
		std = append(std, pompc.Record{Step: step, Val: s})
	}
	return mean, std
}

func meanStd(xs []float64) (float64, float64) {
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	if len(xs) > 1 {
		v /= float64(len(xs) - 1)
	}
	return m, math.Sqrt(v)
}

func (v *sweepView) table() string {
	var b strings.Builder
	b.WriteString(`<table class="pompc-sweep-table" style="font-family:monospace;font-size:85%"><tr><th>run</th><th>state</th><th>step</th><th>λ</th><th>prior</th><th>KL</th><th>last return</th><th>last eval</th><th>steps/s</th></tr>`)
	idx := make([]int, len(v.items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v.items[idx[a]].Group < v.items[idx[b]].Group })
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
		lam := ""
		if it.run != nil || st.Step > 0 {
			lam = FormatLambda(st.Lambda)
		}
		fmt.Fprintf(&b, `<tr data-state="%s"><td>%s</td><td>%s</td><td>%d / %d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.0f</td></tr>`,
			htmlEscape(it.state), htmlEscape(it.Name), htmlEscape(state), st.Step, it.Steps, lam, htmlEscape(string(st.Prior)),
			htmlEscape(string(st.PriorKL)), ret, ev, st.StepsPerSec)
	}
	b.WriteString(`</table>`)
	return b.String()
}

// Results turns a sweep's outcome into sweep.Runs (point, directory, state and metrics), the
// form the figure builders (SweepFigures) and the summary tables (sweep.Summarize) read. The
// point names the run's variant by how its config differs from its preset: λ, the prior kind
// and the KL direction, so that "pompc λ=1 prior=planner" and "pompc λ=1 kl=forward" are told
// apart from "pompc λ=1".
func Results(results []SweepResult) ([]sweep.Run, error) {
	out := make([]sweep.Run, 0, len(results))
	for _, r := range results {
		cfg := r.Run.Options.Config
		if st := r.Status; st.Task != "" {
			// What the run reports wins over what was asked (a run opened from an existing
			// directory, or changed from the controls).
			cfg.Lambda, cfg.Prior, cfg.PriorKL = st.Lambda, st.Prior, st.PriorKL
		}
		p, err := pointOf(r.Run.Options.Task, cfg)
		if err != nil {
			return nil, fmt.Errorf("widgets: run %q: %w", r.Run.Name, err)
		}
		run := sweep.Run{Point: p, Dir: r.Run.Options.Dir}
		switch {
		case r.Err != nil:
			run.Status = sweep.RunStatus{State: sweep.StateFailed, Error: r.Err.Error()}
		case int(r.Status.Step) >= r.Run.Steps:
			run.Status = sweep.RunStatus{State: sweep.StateDone, WallSeconds: r.Wall.Seconds()}
		default:
			run.Status = sweep.RunStatus{State: sweep.StateStopped}
		}
		if _, err := os.Stat(filepath.Join(run.Dir, pompc.MetricsFile)); err == nil {
			if run.Metrics, err = pompc.ReadRunMetrics(run.Dir); err != nil {
				return nil, err
			}
		}
		out = append(out, run)
	}
	return out, nil
}

// pointOf describes a config as a sweep point: the preset, and λ, prior and KL direction where
// they differ from the preset's.
func pointOf(task string, cfg pompc.Config) (sweep.Point, error) {
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
	p, err := pointOf(task, cfg)
	if err != nil {
		return "", err
	}
	return p.Variant(), nil
}
