package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
)

// runSweep: pompc sweep --dir DIR [grid flags] [-- extra train flags]. A new directory needs the
// grid; an existing one resumes with the grid in its sweep.json (grid flags, if given, must
// match it).
func runSweep(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	dir := fs.String("dir", "", "sweep directory (required): sweep.json, one run directory per point, results, figures/")
	tasks := fs.String("tasks", "cartpole-balance", "comma-separated tasks")
	presets := fs.String("presets", "pompc", "comma-separated presets: tdmpc2, pompc, bmpc")
	lambdas := fs.String("lambdas", "", "comma-separated lambdas (e.g. 0.1,1,9,inf); empty: each preset's own")
	kls := fs.String("kl", "", "comma-separated prior KL directions (forward, reverse); empty: each preset's own")
	priors := fs.String("priors", "", "comma-separated prior kinds (learned, planner); empty: each preset's own")
	seeds := fs.String("seeds", "0,1,2", "comma-separated seeds, or a count N for 0..N-1 written as N:")
	jobs := fs.Int("jobs", 0, "runs (or populations, with --batched) at once, each with NumCPU/jobs threads; 0: one per CPU, at most one per run or population")
	batched := fs.Bool("batched", true, "train the points that can share graphs (same task, size, planner and step target) as populations, one batched graph and one process each; false: one `pompc train` process per point")
	size := fs.String("size", "tiny", "network size preset of every run")
	steps := fs.Int("steps", 0, "agent steps per run (0: the preset's)")
	var sets setFlags
	fs.Var(&sets, "set", "config override key=value for every run (repeatable)")
	reference := fs.Bool("reference", true, "overlay the published TD-MPC2, BMPC and SAC curves where the task has them, and compare the tdmpc2 and bmpc presets with theirs in the tables")
	noFigures := fs.Bool("no-figures", false, "write only the results tables")
	lf := addLaunchFlags(fs, "one task per point, or per population with --batched")
	status := fs.Bool("status", false, "show every point: pending, running (step), done, failed (log tail), with its SLURM task state; train nothing")
	of := addOutputFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc sweep --dir DIR [flags] [-- extra pompc train flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("sweep: --dir is required")
	}
	style, group, err := of.parse("sweep")
	if err != nil {
		return err
	}
	switch {
	case *status:
		launch, note, err := statusLaunch(fs, *dir, sweep.LocalLaunch{Batched: *batched, Populations: group, Jobs: *jobs})
		if err != nil {
			return err
		}
		return printSweepStatus(ctx, *dir, launch, note)
	case *of.report:
		return writeSweepOutputs(*dir, style, *reference, *noFigures, *of.atStep)
	case lf.task():
		return runSlurmTask(ctx, *dir, *lf.submission, *lf.point, style, *reference, *noFigures)
	}
	if err := lf.check("sweep", *of.archive); err != nil {
		return err
	}
	gridFlags := map[string]bool{"tasks": true, "presets": true, "lambdas": true, "kl": true, "priors": true,
		"seeds": true, "size": true, "steps": true, "set": true}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || gridFlags[f.Name] })
	given = given || len(fs.Args()) > 0

	var g sweep.Grid
	if old, err := sweep.LoadGrid(*dir); err == nil && !given {
		g = old
		fmt.Printf("resuming the sweep in %s\n", *dir)
	} else {
		var err error
		if g, err = gridFromFlags(*tasks, *presets, *lambdas, *kls, *priors, *seeds); err != nil {
			return err
		}
		g.TrainArgs = trainArgsOf(*size, *steps, sets, fs.Args())
	}
	if err := checkTasks("sweep", g.Tasks); err != nil {
		return err
	}
	pts, err := g.Points()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if *lf.launcher == "slurm" {
		s := lf.slurm(exe)
		s.Batched, s.Group = *batched, group
		return submitSlurm(ctx, *dir, g, s, len(pts), style, *reference, *noFigures)
	}
	if *batched {
		fmt.Printf("sweep %s: %d runs, as populations (--batched)\n", *dir, len(pts))
	} else {
		fmt.Printf("sweep %s: %d runs, one process each\n", *dir, len(pts))
	}
	sum, err := sweep.Runner{Exe: exe, Jobs: *jobs, Log: os.Stdout, Batched: *batched, Group: group, Archive: *of.archive}.Run(ctx, *dir, g)
	if err != nil {
		return err
	}
	if err := writeSweepOutputs(*dir, style, *reference, *noFigures, 0); err != nil {
		return err
	}
	switch {
	case len(sum.Failed) > 0:
		var names []string
		for _, f := range sum.Failed {
			names = append(names, f.Name)
		}
		return fmt.Errorf("sweep: %d of %d runs failed (%s); see their train.log; run the sweep again to retry them",
			len(sum.Failed), sum.Total, strings.Join(names, ", "))
	case sum.Stopped > 0:
		fmt.Printf("interrupted: %d runs not finished; run the same command again to resume\n", sum.Stopped)
	default:
		fmt.Printf("all %d runs done\n", sum.Total)
	}
	return nil
}

