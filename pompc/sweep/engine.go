package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Job is one run of a sweep: its grid point, its run directory, the configuration that creates
// it, and the agent step it must reach.
type Job struct {
	Point Point
	// Name labels the job in logs and status tables (default Point.Name()).
	Name string
	// Dir is the run directory; unique within a sweep.
	Dir string
	// Config creates the run (a resumed run keeps its checkpoint's); Config.Steps is the step
	// the job trains to.
	Config pompc.Config
	// Args are the `pompc train` flags of the run, for launchers that start the command.
	Args []string
}

// Steps is the agent step the job trains to.
func (j Job) Steps() int64 { return int64(j.Config.Steps) }

// Launcher trains one job: it creates the run in job.Dir or resumes it, trains it to
// job.Steps() on threads cores, and reports the run's state through progress (from any
// goroutine; at least its Step). It returns nil when the run has reached its steps, ctx.Err() after a cancelled ctx
// once the run has checkpointed, and any other error when the run failed. The engine writes the
// run's status record; a launcher writes nothing but the run itself.
type Launcher interface {
	// Name names the launcher in status records ("process", "session").
	Name() string
	Launch(ctx context.Context, job Job, threads int, progress func(pompc.Status)) error
}

// Threads is the one core-allocation rule of every launcher: parallel runs share the machine's
// cores evenly, each with at least one.
func Threads(parallel int) int { return max(1, runtime.NumCPU()/max(parallel, 1)) }

// DefaultParallel is how many of n jobs run at once when nothing says otherwise: one per core,
// at most n.
func DefaultParallel(n int) int { return max(1, min(n, runtime.NumCPU())) }

// Update is what the engine reports about a job when its state or step changes.
type Update struct {
	// Job is the index of the job.
	Job int
	// State is "queued", "running" or the rundir state it ended in (done, failed, stopped).
	State string
	// Step is the last step reported (or recorded, for a job done before this sweep).
	Step int64
	// Status is the launcher's latest report (the zero Status before the first).
	Status pompc.Status
	// Err is the job's failure.
	Err error
	// Wall is the wall time of the job so far, over all its launches.
	Wall time.Duration
}

// Engine runs jobs through a launcher, Parallel at a time, resumably: a job whose status record
// says it is done (at its steps) is skipped, others are launched (a launcher resumes from the
// checkpoint), and each launch ends in a status record (rundir.Status) in the job's directory.
type Engine struct {
	Launcher Launcher
	// Parallel is how many jobs run at once (0: DefaultParallel); each gets Threads(Parallel)
	// cores.
	Parallel int
	// Log receives one line per started, finished, skipped or failed job (nil: discarded).
	Log io.Writer
	// OnUpdate, if set, is called on every change of a job (from the engine's goroutines).
	OnUpdate func(Update)
}

// Failure is a job that ended with an error.
type Failure struct {
	Name string
	Err  string
}

// Summary counts what a sweep did.
type Summary struct {
	Total, Skipped, Done int
	Failed               []Failure
	Stopped              int
}

