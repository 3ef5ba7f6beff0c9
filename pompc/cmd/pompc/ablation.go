package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
)

// runAblation: pompc ablation --dir DIR [flags] [-- extra train flags]. The ablation of issue 17
// on every task as one population per task: TD-MPC2, PO-MPC at each λ and BMPC, then at
// --prior-lambda (default best: the λ ablation's winner) the planner prior and the forward KL next to the default learned prior with
// reverse KL. Resumable (run it again); writes the tables (per task and across tasks) and the
// figures into DIR.
func runAblation(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ablation", flag.ContinueOnError)
	dir := fs.String("dir", "", "ablation directory (required): one run directory per point, results, figures/")
	tasks := fs.String("tasks", "cartpole-swingup", "comma-separated tasks")
	lambdas := fs.String("lambdas", "0.1,1,9", "PO-MPC's λ values of the λ ablation")
	priorLambda := fs.String("prior-lambda", "best", "λ of the prior ablation (learned vs planner prior, reverse vs forward KL): a value, best (the λ ablation's winner by IQM, after it finished), or empty: none")
	budgetName := fs.String("budget", "full", "run length (sweep.Budgets, the ablations notebook's --budget): full (5 seeds × 50k agent steps, an evaluation of 5 episodes every 5k) or tiny (CI's smoke run)")
	seeds := fs.String("seeds", "", "comma-separated seeds, or a count N for 0..N-1 written as N: (default: the budget's, 1..5 for full)")
	size := fs.String("size", "tiny", "network size preset of every run")
	steps := fs.Int("steps", 0, "agent steps per run (default: the budget's, 50000 for full)")
	jobs := fs.Int("jobs", 0, "populations at once (one per task), each with NumCPU/jobs threads; 0: one per CPU, at most one per task")
	var sets setFlags
	fs.Var(&sets, "set", "config override key=value for every run (repeatable)")
	width := fs.String("width", "single", "figure width: single or double column")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc ablation --dir DIR [flags] [-- extra pompc train flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("ablation: --dir is required")
	}
	b, err := sweep.BudgetByName(*budgetName)
	if err != nil {
		return err
	}
	if *steps > 0 {
		b.Steps = *steps
	}
	g, err := gridFromFlags(*tasks, "pompc", *lambdas, "", "", *seeds)
	if err != nil {
		return err
	}
	if *seeds == "" {
		g.Seeds = b.SeedList()
	}
	if err := checkTasks("ablation", g.Tasks); err != nil {
		return err
	}
	style, err := widgets.StyleByName(*width)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The budget's config flags first, so that --set and the extra train flags win over them.
	trainArgs := trainArgsOf(*size, 0, sets, append(b.TrainArgs(), fs.Args()...))
	l := sweep.PopulationLauncher{Exe: exe, Args: []string{"population"}}
	var all []sweep.Job
	var sum sweep.Summary
	// train runs the grids' jobs (one population per task) and keeps them for the report.
	train := func(grids []sweep.Grid) error {
		js, err := sweep.AblationJobs(*dir, grids, g.Tasks, g.Seeds, trainArgs)
		if err != nil {
			return err
		}
		for _, j := range js {
			if !slices.ContainsFunc(all, func(a sweep.Job) bool { return a.Dir == j.Dir }) {
				all = append(all, j)
			}
		}
		fmt.Printf("ablation %s: %d runs on %s, one population per task\n", *dir, len(js), strings.Join(g.Tasks, ", "))
		s, err := sweep.Engine{Launcher: l, Parallel: *jobs, Log: os.Stdout}.Run(ctx, js)
		sum.Total, sum.Done, sum.Skipped, sum.Stopped = sum.Total+s.Total, sum.Done+s.Done, sum.Skipped+s.Skipped, sum.Stopped+s.Stopped
		sum.Failed = append(sum.Failed, s.Failed...)
		return err
	}
	grids := sweep.LambdaAblation(g.Lambdas...)
	pl := strings.TrimSpace(*priorLambda)
	if pl == "best" {
		if err := train(grids); err != nil {
			return err
		}
		grids = nil
		runs, err := sweep.RunsOf(all)
		if err != nil {
			return err
		}
		if best, iqm, ok := sweep.BestLambda(runs, g.Lambdas); ok && sum.Stopped == 0 {
			fmt.Printf("ablation: best λ = %s (IQM of normalized final returns %.3f); the prior ablation runs there\n", pompc.FormatLambda(best), iqm)
			grids = sweep.PriorAblation(best)
		}
	} else if pl != "" {
		lam, err := pompc.ParseLambda(pl)
		if err != nil {
			return err
		}
		grids = append(grids, sweep.PriorAblation(lam)...)
	}
	if len(grids) > 0 {
		if err := train(grids); err != nil {
			return err
		}
	}
	runs, err := sweep.RunsOf(all)
	if err != nil {
		return err
	}
	if err := writeReport(*dir, runs, style, true, false); err != nil {
		return err
	}
	if len(sum.Failed) > 0 {
		return fmt.Errorf("ablation: %d of %d runs failed; see their train.log; run the command again to retry them", len(sum.Failed), sum.Total)
	}
	if sum.Stopped > 0 {
		fmt.Printf("interrupted: %d runs not finished; run the same command again to resume\n", sum.Stopped)
	}
	return nil
}