// writeSweepOutputs writes results.csv, results_curves.csv, results.md and (unless noFigures)
// figures/ for the sweep in dir, printing the Markdown table.
func writeSweepOutputs(dir string, style widgets.Style, reference, noFigures bool, atStep int64) error {
	_, runs, err := sweep.Load(dir)
	if err != nil {
		return err
	}
	return writeReport(dir, runs, style, reference, noFigures, atStep)
}

// writeReport writes the tables (results.csv, results_curves.csv, results.md, printing the
// Markdown) and, unless noFigures, the figures of runs into dir; atStep > 0 cuts every run there
// first (sweep.AtStep).
func writeReport(dir string, runs []sweep.Run, style widgets.Style, reference, noFigures bool, atStep int64) error {
	if atStep > 0 {
		runs = sweep.AtStep(runs, atStep)
	}
	rep := sweep.NewReport(runs)
	rep.AtStep = atStep
	if reference {
		rep.Published = sweep.ComparePublished(runs, widgets.PublishedCurve)
	}
	if err := sweep.WriteTables(dir, rep); err != nil {
		return err
	}
	if err := sweep.WriteMarkdown(os.Stdout, rep); err != nil {
		return err
	}
	if noFigures {
		return nil
	}
	figs, err := widgets.SweepFigures(runs, widgets.SetOptions{Style: style, Reference: reference})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pompc: no figures: %v\n", err)
		return nil
	}
	figDir := filepath.Join(dir, "figures")
	if err := os.MkdirAll(figDir, 0o755); err != nil {
		return err
	}
	var written []string
	for _, f := range figs {
		for _, ext := range []string{".pdf", ".png"} {
			if err := f.Figure.Save(filepath.Join(figDir, f.Name+ext)); err != nil {
				return err
			}
		}
		written = append(written, f.Name)
	}
	if err := saveFiguresHTML(filepath.Join(figDir, "index.html"), figs, "sweep "+dir, false); err != nil {
		fmt.Fprintf(os.Stderr, "pompc: no interactive figures: %v\n", err)
	}
	fmt.Printf("figures in %s: %s (.pdf, .png) and index.html\n", figDir, strings.Join(written, ", "))
	return nil
}

