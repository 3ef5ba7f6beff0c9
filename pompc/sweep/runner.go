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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
)

// StatusFile is the sweep's record of one run, in its run directory.
const StatusFile = "sweep-run.json"

// Run states.
const (
	StateDone    = "done"    // the child finished all its steps
	StateFailed  = "failed"  // the child exited with an error (retried on resume)
	StateStopped = "stopped" // the sweep was interrupted; the run resumes from its checkpoint
)

// RunStatus is what sweep-run.json holds.
type RunStatus struct {
	State string `json:"state"`
	// WallSeconds sums the wall time of every attempt that ended (an attempt killed together
	// with the sweep process is not counted).
	WallSeconds float64 `json:"wall_s"`
	Attempts    int     `json:"attempts"`
	// Error is the end of the child's output when it failed.
	Error string `json:"error,omitempty"`
}

// ReadStatus reads a run directory's sweep-run.json; a run never attempted has State "".
func ReadStatus(runDir string) (RunStatus, error) {
	var st RunStatus
	data, err := os.ReadFile(filepath.Join(runDir, StatusFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("sweep: %s: %w", filepath.Join(runDir, StatusFile), err)
	}
	return st, nil
}

func writeStatus(runDir string, st RunStatus) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(runDir, "."+StatusFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(runDir, StatusFile))
}

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

// Failure is a run that ended with an error.
type Failure struct {
	Name string
	Err  string
}

// Summary counts what Run did.
type Summary struct {
	Total, Skipped, Done int
	Failed               []Failure
	Stopped              int
}

// Run runs every point of g under dir that is not done yet: fresh runs start, runs with a
// checkpoint continue with --resume, finished runs are skipped. A failing run is recorded and
// the others go on. Cancelling ctx interrupts the children (SIGINT: they checkpoint and stop)
// and returns after they exit. The sweep directory is locked for the duration.
func (r Runner) Run(ctx context.Context, dir string, g Grid) (Summary, error) {
	var sum Summary
	pts, err := g.Points()
	if err != nil {
		return sum, err
	}
	if r.Jobs < 1 {
		return sum, fmt.Errorf("sweep: jobs must be >= 1, got %d", r.Jobs)
	}
	if r.Exe == "" {
		return sum, errors.New("sweep: no pompc executable")
	}
	if err := SaveGrid(dir, g); err != nil {
		return sum, err
	}
	lock, err := pompc.LockRunDir(dir)
	if err != nil {
		return sum, fmt.Errorf("sweep: %w", err)
	}
	defer lock.Unlock()
	logw := r.Log
	if logw == nil {
		logw = io.Discard
	}
	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(logw, format+"\n", a...)
	}
	env := r.Env
	if env == nil {
		env = os.Environ()
	}
	hasMaxProcs := false
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			hasMaxProcs = true
		}
	}
	if !hasMaxProcs {
		env = append(append([]string(nil), env...), "GOMAXPROCS="+strconv.Itoa(max(1, runtime.NumCPU()/r.Jobs)))
	}

	sum.Total = len(pts)
	var todo []Point
	for _, p := range pts {
		st, err := ReadStatus(filepath.Join(dir, p.Name()))
		if err != nil {
			return sum, err
		}
		if st.State == StateDone {
			sum.Skipped++
			continue
		}
		todo = append(todo, p)
	}
	if sum.Skipped > 0 {
		logf("sweep: %d of %d runs already done, skipped", sum.Skipped, sum.Total)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan Point)
	count := sum.Skipped
	for w := 0; w < r.Jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				st, err := r.runOne(ctx, dir, g, p, env, logf)
				mu.Lock()
				count++
				n := count
				switch {
				case err != nil:
					sum.Failed = append(sum.Failed, Failure{Name: p.Name(), Err: err.Error()})
					logf("[%d/%d] FAILED %s: %v", n, sum.Total, p.Name(), err)
				case st.State == StateDone:
					sum.Done++
					logf("[%d/%d] done %s (%.1fs)", n, sum.Total, p.Name(), st.WallSeconds)
				default:
					sum.Stopped++
					logf("[%d/%d] stopped %s (resume the sweep to continue it)", n, sum.Total, p.Name())
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range todo {
		if ctx.Err() != nil {
			sum.Stopped++
			continue
		}
		select {
		case next <- p:
		case <-ctx.Done():
			sum.Stopped++
		}
	}
	close(next)
	wg.Wait()
	return sum, nil
}

// runOne runs (or resumes) one point and records its status. The returned error is the run's
// failure; errors of the sweep's own bookkeeping are returned too.
func (r Runner) runOne(ctx context.Context, dir string, g Grid, p Point, env []string, logf func(string, ...any)) (RunStatus, error) {
	runDir := filepath.Join(dir, p.Name())
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return RunStatus{}, err
	}
	st, err := ReadStatus(runDir)
	if err != nil {
		return st, err
	}
	args := p.TrainArgs(g, runDir)
	resume := false
	if _, err := os.Stat(filepath.Join(runDir, "checkpoint.bin")); err == nil {
		args = append(args, "--resume")
		resume = true
	}
	logFile, err := os.OpenFile(filepath.Join(runDir, "train.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return st, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "### %s %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	tail := &tailBuffer{max: 2000}
	cmd := exec.CommandContext(ctx, r.Exe, args...)
	cmd.Env = env
	cmd.Stdout = io.MultiWriter(logFile, tail)
	cmd.Stderr = cmd.Stdout
	// Interrupt (not kill) on cancel, so the child saves its checkpoint.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	if resume {
		logf("resuming %s", p.Name())
	} else {
		logf("starting %s", p.Name())
	}
	start := time.Now()
	runErr := runChild(cmd)
	st.Attempts++
	st.WallSeconds += time.Since(start).Seconds()
	st.Error = ""
	switch {
	case runErr != nil && ctx.Err() == nil:
		st.State = StateFailed
		st.Error = fmt.Sprintf("%v: %s", runErr, strings.TrimSpace(tail.String()))
	case ctx.Err() != nil:
		st.State = StateStopped
	default:
		st.State = StateDone
	}
	if err := writeStatus(runDir, st); err != nil {
		return st, err
	}
	if st.State == StateFailed {
		return st, errors.New(lastLines(st.Error, 3))
	}
	return st, nil
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
