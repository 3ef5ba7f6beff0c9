package main

import (
	"context"
	"encoding/json"
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
	lock, err := pompc.LockRunDir(*runDir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if lock.TookOverFrom > 0 {
		fmt.Printf("took over the lock of %s from process %d, which is gone\n", *runDir, lock.TookOverFrom)
	}
	if !*resume {
		if _, err := os.Stat(filepath.Join(*runDir, "checkpoint.bin")); err == nil {
			return fmt.Errorf("run directory %s already holds a run: pass --resume to continue it or --run-dir for a new one", *runDir)
		}
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
	if *resume && cfg.Backend == "" {
		// A resumed run keeps the backend recorded in its config unless --backend says otherwise.
		// (config.json is written beside the checkpoint and is small; the checkpoint holds the replay buffer.)
		var saved pompc.Config
		if data, err := os.ReadFile(filepath.Join(*runDir, "config.json")); err == nil && json.Unmarshal(data, &saved) == nil {
			cfg.Backend = saved.Backend
		}
	}
	backendSpec := pompc.ChooseBackend("", cfg.Backend)
	backend, err := pompc.NewBackend(backendSpec)
	if err != nil {
		return err
	}
	tr, err := pompc.NewTrainer(backend, cfg, *task)
	if err != nil {
		return err
	}
	defer tr.Close()
	if *resume {
		if err := tr.Load(*runDir); err != nil {
			return err
		}
		fmt.Printf("resumed %s at step %d\n", *runDir, tr.StepCount())
	}
	metricsPath := filepath.Join(*runDir, "metrics.jsonl")
	// Records written after the checkpoint are written again by the resumed run: keep one copy.
	if err := pompc.TruncateMetrics(metricsPath, tr.StepCount()); err != nil {
		return err
	}
	sink, err := pompc.NewJSONLSink(metricsPath)
	if err != nil {
		return err
	}
	defer sink.Close()
	tr.Subscribe(sink)

	spec := tr.Spec()
	total := int64(cfg.Steps)
	remaining := total - tr.StepCount()
	fmt.Printf("training %s on %s (obs %d, act %d): size %s, lambda %v, prior %s/%s, %d steps, seed phase %d, backend %s\n",
		cfg.Preset, *task, spec.ObsDim, spec.ActionDim, cfg.Size.Name, cfg.Lambda, cfg.Prior, cfg.PriorKL,
		total, tr.SeedSteps(), backendSpec)
	fmt.Printf("run directory: %s\n", *runDir)

	bar := newProgress(os.Stderr, total, *quiet)
	hooks := []pompc.Hook{
		pompc.On(pompc.EventEpisodeEnd, "episode-line", func(t *pompc.Trainer) error {
			bar.clear()
			line := fmt.Sprintf("episode %4d  step %7d  return %8.2f", t.Episodes(), t.StepCount(), t.LastEpisodeReturn())
			if m := t.LastUpdate(); m != nil {
				line += fmt.Sprintf("  loss/pi %7.3f  loss/world_model %7.3f", m["loss/pi"], m["loss/world_model"])
				if kl, ok := m["kl/policy_prior"]; ok {
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
	if *saveEvery > 0 {
		hooks = append(hooks, pompc.Every(*saveEvery, pompc.Hook{Name: "checkpoint", Fn: func(t *pompc.Trainer, ev pompc.Event) error {
			if ev != pompc.EventEnvStep {
				return nil
			}
			return t.Save(*runDir)
		}}))
	}
	start := time.Now()
	runErr := tr.Run(ctx, int(max(remaining, 0)), hooks...)
	bar.clear()
	finished := runErr == nil && ctx.Err() == nil && tr.StepCount() >= total && remaining > 0
	scheduled := cfg.EvalEvery > 0 && total%int64(cfg.EvalEvery) == 0
	if finished && cfg.EvalEpisodes > 0 && !scheduled {
		// A final evaluation, unless the schedule just ran one; before the save, so that a crash
		// after the save never duplicates it.
		if _, err := tr.Evaluate(cfg.EvalEpisodes); err != nil {
			runErr = err
		}
	}
	if err := tr.Save(*runDir); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		fmt.Printf("interrupted at step %d; checkpoint saved, continue with --resume --run-dir %s\n", tr.StepCount(), *runDir)
	}
	fig := filepath.Join(*runDir, "curve.png")
	title := fmt.Sprintf("%s, %s (lambda %v), %s", *task, strings.ToUpper(cfg.Preset), cfg.Lambda, cfg.Size.Name)
	if err := widgets.SaveCurve(metricsPath, title, fig); err != nil {
		fmt.Fprintf(os.Stderr, "pompc: no learning-curve figure: %v\n", err)
	}
	fmt.Printf("done: %d steps in %s; final eval return %.1f\n", tr.StepCount(), time.Since(start).Round(time.Second), tr.LastEval())
	fmt.Printf("run directory %s: config.json, metrics.jsonl, checkpoint.bin, curve.png\n", *runDir)
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
