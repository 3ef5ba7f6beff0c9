package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
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

// BatchLauncher is a Launcher that can also train several jobs together (one population:
// pompc.NewPopulation). The engine groups the jobs by BatchKey and hands each group to
// LaunchBatch; Parallel then counts groups, not runs.
type BatchLauncher interface {
	Launcher
	// BatchKey is equal for jobs that may train together.
	BatchKey(job Job) string
	// LaunchBatch trains jobs together and returns one error per job (nil: it reached its
	// target); progress(i, s) reports job i.
	LaunchBatch(ctx context.Context, jobs []Job, threads int, progress func(i int, s pompc.Status)) []error
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
	// Log receives one line per started, finished, skipped or failed job, each starting with
	// its time (LogTimeFormat; nil: discarded).
	Log io.Writer
	// OnUpdate, if set, is called on every change of a job (from the engine's goroutines).
	OnUpdate func(Update)
	// Heartbeat is how often a training job's status record is rewritten with its step and
	// wall time (0: rundir.HeartbeatEvery).
	Heartbeat time.Duration
	// Build is the code recorded in each launch's status.json (rundir.Status.Builds); empty:
	// rundir.Build(), this program's, which is the trainer's where the launcher re-executes it.
	Build string
}

// build is the code a launch of e trains with (Engine.Build).
func (e Engine) build() string {
	if e.Build != "" {
		return e.Build
	}
	return rundir.Build()
}