func gridFromFlags(tasks, presets, lambdas, kls, priors, seeds string) (sweep.Grid, error) {
	g := sweep.Grid{Tasks: splitList(tasks), Presets: splitList(presets), KLs: splitList(kls), Priors: splitList(priors)}
	for _, s := range splitList(lambdas) {
		l, err := pompc.ParseLambda(s)
		if err != nil {
			return g, err
		}
		g.Lambdas = append(g.Lambdas, l)
	}
	if n, ok := strings.CutSuffix(seeds, ":"); ok {
		k, err := strconv.Atoi(n)
		if err != nil || k < 1 {
			return g, fmt.Errorf("sweep: --seeds %q: want N: with N >= 1", seeds)
		}
		for i := 0; i < k; i++ {
			g.Seeds = append(g.Seeds, i)
		}
		return g, nil
	}
	for _, s := range splitList(seeds) {
		k, err := strconv.Atoi(s)
		if err != nil || k < 0 {
			return g, fmt.Errorf("sweep: bad seed %q", s)
		}
		g.Seeds = append(g.Seeds, k)
	}
	return g, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// submitSlurm submits the sweep's unfinished points as one SLURM job array and prints its job
// id; with every point done it writes the tables and figures instead.
func submitSlurm(ctx context.Context, dir string, g sweep.Grid, s sweep.Slurm, points int, style widgets.Style, reference, noFigures bool) error {
	sub, err := s.Submit(ctx, dir, g)
	if err != nil {
		return err
	}
	if len(sub.Items) == 0 {
		fmt.Printf("sweep %s: all %d runs done or in flight; nothing submitted\n", dir, points)
		if done, _ := sweepDone(ctx, dir); done {
			return writeSweepOutputs(dir, style, reference, noFigures, 0)
		}
		return nil
	}
	runs := 0
	for _, it := range sub.Items {
		runs += len(it)
	}
	fmt.Printf("sweep %s: submitted job array %s: %d task(s), %d run(s) (script %s)\n", dir, sub.JobID, len(sub.Items), runs,
		filepath.Join(dir, sweep.SlurmDir, strconv.Itoa(sub.N), "array.sbatch"))
	fmt.Printf("%s\n", sub.JobID)
	return nil
}

// runSlurmTask trains task point of submission n (what an array task runs). It exits with
// sweep.TaskStopped when a signal stopped it before its runs finished (its script requeues
// it), and writes the sweep's tables and figures once every point is done.
func runSlurmTask(ctx context.Context, dir string, n, point int, style widgets.Style, reference, noFigures bool) error {
	_, jobs, err := sweep.LoadJobs(dir)
	if err != nil {
		return err
	}
	if err := trainSubmissionTask(ctx, "sweep", dir, jobs, n, point); err != nil {
		return err
	}
	if done, _ := sweepDone(ctx, dir); done {
		// The task's runs are done whatever happens to the report (pompc sweep --report redoes it).
		if err := writeSweepOutputs(dir, style, reference, noFigures, 0); err != nil {
			fmt.Fprintf(os.Stderr, "pompc: the sweep's report: %v (pompc sweep --dir %s --report writes it)\n", err, dir)
		}
	}
	return nil
}

// trainSubmissionTask trains array task point of submission n under dir, its runs among all
// (what the array task of a sweep or an ablation runs). It exits with sweep.TaskStopped when a
// signal stopped it before its runs finished (its script requeues it).
func trainSubmissionTask(ctx context.Context, cmd, dir string, all []sweep.Job, n, point int) error {
	if n < 0 || point < 0 {
		return fmt.Errorf("%s: --point and --submission go together", cmd)
	}
	jobs, batched, err := sweep.SubmissionJobs(dir, all, n, point)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var l sweep.Launcher = sweep.ProcessLauncher{Exe: exe}
	if batched {
		// The item is the population the submission grouped (its --populations).
		l = sweep.PopulationLauncher{Exe: exe, Args: []string{"population"}, Group: sweep.GroupShared}
	}
	// One item, all of the allocation's cores (GOMAXPROCS follows the task's CPU set).
	sum, err := sweep.Engine{Launcher: l, Parallel: 1, Log: os.Stdout}.Run(ctx, jobs)
	if err != nil {
		return err
	}
	switch {
	case len(sum.Failed) > 0:
		return fmt.Errorf("%s: %d of %d runs of task %d failed; see their train.log", cmd, len(sum.Failed), len(jobs), point)
	case sum.Stopped > 0:
		return exitCode{sweep.TaskStopped, fmt.Sprintf("pompc: %s task %d stopped with %d run(s) unfinished (checkpointed)", cmd, point, sum.Stopped)}
	}
	return nil
}

// launchFlags are the flags that choose where a sweep or an ablation trains: here, or as SLURM
// job arrays; and, for an array task, which task of which submission to run.
type launchFlags struct {
	launcher, slurmArgs *string
	arrayPar            *int
	submission, point   *int
}

// addLaunchFlags registers the launch flags on fs; items says what an array task trains.
func addLaunchFlags(fs *flag.FlagSet, items string) *launchFlags {
	return &launchFlags{
		launcher:   fs.String("launcher", "local", "local: train here, as child processes; slurm: submit a SLURM job array ("+items+") and return its job id"),
		slurmArgs:  fs.String("slurm-args", "", `extra sbatch options for --launcher slurm, e.g. "--partition=gpu --gres=gpu:1 --time=12:00:00"`),
		arrayPar:   fs.Int("array-parallelism", 0, "--launcher slurm: at most this many array tasks at once (0: no cap)"),
		submission: fs.Int("submission", -1, "with --point: the SLURM submission (D/slurm/N) whose task to run"),
		point:      fs.Int("point", -1, "run one task of a SLURM submission (what its array tasks run: $SLURM_ARRAY_TASK_ID)"),
	}
}

// task reports whether the command runs one array task.
func (f *launchFlags) task() bool { return *f.point >= 0 || *f.submission >= 0 }

// check refuses an unknown launcher, and --archive with SLURM (it archives what this process
// trains; on a cluster `pompc archive` runs once the arrays are done).
func (f *launchFlags) check(cmd, archive string) error {
	if *f.launcher != "local" && *f.launcher != "slurm" {
		return fmt.Errorf("%s: --launcher must be local or slurm, got %q", cmd, *f.launcher)
	}
	if *f.launcher == "slurm" && archive != "" {
		return fmt.Errorf("%s: --archive archives the runs this process trains; on SLURM run `pompc archive` when the arrays are done", cmd)
	}
	return nil
}

// slurm is the SLURM submitter the flags describe, its tasks running exe.
func (f *launchFlags) slurm(exe string) sweep.Slurm {
	return sweep.Slurm{Exe: exe, SbatchArgs: strings.Fields(*f.slurmArgs), ArrayParallelism: *f.arrayPar}
}

// sweepDone reports whether every point of the sweep in dir is done.
func sweepDone(ctx context.Context, dir string) (bool, error) {
	pts, err := sweep.SweepStatus(ctx, dir)
	if err != nil {
		return false, err
	}
	for _, p := range pts {
		if p.State != "done" {
			return false, nil
		}
	}
	return len(pts) > 0, nil
}

// printSweepStatus prints one line per point: its state, step, SLURM task and, for a failed
// one, the tail of its log.
func printSweepStatus(ctx context.Context, dir string, launch sweep.LocalLaunch, note string) error {
	pts, err := sweep.SweepStatus(ctx, dir)
	if err != nil {
		return err
	}
	printPointStatus(pts, rundir.InUse(dir))
	_, jobs, err := sweep.LoadJobs(dir)
	if err != nil {
		return err
	}
	// The evaluations (and λ, a run's variant) are all the comparison reads.
	runs, err := sweep.RunsOfKeys(jobs, pompc.KeyEvalReturn, pompc.KeyLambda)
	if err != nil {
		return err
	}
	printPublished(runs)
	if subs, _ := sweep.LoadSubmissions(dir); len(subs) > 0 {
		return nil // on SLURM the time left is the cluster's: squeue tells
	}
	// The time left as the last launch here trains the runs (statusLaunch).
	printTimeLeft("sweep", jobs, pts, launch, note, nil)
	return nil
}

// printPublished prints, for --status, the TD-MPC2 and BMPC presets' evaluations at the
// published steps they have reached against the published curves (sweep.ComparePublished), one
// line each; nothing when there is none yet.
func printPublished(runs []sweep.Run) {
	rows := sweep.ComparePublished(runs, widgets.PublishedCurve)
	if len(rows) == 0 {
		return
	}
	fmt.Println("against the published curves (ours: mean ± 95% t half-width over runs; theirs: mean [band]):")
	for _, r := range rows {
		fmt.Printf("  %-40s step %-6d %6.1f ± %-5.1f (%d runs)   %s %.1f [%.1f, %.1f]: %s\n", r.Task+"  "+r.Variant, r.Step,
			r.Mean, r.CI, r.Seeds, strings.TrimSuffix(r.Published, " (published)"), r.PubMean, r.PubLo, r.PubHi, r.Verdict())
	}
}

// statusLaunch is how --status groups and schedules the work left of the sweep or ablation in
// dir: as --populations, --jobs (and a sweep's --batched) say where given, else as the last local
// launch recorded (sweep.LocalLaunch: the process training it now, or the one a resume repeats),
// else as the flags' defaults. note says which, when the record was used.
func statusLaunch(fs *flag.FlagSet, dir string, flags sweep.LocalLaunch) (sweep.LocalLaunch, string, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	last, ok, err := sweep.LoadLocalLaunch(dir)
	if err != nil || !ok {
		return flags, "", err
	}
	l := last
	if given["populations"] {
		l.Populations = flags.Populations
	}
	if given["jobs"] {
		l.Jobs = flags.Jobs
	}
	if given["batched"] {
		l.Batched = flags.Batched
	}
	var used []string
	if !given["populations"] && l.Batched {
		used = append(used, "--populations "+string(l.Populations))
	}
	if !given["jobs"] {
		used = append(used, "--jobs "+strconv.Itoa(l.Jobs))
	}
	if !given["batched"] && fs.Lookup("batched") != nil {
		used = append(used, "--batched="+strconv.FormatBool(l.Batched))
	}
	if len(used) == 0 {
		return l, "", nil
	}
	return l, fmt.Sprintf("(runs grouped and scheduled as the last launch here, %s (%s); give the flag to estimate another)",
		strings.Join(used, " "), sweep.LocalLaunchFile), nil
}

// printTimeLeft prints how long the jobs not done (pts: their status) and then later take on
// this machine as launch trains them (its grouping, and its --jobs slots or one per CPU;
// sweep.EstimateLeft), if anything is known, and then launchNote (statusLaunch's).
func printTimeLeft(what string, jobs []sweep.Job, pts []sweep.PointStatus, launch sweep.LocalLaunch, launchNote string, later []sweep.Job) {
	l := launch.Launcher()
	if len(jobs) == 0 {
		return
	}
	// The seed phase of each task (its random steps cost next to nothing).
	seedEnd := map[string]int64{}
	for _, j := range jobs {
		if _, ok := seedEnd[j.Point.Task]; !ok {
			if env, err := envs.Make(j.Point.Task); err == nil {
				seedEnd[j.Point.Task] = int64(j.Config.SeedStepsFor(env.Spec().EpisodeLen))
				env.Close()
			}
		}
	}
	var todo []int
	for i, p := range pts {
		if p.State != rundir.StateDone {
			todo = append(todo, i)
		}
	}
	slots := launch.Jobs
	if slots <= 0 {
		slots = sweep.DefaultParallel(len(sweep.Items(l, jobs, todo)) + len(later))
	}
	est := sweep.EstimateLeft(l, jobs, pts, slots, func(j sweep.Job) int64 { return seedEnd[j.Point.Task] }, later)
	var parts []string
	switch {
	case est.Running > 0:
		parts = append(parts, "the running work finishes in about "+est.Running.Round(time.Minute).String())
		if est.All > est.Running {
			parts = append(parts, "the whole "+what+" in about "+est.All.Round(time.Minute).String())
		}
	case est.All > 0:
		parts = append(parts, "nothing trains now; the rest of the "+what+" takes about "+est.All.Round(time.Minute).String()+" once resumed")
	}
	if est.Unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d runs not counted (their preset has trained nowhere yet)", est.Unknown))
	}
	if len(parts) > 0 {
		fmt.Printf("%s (at each preset's rate so far on this machine, evaluations included, %d at a time)\n", strings.Join(parts, ", "), slots)
		if launchNote != "" {
			fmt.Println(launchNote)
		}
	}
}

