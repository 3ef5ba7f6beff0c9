package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pompc/pompc/pompc/rundir"
)

// envOptions carries the Options of the Open that starts a server (JSON) to the server process.
const envOptions = "POMPC_SESSION_OPTIONS"

// exitLocked is the exit status of a server that found the run directory locked by another
// process.
const exitLocked = 3

func init() {
	if file := os.Getenv(EnvPopulation); file != "" {
		// This process is a notebook sweep's population child (PopulationLauncher): train the
		// runs the file lists and exit before main runs.
		os.Exit(populationMain(file))
	}
	dir := os.Getenv(EnvServe)
	if dir == "" {
		return
	}
	// This process is a session server (see the package doc): serve and exit before main runs.
	os.Exit(serveMain(dir))
}

func readServerFile(dir string) (serverInfo, error) {
	var info serverInfo
	b, err := os.ReadFile(rundir.Path(dir, rundir.ServerFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("session: %s: %w", rundir.Path(dir, rundir.ServerFile), err)
	}
	return info, nil
}

// hello asks the server named by server.json who it is.
func (r *Run) tryHello(ctx context.Context, info serverInfo) (helloResponse, error) {
	var h helloResponse
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r.mu.Lock()
	r.info = info
	r.mu.Unlock()
	if err := r.callOnce(ctx, "hello", nil, &h); err != nil {
		return h, err
	}
	if h.PID != info.PID {
		return h, fmt.Errorf("session: server.json names pid %d but pid %d answered", info.PID, h.PID)
	}
	return h, nil
}

// probe states of a run directory's server.
const (
	probeDead = iota
	probeStarting
	probeReady
)

// probe looks for the server named by server.json.
func (r *Run) probe(ctx context.Context) (int, error) {
	info, err := readServerFile(r.opts.Dir)
	if err != nil {
		return probeDead, nil
	}
	if info.Version != ProtocolVersion {
		if !pidAlive(info.PID) {
			return probeDead, nil
		}
		return probeDead, fmt.Errorf("session: the server of %s (pid %d) speaks protocol %d, this client %d: Shutdown it (or kill it) and Open again",
			r.opts.Dir, info.PID, info.Version, ProtocolVersion)
	}
	h, err := r.tryHello(ctx, info)
	switch {
	case err == nil && h.Ready:
		r.mu.Lock()
		r.hello = h
		r.mu.Unlock()
		return probeReady, nil
	case err == nil:
		return probeStarting, nil
	case isConnRefused(err) || !pidAlive(info.PID):
		return probeDead, nil
	default:
		// Alive but not answering (busy, or server.json being replaced): wait.
		return probeStarting, nil
	}
}

// connect finds the run's server, starting one if none answers, and waits until it is ready.
func (r *Run) connect(ctx context.Context) error {
	dir := r.opts.Dir
	deadline := time.Now().Add(r.opts.StartTimeout)
	r.mu.Lock()
	r.spawned = false
	r.mu.Unlock()
	var (
		childDone   chan error
		child       *exec.Cmd
		lockedSince time.Time
	)
	for {
		state, err := r.probe(ctx)
		if err != nil {
			return err
		}
		if state == probeReady {
			r.reapLoser(child, childDone, deadline)
			return nil
		}
		if state == probeDead && child == nil && lockedSince.IsZero() {
			if err := r.checkCanStart(); err != nil {
				return err
			}
			if child, childDone, err = r.spawn(); err != nil {
				return err
			}
			r.mu.Lock()
			r.spawned = true
			r.mu.Unlock()
			lockedSince = time.Time{}
		}
		if child != nil {
			select {
			case cerr := <-childDone:
				var ee *exec.ExitError
				if !errors.As(cerr, &ee) || ee.ExitCode() != exitLocked {
					return fmt.Errorf("session: the server for %s exited before it was ready (%v); server.log ends with:\n%s", dir, cerr, logTail(dir))
				}
				// Another process holds the directory: a racing server (wait for it), or
				// something else, like `pompc train` (report it).
				child, childDone, lockedSince = nil, nil, time.Now()
			default:
			}
		}
		if !lockedSince.IsZero() && state == probeDead && time.Since(lockedSince) > 2*time.Second {
			if holder, ok := lockHolder(dir); ok {
				return fmt.Errorf("session: %s is in use by process %d, which is not a session server (a `pompc train`?): stop it first", dir, holder)
			}
			lockedSince = time.Time{} // the holder is gone: start a server again
		}
		if time.Now().After(deadline) {
			if child != nil {
				_ = child.Process.Kill()
			}
			return fmt.Errorf("session: no server for %s was ready within %s; server.log ends with:\n%s", dir, r.opts.StartTimeout, logTail(dir))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reapLoser waits, until deadline, for a server this client started that lost the race for the
// directory to another one (it exits with exitLocked as soon as it finds the lock taken), so that
// no process of this Open still touches the directory (its lock file, its log) after Open
// returns, e.g. while a caller removes it; it kills one still running at the deadline. The
// winner, when it is the child, is left alone.
func (r *Run) reapLoser(child *exec.Cmd, done chan error, deadline time.Time) {
	r.mu.Lock()
	winner := r.hello.PID
	r.mu.Unlock()
	if child == nil || child.Process.Pid == winner {
		return
	}
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		_ = child.Process.Kill()
		<-done
	}
}

// lockHolder returns the pid written in the run's lock file if a live process holds it.
func lockHolder(dir string) (int, bool) {
	b, err := os.ReadFile(rundir.Path(dir, rundir.LockFile))
	if err != nil {
		return 0, false
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil || !pidAlive(pid) {
		return 0, false
	}
	return pid, true
}

// checkCanStart reports what a new server would fail on, before starting one.
func (r *Run) checkCanStart() error {
	dir := r.opts.Dir
	if _, err := os.Stat(rundir.Path(dir, rundir.CheckpointFile)); err == nil {
		return nil
	}
	if r.opts.Task == "" || !r.opts.hasConfig() {
		return fmt.Errorf("session: %s holds no run (no %s): give Options.Task and Options.Config to create one", dir, rundir.CheckpointFile)
	}
	if err := r.opts.Config.Validate(); err != nil {
		return fmt.Errorf("session: Options.Config: %w", err)
	}
	return nil
}

// spawn starts a detached server process for the run directory.
func (r *Run) spawn() (*exec.Cmd, chan error, error) {
	dir := r.opts.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("session: run directory %s: %w", dir, err)
	}
	exe := r.opts.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, nil, fmt.Errorf("session: cannot find this program to start a server: %w", err)
		}
	}
	optsJSON, err := json.Marshal(serveOptionsFrom(r.opts))
	if err != nil {
		return nil, nil, err
	}
	logf, err := os.OpenFile(rundir.Path(dir, rundir.ServerLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("session: server log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(exe)
	cmd.Dir = dir
	cmd.Env = append(serverEnv(), EnvServe+"="+dir, envOptions+"="+string(optsJSON))
	if r.opts.Threads > 0 { // the last value of a variable wins (os/exec)
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(r.opts.Threads))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("session: starting a server for %s with %s: %w", dir, exe, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // reaps it if it exits while this client lives
	return cmd, done, nil
}

// serverEnv is this process's environment without what would tie the server to a notebook
// cell (GoNB's pipes) or make it serve another directory.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GONB_") || k == EnvServe || k == envOptions || k == EnvPopulation {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// logTail returns the last lines of the run's server.log.
func logTail(dir string) string {
	b, err := os.ReadFile(rundir.Path(dir, rundir.ServerLogFile))
	if err != nil {
		return "(no server.log)"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimRight(string(b), "\n")
}
