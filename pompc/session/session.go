package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Files of a run directory used by the session server, besides pompc's checkpoint.bin,
// config.json, metrics.jsonl and run.lock.

// EnvServe is the environment variable that turns any program importing this package into a
// session server for the run directory it names (see the package doc).
const EnvServe = "POMPC_SESSION_SERVE"

// ProtocolVersion is the version of the client/server protocol; a client refuses a server of
// another version (Shutdown it and Open again).
const ProtocolVersion = 1

// Defaults of Options.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultSaveEvery     = 1000
	DefaultStartTimeout  = 2 * time.Minute
	DefaultProgressEvery = 500 * time.Millisecond
)

// Options says which run to open and, for a new run, how to create it.
type Options struct {
	// Dir is the run directory (required). It may hold a run made by `pompc train` or by an
	// earlier session, or nothing yet.
	Dir string
	// Task is the task of a new run (required to create one). When Dir holds a run, a non-empty
	// Task must match it.
	Task string
	// Config is the configuration of a new run (required to create one; the zero Config means
	// "whatever Dir holds"). When Dir holds a run, a non-zero Config must match it in every field
	// except the ones that may change during a run (lambda, prior, prior_kl, reanalyze, backend).
	// Config.Steps also sizes the replay buffer: training past it overwrites the oldest data.
	Config pompc.Config
	// Backend is the compute backend spec of a server this Open starts ("": the config's
	// Backend, else $GOMLX_BACKEND, else pompc.DefaultBackend); a running server keeps its own.
	Backend string
	// SaveEvery is the number of agent steps between checkpoints of a server this Open starts
	// (0: DefaultSaveEvery, negative: only at the end of each training, on Stop/Save/Shutdown and
	// at exit); a running server keeps its own.
	SaveEvery int
	// IdleTimeout is how long a server this Open starts waits without client calls and without
	// training before it saves and exits (0: DefaultIdleTimeout, negative: never).
	IdleTimeout time.Duration
	// StartTimeout bounds how long Open waits for a new server to come up (0:
	// DefaultStartTimeout).
	StartTimeout time.Duration
	// ProgressEvery is the period of the progress callbacks of Train and Wait (0:
	// DefaultProgressEvery).
	ProgressEvery time.Duration
	// Threads, if > 0, is the GOMAXPROCS of a server this Open starts (the sweep engine's share
	// of the cores, sweep.Threads); a running server keeps its own.
	Threads int
	// Restart makes Open replace a running server: it saves and exits, and a new one resumes
	// from the checkpoint. A running server keeps the code it was started with, so after editing
	// the pompc code a notebook links, open with Restart once to train with the new code.
	Restart bool
	// Executable is the program started as the server (default: os.Executable(), this very
	// program). It must link this package, like the pompc command does.
	Executable string
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("session: Options.Dir (the run directory) is required")
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("session: run directory %q: %w", o.Dir, err)
	}
	o.Dir = abs
	if o.SaveEvery == 0 {
		o.SaveEvery = DefaultSaveEvery
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	return o, nil
}

// hasConfig reports whether a Config was given (the zero Config means "whatever is there").
func (o Options) hasConfig() bool { return !reflect.ValueOf(o.Config).IsZero() }

// Run is a client of one run's server. Its methods are safe for concurrent use, and several
// Runs (a λ sweep) can be driven from one program.
type Run struct {
	opts Options
	hc   *http.Client

	mu      sync.Mutex
	info    serverInfo
	hello   helloResponse
	spawned bool // the last connect started the server
}

// serverInfo is the content of server.json.
type serverInfo struct {
	PID     int       `json:"pid"`
	Addr    string    `json:"addr"`
	Token   string    `json:"token"`
	Started time.Time `json:"started"`
	Version int       `json:"version"`
}

