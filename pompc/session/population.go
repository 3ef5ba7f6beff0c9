package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
)

// EnvPopulation is the environment variable that turns any program importing this package into
// a population child of a notebook sweep: with EnvPopulation=FILE (a sweep.PopulationFile) it
// trains the runs FILE lists, the runs that can share graphs as one population
// (pompc.TrainTogether), resuming each from its checkpoint, and exits before main runs.
const EnvPopulation = "POMPC_POPULATION"

// PopulationLauncher is the notebooks' batched sweep launcher: the jobs that can share graphs
// train as one population in one child process, the cell binary itself restarted with
// EnvPopulation (as servers are; no pompc executable is needed). The live sweep view follows
// the runs' metrics files as they are written. saveEvery is the checkpoint interval in agent
// steps (0: DefaultSaveEvery).
func PopulationLauncher(saveEvery int) (sweep.PopulationLauncher, error) {
	exe, err := os.Executable()
	if err != nil {
		return sweep.PopulationLauncher{}, fmt.Errorf("session: cannot find this program to start a population: %w", err)
	}
	env := serverEnv()
	if saveEvery != 0 {
		env = append(env, envPopulationSaveEvery+"="+fmt.Sprint(saveEvery))
	}
	return sweep.PopulationLauncher{Exe: exe, EnvFile: EnvPopulation, Env: env}, nil
}

// envPopulationSaveEvery passes PopulationLauncher's checkpoint interval to the child.
const envPopulationSaveEvery = "POMPC_POPULATION_SAVE_EVERY"

// populationMain trains the runs of a population file and returns the exit status: 0 when
// every run reached its target (or a signal stopped them after saving), 1 otherwise.
func populationMain(file string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	saveEvery := DefaultSaveEvery
	if s := os.Getenv(envPopulationSaveEvery); s != "" {
		if _, err := fmt.Sscan(s, &saveEvery); err != nil {
			fmt.Fprintf(os.Stderr, "session: bad %s=%q\n", envPopulationSaveEvery, s)
			return 1
		}
	}
	if err := TrainPopulationFile(ctx, file, saveEvery); err != nil {
		fmt.Fprintf(os.Stderr, "session: %v\n", err)
		return 1
	}
	return 0
}

// TrainPopulationFile trains the runs of a sweep.PopulationFile (by directory, task, config and
// target step), resuming each from its checkpoint, with checkpoints every saveEvery agent steps
// (negative: only at the end) and at the end. A run that fails is reported in the error; the
// others go on.
func TrainPopulationFile(ctx context.Context, file string, saveEvery int) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var pf sweep.PopulationFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	var errs []error
	var runs []*pompc.Run
	var members []*memberServer
	var targets []int64
	for _, pr := range pf.Runs {
		cfg := pr.Config
		r, err := pompc.OpenRun(pompc.RunOptions{Dir: pr.Dir, Task: pr.Task, Config: &cfg, Resume: pompc.ResumeIfPresent,
			Backend: cfg.Backend, Logf: func(format string, a ...any) { fmt.Printf("["+pr.Dir+"] "+format+"\n", a...) }})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pr.Dir, err))
			continue
		}
		defer r.Close()
		m, err := serveMember(r, stopAll)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pr.Dir, err))
			continue
		}
		defer m.Close()
		runs = append(runs, r)
		members = append(members, m)
		targets = append(targets, pr.Steps)
	}
	if len(runs) == 0 {
		return errors.Join(append(errs, errors.New("no run to train"))...)
	}
	backend, err := pompc.NewBackend(runs[0].BackendSpec)
	if err != nil {
		return err
	}
	every := max(saveEvery, 0)
	trainErrs := pompc.TrainTogether(ctx, backend, runs, targets, func(i int) []pompc.Hook {
		return append(runs[i].CheckpointHooks(every), members[i].Hook())
	}, func(format string, a ...any) { fmt.Printf(format+"\n", a...) })
	for _, m := range members {
		m.Close() // no more knob changes: the runs save what they have
	}
	for i, r := range runs {
		if err := errors.Join(trainErrs[i], r.Save()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// memberServer serves one run of a population through the session protocol: Status and the
// knobs (λ, prior, KL direction, reanalysis: applied between the population's steps, by Hook, in
// the run's own goroutine); Stop stops the population (every run saves); Train, Wait, Evaluate
// and Save are refused, the training being the population's. It writes the run directory's
// server.json, so session.Open attaches to it as to any server, and a notebook's dashboard
// steers one run of a population.
type memberServer struct {
	s      *server
	hs     *http.Server
	closed sync.Once
}

// serveMember starts the server of one opened run of a population; stopAll stops the
// population.
func serveMember(run *pompc.Run, stopAll func()) (*memberServer, error) {
	ln, token, err := listenLocal()
	if err != nil {
		return nil, err
	}
	logger := log.New(os.Stderr, fmt.Sprintf("session[%d] ", os.Getpid()), log.LstdFlags)
	s := &server{dir: run.Dir, log: logger, token: token, pid: os.Getpid(), start: time.Now(),
		ops: make(chan op), quit: make(chan string, 4), done: make(chan struct{}), lastActive: time.Now(),
		run: run, tr: run.Trainer, resumed: run.Resumed, backSp: run.BackendSpec, member: true, stopAll: stopAll}
	s.refresh()
	s.ready.Store(true)
	m := &memberServer{s: s, hs: &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}}
	go m.hs.Serve(ln)
	info := serverInfo{PID: s.pid, Addr: ln.Addr().String(), Token: s.token, Started: s.start, Version: ProtocolVersion}
	if err := writeServerFile(run.Dir, info); err != nil {
		m.hs.Close()
		return nil, err
	}
	return m, nil
}

// Hook runs the knob changes clients asked for, between two steps of the run, and refreshes
// the status they read.
func (m *memberServer) Hook() pompc.Hook {
	return pompc.Hook{Name: "session/member", Fn: func(t *pompc.Trainer, ev pompc.Event) error {
		if ev == pompc.EventEnvStep || ev == pompc.EventStart {
			m.s.drainOps()
			m.s.refresh()
		}
		return nil
	}}
}

// Close stops serving (pending and later knob changes fail with "shutting down") and removes
// server.json.
func (m *memberServer) Close() {
	m.closed.Do(func() {
		close(m.s.done)
		m.hs.Close()
		removeServerFile(m.s.dir, m.s.pid)
	})
}
