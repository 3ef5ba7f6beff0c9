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

func runTrain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	task := fs.String("task", "cartpole-balance", "task name (see envs)")
	runDir := fs.String("run-dir", "", "run directory (default runs/<task>-<preset>-<size>-s<seed>)")
	resume := fs.Bool("resume", false, "continue from the checkpoint in --run-dir")
	saveEvery := fs.Int("save-every", 5000, "checkpoint every N agent steps (0: only at the end)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
	cf := newConfigFlags(fs, "pompc", "tiny")
	// --backend is the config field "backend" (so --set backend=... is the same): see backendUsage.
	if f := fs.Lookup("backend"); f != nil {
		f.Usage = backendUsage
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.build()
	if err != nil {
		return err
	}
	if *runDir == "" {
		*runDir = filepath.Join("runs", fmt.Sprintf("%s-%s-%s-s%d", *task, cfg.Preset, cfg.Size.Name, cfg.Seed))
	}
	warnNoSIMD()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	mode, runTask := pompc.ResumeNever, *task
	if *resume {
		mode = pompc.ResumeRequired
		if !set["task"] && rundir.HasCheckpoint(*runDir) {
			runTask = "" // the checkpoint's task
		}
	}
	run, err := pompc.OpenRun(pompc.RunOptions{Dir: *runDir, Task: runTask, Config: &cfg, Resume: mode,
		Backend: cfg.Backend, Logf: func(format string, a ...any) { fmt.Printf(format+"\n", a...) }})
	if err != nil {
		switch {
		case errors.Is(err, pompc.ErrRunExists):
			return fmt.Errorf("%w: pass --resume to continue it or --run-dir for a new one", err)
		case errors.Is(err, pompc.ErrNoCheckpoint):
			return fmt.Errorf("%w (run `pompc train --run-dir %s` without --resume)", err, *runDir)
		}
		return err
	}
	defer run.Close()
	tr, backendSpec := run.Trainer, run.BackendSpec
	metricsPath := rundir.Path(*runDir, rundir.MetricsFile)

	spec := tr.Spec()
	total := int64(cfg.Steps) // --steps; a resumed run without it trains to its own target
	if run.Resumed && !set["steps"] {
		total = int64(tr.Config().Steps)
	}
	remaining := total - tr.StepCount()
	rc := tr.Config()
	fmt.Printf("training %s on %s (obs %d, act %d): size %s, lambda %s, prior %s/%s, %d steps, seed phase %d, backend %s\n",
		rc.Preset, tr.Task(), spec.ObsDim, spec.ActionDim, rc.Size.Name, pompc.FormatLambda(rc.Lambda), rc.Prior, rc.PriorKL,
		total, tr.SeedSteps(), backendSpec)
	fmt.Printf("run directory: %s\n", *runDir)

	bar := newProgress(os.Stderr, total, *quiet)
	hooks := []pompc.Hook{
		pompc.On(pompc.EventEpisodeEnd, "episode-line", func(t *pompc.Trainer) error {
			bar.clear()
			line := fmt.Sprintf("episode %4d  step %7d  return %8.2f", t.Episodes(), t.StepCount(), t.LastEpisodeReturn())
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
			bar.clear()
			fmt.Printf("eval      step %7d  return %8.2f (%d episodes, no noise)\n", t.StepCount(), t.LastEval(), t.Config().EvalEpisodes)
			return nil
		}),
		pompc.Periodic(time.Second, pompc.Hook{Name: "progress", Fn: func(t *pompc.Trainer, ev pompc.Event) error {
			if ev == pompc.EventEnvStep {
				bar.update(t.StepCount(), t.StepsPerSecond())
			}
			return nil
		}}),
	}
	hooks = append(hooks, run.CheckpointHooks(*saveEvery)...)
	start := time.Now()
	runErr := tr.Run(ctx, int(max(remaining, 0)), hooks...)
	bar.clear()
	finished := runErr == nil && ctx.Err() == nil && tr.StepCount() >= total && remaining > 0
	rc = tr.Config()
	scheduled := rc.EvalEvery > 0 && total%int64(rc.EvalEvery) == 0
	if finished && rc.EvalEpisodes > 0 && !scheduled {
		// A final evaluation, unless the schedule just ran one; before the save, so that a crash
		// after the save never duplicates it.
		if _, err := tr.Evaluate(rc.EvalEpisodes); err != nil {
			runErr = err
		}
	}
	if err := run.Save(); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		fmt.Printf("interrupted at step %d; checkpoint saved, continue with --resume --run-dir %s\n", tr.StepCount(), *runDir)
	}
	fig := rundir.Path(*runDir, rundir.CurveFile)
	title := fmt.Sprintf("%s, %s (lambda %s), %s", tr.Task(), strings.ToUpper(rc.Preset), pompc.FormatLambda(rc.Lambda), rc.Size.Name)
	if err := widgets.SaveCurve(metricsPath, title, fig); err != nil {
		fmt.Fprintf(os.Stderr, "pompc: no learning-curve figure: %v\n", err)
	}
	fmt.Printf("done: %d steps in %s; final eval return %.1f\n", tr.StepCount(), time.Since(start).Round(time.Second), tr.LastEval())
	fmt.Printf("run directory %s: %s, %s, %s, %s\n", *runDir, rundir.ConfigFile, rundir.MetricsFile, rundir.CheckpointFile, rundir.CurveFile)
	return nil
}

// progress is a one-line progress bar on a terminal (redrawn in place), or a line every 10%
// when the output is not a terminal.
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
