package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
)

// ablationFile holds an ablation's settings in its directory, so that `pompc ablation --dir D`
// alone resumes it and --status / --report read it.
const ablationFile = "ablation.json"

// ablationSpec is an ablation's settings, resolved (the budget's seeds and steps filled in):
// two invocations with equal specs train the same runs.
type ablationSpec struct {
	Tasks []string `json:"tasks"`
	// Lambdas are PO-MPC's λ of the λ ablation, as pompc.FormatLambda writes them ("inf").
	Lambdas []string `json:"lambdas"`
	// PriorLambda is "best", a λ, or "" (no prior ablation).
	PriorLambda string   `json:"prior_lambda"`
	Budget      string   `json:"budget"`
	Seeds       []int    `json:"seeds"`
	Steps       int      `json:"steps"`
	Size        string   `json:"size"`
	Sets        []string `json:"sets,omitempty"`
	// Extra are the train flags after --.
	Extra []string `json:"extra,omitempty"`
}

// trainArgs are the `pompc train` flags of every run: the budget's config flags first, so
// that --set and the extra train flags win over them. Runs checkpoint every
// ablationSaveEvery agent steps unless the extra flags say otherwise.
func (s ablationSpec) trainArgs() ([]string, error) {
	b, err := sweep.BudgetByName(s.Budget)
	if err != nil {
		return nil, err
	}
	b.Steps = s.Steps
	args := append(b.TrainArgs(), "--save-every", strconv.Itoa(ablationSaveEvery))
	return trainArgsOf(s.Size, 0, s.Sets, append(args, s.Extra...)), nil
}

// ablationSaveEvery is the ablation's checkpoint interval in agent steps: a run killed with its
// machine (a preempted job, an ended session) loses at most this much, a few minutes of a
// PO-MPC population on one core.
const ablationSaveEvery = 1000

// lambdas parses Lambdas.
func (s ablationSpec) lambdas() ([]float64, error) {
	out := make([]float64, len(s.Lambdas))
	for i, v := range s.Lambdas {
		l, err := pompc.ParseLambda(v)
		if err != nil {
			return nil, fmt.Errorf("ablation: λ %q: %w", v, err)
		}
		out[i] = l
	}
	return out, nil
}

// lambdaJobs and priorJobs are the runs of the λ ablation and of the prior ablation at λ.
func (s ablationSpec) lambdaJobs(dir string) ([]sweep.Job, error) {
	args, err := s.trainArgs()
	if err != nil {
		return nil, err
	}
	ls, err := s.lambdas()
	if err != nil {
		return nil, err
	}
	return sweep.AblationJobs(dir, sweep.LambdaAblation(ls...), s.Tasks, s.Seeds, args)
}

func (s ablationSpec) priorJobs(dir string, lambda float64) ([]sweep.Job, error) {
	args, err := s.trainArgs()
	if err != nil {
		return nil, err
	}
	return sweep.AblationJobs(dir, sweep.PriorAblation(lambda), s.Tasks, s.Seeds, args)
}

// priorLambda is the λ of the prior ablation: the spec's value, or for "best" the λ
// ablation's winner once every run of it is done (ok false before, or with no prior ablation).
func (s ablationSpec) priorLambda(lambdaRuns []sweep.Run) (lambda, iqm float64, best, ok bool, err error) {
	switch strings.TrimSpace(s.PriorLambda) {
	case "":
		return 0, 0, false, false, nil
	case "best":
		for _, r := range lambdaRuns {
			if r.Status.State != rundir.StateDone {
				return 0, 0, true, false, nil
			}
		}
		ls, err := s.lambdas()
		if err != nil {
			return 0, 0, true, false, err
		}
		lambda, iqm, ok = sweep.BestLambda(lambdaRuns, ls)
		return lambda, iqm, true, ok, nil
	}
	lambda, err = pompc.ParseLambda(s.PriorLambda)
	return lambda, 0, false, err == nil, err
}

