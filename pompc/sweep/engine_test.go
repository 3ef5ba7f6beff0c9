package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// fakeLauncher "trains" a job by reporting its steps; a job named in fail fails once, a job
// named in block waits for ctx.
type fakeLauncher struct {
	mu       sync.Mutex
	launched []string
	threads  []int
	fail     map[string]bool
	block    map[string]bool
	running  atomic.Int32
	peak     atomic.Int32
	// onBlock is called by a blocking launch with the number of launches in flight.
	onBlock func(running int32)
}

func (f *fakeLauncher) Name() string { return "fake" }

func (f *fakeLauncher) Launch(ctx context.Context, j Job, threads int, progress func(pompc.Status)) error {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	f.mu.Lock()
	f.launched = append(f.launched, j.Name)
	f.threads = append(f.threads, threads)
	fail := f.fail[j.Name]
	delete(f.fail, j.Name)
	f.mu.Unlock()
	if f.block[j.Name] {
		f.onBlock(n)
		<-ctx.Done()
		return ctx.Err()
	}
	progress(pompc.Status{Step: j.Steps() / 2})
	if fail {
		return errors.New("boom")
	}
	progress(pompc.Status{Step: j.Steps()})
	return nil
}

func fakeJobs(t *testing.T, n int) []Job {
	root := t.TempDir()
	var jobs []Job
	for i := 0; i < n; i++ {
		cfg := pompc.POMPC()
		cfg.Steps = 100 * (i + 1)
		jobs = append(jobs, Job{Name: fmt.Sprintf("j%d", i), Dir: fmt.Sprintf("%s/j%d", root, i), Config: cfg})
	}
	return jobs
}

// TestEngineRecordsSkipsAndRetries: every launch ends in a status record; a second sweep skips
// the done jobs and retries the failed one; Parallel bounds the jobs in flight, each with
// Threads(Parallel) cores.
func TestEngineRecordsSkipsAndRetries(t *testing.T) {
	jobs := fakeJobs(t, 5)
	l := &fakeLauncher{fail: map[string]bool{"j3": true}}
	var updates []Update
	var mu sync.Mutex
	eng := Engine{Launcher: l, Parallel: 2, OnUpdate: func(u Update) { mu.Lock(); updates = append(updates, u); mu.Unlock() }, Build: "aaa"}
	sum, err := eng.Run(context.Background(), jobs)
	require.NoError(t, err)
	require.Equal(t, 5, sum.Total)
	require.Equal(t, 4, sum.Done)
	require.Len(t, sum.Failed, 1)
	require.Equal(t, "j3", sum.Failed[0].Name)
	require.LessOrEqual(t, l.peak.Load(), int32(2))
	for _, th := range l.threads {
		require.Equal(t, Threads(2), th)
	}
	for i, j := range jobs {
		st, err := rundir.ReadStatus(j.Dir)
		require.NoError(t, err)
		require.Equal(t, 1, st.Attempts)
		require.Equal(t, "fake", st.Launcher)
		require.Equal(t, []rundir.BuildAt{{Step: 0, Build: "aaa"}}, st.Builds)
		if i == 3 {
			require.Equal(t, rundir.StateFailed, st.State)
			require.Equal(t, "boom", st.Error)
			require.Equal(t, j.Steps()/2, st.Step)
		} else {
			require.Equal(t, rundir.StateDone, st.State)
			require.Equal(t, j.Steps(), st.Step)
		}
	}
	mu.Lock()
	last := map[int]Update{}
	for _, u := range updates {
		last[u.Job] = u
	}
	mu.Unlock()
	require.Equal(t, rundir.StateFailed, last[3].State)
	require.EqualError(t, last[3].Err, "boom")

	l.launched = nil
	eng.Build = "bbb" // a newer program resumes the failed run
	sum, err = eng.Run(context.Background(), jobs)
	require.NoError(t, err)
	require.Equal(t, 4, sum.Skipped)
	require.Equal(t, 1, sum.Done)
	require.Equal(t, []string{"j3"}, l.launched, "only the failed job runs again")
	st, err := rundir.ReadStatus(jobs[3].Dir)
	require.NoError(t, err)
	require.Equal(t, rundir.StateDone, st.State)
	require.Equal(t, 2, st.Attempts)
	require.Equal(t, []rundir.BuildAt{{Step: 0, Build: "aaa"}, {Step: 0, Build: "bbb"}}, st.Builds)

	// A longer target makes a done job run again; the same build as before is not listed twice.
	jobs[0].Config.Steps *= 2
	l.launched = nil
	eng.Build = "aaa"
	_, err = eng.Run(context.Background(), jobs)
	require.NoError(t, err)
	require.Equal(t, []string{"j0"}, l.launched)
	st, err = rundir.ReadStatus(jobs[0].Dir)
	require.NoError(t, err)
	require.Equal(t, []rundir.BuildAt{{Step: 0, Build: "aaa"}}, st.Builds)
}

