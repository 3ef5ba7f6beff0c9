package session

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/pompc/pompc/envs/all" // the server can train every task of the build
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// serveOptions is what a client passes to the server it starts (env POMPC_SESSION_OPTIONS).
type serveOptions struct {
	Task          string        `json:"task,omitempty"`
	Config        *pompc.Config `json:"config,omitempty"`
	Backend       string        `json:"backend,omitempty"`
	SaveEvery     int           `json:"save_every"`
	IdleTimeoutNS int64         `json:"idle_timeout_ns"`
}

func serveOptionsFrom(o Options) serveOptions {
	so := serveOptions{Task: o.Task, Backend: o.Backend, SaveEvery: o.SaveEvery, IdleTimeoutNS: int64(o.IdleTimeout)}
	if o.hasConfig() {
		c := o.Config
		so.Config = &c
	}
	return so
}

// serveMain runs the server of the init hook and returns the process exit status.
func serveMain(dir string) int {
	logger := log.New(os.Stderr, fmt.Sprintf("session[%d] ", os.Getpid()), log.LstdFlags|log.Lmicroseconds)
	var so serveOptions
	if s := os.Getenv(envOptions); s != "" {
		if err := json.Unmarshal([]byte(s), &so); err != nil {
			logger.Printf("bad %s: %v", envOptions, err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := serve(ctx, dir, so, logger)
	switch {
	case errors.Is(err, rundir.ErrLocked):
		logger.Printf("not serving: %v", err)
		return exitLocked
	case err != nil:
		logger.Printf("error: %v", err)
		return 1
	}
	return 0
}

// Serve runs the server of opts.Dir in this process (what `pompc serve` does) until ctx is
// done, a client calls Shutdown, or it has been idle for opts.IdleTimeout; it saves a checkpoint
// before it returns. It resumes the run in Dir, or creates it from opts.Task and opts.Config.
// Log lines go to logw (os.Stderr if nil).
func Serve(ctx context.Context, opts Options, logw io.Writer) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if logw == nil {
		logw = os.Stderr
	}
	return serve(ctx, opts.Dir, serveOptionsFrom(opts), log.New(logw, fmt.Sprintf("session[%d] ", os.Getpid()), log.LstdFlags))
}

// server owns one run's Trainer. Every use of the trainer happens on the trainer goroutine
// (trainerLoop), which runs queued ops; while a training job runs, the job's step hook runs
// them between steps, which is how λ changes apply "at the next update".
type server struct {
	dir    string
	so     serveOptions
	log    *log.Logger
	token  string
	pid    int
	start  time.Time
	idle   time.Duration
	saveN  int
	backSp string

	ready atomic.Bool
	ops   chan op
	quit  chan string // a reason to exit (shutdown, idle)
	done  chan struct{}

	// Owned by the trainer goroutine.
	run     *pompc.Run
	tr      *pompc.Trainer // run.Trainer
	resumed bool
	dirty   bool // config changed since the last save

	// member marks a server of one run of a population (serveMember): its trainer steps in the
	// population's goroutines, which run the queued ops between steps; stopAll stops the
	// population.
	member  bool
	stopAll func()

	mu         sync.Mutex
	st         pompc.Status // snapshot, refreshed by the trainer goroutine
	job        *job         // training in progress
	lastJob    *job
	lastActive time.Time
	active     int // requests in flight
}

type op struct {
	fn   func()
	done chan struct{}
}

type job struct {
	steps      int
	target     int64
	background bool
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	err        error
	reported   bool
	stopped    bool
	started    time.Time
	firstUpd   time.Time
}

var errShuttingDown = errors.New("the server is shutting down")

func serve(ctx context.Context, dir string, so serveOptions, logger *log.Logger) error {
	lock, err := rundir.Acquire(dir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	ln, token, err := listenLocal()
	if err != nil {
		return err
	}
	s := &server{dir: dir, so: so, log: logger, token: token, pid: os.Getpid(),
		start: time.Now(), idle: time.Duration(so.IdleTimeoutNS), saveN: so.SaveEvery,
		ops: make(chan op), quit: make(chan string, 4),
		done: make(chan struct{}), lastActive: time.Now()}
	if s.idle == 0 {
		s.idle = DefaultIdleTimeout
	}
	if s.saveN == 0 {
		s.saveN = DefaultSaveEvery
	}
	hs := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	info := serverInfo{PID: s.pid, Addr: ln.Addr().String(), Token: s.token, Started: s.start, Version: ProtocolVersion}
	if err := writeServerFile(dir, info); err != nil {
		return err
	}
	defer removeServerFile(dir, s.pid)
	logger.Printf("serving %s on %s", dir, info.Addr)

	if err := s.setup(lock); err != nil {
		return err
	}
	defer s.run.Close()
	s.ready.Store(true)

	loopDone := make(chan struct{})
	go func() { s.trainerLoop(); close(loopDone) }()
	go s.idleLoop()

	var reason string
	select {
	case <-ctx.Done():
		reason = "signal"
	case reason = <-s.quit:
	}
	logger.Printf("exiting (%s)", reason)
	close(s.done) // refuse new ops and jobs
	s.mu.Lock()
	j := s.job
	s.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	}
	<-loopDone
	// The trainer goroutine is gone: this goroutine owns the trainer now.
	saveErr := s.saveIfChanged()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	logger.Printf("exited at step %d", s.tr.StepCount())
	return saveErr
}

func writeServerFile(dir string, info serverInfo) error {
	// 0600: the token lets whoever reads it drive the run.
	return rundir.WriteJSON(rundir.Path(dir, rundir.ServerFile), info, 0o600)
}

// removeServerFile removes server.json if it still names this process.
func removeServerFile(dir string, pid int) {
	if info, err := readServerFile(dir); err == nil && info.PID == pid {
		os.Remove(rundir.Path(dir, rundir.ServerFile))
	}
}

// setup opens the run (pompc.OpenRun): resumed from the checkpoint if there is one, else new
// (and saved at step 0, so that the directory holds a run from now on).
func (s *server) setup(lock *rundir.Lock) error {
	run, err := pompc.OpenRun(pompc.RunOptions{Dir: s.dir, Task: s.so.Task, Config: s.so.Config,
		Resume: pompc.ResumeIfPresent, Backend: s.so.Backend, Lock: lock, Logf: s.log.Printf})
	if err != nil {
		return err
	}
	s.run, s.tr, s.backSp, s.resumed = run, run.Trainer, run.BackendSpec, run.Resumed
	if !run.Resumed {
		cfg := run.Trainer.Config()
		s.log.Printf("new run %s: %s, preset %s, size %s, seed %d", s.dir, run.Trainer.Task(), cfg.Preset, cfg.Size.Name, cfg.Seed)
	}
	s.refresh()
	return nil
}

// save checkpoints the trainer (trainer goroutine only).
func (s *server) save() error {
	if err := s.run.Save(); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// saveIfChanged saves unless the last checkpoint already holds the current state.
func (s *server) saveIfChanged() error {
	if !s.dirty && s.run.SavedStep() == s.tr.StepCount() {
		return nil
	}
	return s.save()
}

// refresh copies the trainer's state into the status snapshot (trainer goroutine only).
func (s *server) refresh() {
	t := s.tr
	cfg := t.Config()
	spec := t.Spec()
	var lu map[string]float64
	if m := t.LastUpdate(); m != nil {
		lu = make(map[string]float64, len(m))
		for k, v := range m {
			lu[k] = v
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	st.Dir, st.Task, st.ObsDim, st.ActionDim, st.Config = s.dir, t.Task(), spec.ObsDim, spec.ActionDim, cfg
	st.Step, st.Episodes, st.Updates, st.SeedSteps = t.StepCount(), t.Episodes(), t.Agent().Updates(), t.SeedSteps()
	st.BufferSize = t.Buffer().Len()
	st.SavedStep, st.Saved = s.run.SavedStep(), s.run.SavedAt()
	st.Lambda, st.Prior, st.PriorKL, st.Reanalyze = cfg.Lambda, cfg.Prior, cfg.PriorKL, cfg.Reanalyze
	st.LastEpisodeReturn, st.LastEval, st.LastUpdate = t.LastEpisodeReturn(), t.LastEval(), lu
	if s.job != nil {
		st.StepsPerSec = t.StepsPerSecond()
	}
	st.PID, st.Started, st.Backend, st.Version, st.Resumed = s.pid, s.start, s.backSp, ProtocolVersion, s.resumed
	st.IdleTimeout = max(s.idle, 0)
	st.Executable, _ = os.Executable()
	s.lastActive = time.Now()
}

// status returns the snapshot with the job fields filled in.
func (s *server) status() pompc.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Uptime = time.Since(s.start)
	st.TargetStep = st.Step
	j := s.job
	if j == nil {
		j = s.lastJob
	} else {
		st.Training, st.TargetStep, st.Background = true, j.target, j.background
	}
	if s.member {
		st.Training, st.Background = true, true
	}
	if j != nil {
		st.JobStarted, st.FirstUpdate, st.Stopped = j.started, j.firstUpd, j.stopped
		if j.err != nil {
			st.JobError = j.err.Error()
		}
	}
	if st.LastUpdate != nil {
		m := make(map[string]float64, len(st.LastUpdate))
		for k, v := range st.LastUpdate {
			m[k] = v
		}
		st.LastUpdate = m
	}
	return st
}

func (s *server) trainerLoop() {
	for {
		select {
		case o := <-s.ops:
			o.fn()
			s.refresh()
			close(o.done)
		case <-s.done:
			return
		}
	}
}

// drainOps runs the queued ops between two training steps.
func (s *server) drainOps() {
	for {
		select {
		case o := <-s.ops:
			o.fn()
			s.refresh()
			close(o.done)
		default:
			return
		}
	}
}

// do runs fn on the trainer goroutine (between steps while training), waits for it and returns
// its error, or errShuttingDown when the server is shutting down and fn never ran.
func (s *server) do(fn func() error) error {
	var err error
	o := op{fn: func() { err = fn() }, done: make(chan struct{})}
	select {
	case s.ops <- o:
	case <-s.done:
		return errShuttingDown
	}
	<-o.done
	return err
}

// startJob begins training steps steps on the trainer goroutine.
func (s *server) startJob(steps int, background bool) (*job, error) {
	if steps <= 0 {
		return nil, fmt.Errorf("steps must be > 0, got %d", steps)
	}
	s.mu.Lock()
	if s.job != nil {
		defer s.mu.Unlock()
		return nil, fmt.Errorf("already training (step %d of %d): Wait for it or Stop it first", s.st.Step, s.job.target)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{steps: steps, target: s.st.Step + int64(steps), background: background, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), started: time.Now()}
	s.job = j
	s.mu.Unlock()
	o := op{fn: func() { s.runJob(j) }, done: make(chan struct{})}
	select {
	case s.ops <- o:
	case <-s.done:
		s.mu.Lock()
		s.job = nil
		j.err = errShuttingDown
		s.mu.Unlock()
		cancel()
		close(j.done) // the exit path may be waiting for it
		return nil, errShuttingDown
	}
	return j, nil
}

// runJob trains on the trainer goroutine; its step hook checkpoints, refreshes the status and
// runs queued ops.
func (s *server) runJob(j *job) {
	select {
	case <-s.done: // the server is exiting: train nothing
		j.cancel()
	default:
	}
	s.log.Printf("training %d steps (to step %d)", j.steps, j.target)
	hook := pompc.Hook{Name: "session", Fn: func(t *pompc.Trainer, ev pompc.Event) error {
		switch ev {
		case pompc.EventUpdate:
			if j.firstUpd.IsZero() {
				s.mu.Lock()
				j.firstUpd = time.Now()
				s.mu.Unlock()
			}
		case pompc.EventEnvStep:
			if s.saveN > 0 && t.Crossed(int64(s.saveN)) {
				if err := s.save(); err != nil {
					return err
				}
			}
			s.refresh()
			s.drainOps()
		}
		return nil
	}}
	// The seed phase's checkpoints (pompc.Run.CheckpointHooks); saveN's are the hook's above.
	hooks := append([]pompc.Hook{hook}, s.run.CheckpointHooks(0)...)
	err := s.tr.Run(j.ctx, j.steps, hooks...)
	if serr := s.saveIfChanged(); serr != nil {
		err = errors.Join(err, serr)
	}
	s.refresh()
	s.mu.Lock()
	s.st.StepsPerSec = s.tr.StepsPerSecond()
	j.err = err
	j.stopped = j.ctx.Err() != nil && s.tr.StepCount() < j.target
	s.job, s.lastJob = nil, j
	s.lastActive = time.Now()
	s.mu.Unlock()
	switch {
	case err != nil:
		s.log.Printf("training failed at step %d: %v", s.tr.StepCount(), err)
	case j.stopped:
		s.log.Printf("stopped at step %d of %d", s.tr.StepCount(), j.target)
	default:
		s.log.Printf("trained to step %d", s.tr.StepCount())
	}
	close(j.done)
}

func (s *server) idleLoop() {
	if s.idle < 0 {
		return
	}
	tick := min(max(s.idle/20, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			idle := s.job == nil && s.active == 0 && time.Since(s.lastActive) > s.idle
			s.mu.Unlock()
			if idle {
				s.requestQuit(fmt.Sprintf("idle for %s", s.idle))
				return
			}
		}
	}
}

func (s *server) requestQuit(reason string) {
	select {
	case s.quit <- reason:
	default:
	}
}

// ---- HTTP ----

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/hello", s.hHello)
	mux.HandleFunc("POST /v1/status", s.ready2(s.hStatus))
	mux.HandleFunc("POST /v1/train", s.ready2(s.hTrain))
	mux.HandleFunc("POST /v1/wait", s.ready2(s.hWait))
	mux.HandleFunc("POST /v1/stop", s.ready2(s.hStop))
	mux.HandleFunc("POST /v1/set", s.ready2(s.hSet))
	mux.HandleFunc("POST /v1/evaluate", s.ready2(s.hEvaluate))
	mux.HandleFunc("POST /v1/save", s.ready2(s.hSave))
	mux.HandleFunc("POST /v1/shutdown", s.hShutdown) // also while starting: serve exits right after setup
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(tokenHeader)), []byte(s.token)) != 1 {
			httpError(w, http.StatusUnauthorized, "bad or missing token (read it from server.json)")
			return
		}
		s.mu.Lock()
		s.active++
		s.lastActive = time.Now()
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.active--
			s.lastActive = time.Now()
			s.mu.Unlock()
		}()
		mux.ServeHTTP(w, r)
	})
}

