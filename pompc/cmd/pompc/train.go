package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	_ "github.com/pompc/pompc/envs/all" // registers every task of this build
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/widgets"
)

// trainRun is one run of `pompc train`: its flags, its run directory once opened, and its
// schedule. `pompc train` drives one alone; `pompc population` drives several in lockstep as one
// population (population.go), with the same directories, lines and checkpoints.
type trainRun struct {
	task, dir  string
	resume     bool
	saveEvery  int
	quiet      bool
	cpuProfile string
	cfg        pompc.Config
	set        map[string]bool // flags given on the command line

	run       *pompc.Run
	total     int64 // the step the run trains to
	remaining int64
	prefix    string // line prefix ("" alone; the run's directory in a population)
}

// parseTrain parses `pompc train`'s flags.
func parseTrain(args []string) (*trainRun, error) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	task := fs.String("task", "cartpole-balance", "task name (see envs)")
	runDir := fs.String("run-dir", "", "run directory (default runs/<task>-<preset>-<size>-s<seed>)")
	resume := fs.Bool("resume", false, "continue from the checkpoint in --run-dir")
	saveEvery := fs.Int("save-every", 5000, "checkpoint every N agent steps (0: only at the end)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
	cf := newConfigFlags(fs)
	if f := fs.Lookup("backend"); f != nil {
		f.Usage = backendUsage
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("train: unexpected arguments %q", fs.Args())
	}
	cfg, err := cf.build()
	if err != nil {
		return nil, err
	}
	r := &trainRun{task: *task, dir: *runDir, resume: *resume, saveEvery: *saveEvery, quiet: *quiet,
		cpuProfile: *cpuProfile, cfg: cfg, set: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) { r.set[f.Name] = true })
	if r.dir == "" {
		r.dir = filepath.Join("runs", fmt.Sprintf("%s-%s-%s-s%d", r.task, cfg.Preset, cfg.Size.Name, cfg.Seed))
	}
	return r, nil
}

