//go:build unix

package session

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// The servers of these tests are this test binary, re-executed by Open with
// POMPC_SESSION_SERVE set: the package's init function serves and exits before the tests run.

// envTestClient makes the test binary a client process that opens DIR and trains STEPS steps
// (value "DIR:STEPS"), to check that a second client process reuses the server.
const envTestClient = "POMPC_SESSION_TEST_CLIENT"

func TestMain(m *testing.M) {
	if v := os.Getenv(envTestClient); v != "" {
		os.Exit(testClientMain(v))
	}
	os.Exit(m.Run())
}

func testClientMain(v string) int {
	i := strings.LastIndexByte(v, ':')
	steps, _ := strconv.Atoi(v[i+1:])
	r, err := Open(context.Background(), Options{Dir: v[:i], ProgressEvery: 10 * time.Millisecond})
	if err == nil && steps < 0 {
		// Train "forever", printing progress, until killed.
		err = r.Train(context.Background(), 1_000_000, func(s pompc.Status) { fmt.Printf("step=%d\n", s.Step) })
	} else if err == nil {
		err = r.Train(context.Background(), steps, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := r.Status()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("pid=%d step=%d\n", st.PID, st.Step)
	return 0
}

const testTask = "cartpole-swingup"

// testConfig reaches the update phase, reanalysis and snapshots within a few dozen steps.
func testConfig() pompc.Config {
	c := pompc.POMPC().WithSize(pompc.SizeTiny)
	c.BatchSize = 8
	c.NumSamples = 16
	c.NumPiTrajs = 2
	c.NumElites = 4
	c.Iterations = 2
	c.SeedSteps = 20
	c.Steps = 60
	c.EvalEvery = 0
	c.EvalEpisodes = 1
	c.ReanalyzeEvery = 5
	c.ReanalyzeSeqs = 2
	c.SnapshotEvery = 5
	c.Seed = 3
	return c
}

// openTest opens (creating) a run in a fresh directory and shuts its server down at the end.
func openTest(t *testing.T, opts Options) *Run {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "run")
	}
	if opts.Task == "" {
		opts.Task = testTask
	}
	if opts.Config == (pompc.Config{}) {
		opts.Config = testConfig()
	}
	r, err := Open(context.Background(), opts)
	require.NoError(t, err)
	cleanupServer(t, opts.Dir)
	return r
}

// serversOf returns the pids of the live processes started to serve dir (their environment
// names it in EnvServe), read from /proc.
func serversOf(t *testing.T, dir string) []int {
	t.Helper()
	procs, err := os.ReadDir("/proc") // Linux, as the kill and lock tests here
	require.NoError(t, err)
	want := []byte(EnvServe + "=" + dir + "\x00")
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // a zombie: exited, not yet reaped
		}
		pids = append(pids, pid)
	}
	return pids
}

// cleanupServer shuts the server of dir down (or kills it) before the test's directories go.
func cleanupServer(t *testing.T, dir string) {
	t.Cleanup(func() {
		info, _ := readServerFile(dir)
		if err := ShutdownAll(dir); err != nil {
			t.Logf("shutdown %s: %v", dir, err)
		}
		if pidAlive(info.PID) {
			syscall.Kill(info.PID, syscall.SIGKILL)
			for end := time.Now().Add(5 * time.Second); pidAlive(info.PID) && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond) // gone before the directory is removed
			}
		}
	})
}

var (
	refOnce sync.Once
	refDir  string
	refErr  error
)

// reference trains testConfig for 60 steps in this process, without a server, like `pompc
// train` does, and returns its run directory.
func reference(t *testing.T) string {
	refOnce.Do(func() {
		refDir, refErr = os.MkdirTemp("", "session-ref-")
		if refErr != nil {
			return
		}
		backend, err := pompc.NewBackend("")
		if err != nil {
			refErr = err
			return
		}
		tr, err := pompc.NewTrainer(backend, testConfig(), testTask)
		if err != nil {
			refErr = err
			return
		}
		defer tr.Close()
		sink, err := pompc.NewJSONLSink(filepath.Join(refDir, rundir.MetricsFile))
		if err != nil {
			refErr = err
			return
		}
		defer sink.Close()
		tr.Subscribe(sink)
		if refErr = tr.Run(context.Background(), 60); refErr == nil {
			refErr = tr.Save(refDir)
		}
	})
	require.NoError(t, refErr)
	return refDir
}