// listenLocal listens on a random loopback port and makes the random token clients must send.
func listenLocal() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("session: listen: %w", err)
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		ln.Close()
		return nil, "", err
	}
	return ln, hex.EncodeToString(tok), nil
}

// ready2 refuses requests until the trainer is set up.
func (s *server) ready2(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			httpError(w, http.StatusServiceUnavailable, "the server is starting")
			return
		}
		h(w, r)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		httpError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return false
	}
	return true
}

func (s *server) hHello(w http.ResponseWriter, r *http.Request) {
	h := helloResponse{Version: ProtocolVersion, PID: s.pid, Ready: s.ready.Load(), Dir: s.dir}
	if h.Ready {
		st := s.status()
		h.Task, h.Config, h.ObsDim, h.ActDim = st.Task, st.Config, st.ObsDim, st.ActionDim
	}
	writeJSON(w, h)
}

func (s *server) hStatus(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.status()) }

// errMember is what a population member's server answers to the calls that would train its run
// alone.
const errMember = "this run trains as one run of a population (a batched sweep): its training is the population's; " +
	"Status and the knobs (λ, prior, KL direction, reanalysis: from the next update on, the population's graph following) work, Stop stops the population (every run saves), " +
	"and the run can train alone once the population is done"

func (s *server) hTrain(w http.ResponseWriter, r *http.Request) {
	if s.member {
		httpError(w, http.StatusConflict, errMember)
		return
	}
	var req trainRequest
	if !decode(w, r, &req) {
		return
	}
	j, err := s.startJob(req.Steps, req.Background)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Background {
		writeJSON(w, s.status())
		return
	}
	s.stream(w, r, j, true)
}