// Open attaches to the server of opts.Dir, starting one if none runs (which resumes the run
// from its checkpoint, or creates it from opts.Task and opts.Config). It fails with a clear
// error when Dir holds another task or config than asked for, when it holds no run and no
// Task/Config were given, when the checkpoint is corrupt, or when another process (e.g.
// `pompc train`) holds the directory.
func Open(ctx context.Context, opts Options) (*Run, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(opts.Dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("session: run directory %s is a file", opts.Dir)
	}
	r := &Run{opts: opts, hc: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
	}}}
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	if opts.Restart && !r.spawned {
		if err := r.Shutdown(); err != nil {
			return nil, err
		}
		if err := r.connect(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.checkMatch(); err != nil {
		return nil, err
	}
	return r, nil
}

// checkMatch compares opts.Task/Config with the run the server holds.
func (r *Run) checkMatch() error {
	h := r.hello
	if r.opts.Task != "" && r.opts.Task != h.Task {
		return fmt.Errorf("session: %s holds a run of task %q, not %q (leave Options.Task empty to reattach, or use another Dir)",
			r.opts.Dir, h.Task, r.opts.Task)
	}
	if !r.opts.hasConfig() {
		return nil
	}
	var diffs []string
	for _, d := range pompc.ConfigDiff(h.Config, r.opts.Config) {
		if !mutableKeys[d.Key] {
			diffs = append(diffs, fmt.Sprintf("%s is %s there, %s asked", d.Key, d.A, d.B))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("session: %s holds a run with another config: %s (use a zero Options.Config to reattach, or another Dir)",
			r.opts.Dir, strings.Join(diffs, ", "))
	}
	return nil
}

// mutableKeys are the config fields a run may change between updates.
// The backend may differ too: a run moves between machines.
var mutableKeys = map[string]bool{"lambda": true, "prior": true, "prior_kl": true, "reanalyze": true, "backend": true}

// Dir is the run directory (absolute).
func (r *Run) Dir() string { return r.opts.Dir }

// Task is the run's task.
func (r *Run) Task() string { r.mu.Lock(); defer r.mu.Unlock(); return r.hello.Task }

// PID is the process id of the server this client talks to.
func (r *Run) PID() int { r.mu.Lock(); defer r.mu.Unlock(); return r.info.PID }

// Train takes steps agent steps (with their updates and scheduled evaluations) and returns when
// they are done, calling progress (if not nil) about every Options.ProgressEvery and once at
// the end, from the calling goroutine. If ctx is cancelled, or this client dies, the server
// stops at the next step and saves a checkpoint; Train then returns ctx.Err(). If another
// client stops the training (Stop, Shutdown), Train returns nil with Status().Stopped set.
// Training N steps and then M steps gives exactly the run of N+M steps.
func (r *Run) Train(ctx context.Context, steps int, progress func(pompc.Status)) error {
	if steps <= 0 {
		return fmt.Errorf("session: Train wants steps > 0, got %d", steps)
	}
	err := r.stream(ctx, "train", trainRequest{Steps: steps}, progress)
	if ctx.Err() != nil {
		// The server stops when the stream closes; wait for its checkpoint.
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		_ = r.call(stopCtx, "stop", nil, nil)
		return ctx.Err()
	}
	return err
}

// Start begins training steps agent steps in the background on the server and returns at
// once; the training continues without a client. Wait, Stop and Status follow it.
func (r *Run) Start(steps int) error {
	if steps <= 0 {
		return fmt.Errorf("session: Start wants steps > 0, got %d", steps)
	}
	return r.call(context.Background(), "train", trainRequest{Steps: steps, Background: true}, nil)
}

// Wait returns when the training in progress (if any) ends, with its error, calling progress
// (if not nil) about every Options.ProgressEvery and once at the end. Cancelling ctx stops
// waiting, not the training.
func (r *Run) Wait(ctx context.Context, progress func(pompc.Status)) error {
	return r.stream(ctx, "wait", struct{}{}, progress)
}

// Stop ends the training in progress at the next step, saves a checkpoint, and returns once
// both are done. Without training in progress it only saves.
func (r *Run) Stop() error { return r.call(context.Background(), "stop", nil, nil) }

// Status returns the run's current state.
func (r *Run) Status() (pompc.Status, error) {
	var s pompc.Status
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := r.call(ctx, "status", nil, &s)
	return s, err
}

// SetLambda changes λ (>= 0, or math.Inf(1)) from the next update on; the change is recorded
// as a config/lambda metric. Moving a TD-MPC2 run (prior none) to λ > 0 selects the learned
// prior.
func (r *Run) SetLambda(lambda float64) error {
	if math.IsNaN(lambda) || lambda < 0 {
		return fmt.Errorf("session: lambda must be >= 0 (or +Inf), got %v", lambda)
	}
	l := pompc.JSONFloat(lambda)
	return r.set(setRequest{Lambda: &l})
}

// SetPriorKL changes the direction of the KL fitting the prior (pompc.KLForward or
// pompc.KLReverse) from the next update on.
func (r *Run) SetPriorKL(d pompc.KLDir) error {
	if d != pompc.KLForward && d != pompc.KLReverse {
		return fmt.Errorf("session: unknown KL direction %q (want %q or %q)", d, pompc.KLForward, pompc.KLReverse)
	}
	return r.set(setRequest{PriorKL: &d})
}

// SetPrior changes the prior kind (pompc.PriorNone, PriorLearned, PriorPlanner) from the next
// update on. PriorNone is only valid at λ = 0.
func (r *Run) SetPrior(p pompc.PriorKind) error {
	switch p {
	case pompc.PriorNone, pompc.PriorLearned, pompc.PriorPlanner:
	default:
		return fmt.Errorf("session: unknown prior kind %q (want %q, %q or %q)", p, pompc.PriorNone, pompc.PriorLearned, pompc.PriorPlanner)
	}
	return r.set(setRequest{Prior: &p})
}

// SetReanalyze turns lazy reanalysis on or off from the next update on.
func (r *Run) SetReanalyze(on bool) error { return r.set(setRequest{Reanalyze: &on}) }

func (r *Run) set(req setRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return r.call(ctx, "set", req, nil)
}

// Evaluate plays episodes evaluation episodes (planner, no exploration noise) on the run's
// evaluation envs, between training steps if training is in progress, records eval/return and
// eval/return_std, and returns the mean return.
func (r *Run) Evaluate(episodes int) (float64, error) {
	if episodes <= 0 {
		return 0, fmt.Errorf("session: Evaluate wants episodes > 0, got %d", episodes)
	}
	var resp evalResponse
	err := r.call(context.Background(), "evaluate", evalRequest{Episodes: episodes}, &resp)
	return float64(resp.Mean), err
}

// Save writes a checkpoint now (between steps if training is in progress).
func (r *Run) Save() error { return r.call(context.Background(), "save", nil, nil) }

// Close releases this client; the server keeps running (and training, after Start). It does not
// fail.
func (r *Run) Close() error {
	if t, ok := r.hc.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Shutdown stops any training, saves a checkpoint, and ends the server process; it returns once
// the process is gone. A later Open starts a new server from the checkpoint.
func (r *Run) Shutdown() error {
	r.mu.Lock()
	pid := r.info.PID
	r.mu.Unlock()
	err := r.watched(context.Background(), "shutdown", func(ctx context.Context) error {
		return r.callOnce(ctx, "shutdown", nil, nil)
	})
	if err != nil && !isConnRefused(err) && !r.serverGone(err) {
		return err
	}
	// Wait for the process to be gone (it saves before exiting).
	for deadline := time.Now().Add(5 * time.Minute); pidAlive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if pidAlive(pid) {
		return fmt.Errorf("session: server %d of %s did not exit", pid, r.opts.Dir)
	}
	return r.Close()
}

// ShutdownAll shuts down the servers of the given run directories (a notebook's cleanup cell);
// directories without a live server are skipped.
func ShutdownAll(dirs ...string) error {
	var errs []error
	for _, d := range dirs {
		info, err := readServerFile(d)
		if err != nil || !pidAlive(info.PID) {
			continue
		}
		r := &Run{opts: Options{Dir: d}, hc: &http.Client{}, info: info}
		if abs, err := filepath.Abs(d); err == nil {
			r.opts.Dir = abs
		}
		if err := r.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FindServers returns the run directories under root (root included) whose server is alive,
// e.g. to shut down every run of a notebook: ShutdownAll(must(FindServers("out"))...).
func FindServers(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // unreadable subdirectories are skipped
		}
		if d.IsDir() || d.Name() != rundir.ServerFile {
			return nil
		}
		dir := filepath.Dir(path)
		if info, err := readServerFile(dir); err == nil && pidAlive(info.PID) {
			dirs = append(dirs, dir)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return dirs, nil
}

// WaitAll waits for the training of every run to end (e.g. after Start on a sweep of runs) and
// returns their errors joined.
func WaitAll(ctx context.Context, runs ...*Run) error {
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Wait(ctx, nil); err != nil {
				errs[i] = fmt.Errorf("%s: %w", r.Dir(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ---- wire protocol ----

type helloResponse struct {
	Version int          `json:"version"`
	PID     int          `json:"pid"`
	Ready   bool         `json:"ready"`
	Task    string       `json:"task"`
	Config  pompc.Config `json:"config"`
	ObsDim  int          `json:"obs_dim"`
	ActDim  int          `json:"act_dim"`
	Dir     string       `json:"dir"`
}

type trainRequest struct {
	Steps      int  `json:"steps"`
	Background bool `json:"background"`
}

type setRequest struct {
	Lambda    *pompc.JSONFloat `json:"lambda,omitempty"`
	Prior     *pompc.PriorKind `json:"prior,omitempty"`
	PriorKL   *pompc.KLDir     `json:"prior_kl,omitempty"`
	Reanalyze *bool            `json:"reanalyze,omitempty"`
}

type evalRequest struct {
	Episodes int `json:"episodes"`
}

type evalResponse struct {
	Mean pompc.JSONFloat `json:"mean"`
}

// streamMsg is one line of a streamed response: a status, and at the end Done with the error.
type streamMsg struct {
	Status *pompc.Status `json:"status,omitempty"`
	Done   bool          `json:"done,omitempty"`
	Error  string        `json:"error,omitempty"`
}

type errorResponse struct {
	Error string `json:"error"`
}

const tokenHeader = "X-Pompc-Token"

// call does one request, reconnecting (and restarting the server from its checkpoint) once if
// the server is gone: a refused connection means the request was not processed. It fails
// instead of hanging if the server stops answering (see watched).
func (r *Run) call(ctx context.Context, method string, in, out any) error {
	return r.watched(ctx, method, func(ctx context.Context) error {
		err := r.callOnce(ctx, method, in, out)
		if err == nil || !(isConnRefused(err) || r.serverGone(err)) {
			return err
		}
		if err := r.connect(ctx); err != nil {
			return err
		}
		return r.callOnce(ctx, method, in, out)
	})
}

// watched runs fn (a request that may legitimately take long: an evaluation, a save, a change
// applied between two long steps) while pinging the server, whose HTTP side answers
// independently of the training. If no ping is answered for streamSilence, fn's context is
// cancelled and the call fails: a wedged server never hangs a headless notebook.
func (r *Run) watched(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		every := max(streamSilence/8, time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, every)
			var h helloResponse
			if r.callOnce(pctx, "hello", nil, &h) == nil {
				last = time.Now()
			}
			pcancel()
			if time.Since(last) > streamSilence {
				stalled.Store(true)
				cancel()
				return
			}
		}
	}()
	err := fn(ctx)
	if err != nil && stalled.Load() {
		return fmt.Errorf("session: %s of %s: no word from the server (pid %d) for %s; see %s",
			method, r.opts.Dir, r.PID(), streamSilence, rundir.Path(r.opts.Dir, rundir.ServerLogFile))
	}
	return err
}

func (r *Run) request(ctx context.Context, method string, in any) (*http.Response, error) {
	return r.requestQ(ctx, method, "", in)
}

func (r *Run) requestQ(ctx context.Context, method, query string, in any) (*http.Response, error) {
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+info.Addr+"/v1/"+method+query, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(tokenHeader, info.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e errorResponse
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		return nil, &ServerError{Dir: r.opts.Dir, Method: method, Msg: e.Error}
	}
	return resp, nil
}

func (r *Run) callOnce(ctx context.Context, method string, in, out any) error {
	resp, err := r.request(ctx, method, in)
	if err != nil {
		return r.wrap(method, err)
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return r.wrap(method, err)
	}
	return nil
}

// streamSilence is how long a streamed request waits for the next status line (the server
// sends one every ProgressEvery, from a goroutine independent of the training) before it
// declares the server wedged, so that a headless notebook never hangs.
var streamSilence = 2 * time.Minute

// stream does a streamed request (train, wait), passing every status to progress.
func (r *Run) stream(ctx context.Context, method string, in any, progress func(pompc.Status)) error {
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	watchdog := time.AfterFunc(streamSilence, func() { stalled.Store(true); cancel() })
	defer watchdog.Stop()
	q := "?every=" + r.opts.ProgressEvery.String()
	resp, err := r.requestQ(ctx, method, q, in)
	if err != nil && (isConnRefused(err) || r.serverGone(err)) {
		if err := r.connect(ctx); err != nil {
			return err
		}
		resp, err = r.requestQ(ctx, method, q, in)
	}
	if err != nil {
		if stalled.Load() {
			return fmt.Errorf("session: %s of %s: the server (pid %d) did not answer for %s", method, r.opts.Dir, r.PID(), streamSilence)
		}
		if outer.Err() != nil {
			return outer.Err()
		}
		return r.wrap(method, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 16<<20)
	for sc.Scan() {
		watchdog.Reset(streamSilence)
		var m streamMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return r.wrap(method, err)
		}
		if m.Status != nil && progress != nil {
			progress(*m.Status)
		}
		if m.Done {
			if m.Error != "" {
				return &ServerError{Dir: r.opts.Dir, Method: method, Msg: m.Error}
			}
			return nil
		}
	}
	if stalled.Load() {
		return fmt.Errorf("session: %s of %s: no word from the server (pid %d) for %s; see %s",
			method, r.opts.Dir, r.PID(), streamSilence, rundir.Path(r.opts.Dir, rundir.ServerLogFile))
	}
	if outer.Err() != nil {
		return outer.Err()
	}
	err = sc.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("session: %s of %s: the server went away (%v); see %s, Open again to resume from the last checkpoint",
		method, r.opts.Dir, err, rundir.Path(r.opts.Dir, rundir.ServerLogFile))
}

func (r *Run) wrap(method string, err error) error {
	var se *ServerError
	if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("session: %s of %s: %w", method, r.opts.Dir, err)
}

// ServerError is an error reported by the server (bad input, a failed training step, ...).
type ServerError struct {
	Dir, Method, Msg string
}

// Error formats the server's message with the method and the run directory.
func (e *ServerError) Error() string {
	return fmt.Sprintf("session: %s of %s: %s", e.Method, e.Dir, e.Msg)
}

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// serverGone reports whether a transport error (not one reported by the server, not a
// cancellation) came with the server process gone: e.g. a kept-alive connection to a server
// that has exited since, which fails with EOF or a reset rather than a refused connection.
func (r *Run) serverGone(err error) bool {
	var se *ServerError
	if errors.As(err, &se) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return !pidAlive(r.PID())
}
