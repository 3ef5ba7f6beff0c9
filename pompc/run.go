package pompc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gomlx/compute"
	"github.com/pompc/pompc/pompc/rundir"
)

// ResumeMode says what OpenRun does with a checkpoint in the run directory.
type ResumeMode int

const (
	// ResumeNever makes a new run; a directory that already holds one is an error.
	ResumeNever ResumeMode = iota
	// ResumeRequired continues the run in the directory. A directory with no checkpoint starts
	// afresh when nothing was trained there (no metrics), and is an error saying what to run
	// otherwise.
	ResumeRequired
	// ResumeIfPresent continues the run in the directory if there is one and makes it otherwise
	// (the session server, the sweep launchers).
	ResumeIfPresent
)

// ErrRunExists is wrapped by OpenRun when ResumeNever finds a run in the directory.
var ErrRunExists = errors.New("run directory already holds a run")

// RunOptions say how OpenRun opens a run directory.
type RunOptions struct {
	// Dir is the run directory (made if missing).
	Dir string
	// Task and Config make a new run. A resumed run takes both from its checkpoint; Task, if
	// set, must match it.
	Task   string
	Config *Config
	// Resume is what to do with a checkpoint in Dir.
	Resume ResumeMode
	// Backend, if set, overrides the backend of the config (ChooseBackend).
	Backend string
	// Lock, if set, is the lock of Dir, already acquired by the caller (the session server
	// takes it before it announces its address); the Run then owns it.
	Lock *rundir.Lock
	// Logf receives one line per note worth telling (a lock taken over, a resume, a fresh
	// start where a resume was asked for); nil discards them.
	Logf func(format string, args ...any)
}

// Run is an open run directory, locked by this process: the trainer, resumed from the
// directory's checkpoint or new (and then saved at once, so the directory holds a run from the
// start), with its metrics appended to metrics.jsonl. It is the lifecycle every driver shares
// (`pompc train`, the session server, the sweep launchers).
type Run struct {
	// Dir is the run directory.
	Dir string
	// Trainer trains the run.
	Trainer *Trainer
	// BackendSpec is the backend it runs on.
	BackendSpec string
	// Resumed reports whether it continued a checkpoint.
	Resumed bool

	lock      *rundir.Lock
	sink      *JSONLSink
	savedStep int64
	savedAt   time.Time
}