// runTrain is `pompc train`: one run, with a progress bar, episode and evaluation lines,
// checkpoints, and the learning-curve figure at the end.
func runTrain(ctx context.Context, args []string) error {
	r, err := parseTrain(args)
	if err != nil {
		return err
	}
	warnNoSIMD()
	if r.cpuProfile != "" {
		f, err := os.Create(r.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := r.open(); err != nil {
		return err
	}
	defer r.run.Close()
	tr := r.run.Trainer
	bar := newProgress(os.Stderr, r.total, r.quiet)
	hooks := append(r.hooks(bar.clear), pompc.Periodic(time.Second, pompc.Hook{Name: "progress", Fn: func(t *pompc.Trainer, ev pompc.Event) error {
		if ev == pompc.EventEnvStep {
			bar.update(t.StepCount(), t.StepsPerSecond())
		}
		return nil
	}}))
	start := time.Now()
	runErr := tr.Run(ctx, int(max(r.remaining, 0)), hooks...)
	bar.clear()
	return r.finish(ctx, runErr, start)
}

// open opens (or resumes) the run directory and prints the run's first lines.
func (r *trainRun) open() error {
	mode, runTask := pompc.ResumeNever, r.task
	if r.resume {
		mode = pompc.ResumeRequired
		if !r.set["task"] && rundir.HasCheckpoint(r.dir) {
			runTask = "" // the checkpoint's task
		}
	}
	run, err := pompc.OpenRun(pompc.RunOptions{Dir: r.dir, Task: runTask, Config: &r.cfg, Resume: mode,
		Backend: r.cfg.Backend, Logf: func(format string, a ...any) { fmt.Printf(r.prefix+format+"\n", a...) }})
	if err != nil {
		switch {
		case errors.Is(err, pompc.ErrRunExists):
			return fmt.Errorf("%w: pass --resume to continue it or --run-dir for a new one", err)
		case errors.Is(err, pompc.ErrNoCheckpoint):
			return fmt.Errorf("%w (run `pompc train --run-dir %s` without --resume)", err, r.dir)
		}
		return err
	}
	r.run = run
	tr := run.Trainer
	spec := tr.Spec()
	r.total = int64(r.cfg.Steps) // --steps; a resumed run without it trains to its own target
	if run.Resumed && !r.set["steps"] {
		r.total = int64(tr.Config().Steps)
	}
	r.remaining = r.total - tr.StepCount()
	rc := tr.Config()
	fmt.Printf("%straining %s on %s (obs %d, act %d): size %s, lambda %s, prior %s/%s, %d steps, seed phase %d, backend %s\n",
		r.prefix, rc.Preset, tr.Task(), spec.ObsDim, spec.ActionDim, rc.Size.Name, pompc.FormatLambda(rc.Lambda), rc.Prior, rc.PriorKL,
		r.total, tr.SeedSteps(), run.BackendSpec)
	fmt.Printf("%srun directory: %s\n", r.prefix, r.dir)
	return nil
}

// hooks are the run's episode and evaluation lines (clear, when not nil, first clears a
// progress bar) and its checkpoints.
func (r *trainRun) hooks(clear func()) []pompc.Hook {
	if clear == nil {
		clear = func() {}
	}
	hooks := []pompc.Hook{
		pompc.On(pompc.EventEpisodeEnd, "episode-line", func(t *pompc.Trainer) error {
			clear()
			line := fmt.Sprintf("%sepisode %4d  step %7d  return %8.2f", r.prefix, t.Episodes(), t.StepCount(), t.LastEpisodeReturn())
			if m := t.LastUpdate(); m != nil {
				line += fmt.Sprintf("  loss/pi %7.3f  loss/world_model %7.3f", m[pompc.KeyLossPi], m[pompc.KeyLossWorldModel])
				if kl, ok := m[pompc.KeyKLPolicyPrior]; ok {
					line += fmt.Sprintf("  kl/policy_prior %6.3f", kl)
				}
			}
			if !math.IsNaN(t.LastEval()) {
				line += fmt.Sprintf("  eval %8.2f", t.LastEval())
			}
			fmt.Println(line)
			return nil
		}),
		pompc.On(pompc.EventEval, "eval-line", func(t *pompc.Trainer) error {
			clear()
			fmt.Printf("%seval      step %7d  return %8.2f (%d episodes, no noise)\n", r.prefix, t.StepCount(), t.LastEval(), t.Config().EvalEpisodes)
			return nil
		}),
	}
	return append(hooks, r.run.CheckpointHooks(r.saveEvery)...)
}

// finish ends a run after its training loop returned runErr: the final evaluation when the
// schedule did not end on one, the last checkpoint, the learning-curve figure and the last
// lines.
func (r *trainRun) finish(ctx context.Context, runErr error, start time.Time) error {
	tr := r.run.Trainer
	finished := runErr == nil && ctx.Err() == nil && tr.StepCount() >= r.total && r.remaining > 0
	rc := tr.Config()
	scheduled := rc.EvalEvery > 0 && r.total%int64(rc.EvalEvery) == 0
	if finished && rc.EvalEpisodes > 0 && !scheduled {
		if _, err := tr.Evaluate(rc.EvalEpisodes); err != nil {
			runErr = err
		}
	}
	if err := r.run.Save(); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	reached := tr.StepCount() >= r.total
	if !reached {
		fmt.Printf("%sstopped at step %d of %d; checkpoint saved, continue with --resume --run-dir %s (or the sweep's command)\n",
			r.prefix, tr.StepCount(), r.total, r.dir)
	}
	metricsPath := rundir.Path(r.dir, rundir.MetricsFile)
	fig := rundir.Path(r.dir, rundir.CurveFile)
	title := fmt.Sprintf("%s, %s (lambda %s), %s", tr.Task(), strings.ToUpper(rc.Preset), pompc.FormatLambda(rc.Lambda), rc.Size.Name)
	if err := widgets.SaveCurve(metricsPath, title, fig); err != nil {
		fmt.Fprintf(os.Stderr, "pompc: no learning-curve figure: %v\n", err)
	}
	if reached {
		fmt.Printf("%sdone: %d steps in %s; final eval return %.1f\n", r.prefix, tr.StepCount(), time.Since(start).Round(time.Second), tr.LastEval())
	}
	fmt.Printf("%srun directory %s: %s, %s, %s, %s\n", r.prefix, r.dir, rundir.ConfigFile, rundir.MetricsFile, rundir.CheckpointFile, rundir.CurveFile)
	return nil
}

type progress struct {
	w          io.Writer
	total      int64
	quiet      bool
	tty        bool
	lastDecile int64
	drawn      bool
}

func newProgress(w *os.File, total int64, quiet bool) *progress {
	fi, err := w.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return &progress{w: w, total: max(total, 1), quiet: quiet, tty: tty, lastDecile: -1}
}

func (p *progress) update(step int64, rate float64) {
	if p.quiet {
		return
	}
	frac := float64(step) / float64(p.total)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-step)/rate) * time.Second).Round(time.Second).String()
	}
	const width = 30
	filled := int(frac * width)
	bar := strings.Repeat("#", min(filled, width)) + strings.Repeat(".", max(width-filled, 0))
	line := fmt.Sprintf("[%s] %d/%d steps  %.1f steps/s  eta %s", bar, step, p.total, rate, eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\033[K", line)
		p.drawn = true
		return
	}
	if d := int64(frac * 10); d > p.lastDecile {
		p.lastDecile = d
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