// requireSameRun checks that dir holds the same checkpoint (every parameter, optimizer state,
// buffer, RNG and counter, byte for byte) and metrics as the reference run.
func requireSameRun(t *testing.T, dir string) {
	t.Helper()
	ref := reference(t)
	want, err := os.ReadFile(filepath.Join(ref, rundir.CheckpointFile))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "checkpoints differ from the uninterrupted run")
	wm, err := pompc.ReadMetrics(filepath.Join(ref, rundir.MetricsFile))
	require.NoError(t, err)
	gm, err := pompc.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
	require.NoError(t, err)
	require.NotEmpty(t, wm["loss/world_model"])
	require.Equal(t, wm, gm)
}

// TestTrainingAcrossCellsIsExact: 25 steps from one client, 15 from a second client process
// (same server, so no second setup), then a new server resumed from the checkpoint for the
// last 20: the result equals 60 uninterrupted steps bit for bit.
func TestTrainingAcrossCellsIsExact(t *testing.T) {
	ctx := context.Background()
	r := openTest(t, Options{})
	st0, err := r.Status()
	require.NoError(t, err)
	require.False(t, st0.Resumed)
	require.Zero(t, st0.Step)

	var calls []pompc.Status
	require.NoError(t, r.Train(ctx, 25, func(s pompc.Status) { calls = append(calls, s) }))
	require.NotEmpty(t, calls)
	last := calls[len(calls)-1]
	require.Equal(t, int64(25), last.Step, "the last progress call shows the end")
	require.False(t, last.Training)
	require.False(t, last.Stopped)
	require.Equal(t, int64(25), last.SavedStep, "a checkpoint at the end of every Train")
	require.NoError(t, r.Close())

	// A second client process: the same server trains on.
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := testCommand(exe, r.Dir()+":15")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), fmt.Sprintf("pid=%d step=40", st0.PID))

	// A new server (the old one shut down) resumes from the checkpoint.
	require.NoError(t, r.Shutdown())
	require.False(t, pidAlive(st0.PID))
	_, err = os.Stat(filepath.Join(r.Dir(), rundir.ServerFile))
	require.ErrorIs(t, err, os.ErrNotExist, "server.json goes with its server")
	r2, err := Open(ctx, Options{Dir: r.Dir()}) // empty options: whatever the directory holds
	require.NoError(t, err)
	st, err := r2.Status()
	require.NoError(t, err)
	require.NotEqual(t, st0.PID, st.PID)
	require.True(t, st.Resumed)
	require.Equal(t, int64(40), st.Step)
	require.Equal(t, testTask, st.Task)
	require.NoError(t, r2.Train(ctx, 20, nil))
	require.NoError(t, r2.Shutdown())
	requireSameRun(t, r.Dir())
}

func testCommand(exe, arg string) *exec.Cmd {
	cmd := exec.Command(exe)
	cmd.Env = append(serverEnv(), envTestClient+"="+arg)
	return cmd
}