// quietLauncher reports nothing until its run ends (as ProcessLauncher and PopulationLauncher,
// whose children write only the run directory): started is closed at launch, release ends it.
type quietLauncher struct {
	started, release chan struct{}
}

func (quietLauncher) Name() string { return "quiet" }

func (q quietLauncher) Launch(ctx context.Context, j Job, threads int, progress func(pompc.Status)) error {
	close(q.started)
	<-q.release
	return nil
}

// TestEngineHeartbeat: a training job's record carries its launch (time, and the step it
// resumes from: 0 without a checkpoint) and is rewritten every heartbeat with its step (its
// metrics' latest, for a launcher that reports nothing until the end) and wall time, so a
// launch killed with its sweep leaves both behind; no heartbeat lands after the final record.
func TestEngineHeartbeat(t *testing.T) {
	jobs := fakeJobs(t, 1)
	dir := jobs[0].Dir
	require.NoError(t, rundir.Ensure(dir))
	metrics := func(step int) {
		f, err := os.OpenFile(rundir.Path(dir, rundir.MetricsFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		_, err = fmt.Fprintf(f, `{"key":"loss/pi","step":%d,"val":1}`+"\n", step)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	metrics(25)
	require.NoError(t, rundir.WriteStatus(dir, rundir.Status{State: rundir.StateRunning, Step: 25,
		WallSeconds: 100, Attempts: 1})) // a launch killed before it wrote anything else
	q := quietLauncher{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	before := time.Now().UTC()
	go func() {
		_, err := Engine{Launcher: q, Heartbeat: 10 * time.Millisecond}.Run(context.Background(), jobs)
		done <- err
	}()
	<-q.started
	metrics(40) // the child trains on
	var st rundir.Status
	deadline := time.Now().Add(5 * time.Second)
	for st.Step != 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		var err error
		st, err = rundir.ReadStatus(dir)
		require.NoError(t, err)
	}
	require.Equal(t, int64(40), st.Step, "a heartbeat's step, from the metrics")
	require.Equal(t, rundir.StateRunning, st.State)
	require.Equal(t, 2, st.Attempts)
	require.Equal(t, int64(0), st.LaunchStep, "no checkpoint: it starts over")
	require.False(t, st.Launched.Before(before.Truncate(time.Second)))
	require.Greater(t, st.WallSeconds, 100.0, "the earlier launches' wall time plus this one's so far")
	require.Equal(t, st.Launched, st.Recent, "younger than rundir.RecentWindow: the recent mark is the launch")
	require.Equal(t, int64(0), st.RecentStep)
	close(q.release)
	require.NoError(t, <-done)
	time.Sleep(50 * time.Millisecond) // five heartbeat periods
	st, err := rundir.ReadStatus(dir)
	require.NoError(t, err)
	require.Equal(t, rundir.StateDone, st.State, "no heartbeat after the final record")
	require.Equal(t, jobs[0].Steps(), st.Step)
}

// TestEngineStopAndBadJobs: a cancelled sweep records its runs in flight as stopped; bad job
// lists are errors before anything runs.
func TestEngineStopAndBadJobs(t *testing.T) {
	jobs := fakeJobs(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	l := &fakeLauncher{block: map[string]bool{"j0": true, "j1": true}, onBlock: func(n int32) {
		if n == 2 {
			cancel() // both runs in flight: interrupt the sweep
		}
	}}
	eng := Engine{Launcher: l, Parallel: 2}
	sum, err := eng.Run(ctx, jobs)
	require.NoError(t, err)
	require.Equal(t, 2, sum.Stopped)
	for _, j := range jobs {
		st, err := rundir.ReadStatus(j.Dir)
		require.NoError(t, err)
		require.Equal(t, rundir.StateStopped, st.State)
	}

	_, err = Engine{Launcher: l}.Run(context.Background(), []Job{jobs[0], jobs[0]})
	require.ErrorContains(t, err, "used twice")
	bad := jobs[1]
	bad.Config.Steps = 0
	_, err = Engine{Launcher: l}.Run(context.Background(), []Job{bad})
	require.ErrorContains(t, err, "Config.Steps > 0")
	_, err = Engine{}.Run(context.Background(), jobs)
	require.ErrorContains(t, err, "no launcher")
	require.Equal(t, max(1, Threads(1)), Threads(0))
	require.Equal(t, 1, DefaultParallel(0))
}

// fakeBatchLauncher trains groups of jobs together, keyed by λ; a job named in fail fails.
type fakeBatchLauncher struct {
	fakeLauncher
	batches [][]string
}

func (f *fakeBatchLauncher) BatchKey(j Job) string { return pompc.FormatLambda(j.Config.Lambda) }

func (f *fakeBatchLauncher) LaunchBatch(ctx context.Context, jobs []Job, threads int, progress func(int, pompc.Status)) []error {
	var names []string
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		names = append(names, j.Name)
		if f.fail[j.Name] {
			errs[i] = errors.New("boom")
			continue
		}
		progress(i, pompc.Status{Step: j.Steps()})
	}
	f.mu.Lock()
	f.batches = append(f.batches, names)
	f.mu.Unlock()
	return errs
}

// A batch launcher gets the jobs grouped by its key, each group once; every job of a batch gets
// its own status record (one failing job does not fail the others) with the size of its batch,
// and a second sweep skips the done jobs and retries only the failed one, alone.
func TestEngineBatches(t *testing.T) {
	jobs := fakeJobs(t, 6)
	for i := range jobs {
		jobs[i].Config.Lambda = []float64{1, 9}[i%2]
		jobs[i].Config.Steps = 100
	}
	l := &fakeBatchLauncher{fakeLauncher: fakeLauncher{fail: map[string]bool{"j3": true}}}
	sum, err := Engine{Launcher: l}.Run(context.Background(), jobs)
	require.NoError(t, err)
	require.Equal(t, 5, sum.Done)
	require.Len(t, sum.Failed, 1)
	require.Equal(t, "j3", sum.Failed[0].Name)
	require.ElementsMatch(t, [][]string{{"j0", "j2", "j4"}, {"j1", "j3", "j5"}}, l.batches)
	for i, j := range jobs {
		st, err := rundir.ReadStatus(j.Dir)
		require.NoError(t, err)
		want := rundir.StateDone
		if i == 3 {
			want = rundir.StateFailed
		}
		require.Equal(t, want, st.State, j.Name)
		require.Equal(t, "fake", st.Launcher)
		require.Equal(t, 3, st.Members, j.Name)
	}
	l.fail, l.batches = nil, nil
	sum, err = Engine{Launcher: l}.Run(context.Background(), jobs)
	require.NoError(t, err)
	require.Equal(t, 5, sum.Skipped)
	require.Equal(t, 1, sum.Done)
	require.Empty(t, l.batches, "a group of one goes through Launch")
	require.Equal(t, []string{"j3"}, l.launched)
	st, err := rundir.ReadStatus(jobs[3].Dir)
	require.NoError(t, err)
	require.Equal(t, 1, st.Members, "retried alone")
}

// A population child's output: "[DIR] ..." lines go to that run's log only, other lines to
// every log, all lines to the tail; a line split across writes is routed whole.
func TestLineRouter(t *testing.T) {
	var a, b, tail strings.Builder
	r := &lineRouter{runs: map[string]io.Writer{"runs/a": &a, "runs/b": &b}, all: []io.Writer{&tail}}
	for _, chunk := range []string{"population of 2 runs\n[runs/a] eval 1", "0\n[runs/b] done\n[runs/c] x\n", "last"} {
		_, err := r.Write([]byte(chunk))
		require.NoError(t, err)
	}
	r.flush()
	require.Equal(t, "population of 2 runs\n[runs/a] eval 10\n[runs/c] x\nlast\n", a.String())
	require.Equal(t, "population of 2 runs\n[runs/b] done\n[runs/c] x\nlast\n", b.String())
	require.Equal(t, "population of 2 runs\n[runs/a] eval 10\n[runs/b] done\n[runs/c] x\nlast\n", tail.String())
}

// TestItemsStartedFirst: items with a started run (a checkpoint) come first, the others keep
// their order; a population counts as started when one of its runs is.
func TestItemsStartedFirst(t *testing.T) {
	jobs := fakeJobs(t, 4)
	require.Equal(t, [][]int{{0}, {1}, {2}, {3}}, Items(ProcessLauncher{}, jobs, []int{0, 1, 2, 3}))
	for _, i := range []int{2, 3} {
		require.NoError(t, rundir.Ensure(jobs[i].Dir))
		require.NoError(t, os.WriteFile(rundir.Path(jobs[i].Dir, rundir.CheckpointFile), []byte("x"), 0o644))
	}
	require.Equal(t, [][]int{{2}, {3}, {0}, {1}}, Items(ProcessLauncher{}, jobs, []int{0, 1, 2, 3}))
	require.Equal(t, [][]int{{3}, {1}}, Items(ProcessLauncher{}, jobs, []int{1, 3}))
}