func loadAblation(dir string) (ablationSpec, error) {
	var s ablationSpec
	data, err := os.ReadFile(filepath.Join(dir, ablationFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("ablation: %s: %w", filepath.Join(dir, ablationFile), err)
	}
	return s, nil
}

func saveAblation(dir string, s ablationSpec) error {
	if err := rundir.Ensure(dir); err != nil {
		return err
	}
	return rundir.WriteJSON(filepath.Join(dir, ablationFile), s, 0o644)
}

// runAblation: pompc ablation --dir DIR [flags] [-- extra train flags]. The ablation of issue 17
// on every task (populations grouped by --populations): TD-MPC2, PO-MPC at each λ and BMPC, then at
// --prior-lambda (default best: the λ ablation's winner) the planner prior and the forward KL
// next to the default learned prior with reverse KL. Resumable (run it again, with no flags:
// DIR/ablation.json holds its settings); writes the tables (per task and across tasks) and
// the figures into DIR. --status shows every run's progress and the time left; --report
// writes the tables and figures of what has trained so far (--at-step: every run cut at one
// step).
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
	jobs := fs.Int("jobs", 0, "populations at once, each with NumCPU/jobs threads; 0: one per CPU, at most one per population")
	var sets setFlags
	fs.Var(&sets, "set", "config override key=value for every run (repeatable)")
	addTasks := fs.String("add-tasks", "", "comma-separated tasks to add to the ablation in --dir (its other settings kept); refused once its prior ablation at the best λ has started, since the best λ is chosen across every task")
	status := fs.Bool("status", false, "show every run's progress, the latest evaluations and the time left; train nothing")
	of := addOutputFlags(fs)
	lf := addLaunchFlags(fs, "one task per population; the λ ablation's last task submits the prior ablation at the best λ")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc ablation --dir DIR [flags] [-- extra pompc train flags]\n"+
			"       pompc ablation --dir DIR            (resume: DIR/ablation.json holds the settings)\n"+
			"       pompc ablation --dir DIR --status | --report [--at-step N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("ablation: --dir is required")
	}
	style, group, err := of.parse("ablation")
	if err != nil {
		return err
	}
	specFlags := map[string]bool{"tasks": true, "lambdas": true, "prior-lambda": true, "budget": true, "seeds": true,
		"size": true, "steps": true, "set": true}
	given := len(fs.Args()) > 0
	fs.Visit(func(f *flag.Flag) { given = given || specFlags[f.Name] })

	spec := ablationSpec{Tasks: splitList(*tasks), PriorLambda: strings.TrimSpace(*priorLambda), Budget: *budgetName,
		Size: *size, Sets: sets, Extra: fs.Args()}
	b, err := sweep.BudgetByName(*budgetName)
	if err != nil {
		return err
	}
	spec.Budget, spec.Steps = b.Name, b.Steps
	if *steps > 0 {
		spec.Steps = *steps
	}
	g, err := gridFromFlags(*tasks, "pompc", *lambdas, "", "", *seeds)
	if err != nil {
		return err
	}
	for _, l := range g.Lambdas {
		spec.Lambdas = append(spec.Lambdas, pompc.FormatLambda(l))
	}
	spec.Seeds = g.Seeds
	if *seeds == "" {
		spec.Seeds = b.SeedList()
	}
	if len(spec.Sets) == 0 {
		spec.Sets = nil
	}
	if len(spec.Extra) == 0 {
		spec.Extra = nil
	}
	if given {
		if err := checkTasks("ablation", spec.Tasks); err != nil {
			return err
		}
	}
	saved, err := loadAblation(*dir)
	if *addTasks != "" {
		switch {
		case given:
			return errors.New("ablation: --add-tasks keeps the ablation's other settings: give no other settings flag")
		case *status || *of.report || lf.task():
			return errors.New("ablation: --add-tasks changes the ablation: not with --status, --report or an array task")
		case err != nil:
			return fmt.Errorf("ablation: --add-tasks needs an ablation in %s: %w", *dir, err)
		}
		if _, err := addAblationTasks(*dir, saved, splitList(*addTasks)); err != nil {
			return err
		}
		fmt.Printf("train them with `pompc ablation --dir %s` (or submit them with --launcher slurm)\n", *dir)
		return nil
	}
	switch {
	case err == nil && !given:
		spec = saved
	case err == nil && !reflect.DeepEqual(saved, spec):
		return fmt.Errorf("ablation: %s holds an ablation with other settings (%s); resume it with no settings flags, or use another --dir",
			*dir, filepath.Join(*dir, ablationFile))
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := checkTasks("ablation", spec.Tasks); err != nil {
		return err
	}
	// Every setting checked before anything is saved or trained: the runs' configurations
	// (a bad --set or train flag) and the prior ablation's λ.
	if _, err := spec.lambdaJobs(*dir); err != nil {
		return err
	}
	if _, _, _, _, err := spec.priorLambda(nil); err != nil {
		return err
	}
	switch {
	case *status:
		launch, note, err := statusLaunch(fs, *dir, sweep.LocalLaunch{Batched: true, Populations: group, Jobs: *jobs})
		if err != nil {
			return err
		}
		return printAblationStatus(ctx, *dir, spec, launch, note)
	case *of.report:
		_, runs, _, _, err := ablationRuns(*dir, spec)
		if err != nil {
			return err
		}
		return writeReport(*dir, runs, style, true, false, *of.atStep)
	case lf.task():
		return runAblationTask(ctx, *dir, spec, *lf.submission, *lf.point, style)
	}
	if err := lf.check("ablation", *of.archive); err != nil {
		return err
	}
	if *lf.launcher == "slurm" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		if err := saveAblation(*dir, spec); err != nil {
			return err
		}
		s := lf.slurm(exe)
		s.Batched, s.Group, s.Command = true, group, "ablation"
		if err := saveSlurmLaunch(*dir, s); err != nil {
			return err
		}
		return submitAblation(ctx, *dir, spec, s, style)
	}
	if *of.archive != "" {
		if err := sweep.CheckArchiveDir(*of.archive); err != nil {
			return err
		}
	}
	// One ablation process per directory (the runs are locked one by one as they train).
	lock, err := rundir.Acquire(*dir)
	if err != nil {
		return fmt.Errorf("ablation: %w", err)
	}
	defer lock.Unlock()
	if err := saveAblation(*dir, spec); err != nil {
		return err
	}
	if err := sweep.SaveLocalLaunch(*dir, sweep.LocalLaunch{Batched: true, Populations: group, Jobs: *jobs}); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	l := sweep.PopulationLauncher{Exe: exe, Args: []string{"population"}, Group: group}
	var sum sweep.Summary
	// train runs jobs (populations as --populations groups them) and adds up their summary.
	train := func(js []sweep.Job) error {
		fmt.Printf("ablation %s: %d runs on %s in %d populations\n", *dir, len(js), strings.Join(spec.Tasks, ", "), len(sweep.Items(l, js, sweep.Indices(len(js)))))
		e := sweep.Engine{Launcher: l, Parallel: *jobs, Log: os.Stdout}
		if *of.archive != "" {
			e.OnUpdate = sweep.ArchiveEach(*dir, *of.archive, js, os.Stdout)
		}
		s, err := e.Run(ctx, js)
		sum.Total, sum.Done, sum.Skipped, sum.Stopped = sum.Total+s.Total, sum.Done+s.Done, sum.Skipped+s.Skipped, sum.Stopped+s.Stopped
		sum.Failed = append(sum.Failed, s.Failed...)
		return err
	}
	lj, err := spec.lambdaJobs(*dir)
	if err != nil {
		return err
	}
	// A fixed prior λ trains together with the λ ablation (its default-prior run is the λ
	// ablation's own); "best" waits for the λ ablation's winner.
	if lam, _, best, ok, err := spec.priorLambda(nil); err != nil {
		return err
	} else if ok && !best {
		pj, err := spec.priorJobs(*dir, lam)
		if err != nil {
			return err
		}
		lj = append(lj, newJobs(lj, pj)...)
	}
	if err := train(lj); err != nil {
		return err
	}
	if spec.PriorLambda == "best" && sum.Stopped == 0 {
		lambdaRuns, err := sweep.RunsOf(lj)
		if err != nil {
			return err
		}
		if lam, iqm, _, ok, _ := spec.priorLambda(lambdaRuns); ok {
			fmt.Printf("ablation: best λ = %s (IQM of normalized final returns %.3f); the prior ablation runs there\n", pompc.FormatLambda(lam), iqm)
			pj, err := spec.priorJobs(*dir, lam)
			if err != nil {
				return err
			}
			if err := train(pj); err != nil {
				return err
			}
		}
	}
	_, runs, _, _, err := ablationRuns(*dir, spec)
	if err != nil {
		return err
	}
	if err := writeReport(*dir, runs, style, true, false, 0); err != nil {
		return err
	}
	if len(sum.Failed) > 0 {
		return fmt.Errorf("ablation: %d of %d runs failed; see their train.log; run the command again to retry them", len(sum.Failed), len(runs))
	}
	if sum.Stopped > 0 {
		fmt.Printf("interrupted: %d runs not finished; run `pompc ablation --dir %s` again to resume\n", sum.Stopped, *dir)
	}
	return nil
}