// printPointStatus prints a line per run (state, step of target, SLURM task, a failed run's log
// tail), one line for the seeds of a variant that stand at the same place (a population, as a
// rule: "task_variant_s{1..5}"), and the count of each state.
func printPointStatus(pts []sweep.PointStatus, live bool) {
	counts := map[string]int{}
	line := func(p sweep.PointStatus) string {
		slurm := ""
		if p.Task != "" {
			slurm = "  slurm " + p.Task
			if p.Slurm != "" {
				slurm += " " + p.Slurm
			}
		}
		return fmt.Sprintf("%-8s %7d/%d%s", p.State, p.Step, p.Target, slurm)
	}
	// seedOf splits a run name into its variant and seed ("…_s3" → "…", "3").
	seedOf := func(name string) (string, string) {
		i := strings.LastIndex(name, "_s")
		if i < 0 || strings.Trim(name[i+2:], "0123456789") != "" || i+2 == len(name) {
			return name, ""
		}
		return name[:i], name[i+2:]
	}
	for i := 0; i < len(pts); {
		p := pts[i]
		variant, seed := seedOf(p.Name)
		seeds := []string{seed}
		j := i + 1
		for ; j < len(pts) && seed != "" && p.LogTail == ""; j++ {
			v, s := seedOf(pts[j].Name)
			if v != variant || s == "" || pts[j].LogTail != "" || line(pts[j]) != line(p) {
				break
			}
			seeds = append(seeds, s)
		}
		name := p.Name
		if len(seeds) > 1 {
			name = variant + "_s{" + strings.Join(seeds, ",") + "}"
		}
		fmt.Printf("%-44s %s\n", name, line(p))
		for _, q := range pts[i:j] {
			counts[q.State]++
		}
		if p.LogTail != "" {
			for _, l := range strings.Split(strings.TrimRight(p.LogTail, "\n"), "\n") {
				fmt.Printf("    | %s\n", l)
			}
		}
		i = j
	}
	var parts []string
	for _, st := range []string{"pending", "running", "stopped", "failed", "done"} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	wait := ""
	if live && counts["stopped"] > 0 {
		// A run stopped by an earlier launch, queued by the one now holding the directory.
		wait = " (the stopped ones wait for the process training this directory, which resumes them)"
	}
	fmt.Printf("%d points: %s%s\n", len(pts), strings.Join(parts, ", "), wait)
}

