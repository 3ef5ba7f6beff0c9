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
	"github.com/pompc/pompc/pompc/sweep"
)

// runPopulation is `pompc population FILE`: the runs FILE lists, each as `pompc train` would
// train it (same flags, run directories, lines, checkpoints and figures), trained as
// populations (pompc.NewPopulation): the runs that can share graphs (pompc.PopulationKey, and
// the same current step) train as one population, one population after another. A run that
// cannot be opened, or fails, is reported and the others go on; the command fails if any run
// failed.
func runPopulation(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("population", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc population FILE   (FILE: {\"runs\": [{\"args\": [train args...]}, ...]}, sweep.PopulationFile)")
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
	var pf sweep.PopulationFile
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
	for i, pr := range pf.Runs {
		r, err := parseTrain(pr.Args)
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
	if len(runs) > 0 {
		backend, err := pompc.NewBackend(runs[0].run.BackendSpec)
		if err != nil {
			return err
		}
		opened := make([]*pompc.Run, len(runs))
		targets := make([]int64, len(runs))
		for i, r := range runs {
			opened[i], targets[i] = r.run, r.total
		}
		start := time.Now()
		errs := pompc.TrainTogether(ctx, backend, opened, targets, func(i int) []pompc.Hook { return runs[i].hooks(nil) },
			func(format string, a ...any) { fmt.Printf(format+"\n", a...) })
		for i, r := range runs {
			if err := r.finish(ctx, errs[i], start); err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", r.dir, err))
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("population: %d of %d runs failed: %w", len(failed), len(pf.Runs), errors.Join(failed...))
	}
	return nil
}