// OpenRun locks o.Dir and opens the run in it (see Run and ResumeMode). Every failure leaves
// the directory's last good checkpoint as it was.
func OpenRun(o RunOptions) (_ *Run, err error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	lock := o.Lock
	if lock == nil {
		if lock, err = rundir.Acquire(o.Dir); err != nil {
			return nil, err
		}
	}
	r := &Run{Dir: o.Dir, lock: lock, savedStep: -1}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if lock.TookOverFrom > 0 {
		logf("took over the lock of %s from process %d, which is gone", o.Dir, lock.TookOverFrom)
	}
	has := rundir.HasCheckpoint(o.Dir)
	switch {
	case has && o.Resume == ResumeNever:
		return nil, fmt.Errorf("pompc: %w: %s", ErrRunExists, o.Dir)
	case !has && o.Resume == ResumeRequired:
		if err := noCheckpoint(o); err != nil {
			return nil, err
		}
		logf("%s holds no checkpoint and nothing was trained there: starting the run afresh", o.Dir)
	}
	var cfg Config
	task := o.Task
	if has {
		if err := checkConfigFile(o.Dir); err != nil {
			return nil, err
		}
		var saved string
		if cfg, saved, err = LoadConfig(o.Dir); err != nil {
			return nil, err
		}
		if task != "" && task != saved {
			return nil, fmt.Errorf("pompc: %s holds a run of task %q, not %q", o.Dir, saved, task)
		}
		task = saved
	} else {
		if task == "" || o.Config == nil {
			return nil, fmt.Errorf("pompc: %s holds no run (no %s) and no task and config were given", o.Dir, rundir.CheckpointFile)
		}
		cfg = *o.Config
	}
	r.BackendSpec = ChooseBackend(o.Backend, cfg.Backend)
	var backend compute.Backend
	if backend, err = NewBackend(r.BackendSpec); err != nil {
		return nil, err
	}
	if r.Trainer, err = NewTrainer(backend, cfg, task); err != nil {
		return nil, err
	}
	metrics := rundir.Path(o.Dir, rundir.MetricsFile)
	if has {
		if err := r.Trainer.Load(o.Dir); err != nil {
			return nil, err
		}
		r.Resumed, r.savedStep = true, r.Trainer.StepCount()
		logf("resumed %s at step %d", o.Dir, r.Trainer.StepCount())
		// Records written after the checkpoint are written again by the resumed run: keep one copy.
		if err := TruncateMetrics(metrics, r.Trainer.emitted, r.Trainer.StepCount()); err != nil {
			return nil, err
		}
	} else if err := os.Remove(metrics); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pompc: replacing the metrics of a run that never saved: %w", err)
	}
	if r.sink, err = NewJSONLSink(metrics); err != nil {
		return nil, err
	}
	r.Trainer.Subscribe(r.sink)
	if !has {
		if err := r.Save(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Save checkpoints the run (config.json and checkpoint.bin, each written atomically).
func (r *Run) Save() error {
	if err := r.Trainer.Save(r.Dir); err != nil {
		return err
	}
	r.savedStep, r.savedAt = r.Trainer.StepCount(), time.Now()
	return nil
}

// SavedStep is the step of the last checkpoint this Run wrote or resumed from (-1: none).
func (r *Run) SavedStep() int64 { return r.savedStep }

// SavedAt is when this Run last wrote a checkpoint (zero if it has not).
func (r *Run) SavedAt() time.Time { return r.savedAt }

// burstSaves is how many checkpoints the seed-phase update burst writes, evenly spaced.
const burstSaves = 4

// CheckpointHooks are the hooks that checkpoint the run while it trains: every saveEvery agent
// steps (0: none), at the end of the seed phase (before its burst of updates) and burstSaves
// times during that burst, which is the longest stretch of a run without an environment step.
func (r *Run) CheckpointHooks(saveEvery int) []Hook {
	hooks := []Hook{{Name: "checkpoint/seed-phase", Fn: func(t *Trainer, ev Event) error {
		switch {
		case ev == EventSeedEnd:
			return r.Save()
		case ev == EventUpdate && t.InBurst():
			if every := max(t.SeedSteps()/(burstSaves+1), 1); int64(t.pending)%every == 0 {
				return r.Save()
			}
		}
		return nil
	}}}
	if saveEvery > 0 {
		hooks = append(hooks, Every(saveEvery, Hook{Name: "checkpoint", Fn: func(t *Trainer, ev Event) error {
			if ev != EventEnvStep {
				return nil
			}
			return r.Save()
		}}))
	}
	return hooks
}

// Close closes the metrics file and the trainer and releases the lock; it does not save.
func (r *Run) Close() error {
	var errs []error
	if r.sink != nil {
		errs = append(errs, r.sink.Close())
	}
	if r.Trainer != nil {
		errs = append(errs, r.Trainer.Close())
	}
	errs = append(errs, r.lock.Unlock())
	return errors.Join(errs...)
}

// ReadRunConfig reads a run directory's config.json (the configuration as last saved) and its
// task from the checkpoint beside it when there is one. A damaged config.json is a clear error.
func ReadRunConfig(dir string) (Config, error) {
	var cfg Config
	p := rundir.Path(dir, rundir.ConfigFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return cfg, fmt.Errorf("pompc: reading the run's configuration: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, damagedConfig(dir, err)
	}
	return cfg, nil
}

// checkConfigFile fails when dir's config.json exists but does not parse: the checkpoint holds
// the configuration, so the file is only a copy for people and tools, but a damaged one means
// something wrote over the directory and should be looked at before training on.
func checkConfigFile(dir string) error {
	data, err := os.ReadFile(rundir.Path(dir, rundir.ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pompc: reading %s: %w", rundir.Path(dir, rundir.ConfigFile), err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return damagedConfig(dir, err)
	}
	return nil
}

func damagedConfig(dir string, err error) error {
	return fmt.Errorf("pompc: %s is damaged (%v); the checkpoint holds the configuration and is intact: "+
		"delete config.json and resume (it is written again from the checkpoint)", rundir.Path(dir, rundir.ConfigFile), err)
}

// noCheckpoint is what resuming a directory without a checkpoint answers: nil (start afresh)
// when nothing of a run is there, else an error wrapping ErrNoCheckpoint that says what to run.
// A config.json left by a run that never checkpointed names the backend the resumed run would
// have used, and that backend is checked first (a flag, then the saved field, then
// $GOMLX_BACKEND, as for any resume).
func noCheckpoint(o RunOptions) error {
	n, _ := countRecords(o.Dir)
	hasConfig := rundir.Exists(o.Dir, rundir.ConfigFile)
	if n == 0 && !hasConfig {
		return nil
	}
	if hasConfig {
		saved, err := ReadRunConfig(o.Dir)
		if err != nil {
			return err
		}
		if _, err := NewBackend(ChooseBackend(o.Backend, saved.Backend)); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w in %s: the run there (config.json, %d metric records) stopped before its first "+
		"checkpoint; start it again without resuming (its metrics are replaced)", ErrNoCheckpoint, o.Dir, n)
}

// countRecords counts the metric records in dir's metrics file (0 when there is none).
func countRecords(dir string) (int, error) {
	f, err := os.Open(rundir.Path(dir, rundir.MetricsFile))
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	m, err := DecodeMetrics(f)
	n := 0
	for _, recs := range m {
		n += len(recs)
	}
	return n, err
}