// TestKilledServerRestartsFromCheckpoint: kill -9 the server while it trains in the
// background; the next Open starts a new server from the last checkpoint, the metrics written
// after it are dropped (a Tail sees a reset), and finishing the run gives exactly the
// uninterrupted run.
func TestKilledServerRestartsFromCheckpoint(t *testing.T) {
	ctx := context.Background()
	r := openTest(t, Options{SaveEvery: 5})
	tail, err := pompc.OpenMetrics(r.Dir())
	require.NoError(t, err)
	defer tail.Close()
	require.NoError(t, r.Start(60))
	var killedAt int64
	for deadline := time.Now().Add(2 * time.Minute); ; {
		st, err := r.Status()
		require.NoError(t, err)
		require.True(t, st.Training || st.Step < 60, "the run finished before it could be killed")
		if st.Step >= 28 {
			killedAt = st.Step
			require.NoError(t, syscall.Kill(st.PID, syscall.SIGKILL))
			for pidAlive(st.PID) {
				time.Sleep(10 * time.Millisecond)
			}
			break
		}
		require.True(t, time.Now().Before(deadline))
		time.Sleep(20 * time.Millisecond)
	}
	recs, err := tail.Next()
	require.NoError(t, err)
	require.NotEmpty(t, recs)

	// The old client reconnects by itself: its next call starts a new server.
	st, err := r.Status()
	require.NoError(t, err)
	require.True(t, st.Resumed)
	require.Less(t, st.Step, int64(60))
	require.LessOrEqual(t, st.Step, killedAt+10, "at most the steps since the last checkpoint (and those between Status and the kill) are lost")
	require.Zero(t, st.Step%5, "resumed from a checkpoint (every 5 steps)")
	require.GreaterOrEqual(t, st.Step, killedAt-5, "saved every 5 steps: at most 5 lost")
	_, err = tail.Next()
	require.NoError(t, err)
	require.True(t, tail.Restarted(), "the resumed server rewrote the metrics")

	require.NoError(t, r.Train(ctx, int(60-st.Step), nil))
	require.NoError(t, r.Shutdown())
	requireSameRun(t, r.Dir())
}