// newJobs are the jobs of b whose run directories a does not have.
func newJobs(a, b []sweep.Job) []sweep.Job {
	var out []sweep.Job
	for _, j := range b {
		if !slices.ContainsFunc(a, func(x sweep.Job) bool { return x.Dir == j.Dir }) {
			out = append(out, j)
		}
	}
	return out
}

// ablationRuns are the ablation's runs known so far, with what their directories hold: the λ
// ablation's, and the prior ablation's once its λ is known (fixed, or the λ ablation's winner
// after it finished). Each run directory is read once, its metrics of keys only when given
// (the evaluations and λ for a status: sweep.RunsOfKeys). Before the best λ is known, later are
// the prior ablation's jobs as they will be, but at the first λ (for the time left).
func ablationRuns(dir string, spec ablationSpec, keys ...string) (jobs []sweep.Job, runs []sweep.Run, later []sweep.Job, priorNote string, err error) {
	if jobs, err = spec.lambdaJobs(dir); err != nil {
		return nil, nil, nil, "", err
	}
	if runs, err = sweep.RunsOfKeys(jobs, keys...); err != nil {
		return nil, nil, nil, "", err
	}
	lam, _, best, ok, err := spec.priorLambda(runs)
	switch {
	case err != nil:
		return nil, nil, nil, "", err
	case ok:
		pj, err := spec.priorJobs(dir, lam)
		if err != nil {
			return nil, nil, nil, "", err
		}
		extra := newJobs(jobs, pj)
		er, err := sweep.RunsOfKeys(extra, keys...)
		if err != nil {
			return nil, nil, nil, "", err
		}
		jobs, runs = append(jobs, extra...), append(runs, er...)
		if best {
			priorNote = "the prior ablation runs at the best λ = " + pompc.FormatLambda(lam)
		}
	case best && allDone(runs):
		priorNote = "no λ has a finished run on every task: the prior ablation cannot choose its λ"
	case best && len(spec.Lambdas) > 0:
		// As many runs as at any of the λ values (the default prior's are the λ ablation's own).
		ls, err := spec.lambdas()
		if err != nil {
			return nil, nil, nil, "", err
		}
		pj, err := spec.priorJobs(dir, ls[0])
		if err != nil {
			return nil, nil, nil, "", err
		}
		later = newJobs(jobs, pj)
		priorNote = fmt.Sprintf("then the prior ablation at the best λ (%d more runs), once the λ ablation has finished", len(later))
	}
	return jobs, runs, later, priorNote, nil
}