func (s *server) hWait(w http.ResponseWriter, r *http.Request) {
	if s.member {
		httpError(w, http.StatusConflict, errMember)
		return
	}
	s.mu.Lock()
	j := s.job
	if j == nil && s.lastJob != nil && s.lastJob.background && !s.lastJob.reported {
		j = s.lastJob // report the error of a background job that ended unobserved
	}
	s.mu.Unlock()
	s.stream(w, r, j, false)
}

// stream writes a status line every progress period until the job ends, then a final line
// with the job's error. If attached and the client goes away, the job is stopped.
func (s *server) stream(w http.ResponseWriter, r *http.Request, j *job, attached bool) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(m streamMsg) {
		_ = enc.Encode(m)
		if fl != nil {
			fl.Flush()
		}
	}
	period := DefaultProgressEvery
	if p := r.URL.Query().Get("every"); p != "" {
		if d, err := time.ParseDuration(p); err == nil && d > 0 {
			period = d
		}
	}
	if j != nil {
		st := s.status()
		send(streamMsg{Status: &st})
		t := time.NewTicker(period)
		defer t.Stop()
	loop:
		for {
			select {
			case <-j.done:
				break loop
			case <-t.C:
				st := s.status()
				send(streamMsg{Status: &st})
			case <-r.Context().Done():
				if attached {
					s.log.Printf("the client of a blocking Train went away: stopping")
					j.cancel()
				}
				return
			}
		}
	}
	st := s.status()
	m := streamMsg{Status: &st, Done: true}
	if j != nil {
		s.mu.Lock()
		j.reported = true
		if j.err != nil {
			m.Error = j.err.Error()
		}
		s.mu.Unlock()
	}
	send(m)
}