// TestControlsAndBadInput: λ and KL-direction changes show up in Status and in the metrics at
// the next update; bad input gets clear errors from the client and from the server.
func TestControlsAndBadInput(t *testing.T) {
	ctx := context.Background()
	r := openTest(t, Options{})
	require.NoError(t, r.Train(ctx, 22, nil))

	require.NoError(t, r.SetLambda(3))
	require.NoError(t, r.SetPriorKL(pompc.KLForward))
	require.NoError(t, r.SetReanalyze(false))
	st, err := r.Status()
	require.NoError(t, err)
	require.Equal(t, 3.0, st.Lambda)
	require.Equal(t, 3.0, st.Config.Lambda)
	require.Equal(t, pompc.KLForward, st.PriorKL)
	require.False(t, st.Reanalyze)
	require.NoError(t, r.Train(ctx, 3, nil))
	lam := runMetrics(t, r.Dir())
	require.Equal(t, []pompc.Record{{Key: pompc.KeyLambda, Step: 0, Val: 1}, {Key: pompc.KeyLambda, Step: 22, Val: 3}},
		lam[pompc.KeyLambda], "the initial λ and its change")
	require.Equal(t, []pompc.Record{{Key: pompc.KeyPriorKL, Step: 0, Val: pompc.KLReverse.Code()},
		{Key: pompc.KeyPriorKL, Step: 22, Val: pompc.KLForward.Code()}}, lam[pompc.KeyPriorKL])
	require.Equal(t, []pompc.Record{{Key: pompc.KeyReanalyze, Step: 0, Val: 1}, {Key: pompc.KeyReanalyze, Step: 22, Val: 0}},
		lam[pompc.KeyReanalyze])
	require.NoError(t, r.SetLambda(inf))
	st, err = r.Status()
	require.NoError(t, err)
	require.True(t, st.Config.LambdaInf())

	// Client-side checks.
	require.ErrorContains(t, r.SetLambda(-1), "lambda must be >= 0")
	require.ErrorContains(t, r.SetPrior("bogus"), `unknown prior kind "bogus"`)
	require.ErrorContains(t, r.SetPriorKL("sideways"), `unknown KL direction "sideways"`)
	require.ErrorContains(t, r.Train(ctx, 0, nil), "steps > 0")
	require.ErrorContains(t, r.Start(-5), "steps > 0")
	_, err = r.Evaluate(0)
	require.ErrorContains(t, err, "episodes > 0")
	// The server checks too (other clients, other versions).
	neg := pompc.JSONFloat(-1)
	var se *ServerError
	err = r.set(setRequest{Lambda: &neg})
	require.ErrorAs(t, err, &se)
	require.ErrorContains(t, err, "lambda must be >= 0")
	bogus := pompc.PriorKind("bogus")
	require.ErrorContains(t, r.set(setRequest{Prior: &bogus}), "prior")
	require.ErrorContains(t, r.call(ctx, "train", trainRequest{Steps: 0}, nil), "steps must be > 0")
	require.ErrorContains(t, r.call(ctx, "evaluate", evalRequest{Episodes: -1}, nil), "episodes must be > 0")
	// Prior none is only valid at lambda 0; the run is unchanged after the error.
	require.ErrorContains(t, r.SetPrior(pompc.PriorNone), "lambda")
	st, err = r.Status()
	require.NoError(t, err)
	require.Equal(t, pompc.PriorLearned, st.Prior)

	// Training in the background refuses a second training; Stop ends it and saves.
	require.NoError(t, r.Start(10_000))
	require.ErrorContains(t, r.Start(5), "already training")
	require.ErrorContains(t, r.Train(ctx, 5, nil), "already training")
	require.NoError(t, r.SetLambda(1)) // applied between steps
	ret, err := r.Evaluate(1)          // between steps too
	require.NoError(t, err)
	require.False(t, ret != ret, "an evaluation return, not NaN")
	require.NoError(t, r.Stop())
	st, err = r.Status()
	require.NoError(t, err)
	require.False(t, st.Training)
	require.True(t, st.Stopped)
	require.Equal(t, st.Step, st.SavedStep)
	require.Equal(t, 1.0, st.Lambda)
	require.Less(t, st.Step, int64(10_000))
	ev := runMetrics(t, r.Dir())
	require.Len(t, ev[pompc.KeyEvalReturn], 1)
	require.Equal(t, ret, ev[pompc.KeyEvalReturn][0].Val)

	// Planner-vs-policy snapshots, one per 5 planner calls after the seed phase.
	var snapRecs []pompc.Record
	for k, recs := range ev {
		if pompc.IsSnapshotKey(k) {
			snapRecs = append(snapRecs, recs...)
		}
	}
	snaps := pompc.DecodeSnapshots(snapRecs)
	require.NotEmpty(t, snaps)
	s := snaps[len(snaps)-1]
	require.Len(t, s.Plan.Mean, st.ActionDim)
	require.Len(t, s.Pi.Std, st.ActionDim)
	require.Len(t, s.Prior.Mean, st.ActionDim)
	require.Greater(t, s.Plan.Std[0], 0.0)
	require.Greater(t, s.Step, int64(20))
}

var inf = func() float64 { var z float64; return 1 / z }()