// LogTimeFormat is the time that starts each line of Engine.Log (UTC).
const LogTimeFormat = "2006-01-02 15:04:05Z"

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
	// Each line starts with its UTC time, so a log of a days-long sweep says when each run
	// started, resumed and ended.
	logf := func(format string, a ...any) {
		fmt.Fprintf(logw, "%s "+format+"\n", append([]any{time.Now().UTC().Format(LogTimeFormat)}, a...)...)
	}
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
	items := Items(e.Launcher, jobs, todo)
	if _, batched := e.Launcher.(BatchLauncher); batched && e.Parallel <= 0 {
		parallel = DefaultParallel(len(items))
		threads = Threads(parallel)
	}
	next := make(chan []int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range next {
				results := e.launchItem(ctx, item, jobs, threads, &mu, update, logf)
				mu.Lock()
				for n, i := range item {
					res := results[n]
					count++
					c := count
					switch {
					case res.err != nil:
						bookErr = append(bookErr, res.err)
					case res.st.State == rundir.StateFailed:
						sum.Failed = append(sum.Failed, Failure{Name: jobs[i].Name, Err: res.runErr.Error()})
						logf("[%d/%d] FAILED %s: %v", c, sum.Total, jobs[i].Name, res.runErr)
					case res.st.State == rundir.StateDone:
						sum.Done++
						logf("[%d/%d] done %s (%.1fs)", c, sum.Total, jobs[i].Name, res.st.WallSeconds)
					default:
						sum.Stopped++
						logf("[%d/%d] stopped %s (resume the sweep to continue it)", c, sum.Total, jobs[i].Name)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, item := range items {
		if ctx.Err() != nil {
			mu.Lock()
			sum.Stopped += len(item)
			mu.Unlock()
			continue
		}
		select {
		case next <- item:
		case <-ctx.Done():
			mu.Lock()
			sum.Stopped += len(item)
			mu.Unlock()
		}
	}
	close(next)
	wg.Wait()
	return sum, errors.Join(bookErr...)
}

// BatchCapper is a BatchLauncher that caps the jobs of one batch: Items splits a larger group
// into batches of at most MaxBatch jobs (0: no cap), in job order.
type BatchCapper interface {
	MaxBatch() int
}

// Items are the work items of the jobs todo (indices into jobs) under launcher l: one job each,
// or, for a BatchLauncher, the jobs of one BatchKey together (one population), in first-seen
// order, except that items with a started run (one with a checkpoint) come first: a resumed
// sweep finishes what it began before it begins more. The engine launches one item at a time
// per slot; a SLURM array has one task per item.
func Items(l Launcher, jobs []Job, todo []int) [][]int {
	items := make([][]int, 0, len(todo))
	bl, batched := l.(BatchLauncher)
	if !batched {
		for _, i := range todo {
			items = append(items, []int{i})
		}
	} else {
		index := map[string]int{}
		for _, i := range todo {
			key := bl.BatchKey(jobs[i])
			if k, ok := index[key]; ok {
				items[k] = append(items[k], i)
				continue
			}
			index[key] = len(items)
			items = append(items, []int{i})
		}
	}
	// A launcher's cap splits a group into items of at most that many jobs, in job order.
	if c, ok := l.(BatchCapper); ok && c.MaxBatch() > 0 {
		var split [][]int
		for _, item := range items {
			for len(item) > c.MaxBatch() {
				split = append(split, item[:c.MaxBatch():c.MaxBatch()])
				item = item[c.MaxBatch():]
			}
			split = append(split, item)
		}
		items = split
	}
	// Started items first, each in first-seen order (one file check per run).
	var started, fresh [][]int
	for _, item := range items {
		if slices.ContainsFunc(item, func(i int) bool { return rundir.HasCheckpoint(jobs[i].Dir) }) {
			started = append(started, item)
		} else {
			fresh = append(fresh, item)
		}
	}
	return append(started, fresh...)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// result is how one job's launch ended: its status record, the run's error, and an error of
// the bookkeeping itself (status file).
type result struct {
	st     rundir.Status
	runErr error
	err    error
}

// running is a job being launched: its status record and its progress.
type running struct {
	st       rundir.Status
	prevWall float64
	mu       sync.Mutex
	last     pompc.Status
	err      error
	// beats are this launch's (time, step) marks, the launch first, none older than
	// rundir.RecentWindow but the newest such: the oldest is the record's Recent.
	beats []beat
}

// beat is a launch's step at a time.
type beat struct {
	at   time.Time
	step int64
}

// mark adds (at, step) to the marks and drops those that a younger mark, still at least window
// old, makes unneeded; it returns the oldest kept: the latest mark at least window before at
// (or the first, while none is that old).
func (r *running) mark(at time.Time, step int64, window time.Duration) beat {
	r.beats = append(r.beats, beat{at, step})
	for len(r.beats) > 1 && at.Sub(r.beats[1].at) >= window {
		r.beats = r.beats[1:]
	}
	return r.beats[0]
}

// heartbeat rewrites a training job's running record with its step (the launcher's latest
// report or the run's latest metrics record, whichever is later) and its wall time so far, so
// that a launch killed with its sweep (no end record) loses at most one heartbeat period of its
// wall time. A write error is left for end to report. Called with r.mu held.
func (r *running) heartbeat(dir string, start time.Time) {
	if r.err != nil {
		return
	}
	st := r.st
	st.Step = max(st.Step, r.last.Step, lastStep(dir))
	st.WallSeconds = r.prevWall + time.Since(start).Seconds()
	recent := r.mark(time.Now().UTC(), st.Step, rundir.RecentWindow)
	st.Recent, st.RecentStep = recent.at, recent.step
	_ = rundir.WriteStatus(dir, st)
}

// launchItem runs one work item (one job, or a batch) through the launcher and writes each
// job's status record: running while it trains, then done, failed or stopped.
func (e Engine) launchItem(ctx context.Context, item []int, jobs []Job, threads int, mu *sync.Mutex,
	update func(Update), logf func(string, ...any)) []result {
	rs := make([]*running, len(item))
	for n, i := range item {
		rs[n] = e.begin(i, jobs[i], len(item), mu, update, logf)
	}
	start := time.Now()
	every := e.Heartbeat
	if every <= 0 {
		every = rundir.HeartbeatEvery
	}
	// The heartbeat: every period, each job's running record gets its step and wall time
	// (launchers that report progress only at the end included); stopped before end writes.
	stopBeat, beatDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(beatDone)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stopBeat:
				return
			case <-tick.C:
				for n, i := range item {
					rs[n].mu.Lock()
					rs[n].heartbeat(jobs[i].Dir, start)
					rs[n].mu.Unlock()
				}
			}
		}
	}()
	progress := func(n int, s pompc.Status) {
		r := rs[n]
		r.mu.Lock()
		r.last = s
		r.mu.Unlock()
		update(Update{Job: item[n], State: rundir.StateRunning, Step: s.Step, Status: s, Wall: seconds(r.prevWall) + time.Since(start)})
	}
	runErrs := make([]error, len(item))
	var batch []Job
	var pos []int
	for n, i := range item {
		if rs[n].err == nil {
			batch = append(batch, jobs[i])
			pos = append(pos, n)
		}
	}
	switch {
	case len(batch) == 0:
	case len(item) == 1:
		runErrs[pos[0]] = e.Launcher.Launch(ctx, batch[0], threads, func(s pompc.Status) { progress(pos[0], s) })
	default:
		errs := e.Launcher.(BatchLauncher).LaunchBatch(ctx, batch, threads, func(b int, s pompc.Status) { progress(pos[b], s) })
		for b, n := range pos {
			runErrs[n] = errs[b]
		}
	}
	close(stopBeat)
	<-beatDone
	out := make([]result, len(item))
	for n, i := range item {
		if rs[n].err != nil {
			out[n] = result{st: rs[n].st, err: rs[n].err}
			continue
		}
		out[n] = e.end(ctx, i, jobs[i], rs[n], start, runErrs[n], update)
	}
	return out
}

// begin writes a job's running status record; members is the size of its work item.
func (e Engine) begin(i int, j Job, members int, mu *sync.Mutex, update func(Update), logf func(string, ...any)) *running {
	r := &running{}
	if r.err = rundir.Ensure(j.Dir); r.err != nil {
		return r
	}
	st, err := rundir.ReadStatus(j.Dir)
	if err != nil {
		r.st, r.err = st, err
		return r
	}
	r.prevWall = st.WallSeconds
	st.State, st.TargetStep, st.Launcher, st.Error = rundir.StateRunning, j.Steps(), e.Launcher.Name(), ""
	st.Members = members
	st.Attempts++
	// The step it starts from: its checkpoint's (a launch killed between heartbeats left an
	// older record, and its metrics may run past the checkpoint).
	st.Step = 0
	if rundir.HasCheckpoint(j.Dir) {
		if st.Step, err = pompc.CheckpointStep(j.Dir); err != nil {
			st.Step = lastStep(j.Dir)
		}
	}
	st.Launched, st.LaunchStep = time.Now().UTC(), st.Step
	st.NoteBuild(st.Step, e.build())
	st.Recent, st.RecentStep = st.Launched, st.Step
	r.mark(st.Launched, st.Step, rundir.RecentWindow)
	r.st = st
	if r.err = rundir.WriteStatus(j.Dir, st); r.err != nil {
		return r
	}
	mu.Lock()
	if rundir.HasCheckpoint(j.Dir) {
		logf("resuming %s", j.Name)
	} else {
		logf("starting %s", j.Name)
	}
	mu.Unlock()
	r.last.Step = st.Step
	update(Update{Job: i, State: rundir.StateRunning, Step: st.Step, Wall: seconds(r.prevWall)})
	return r
}

// end writes a job's final status record after its launch returned runErr.
func (e Engine) end(ctx context.Context, i int, j Job, r *running, start time.Time, runErr error, update func(Update)) result {
	st := r.st
	r.mu.Lock()
	// A launcher may report only at the end: a stopped run's step is its metrics' (it saved there).
	st.Step = max(r.last.Step, lastStep(j.Dir))
	last := r.last
	if len(r.beats) > 0 { // a stopped run's rate, for estimates: its recent one
		recent := r.mark(time.Now().UTC(), st.Step, rundir.RecentWindow)
		st.Recent, st.RecentStep = recent.at, recent.step
	}
	r.mu.Unlock()
	st.WallSeconds = r.prevWall + time.Since(start).Seconds()
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
		return result{st: st, runErr: runErr, err: err}
	}
	u := Update{Job: i, State: st.State, Step: st.Step, Status: last, Wall: seconds(st.WallSeconds)}
	if st.State == rundir.StateFailed {
		u.Err = runErr
	}
	update(u)
	return result{st: st, runErr: runErr}
}
