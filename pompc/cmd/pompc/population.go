package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pompc/pompc/pompc"
)

// PopulationFile is what `pompc population FILE` reads: the `pompc train` arguments of each run.
type PopulationFile struct {
	// Runs are the train arguments of each run (each with its own --run-dir).
	Runs [][]string `json:"runs"`
}

// runPopulation is `pompc population FILE`: the runs FILE lists, each as `pompc train` would
// train it (same flags, run directories, lines, checkpoints and figures), trained as
// populations (pompc.NewPopulation): the runs that can share graphs (pompc.PopulationKey, and
// the same current step) train as one population, one population after another. A run that
// cannot be opened, or fails, is reported and the others go on; the command fails if any run
// failed.
func runPopulation(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("population", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc population FILE   (FILE: {\"runs\": [[train args...], ...]})")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("population: want one FILE argument")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("population: %w", err)
	}
	var pf PopulationFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return fmt.Errorf("population: %s: %w", fs.Arg(0), err)
	}
	if len(pf.Runs) == 0 {
		return fmt.Errorf("population: %s lists no runs", fs.Arg(0))
	}
	warnNoSIMD()
	var failed []error
	var runs []*trainRun
	seen := map[string]bool{}
	for i, a := range pf.Runs {
		r, err := parseTrain(a)
		if err == nil && seen[r.dir] {
			err = fmt.Errorf("run directory %s listed twice", r.dir)
		}
		if err == nil {
			seen[r.dir] = true
			r.quiet, r.prefix = true, "["+r.dir+"] "
			err = r.open()
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("run %d: %w", i, err))
			fmt.Fprintf(os.Stderr, "pompc: run %d: %v\n", i, err)
			continue
		}
		defer r.run.Close()
		runs = append(runs, r)
	}
	// Groups of runs that can share graphs, in the order of their first run.
	var order []string
	groups := map[string][]*trainRun{}
	for _, r := range runs {
		tr := r.run.Trainer
		key := fmt.Sprintf("%d %d %s", tr.StepCount(), r.total, pompc.PopulationKey(tr.Task(), tr.Config()))
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], r)
	}
	for _, key := range order {
		if ctx.Err() != nil {
			break
		}
		failed = append(failed, trainGroup(ctx, groups[key])...)
	}
	if len(failed) > 0 {
		return fmt.Errorf("population: %d of %d runs failed: %w", len(failed), len(pf.Runs), errors.Join(failed...))
	}
	return nil
}

// trainGroup trains runs that share their graphs and step as one population and finishes each
// as `pompc train` does. It returns the runs' failures.
func trainGroup(ctx context.Context, runs []*trainRun) []error {
	trs := make([]*pompc.Trainer, len(runs))
	for i, r := range runs {
		trs[i] = r.run.Trainer
	}
	backend, err := pompc.NewBackend(runs[0].run.BackendSpec)
	var pop *pompc.Population
	if err == nil {
		pop, err = pompc.NewPopulation(backend, trs)
	}
	start := time.Now()
	var failed []error
	if err != nil {
		// Not expected (the group key says they fit): train them one after another instead.
		fmt.Fprintf(os.Stderr, "pompc: these runs cannot train as one population (%v); training them one by one\n", err)
		for _, r := range runs {
			runErr := r.run.Trainer.Run(ctx, int(max(r.remaining, 0)), r.hooks(nil)...)
			if err := r.finish(ctx, runErr, start); err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", r.dir, err))
			}
		}
		return failed
	}
	fmt.Printf("population of %d runs (%s, %s): %d steps to go\n", len(runs), trs[0].Task(),
		trs[0].Config().Preset, runs[0].remaining)
	runErr := pop.Run(ctx, int(max(runs[0].remaining, 0)), func(k int) []pompc.Hook { return runs[k].hooks(nil) })
	closeErr := pop.Close()
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "pompc: %v\n", runErr)
	}
	for k, r := range runs {
		if err := r.finish(ctx, errors.Join(pop.Err(k), closeErr), start); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", r.dir, err))
		}
	}
	return failed
}