// TestOpenErrors: a missing run, a corrupt checkpoint, another task or config, a file for a
// directory and a directory held by another process all give clear errors.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, Options{})
	require.ErrorContains(t, err, "Options.Dir")

	missing := filepath.Join(t.TempDir(), "missing")
	_, err = Open(ctx, Options{Dir: missing})
	require.ErrorContains(t, err, "holds no run")
	bad := testConfig()
	bad.Horizon = 0
	_, err = Open(ctx, Options{Dir: missing, Task: testTask, Config: bad})
	require.ErrorContains(t, err, "horizon")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = Open(ctx, Options{Dir: file})
	require.ErrorContains(t, err, "is a file")

	corrupt := filepath.Join(t.TempDir(), "corrupt")
	require.NoError(t, os.MkdirAll(corrupt, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, rundir.CheckpointFile), []byte("not a checkpoint at all, no"), 0o644))
	cleanupServer(t, corrupt)
	_, err = Open(ctx, Options{Dir: corrupt})
	require.ErrorContains(t, err, "exited before it was ready")
	require.ErrorContains(t, err, "not a pompc checkpoint")

	r := openTest(t, Options{})
	_, err = Open(ctx, Options{Dir: r.Dir(), Task: "pendulum-swingup"})
	require.ErrorContains(t, err, `task "cartpole-swingup", not "pendulum-swingup"`)
	other := testConfig()
	other.Horizon = 4
	other.Lambda = 7 // may differ: it changes during a run
	_, err = Open(ctx, Options{Dir: r.Dir(), Config: other})
	require.ErrorContains(t, err, "horizon is 3 there, 4 asked")
	require.NotContains(t, err.Error(), "lambda")
	same := testConfig()
	same.Lambda = 7
	r2, err := Open(ctx, Options{Dir: r.Dir(), Task: testTask, Config: same})
	require.NoError(t, err)
	require.Equal(t, r.PID(), r2.PID())
	// Restart replaces the running server (new code), which resumes from the checkpoint.
	require.NoError(t, r2.Train(ctx, 3, nil))
	r3, err := Open(ctx, Options{Dir: r.Dir(), Restart: true})
	require.NoError(t, err)
	require.NotEqual(t, r.PID(), r3.PID())
	require.False(t, pidAlive(r.PID()))
	st, err := r3.Status()
	require.NoError(t, err)
	require.True(t, st.Resumed)
	require.Equal(t, int64(3), st.Step)
	exe, err := os.Executable()
	require.NoError(t, err)
	require.Equal(t, exe, st.Executable)

	// A directory held by another process (here: this one, like a `pompc train`).
	held := filepath.Join(t.TempDir(), "held")
	lock, err := rundir.Acquire(held)
	require.NoError(t, err)
	defer lock.Unlock()
	_, err = Open(ctx, Options{Dir: held, Task: testTask, Config: testConfig()})
	require.ErrorContains(t, err, fmt.Sprintf("in use by process %d", os.Getpid()))
}

// TestRacingOpensShareOneServer: concurrent Opens of a new directory start one server; several
// runs train concurrently in the background and WaitAll waits for all.
func TestRacingOpensShareOneServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cleanupServer(t, dir)
	const n = 3
	runs := make([]*Run, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], errs[i] = Open(context.Background(), Options{Dir: dir, Task: testTask, Config: testConfig()})
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, runs[0].PID(), runs[i].PID())
	}
	// A server an Open started that lost the race has exited when Open returns: the winner is
	// the one process serving the directory (a loser still starting would recreate its lock
	// file in a directory its caller may be removing).
	require.Equal(t, []int{runs[0].PID()}, serversOf(t, dir))

	other := openTest(t, Options{Dir: filepath.Join(filepath.Dir(dir), "sub", "other"),
		Config: func() pompc.Config { c := testConfig(); c.Seed = 4; return c }()})
	found, err := FindServers(filepath.Dir(dir))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{dir, other.Dir()}, found)
	_, err = FindServers(filepath.Join(dir, "missing"))
	require.Error(t, err)
	require.NoError(t, runs[0].Start(12))
	require.NoError(t, other.Start(12))
	require.NoError(t, WaitAll(context.Background(), runs[1], other))
	for _, r := range []*Run{runs[2], other} {
		st, err := r.Status()
		require.NoError(t, err)
		require.Equal(t, int64(12), st.Step)
		require.False(t, st.Training)
	}
}