// addAblationTasks returns spec with tasks added (those it lacks) and saves it in dir. With
// the prior ablation at the best λ, it refuses once a prior-ablation run has started: the best
// λ is chosen across every task, and a new task could change it.
func addAblationTasks(dir string, spec ablationSpec, tasks []string) (ablationSpec, error) {
	if err := checkTasks("ablation", tasks); err != nil {
		return spec, err
	}
	var added []string
	for _, t := range tasks {
		if !slices.Contains(spec.Tasks, t) {
			added = append(added, t)
		}
	}
	if len(added) == 0 {
		return spec, nil
	}
	if strings.TrimSpace(spec.PriorLambda) == "best" {
		// Started here, or submitted to SLURM and still queued (no status record yet).
		submitted, err := sweep.SubmittedNames(dir)
		if err != nil {
			return spec, err
		}
		lj, err := spec.lambdaJobs(dir)
		if err != nil {
			return spec, err
		}
		ls, err := spec.lambdas()
		if err != nil {
			return spec, err
		}
		for _, l := range ls {
			pj, err := spec.priorJobs(dir, l)
			if err != nil {
				return spec, err
			}
			for _, j := range newJobs(lj, pj) {
				st, err := rundir.ReadStatus(j.Dir)
				if err != nil {
					return spec, err
				}
				if st.State != "" || submitted[filepath.Base(j.Dir)] {
					return spec, fmt.Errorf("ablation: the prior ablation of %s has started or is submitted (%s): adding a task would change the best λ it runs at; use another --dir", dir, filepath.Base(j.Dir))
				}
			}
		}
	}
	// Not while the ablation trains here: that process keeps its settings and would choose the
	// best λ without the new tasks.
	lock, err := rundir.Acquire(dir)
	if err != nil {
		return spec, fmt.Errorf("ablation: stop the ablation training in %s before adding tasks: %w", dir, err)
	}
	defer lock.Unlock()
	out := spec
	out.Tasks = append(slices.Clone(spec.Tasks), added...)
	if err := saveAblation(dir, out); err != nil {
		return spec, err
	}
	fmt.Printf("ablation %s: added %s (now %s)\n", dir, strings.Join(added, ", "), strings.Join(out.Tasks, ", "))
	return out, nil
}