func (s *server) hStop(w http.ResponseWriter, r *http.Request) {
	if s.member {
		s.stopAll()
		writeJSON(w, s.status())
		return
	}
	s.mu.Lock()
	j := s.job
	s.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	} else {
		if err := s.do(s.saveIfChanged); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	writeJSON(w, s.status())
}

func (s *server) hSet(w http.ResponseWriter, r *http.Request) {
	var req setRequest
	if !decode(w, r, &req) {
		return
	}
	err := s.do(func() error {
		t := s.tr
		if req.Lambda != nil {
			if err := t.SetLambda(float64(*req.Lambda)); err != nil {
				return err
			}
		}
		if req.Prior != nil {
			if err := t.SetPrior(*req.Prior); err != nil {
				return err
			}
		}
		if req.PriorKL != nil {
			if err := t.SetPriorKL(*req.PriorKL); err != nil {
				return err
			}
		}
		if req.Reanalyze != nil {
			if err := t.SetReanalyze(*req.Reanalyze); err != nil {
				return err
			}
		}
		s.dirty = true
		return nil
	})
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, s.status())
}

func (s *server) hEvaluate(w http.ResponseWriter, r *http.Request) {
	if s.member {
		httpError(w, http.StatusConflict, errMember)
		return
	}
	var req evalRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Episodes <= 0 {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("episodes must be > 0, got %d", req.Episodes))
		return
	}
	var mean float64
	// An evaluation changes the state (the run's count of evaluation episodes seeds later evaluations),
	// so the next save must not be skipped.
	err := s.do(func() (err error) {
		mean, err = s.tr.Evaluate(req.Episodes)
		s.dirty = true
		return err
	})
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, evalResponse{Mean: pompc.JSONFloat(mean)})
}

func (s *server) hSave(w http.ResponseWriter, r *http.Request) {
	if s.member {
		httpError(w, http.StatusConflict, errMember)
		return
	}
	if err := s.do(s.save); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, s.status())
}

func (s *server) hShutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct {
		OK bool `json:"ok"`
	}{true})
	s.requestQuit("shutdown requested")
}
