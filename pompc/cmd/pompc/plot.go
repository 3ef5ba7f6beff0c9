package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
)

// runPlot: pompc plot DIR... -o FILE [flags]. The format follows FILE's extension: .pdf, .svg,
// .png, .eps draw one figure (--figure, --task); .html holds every figure, interactive. Several
// directories (runs, sweeps or ablations) are drawn together, each run's variant prefixed with
// its directory's name (sweep.Run.Label), e.g. two sweeps of one preset at two sizes.
func runPlot(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	out := fs.String("o", "", "output file: .pdf, .svg, .png, .eps (one figure) or .html (all figures, interactive)")
	figure := fs.String("figure", widgets.FigLearning, "figure: "+strings.Join(widgets.FigureKinds, ", ")+", "+widgets.FigMetric+" (with --key)")
	key := fs.String("key", "", "--figure metric: the metric to draw over training, e.g. loss/consistency, loss/reward, loss/value, policy/std, q/pi_mean (a wrong key lists the run's keys)")
	task := fs.String("task", "", "task to draw (default: the first of the sweep)")
	width := fs.String("width", "single", "figure width: single (3.25 in) or double (6.75 in) column")
	smooth := fs.Int("smooth", 0, "moving-average width (points) for the curves; 0: none")
	reference := fs.Bool("reference", false, "overlay the published TD-MPC2, BMPC and SAC curves (clipped to the runs' steps)")
	dpi := fs.Int("dpi", 300, "PNG resolution")
	cdn := fs.Bool("cdn", false, "HTML: load echarts from the CDN instead of inlining it (needs a network to view)")
	variants := fs.String("variants", "", `draw only these variants, separated by ";" (as the tables name them, e.g. "tdmpc2;pompc λ=1")`)
	atStep := fs.Int64("at-step", 0, "every run as it stood at this agent step (sweep.AtStep: the curves end there, runs past it count as finished)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc plot RUN_SWEEP_OR_ABLATION_DIR... -o FILE [flags] (several directories: each run's variant is prefixed with its directory's name)")
		fs.PrintDefaults()
	}
	// The directories may come before the flags (pompc plot DIR -o fig.pdf) or after them.
	var dirs []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dirs, args = append(dirs, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dirs = append(dirs, fs.Args()...)
	if len(dirs) == 0 || *out == "" {
		fs.Usage()
		return errors.New("plot: a run, sweep or ablation directory and -o FILE are required")
	}
	dir := strings.Join(dirs, ", ")
	style, err := widgets.StyleByName(*width)
	if err != nil {
		return err
	}
	style.DPI = *dpi
	var runs []sweep.Run
	labels := dirLabels(dirs)
	for i, d := range dirs {
		rs, err := loadRuns(d)
		if err != nil {
			return err
		}
		for j := range rs {
			rs[j].Label = labels[i]
		}
		runs = append(runs, rs...)
	}
	if *atStep < 0 {
		return errors.New("plot: --at-step wants a positive step")
	}
	if *atStep > 0 {
		runs = sweep.AtStep(runs, *atStep)
	}
	if *variants != "" {
		want := map[string]bool{}
		for _, v := range strings.Split(*variants, ";") {
			want[strings.TrimSpace(v)] = true
		}
		var kept []sweep.Run
		var have []string // the variants there are, in order, to name in the error
		for _, r := range runs {
			if want[r.Variant()] {
				kept = append(kept, r)
			}
			if !slices.Contains(have, r.Variant()) {
				have = append(have, r.Variant())
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("plot: no run of the variants %q in %s; its variants: %q", *variants, dir, strings.Join(have, ";"))
		}
		runs = kept
	}
	opts := widgets.SetOptions{Style: style, Smooth: *smooth, Reference: *reference}
	if *figure == widgets.FigMetric {
		if *key == "" {
			return errors.New("plot: --figure metric needs --key (e.g. loss/consistency)")
		}
		t := *task
		if t == "" {
			t = runs[0].Task
		}
		f, err := widgets.MetricFigure(runs, t, *key, opts)
		if err != nil {
			return err
		}
		if strings.EqualFold(filepath.Ext(*out), ".html") {
			return saveFiguresHTML(*out, []widgets.NamedFigure{f}, dir, *cdn)
		}
		if err := f.Figure.Save(*out); err != nil {
			return err
		}
		fmt.Printf("wrote %s (%s, %s)\n", *out, f.Name, *key)
		return nil
	}
	figs, err := widgets.SweepFigures(runs, opts)
	if err != nil {
		return err
	}
	if *task != "" {
		var kept []widgets.NamedFigure
		for _, f := range figs {
			if f.Task == *task {
				kept = append(kept, f)
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("plot: no figures for task %q in %s", *task, dir)
		}
		figs = kept
	}
	if strings.EqualFold(filepath.Ext(*out), ".html") {
		if err := saveFiguresHTML(*out, figs, dir, *cdn); err != nil {
			return err
		}
		fmt.Printf("wrote %s (%d interactive figures)\n", *out, len(figs))
		return nil
	}
	if !slices.Contains(widgets.FigureKinds, *figure) {
		return fmt.Errorf("plot: unknown figure %q (%s)", *figure, strings.Join(widgets.FigureKinds, ", "))
	}
	var avail []string
	for _, f := range figs {
		if f.Kind == *figure {
			if err := f.Figure.Save(*out); err != nil {
				return err
			}
			fmt.Printf("wrote %s (%s)\n", *out, f.Name)
			return nil
		}
		avail = append(avail, f.Name)
	}
	return fmt.Errorf("plot: %s has no %q figure; it has: %s", dir, *figure, strings.Join(avail, ", "))
}

// loadRuns reads a sweep directory (sweep.json), an ablation directory (ablation.json: the runs
// known so far) or a single run directory (metrics.jsonl).
func loadRuns(dir string) ([]sweep.Run, error) {
	if _, err := os.Stat(filepath.Join(dir, sweep.GridFile)); err == nil {
		_, runs, err := sweep.Load(dir)
		return runs, err
	}
	if spec, err := loadAblation(dir); err == nil {
		_, runs, _, _, err := ablationRuns(dir, spec)
		return runs, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.MetricsFile)); err == nil {
		r, err := widgets.RunFromDir(dir)
		if err != nil {
			return nil, err
		}
		return []sweep.Run{r}, nil
	}
	return nil, fmt.Errorf("plot: %s is neither a sweep directory (%s), an ablation directory (%s) nor a run directory (%s)",
		dir, sweep.GridFile, ablationFile, rundir.MetricsFile)
}

func saveFiguresHTML(path string, figs []widgets.NamedFigure, title string, cdn bool) error {
	cs := make([]components.Charter, 0, len(figs))
	for _, f := range figs {
		cs = append(cs, f.Chart)
	}
	return widgets.SaveHTML(path, cs, widgets.HTMLOptions{Title: title, CDN: cdn})
}

// dirLabels names each of several plotted directories by its last path element (more of the
// path where two share it); a single directory gets no label, so its variants keep their names.
func dirLabels(dirs []string) []string {
	labels := make([]string, len(dirs))
	if len(dirs) < 2 {
		return labels
	}
	seen := map[string]int{}
	for i, d := range dirs {
		labels[i] = filepath.Base(filepath.Clean(d))
		seen[labels[i]]++
	}
	for i, d := range dirs {
		if seen[labels[i]] > 1 {
			labels[i] = filepath.Clean(d)
		}
	}
	return labels
}
