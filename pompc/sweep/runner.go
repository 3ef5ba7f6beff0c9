package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
}

// Run runs every point of g under dir that is not done yet (Engine with a ProcessLauncher):
// fresh runs start, runs with a checkpoint continue with --resume, finished runs are skipped. A
// failing run is recorded and the others go on. Cancelling ctx interrupts the children (SIGINT:
// they checkpoint and stop) and returns after they exit. The sweep directory is locked for the
// duration.
func (r Runner) Run(ctx context.Context, dir string, g Grid) (Summary, error) {
	if r.Jobs < 1 {
		return Summary{}, fmt.Errorf("sweep: jobs must be >= 1, got %d", r.Jobs)
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
	lock, err := rundir.Acquire(dir)
	if err != nil {
		return Summary{}, fmt.Errorf("sweep: %w", err)
	}
	defer lock.Unlock()
	return Engine{Launcher: ProcessLauncher{Exe: r.Exe, Env: r.Env}, Parallel: r.Jobs, Log: r.Log}.Run(ctx, jobs)
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
	env := l.Env
	if env == nil {
		env = os.Environ()
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(slices.Clone(env), "GOMAXPROCS="+strconv.Itoa(threads))
	}
	args := j.Args
	if rundir.HasCheckpoint(j.Dir) {
		args = append(slices.Clone(args), "--resume")
	}
	logFile, err := os.OpenFile(rundir.Path(j.Dir, rundir.TrainLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "### %s %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	tail := &tailBuffer{max: 2000}
	cmd := exec.CommandContext(ctx, l.Exe, args...)
	cmd.Env = env
	cmd.Stdout = io.MultiWriter(logFile, tail)
	cmd.Stderr = cmd.Stdout
	// Interrupt (not kill) on cancel, so the child saves its checkpoint.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	if err := runChild(cmd); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%v: %s", err, lastLines(strings.TrimSpace(tail.String()), 3))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	progress(pompc.Status{Dir: j.Dir, Task: j.Point.Task, Config: j.Config, Step: j.Steps(), Lambda: j.Config.Lambda,
		Prior: j.Config.Prior, PriorKL: j.Config.PriorKL, Reanalyze: j.Config.Reanalyze})
	return nil
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