// TestBlockingTrainStopsWhenCancelled: cancelling a blocking Train (an interrupted cell) stops
// the server's training at the next step with a checkpoint; an idle server exits by itself.
func TestBlockingTrainStopsWhenCancelled(t *testing.T) {
	r := openTest(t, Options{IdleTimeout: 1500 * time.Millisecond, ProgressEvery: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	err := r.Train(ctx, 100_000, func(s pompc.Status) {
		if s.Step >= 5 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	st, err := r.Status()
	require.NoError(t, err)
	require.False(t, st.Training)
	require.Less(t, st.Step, int64(1000))
	require.Equal(t, st.Step, st.SavedStep)

	// Idle: no calls, no training -> the server saves and exits.
	deadline := time.Now().Add(30 * time.Second)
	for pidAlive(st.PID) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.False(t, pidAlive(st.PID), "the idle server exits")
	log, err := os.ReadFile(filepath.Join(r.Dir(), rundir.ServerLogFile))
	require.NoError(t, err)
	require.Contains(t, string(log), "exiting (idle for 1.5s)")
	_, err = os.Stat(filepath.Join(r.Dir(), rundir.ServerFile))
	require.True(t, errors.Is(err, os.ErrNotExist))
}

// TestDeadClientStopsBlockingTrain: when the process of a blocking Train dies (a killed cell),
// the server stops training at the next step and saves, and stays up for the next cell.
func TestDeadClientStopsBlockingTrain(t *testing.T) {
	r := openTest(t, Options{})
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := testCommand(exe, r.Dir()+":-1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	reached := false
	for sc.Scan() {
		var step int
		if _, err := fmt.Sscanf(sc.Text(), "step=%d", &step); err == nil && step >= 3 {
			reached = true
			break
		}
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.True(t, reached, "the client ended before step 3: %s", stderr.String())
	var st pompc.Status
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = r.Status(); err == nil && !st.Training {
			break
		}
	}
	require.NoError(t, err)
	require.False(t, st.Training, "the server stops when the client of a blocking Train dies")
	require.GreaterOrEqual(t, st.Step, int64(3))
	require.Equal(t, st.Step, st.SavedStep)
	log, err := os.ReadFile(filepath.Join(r.Dir(), rundir.ServerLogFile))
	require.NoError(t, err)
	require.Contains(t, string(log), "the client of a blocking Train went away: stopping")

	// A wedged server (here: stopped by SIGSTOP) gives an error, not a hang.
	require.NoError(t, r.Start(1_000_000))
	defer func(d time.Duration) { streamSilence = d }(streamSilence)
	streamSilence = 300 * time.Millisecond
	start := time.Now()
	var once sync.Once
	err = r.Wait(context.Background(), func(pompc.Status) {
		once.Do(func() { require.NoError(t, syscall.Kill(st.PID, syscall.SIGSTOP)) })
	})
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGCONT))
	require.ErrorContains(t, err, "no word from the server")
	require.Less(t, time.Since(start), 10*time.Second)
	// Before any answer, too.
	stopProcess(t, st.PID)
	err = r.Wait(context.Background(), nil)
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGCONT))
	require.ErrorContains(t, err, "did not answer for 300ms")
	// And the calls that wait for the trainer (an evaluation, a save...).
	stopProcess(t, st.PID)
	_, err = r.Evaluate(1)
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGCONT))
	require.ErrorContains(t, err, "evaluate of "+r.Dir()+": no word from the server")
	streamSilence = 2 * time.Minute

	// SIGTERM (a plain kill) stops the training, saves and exits: nothing is lost.
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGTERM))
	for deadline := time.Now().Add(time.Minute); pidAlive(st.PID) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	require.False(t, pidAlive(st.PID))
	log, err = os.ReadFile(filepath.Join(r.Dir(), rundir.ServerLogFile))
	require.NoError(t, err)
	require.Regexp(t, `(?s)exiting \(signal\)\n.*stopped at step \d+ of \d+.*exited at step \d+`, string(log))
	var exited int64
	_, err = fmt.Sscanf(string(log[strings.LastIndex(string(log), "exited at step "):]), "exited at step %d", &exited)
	require.NoError(t, err)
	st2, err := r.Status() // a new server
	require.NoError(t, err)
	require.NotEqual(t, st.PID, st2.PID)
	require.Equal(t, exited, st2.Step, "the signalled server saved its last step")
}

// runMetrics reads the run's metrics by key.
func runMetrics(t *testing.T, dir string) map[string][]pompc.Record {
	t.Helper()
	m, err := pompc.ReadMetrics(rundir.Path(dir, rundir.MetricsFile))
	require.NoError(t, err)
	return m
}

// stopProcess sends SIGSTOP to pid and waits until the kernel reports it stopped (the signal is
// delivered asynchronously: a process still running could answer one more request).
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return // no procfs: nothing to wait on
		}
		// The state follows the parenthesized command name: "pid (comm) T ...".
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
	}
	t.Fatalf("process %d did not stop", pid)
}