// outputFlags are the flags pompc sweep and pompc ablation share: how runs are grouped into
// populations, the figure width, and --report [--at-step N].
type outputFlags struct {
	populations, width, archive *string
	report                      *bool
	atStep                      *int64
}

func addOutputFlags(fs *flag.FlagSet) *outputFlags {
	return &outputFlags{
		populations: fs.String("populations", "auto", "which runs share a population: variant (each variant's seeds; a mixed population computes every variant's branches for every run), shared (every run that can share graphs: one graph per task, for a GPU), run (each run alone: a lost machine loses only the runs then training, at some core time per run), auto (variant on the pure-Go backend, shared on XLA); :N caps a population at N runs (variant:3, shared:20)"),
		width:       fs.String("width", "single", "figure width: single (3.25 in) or double (6.75 in) column"),
		report:      fs.Bool("report", false, "write the tables and figures of what has trained so far; train nothing"),
		atStep:      fs.Int64("at-step", 0, "with --report: every run as it stood at this agent step (runs past it count once there; those not there yet are pending)"),
		archive:     fs.String("archive", "", "also archive each run into this directory as it finishes (as pompc archive: no checkpoints; a machine lost later keeps them)"),
	}
}

// parse checks the flags after fs.Parse and returns the figure style and the grouping.
func (o *outputFlags) parse(cmd string) (widgets.Style, sweep.Grouping, error) {
	if *o.atStep < 0 || (*o.atStep > 0 && !*o.report) {
		return widgets.Style{}, "", fmt.Errorf("%s: --at-step wants --report and a positive step", cmd)
	}
	group, err := sweep.ParseGrouping(*o.populations)
	if err != nil {
		return widgets.Style{}, "", err
	}
	style, err := widgets.StyleByName(*o.width)
	return style, group, err
}

// trainArgsOf are the `pompc train` flags every run of a sweep or ablation gets: the size, the
// steps (0: the preset's), the --set overrides and the extra flags after --.
func trainArgsOf(size string, steps int, sets []string, extra []string) []string {
	args := []string{"--size", size}
	if steps > 0 {
		args = append(args, "--steps", strconv.Itoa(steps))
	}
	for _, kv := range sets {
		args = append(args, "--set", kv)
	}
	return append(args, extra...)
}

// checkTasks refuses tasks this build does not have, before anything starts.
func checkTasks(cmd string, tasks []string) error {
	known := envs.Names()
	for _, t := range tasks {
		if !slices.Contains(known, t) {
			return fmt.Errorf("%s: unknown task %q; tasks of this build: %s", cmd, t, strings.Join(known, ", "))
		}
	}
	return nil
}