// slurmLaunchFile keeps, in an ablation's slurm/ folder, how its arrays are submitted, so that
// the λ ablation's last task submits the prior ablation the same way.
const slurmLaunchFile = "launch.json"

// saveSlurmLaunch writes s to the ablation's slurm/launch.json.
func saveSlurmLaunch(dir string, s sweep.Slurm) error {
	if err := os.MkdirAll(filepath.Join(dir, sweep.SlurmDir), 0o755); err != nil {
		return err
	}
	return rundir.WriteJSON(filepath.Join(dir, sweep.SlurmDir, slurmLaunchFile), s, 0o644)
}

// loadSlurmLaunch reads the ablation's slurm/launch.json.
func loadSlurmLaunch(dir string) (sweep.Slurm, error) {
	var s sweep.Slurm
	data, err := os.ReadFile(filepath.Join(dir, sweep.SlurmDir, slurmLaunchFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(data, &s)
}

// submitAblation submits every run of the ablation known now that is neither done nor in
// flight as one SLURM job array (one task per population): the λ ablation, and the prior
// ablation once its λ is known. With every run done it writes the report instead.
func submitAblation(ctx context.Context, dir string, spec ablationSpec, s sweep.Slurm, style widgets.Style) error {
	jobs, runs, later, note, err := ablationRuns(dir, spec)
	if err != nil {
		return err
	}
	sub, err := s.SubmitJobs(ctx, dir, jobs)
	if err != nil {
		return err
	}
	if len(sub.Items) > 0 {
		n := 0
		for _, it := range sub.Items {
			n += len(it)
		}
		fmt.Printf("ablation %s: submitted job array %s: %d task(s), %d run(s) (script %s)\n", dir, sub.JobID, len(sub.Items), n,
			filepath.Join(dir, sweep.SlurmDir, strconv.Itoa(sub.N), "array.sbatch"))
		if len(later) > 0 {
			fmt.Printf("%s: the λ ablation's last task submits it (or run `pompc ablation --dir %s --launcher slurm` again then)\n", note, dir)
		}
		fmt.Println(sub.JobID)
		return nil
	}
	if len(later) == 0 && allDone(runs) {
		fmt.Printf("ablation %s: all %d runs done; nothing submitted\n", dir, len(runs))
		return writeReport(dir, runs, style, true, false, 0)
	}
	fmt.Printf("ablation %s: every run is done or in flight; nothing submitted\n", dir)
	return nil
}

// runAblationTask trains one array task of an ablation's submission; the task that ends the λ
// ablation submits the prior ablation at the best λ (once: never when a submission already
// named one of its runs), and the task that ends the whole ablation writes its report.
func runAblationTask(ctx context.Context, dir string, spec ablationSpec, n, point int, style widgets.Style) error {
	jobs, _, _, _, err := ablationRuns(dir, spec)
	if err != nil {
		return err
	}
	if err := trainSubmissionTask(ctx, "ablation", dir, jobs, n, point); err != nil {
		return err
	}
	jobs, runs, later, _, err := ablationRuns(dir, spec)
	if err != nil {
		return err
	}
	if strings.TrimSpace(spec.PriorLambda) == "best" && len(later) == 0 {
		// Locked: another task (or the user) is submitting now; it submits the prior ablation.
		if err := submitPriorOnce(ctx, dir, spec, jobs); err != nil && !errors.Is(err, rundir.ErrLocked) {
			fmt.Fprintf(os.Stderr, "pompc: the prior ablation was not submitted: %v; `pompc ablation --dir %s --launcher slurm` submits it\n", err, dir)
		}
	}
	if len(later) == 0 && allDone(runs) {
		// The task's runs are done whatever happens to the report (--report redoes it).
		if err := writeReport(dir, runs, style, true, false, 0); err != nil {
			fmt.Fprintf(os.Stderr, "pompc: the ablation's report: %v (pompc ablation --dir %s --report writes it)\n", err, dir)
		}
	}
	return nil
}

// submitPriorOnce submits the prior ablation's runs (those of jobs that the λ ablation does
// not have) unless a submission of dir already named one of them.
func submitPriorOnce(ctx context.Context, dir string, spec ablationSpec, jobs []sweep.Job) error {
	lj, err := spec.lambdaJobs(dir)
	if err != nil {
		return err
	}
	prior := newJobs(lj, jobs)
	if len(prior) == 0 {
		return nil
	}
	submitted, err := sweep.SubmittedNames(dir)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(prior, func(j sweep.Job) bool { return submitted[filepath.Base(j.Dir)] }) {
		return nil
	}
	s, err := loadSlurmLaunch(dir)
	if err != nil {
		return err
	}
	sub, err := s.SubmitJobs(ctx, dir, prior)
	if err != nil {
		return err
	}
	if len(sub.Items) > 0 {
		fmt.Printf("ablation %s: the λ ablation is done; submitted the prior ablation as job array %s (%d task(s))\n", dir, sub.JobID, len(sub.Items))
	}
	return nil
}

// allDone reports whether there are runs and every one is done.
func allDone(runs []sweep.Run) bool {
	for _, r := range runs {
		if r.Status.State != rundir.StateDone {
			return false
		}
	}
	return len(runs) > 0
}

// printLatestEvals prints each variant's latest evaluation that all its seeds with one have
// reached (sweep.LatestEvals) and how far the furthest seed is.
func printLatestEvals(runs []sweep.Run) {
	latest := sweep.LatestEvals(runs)
	if len(latest) == 0 {
		fmt.Println("no evaluation yet")
		return
	}
	fmt.Println("latest evaluation (the mean over the seeds that have one, at the last step all of them reached):")
	for _, l := range latest {
		further := ""
		if l.Furthest > l.Step {
			further = fmt.Sprintf("; the furthest to step %d", l.Furthest)
		}
		seeds := "seeds"
		if l.N == 1 {
			seeds = "seed"
		}
		fmt.Printf("  %-40s %7.1f  (%d %s, step %d%s)\n", l.Task+"  "+l.Variant, l.Mean, l.N, seeds, l.Step, further)
	}
}

// printAblationStatus prints every run's state and step, the latest evaluation of each
// variant (printLatestEvals) and an estimate of the time left.
func printAblationStatus(ctx context.Context, dir string, spec ablationSpec, launch sweep.LocalLaunch, launchNote string) error {
	// The evaluations (latest per variant, the best λ) and λ (a run's variant) are all it reads.
	jobs, runs, later, note, err := ablationRuns(dir, spec, pompc.KeyEvalReturn, pompc.KeyLambda)
	if err != nil {
		return err
	}
	pts, err := sweep.StatusOf(ctx, dir, jobs)
	if err != nil {
		return err
	}
	printPointStatus(pts, rundir.InUse(dir))
	printLatestEvals(runs)
	printPublished(runs)
	if subs, _ := sweep.LoadSubmissions(dir); len(subs) > 0 {
		// On SLURM the time left is the cluster's: squeue tells.
		if note != "" {
			fmt.Println(note)
		}
		return nil
	}
	// Time left, with the populations as the last launch here trains them (statusLaunch).
	printTimeLeft("ablation", jobs, pts, launch, launchNote, later)
	if note != "" {
		fmt.Println(note)
	}
	return nil
}
