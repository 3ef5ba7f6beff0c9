package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Runner runs a grid's points as child processes of the pompc command.
type Runner struct {
	// Exe is the pompc executable; each point runs `Exe train ...`.
	Exe string
	// Env is the children's environment (nil: this process's). GOMAXPROCS is set to
	// max(1, NumCPU/Jobs) unless Env already sets it, so parallel runs share the cores.
	Env []string
	// Jobs is how many runs go at once (>= 1).
	Jobs int
	// Log receives one line per started, finished, skipped or failed run (nil: discarded).
	Log io.Writer
	// Batched trains the points that can share graphs as populations, one `pompc population`
	// process each (PopulationLauncher); false: one `pompc train` process per point.
	Batched bool
	// Group says which points share a population when Batched ("": GroupAuto).
	Group Grouping
	// Archive, when set, is an archive directory each run is added to as it finishes
	// (ArchiveEach).
	Archive string
}

// Run runs every point of g under dir that is not done yet (Engine with a ProcessLauncher):
// fresh runs start, runs with a checkpoint continue with --resume, finished runs are skipped. A
// failing run is recorded and the others go on. Cancelling ctx interrupts the children (SIGINT:
// they checkpoint and stop) and returns after they exit. The sweep directory is locked for the
// duration.
func (r Runner) Run(ctx context.Context, dir string, g Grid) (Summary, error) {
	if r.Jobs < 0 {
		return Summary{}, fmt.Errorf("sweep: jobs must be >= 0 (0: one per CPU, at most one per run or population), got %d", r.Jobs)
	}
	if r.Exe == "" {
		return Summary{}, errors.New("sweep: no pompc executable")
	}
	jobs, err := g.Jobs(dir)
	if err != nil {
		return Summary{}, err
	}
	if err := SaveGrid(dir, g); err != nil {
		return Summary{}, err
	}
	if r.Archive != "" {
		if err := CheckArchiveDir(r.Archive); err != nil {
			return Summary{}, err
		}
	}
	lock, err := rundir.Acquire(dir)
	if err != nil {
		return Summary{}, fmt.Errorf("sweep: %w", err)
	}
	defer lock.Unlock()
	if err := SaveLocalLaunch(dir, LocalLaunch{Batched: r.Batched, Populations: r.Group, Jobs: r.Jobs}); err != nil {
		return Summary{}, err
	}
	var l Launcher = ProcessLauncher{Exe: r.Exe, Env: r.Env}
	if r.Batched {
		l = PopulationLauncher{Exe: r.Exe, Args: []string{"population"}, Env: r.Env, Group: r.Group}
	}
	e := Engine{Launcher: l, Parallel: r.Jobs, Log: r.Log}
	if r.Archive != "" {
		e.OnUpdate = ArchiveEach(dir, r.Archive, jobs, r.Log)
	}
	return e.Run(ctx, jobs)
}

// ProcessLauncher launches a job as a child `pompc train` process (the CLI's sweeps), its
// output appended to the run's train.log, GOMAXPROCS set to its threads unless Env sets it.
type ProcessLauncher struct {
	// Exe is the pompc executable.
	Exe string
	// Env is the children's environment (nil: this process's).
	Env []string
}

// Name is "process".
func (ProcessLauncher) Name() string { return "process" }

// Launch runs `Exe train` with the job's flags (and --resume when the run has a checkpoint). The
// child's progress is not followed: progress is called once, at its end, with the target step.
func (l ProcessLauncher) Launch(ctx context.Context, j Job, threads int, progress func(pompc.Status)) error {
	args := j.Args
	if rundir.HasCheckpoint(j.Dir) {
		args = append(slices.Clone(args), "--resume")
	}
	if err := runLogged(ctx, l.Exe, l.Env, threads, args, []string{j.Dir}); err != nil {
		return err
	}
	progress(finalStatus(j))
	return nil
}

// finalStatus is the status a finished job reports.
func finalStatus(j Job) pompc.Status {
	return pompc.Status{Dir: j.Dir, Task: j.Point.Task, Config: j.Config, Step: j.Steps(), Lambda: j.Config.Lambda,
		Prior: j.Config.Prior, PriorKL: j.Config.PriorKL, Reanalyze: j.Config.Reanalyze}
}