// Run runs every job not done yet and returns when all have ended or ctx is done (the jobs in
// flight then checkpoint and stop). A failing job is recorded and the others go on; the error is
// for the sweep's own bookkeeping (a bad job list, a status record that cannot be written).
func (e Engine) Run(ctx context.Context, jobs []Job) (Summary, error) {
	sum := Summary{Total: len(jobs)}
	if e.Launcher == nil {
		return sum, errors.New("sweep: no launcher")
	}
	seen := map[string]bool{}
	for i := range jobs {
		if jobs[i].Name == "" {
			jobs[i].Name = jobs[i].Point.Name()
		}
		if jobs[i].Dir == "" || jobs[i].Steps() <= 0 {
			return sum, fmt.Errorf("sweep: job %q needs a run directory and Config.Steps > 0", jobs[i].Name)
		}
		if seen[jobs[i].Dir] {
			return sum, fmt.Errorf("sweep: run directory %s used twice", jobs[i].Dir)
		}
		seen[jobs[i].Dir] = true
	}
	parallel := e.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel(len(jobs))
	}
	threads := Threads(parallel)
	logw := e.Log
	if logw == nil {
		logw = io.Discard
	}
	var mu sync.Mutex // guards sum, logw and the OnUpdate calls
	logf := func(format string, a ...any) { fmt.Fprintf(logw, format+"\n", a...) }
	update := func(u Update) {
		if e.OnUpdate != nil {
			e.OnUpdate(u)
		}
	}

	var todo []int
	for i, j := range jobs {
		st, err := rundir.ReadStatus(j.Dir)
		if err != nil {
			return sum, err
		}
		if st.State == rundir.StateDone && st.Step >= j.Steps() {
			sum.Skipped++
			update(Update{Job: i, State: rundir.StateDone, Step: st.Step, Wall: seconds(st.WallSeconds)})
			continue
		}
		update(Update{Job: i, State: "queued", Step: st.Step, Wall: seconds(st.WallSeconds)})
		todo = append(todo, i)
	}
	if sum.Skipped > 0 {
		logf("sweep: %d of %d runs already done, skipped", sum.Skipped, sum.Total)
	}
	var bookErr []error
	count := sum.Skipped
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, runErr, err := e.launch(ctx, i, jobs[i], threads, &mu, update, logf)
				mu.Lock()
				count++
				n := count
				switch {
				case err != nil:
					bookErr = append(bookErr, err)
				case st.State == rundir.StateFailed:
					sum.Failed = append(sum.Failed, Failure{Name: jobs[i].Name, Err: runErr.Error()})
					logf("[%d/%d] FAILED %s: %v", n, sum.Total, jobs[i].Name, runErr)
				case st.State == rundir.StateDone:
					sum.Done++
					logf("[%d/%d] done %s (%.1fs)", n, sum.Total, jobs[i].Name, st.WallSeconds)
				default:
					sum.Stopped++
					logf("[%d/%d] stopped %s (resume the sweep to continue it)", n, sum.Total, jobs[i].Name)
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		if ctx.Err() != nil {
			mu.Lock()
			sum.Stopped++
			mu.Unlock()
			continue
		}
		select {
		case next <- i:
		case <-ctx.Done():
			mu.Lock()
			sum.Stopped++
			mu.Unlock()
		}
	}
	close(next)
	wg.Wait()
	return sum, errors.Join(bookErr...)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// launch runs one job through the launcher and writes its status record: running while it
// trains, then done, failed or stopped.
func (e Engine) launch(ctx context.Context, i int, j Job, threads int, mu *sync.Mutex,
	update func(Update), logf func(string, ...any)) (rundir.Status, error, error) {
	if err := rundir.Ensure(j.Dir); err != nil {
		return rundir.Status{}, nil, err
	}
	st, err := rundir.ReadStatus(j.Dir)
	if err != nil {
		return st, nil, err
	}
	prevWall := st.WallSeconds
	st.State, st.TargetStep, st.Launcher, st.Error = rundir.StateRunning, j.Steps(), e.Launcher.Name(), ""
	st.Attempts++
	if err := rundir.WriteStatus(j.Dir, st); err != nil {
		return st, nil, err
	}
	mu.Lock()
	if rundir.HasCheckpoint(j.Dir) {
		logf("resuming %s", j.Name)
	} else {
		logf("starting %s", j.Name)
	}
	mu.Unlock()
	start := time.Now()
	var stepMu sync.Mutex
	var last pompc.Status
	last.Step = st.Step
	update(Update{Job: i, State: rundir.StateRunning, Step: st.Step, Wall: seconds(prevWall)})
	runErr := e.Launcher.Launch(ctx, j, threads, func(s pompc.Status) {
		stepMu.Lock()
		last = s
		stepMu.Unlock()
		update(Update{Job: i, State: rundir.StateRunning, Step: s.Step, Status: s, Wall: seconds(prevWall) + time.Since(start)})
	})
	stepMu.Lock()
	st.Step = last.Step
	stepMu.Unlock()
	st.WallSeconds = prevWall + time.Since(start).Seconds()
	switch {
	case runErr != nil && ctx.Err() == nil:
		st.State, st.Error = rundir.StateFailed, runErr.Error()
	case ctx.Err() != nil:
		st.State = rundir.StateStopped
	default:
		st.State = rundir.StateDone
		st.Step = max(st.Step, j.Steps())
	}
	if err := rundir.WriteStatus(j.Dir, st); err != nil {
		return st, runErr, err
	}
	u := Update{Job: i, State: st.State, Step: st.Step, Status: last, Wall: seconds(st.WallSeconds)}
	if st.State == rundir.StateFailed {
		u.Err = runErr
	}
	update(u)
	return st, runErr, nil
}