// runLogged runs exe with args (GOMAXPROCS = threads unless env sets it), appending its output
// to the train.log of every run directory in dirs; Ctrl-C reaches it as an interrupt (it saves
// and stops). A failure carries the last lines of its output.
func runLogged(ctx context.Context, exe string, env []string, threads int, args, dirs []string) error {
	if env == nil {
		env = os.Environ()
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(slices.Clone(env), "GOMAXPROCS="+strconv.Itoa(threads))
	}
	tail := &tailBuffer{max: 2000}
	router := &lineRouter{runs: map[string]io.Writer{}, all: []io.Writer{tail}}
	for _, d := range dirs {
		logFile, err := os.OpenFile(rundir.Path(d, rundir.TrainLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer logFile.Close()
		fmt.Fprintf(logFile, "### %s %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
		router.runs[d] = logFile
	}
	if len(dirs) == 1 {
		router.all = append(router.all, router.runs[dirs[0]])
		router.runs = nil
	}
	defer router.flush()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = env
	cmd.Stdout = router
	cmd.Stderr = cmd.Stdout
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	if err := runChild(cmd); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%v: %s", err, lastLines(strings.TrimSpace(tail.String()), 3))
	}
	return ctx.Err()
}

// lineRouter writes a child's output line by line: a line that starts with "[DIR] " (a
// population child's lines about one run) goes to that run's log only, every other line to all
// logs; every line also goes to all (the tail kept for errors). It is safe for one writer
// (stdout and stderr share it through exec's one copying goroutine per pipe: guarded).
type lineRouter struct {
	mu   sync.Mutex
	runs map[string]io.Writer
	all  []io.Writer
	part []byte
}

// Write implements io.Writer.
func (r *lineRouter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.part = append(r.part, p...)
	for {
		i := bytes.IndexByte(r.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		r.route(r.part[:i+1])
		r.part = r.part[i+1:]
	}
}

func (r *lineRouter) route(line []byte) {
	for _, w := range r.all {
		_, _ = w.Write(line)
	}
	if rest, ok := bytes.CutPrefix(line, []byte("[")); ok {
		if dir, _, ok := bytes.Cut(rest, []byte("] ")); ok {
			if w, ok := r.runs[string(dir)]; ok {
				_, _ = w.Write(line)
				return
			}
		}
	}
	for _, w := range r.runs {
		_, _ = w.Write(line)
	}
}

// flush writes what is left of an unterminated last line.
func (r *lineRouter) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.part) > 0 {
		r.route(append(r.part, '\n'))
		r.part = nil
	}
}

// PopulationLauncher trains the jobs that can share graphs as one population in one child
// process: the sweep engine's batched launcher. The child reads a PopulationFile: the CLI's is
// `pompc population FILE` (Args ["population"], the file's path appended), a notebook's is its
// own cell binary with session.EnvPopulation=FILE in its environment (EnvFile). Each job is
// still an ordinary run directory; the child's lines about one run ("[DIR] ...") go to that
// run's train.log, its other lines to every job's. A job is done when its checkpoint reached its
// target.
type PopulationLauncher struct {
	// Exe is the program started as the child (the pompc executable, or the cell binary).
	Exe string
	// Args are the child's arguments; the file's path is appended unless EnvFile is set.
	Args []string
	// EnvFile, when set, names the environment variable that passes the file's path.
	EnvFile string
	// Env is the children's environment (nil: this process's).
	Env []string
	// Group says which jobs share a population ("": GroupAuto).
	Group Grouping
}

// Grouping is which of a sweep's runs train together as one population.
type Grouping string

const (
	// GroupShared trains every run that can share graphs (pompc.PopulationKey: one task, one
	// size, planner and step target) as one population: one graph for a whole ablation, with
	// per-run coefficients and masks. It pays where a call's launch overhead dominates (a GPU).
	GroupShared Grouping = "shared"
	// GroupVariant trains each variant (preset, λ, prior, KL direction: Point.Variant) as a
	// population of its seeds. A mixed population computes the branches of every variant for
	// every run and masks them: measured on the 2-core machine, a population of TD-MPC2, PO-MPC
	// at three λ and BMPC took more time per step than the five trained apart.
	GroupVariant Grouping = "variant"
	// GroupRun trains every run as a population of its own: a machine lost mid-ablation loses
	// at most the runs then training, not whole populations of five, and a run, not a variant,
	// is the unit of work that checkpoints, finishes and is archived (Archive). On a CPU it
	// costs more core time per run than GroupVariant where a population amortizes each call's
	// overhead over its runs (README "Populations" has the measurements).
	GroupRun Grouping = "run"
	// GroupAuto is GroupVariant on the pure-Go backend and GroupShared on XLA (the job's
	// backend, else $GOMLX_BACKEND, else the default: pompc.BackendSpec).
	GroupAuto Grouping = "auto"
)

// ParseGrouping reads auto, shared, variant or run ("" is auto), optionally with a cap on the
// runs of one population, ":N" (variant:3: each variant's seeds in populations of at most 3,
// in seed order; shared:20 for a GPU whose memory holds 20 runs).
func ParseGrouping(s string) (Grouping, error) {
	g := Grouping(strings.TrimSpace(s))
	kind, n, capped := strings.Cut(string(g), ":")
	switch Grouping(kind) {
	case "", GroupAuto, GroupShared, GroupVariant, GroupRun:
	default:
		return "", fmt.Errorf("sweep: unknown population grouping %q (want auto, shared, variant or run, optionally :N, at most N runs a population)", s)
	}
	if !capped {
		if kind == "" {
			return GroupAuto, nil
		}
		return g, nil
	}
	if v, err := strconv.Atoi(n); err != nil || v < 1 {
		return "", fmt.Errorf("sweep: population grouping %q: the cap after ':' must be a whole number of runs >= 1", s)
	}
	if Grouping(kind) == GroupRun {
		return "", fmt.Errorf("sweep: population grouping %q: run populations hold one run, no cap to set", s)
	}
	if kind == "" {
		g = GroupAuto + g
	}
	return g, nil
}

// kind is g without its cap (auto for "").
func (g Grouping) kind() Grouping {
	k, _, _ := strings.Cut(string(g), ":")
	if k == "" {
		return GroupAuto
	}
	return Grouping(k)
}

// MaxRuns is g's cap on the runs of one population (0: none).
func (g Grouping) MaxRuns() int {
	_, n, ok := strings.Cut(string(g), ":")
	if !ok {
		return 0
	}
	v, _ := strconv.Atoi(n)
	return max(v, 0)
}

// groupOf resolves g's kind for a job: auto becomes variant on the pure-Go backend, shared
// elsewhere.
func (g Grouping) groupOf(j Job) Grouping {
	if k := g.kind(); k != GroupAuto {
		return k
	}
	if name, _, _ := strings.Cut(pompc.BackendSpec(j.Config.Backend), ":"); name == "go" {
		return GroupVariant
	}
	return GroupShared
}

// PopulationFile lists the runs of one population child.
type PopulationFile struct {
	Runs []PopulationRun `json:"runs"`
}

// PopulationRun is one run of a population child: its `pompc train` arguments (what the CLI
// child reads, --resume included when it has a checkpoint) and the same run as a directory,
// task, configuration and target step (what a notebook's child reads).
type PopulationRun struct {
	Args   []string     `json:"args"`
	Dir    string       `json:"dir"`
	Task   string       `json:"task"`
	Config pompc.Config `json:"config"`
	Steps  int64        `json:"steps"`
}

// Name implements Launcher.
func (PopulationLauncher) Name() string { return "population" }

// BatchKey implements BatchLauncher: pompc.PopulationKey of the job's task and configuration,
// and with GroupVariant its variant, with GroupRun its run directory.
func (l PopulationLauncher) BatchKey(j Job) string {
	key := pompc.PopulationKey(j.Point.Task, j.Config)
	switch l.Group.groupOf(j) {
	case GroupVariant:
		key += "\x00" + j.Point.Variant()
	case GroupRun:
		key += "\x00" + j.Dir
	}
	return key
}

// MaxBatch implements BatchCapper: Group's cap on the runs of one population.
func (l PopulationLauncher) MaxBatch() int { return l.Group.MaxRuns() }

// Launch implements Launcher: a population of one.
func (l PopulationLauncher) Launch(ctx context.Context, j Job, threads int, progress func(pompc.Status)) error {
	return l.LaunchBatch(ctx, []Job{j}, threads, func(_ int, s pompc.Status) { progress(s) })[0]
}

// LaunchBatch implements BatchLauncher.
func (l PopulationLauncher) LaunchBatch(ctx context.Context, jobs []Job, threads int, progress func(int, pompc.Status)) []error {
	errs := make([]error, len(jobs))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var file PopulationFile
	dirs := make([]string, len(jobs))
	for i, j := range jobs {
		args := j.Args
		if len(args) > 0 && args[0] == "train" {
			args = args[1:] // the train arguments, without the command
		}
		if rundir.HasCheckpoint(j.Dir) {
			args = append(slices.Clone(args), "--resume")
		}
		file.Runs = append(file.Runs, PopulationRun{Args: args, Dir: j.Dir, Task: j.Point.Task, Config: j.Config, Steps: j.Steps()})
		dirs[i] = j.Dir
	}
	tmp, err := os.MkdirTemp("", "pompc-population-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "population.json")
	data, err := json.Marshal(file)
	if err != nil {
		return fail(err)
	}
	if err := rundir.WriteFile(path, data, 0o644); err != nil {
		return fail(err)
	}
	args, env := slices.Clone(l.Args), l.Env
	if l.EnvFile != "" {
		if env == nil {
			env = os.Environ()
		}
		env = append(slices.Clone(env), l.EnvFile+"="+path)
	} else {
		args = append(args, path)
	}
	childErr := runLogged(ctx, l.Exe, env, threads, args, dirs)
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	for i, j := range jobs {
		step, err := pompc.CheckpointStep(j.Dir)
		switch {
		case err == nil && step >= j.Steps():
			progress(i, finalStatus(j))
		case childErr != nil:
			errs[i] = childErr
		case err != nil:
			errs[i] = err
		default:
			errs[i] = fmt.Errorf("stopped at step %d of %d", step, j.Steps())
		}
	}
	return errs
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
