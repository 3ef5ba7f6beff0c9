package pompc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	"github.com/pompc/pompc/envs"
)

// Event is what a hook is called for.
type Event uint8

const (
	// EventStart fires once at the beginning of every Run.
	EventStart Event = iota
	// EventEnvStep fires after every environment step (and its updates).
	EventEnvStep
	// EventUpdate fires after every update.
	EventUpdate
	// EventEpisodeEnd fires when a training episode ends.
	EventEpisodeEnd
	// EventEval fires after every evaluation.
	EventEval
	// EventEnd fires once at the end of every Run, also when it stops early.
	EventEnd
	// EventSeedEnd fires after the last random step of the seed phase, before the burst of
	// seed-phase updates (alg §6).
	EventSeedEnd
)

// String names the event.
func (e Event) String() string {
	return [...]string{"start", "env_step", "update", "episode_end", "eval", "end", "seed_end"}[e]
}

// Hook is a named callback run on trainer events, in registration order. An error stops Run.
type Hook struct {
	Name string
	Fn   func(t *Trainer, ev Event) error
}

// Every wraps h so that its EnvStep events fire only every n environment steps (other events
// pass through).
func Every(n int, h Hook) Hook {
	return Hook{Name: h.Name, Fn: func(t *Trainer, ev Event) error {
		if ev == EventEnvStep && (n <= 0 || t.step%int64(n) != 0) {
			return nil
		}
		return h.Fn(t, ev)
	}}
}

// Periodic wraps h so that its EnvStep events fire at most once per period d.
func Periodic(d time.Duration, h Hook) Hook {
	var last time.Time
	return Hook{Name: h.Name, Fn: func(t *Trainer, ev Event) error {
		if ev == EventEnvStep {
			if time.Since(last) < d {
				return nil
			}
			last = time.Now()
		}
		return h.Fn(t, ev)
	}}
}

// On wraps fn as a hook that fires only for the given event.
func On(ev Event, name string, fn func(t *Trainer) error) Hook {
	return Hook{Name: name, Fn: func(t *Trainer, e Event) error {
		if e != ev {
			return nil
		}
		return fn(t)
	}}
}

// Trainer runs the online training loop of alg §6, one environment step at a time: seed phase
// of random actions, then that many updates at once, then one update per step; periodic
// evaluation without exploration noise. It streams Records to its sinks.
type Trainer struct {
	cfg       Config
	task      string
	env       envs.Env
	evalEnv   envs.Env
	spec      envs.Spec
	agent     *Agent
	buf       *Buffer
	rng       *rand.Rand
	pcg       *rand.PCG
	sinks     []Sink
	seedSteps int64

	step      int64 // agent steps taken
	episode   int64 // episodes started
	ts        envs.TimeStep
	needReset bool
	fresh     bool
	epPos     int
	epReturn  float64
	planCalls int64
	hooks     []Hook

	evalEpisodes int64 // evaluation episodes played (seeds the eval env)
	// pending is the number of updates the current step still owes: nonzero only inside Step's
	// update loop, or after loading a checkpoint saved there (the seed-phase burst), in which
	// case the next Step first finishes that step.
	pending int
	// emitted counts the records emitted since step 0 (a checkpoint keeps it, so a resumed run
	// keeps exactly the first emitted lines of its metrics file); -1 when unknown.
	emitted int64

	lastUpdate map[string]float64
	lastEval   float64
	lastEpRet  float64
	started    time.Time
	stepsAtRun int64
}

// NewTrainer makes the task's training and evaluation envs (seeded from cfg.Seed), the agent
// on backend, and an empty replay buffer.
func NewTrainer(backend compute.Backend, cfg Config, task string) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env, err := envs.Make(task, envs.WithSeed(uint64(cfg.Seed)))
	if err != nil {
		return nil, err
	}
	evalEnv, err := envs.Make(task, envs.WithSeed(uint64(cfg.Seed)+1_000_003))
	if err != nil {
		env.Close()
		return nil, err
	}
	spec := env.Spec()
	agent, err := NewAgent(backend, cfg, spec.ObsDim, spec.ActionDim, cfg.DiscountFor(spec.EpisodeLen))
	if err != nil {
		env.Close()
		evalEnv.Close()
		return nil, err
	}
	buf, err := NewBuffer(min(cfg.BufferSize, max(cfg.Steps, 1)+cfg.Steps/max(spec.EpisodeLen, 1)+2), spec.ObsDim, spec.ActionDim)
	if err != nil {
		env.Close()
		evalEnv.Close()
		return nil, err
	}
	pcg := rand.NewPCG(uint64(cfg.Seed), 0x5eed)
	return &Trainer{cfg: cfg, task: task, env: env, evalEnv: evalEnv, spec: spec, agent: agent, buf: buf,
		rng: rand.New(pcg), pcg: pcg,
		seedSteps: int64(cfg.SeedStepsFor(spec.EpisodeLen)), needReset: true,
		lastEval: math.NaN()}, nil
}

// Close releases the environments.
func (t *Trainer) Close() error {
	return errors.Join(t.env.Close(), t.evalEnv.Close())
}

// Agent returns the trained agent.
func (t *Trainer) Agent() *Agent { return t.agent }

// Buffer returns the replay buffer.
func (t *Trainer) Buffer() *Buffer { return t.buf }

// Spec describes the task being trained on.
func (t *Trainer) Spec() envs.Spec { return t.spec }

// Task is the task name.
func (t *Trainer) Task() string { return t.task }

// Config is the current configuration (lambda and friends may have changed since the start).
func (t *Trainer) Config() Config { return t.agent.Config() }

// StepCount is the number of agent steps taken.
func (t *Trainer) StepCount() int64 { return t.step }

// Episodes is the number of episodes started.
func (t *Trainer) Episodes() int64 { return t.episode }

// SeedSteps is the length of the seed phase.
func (t *Trainer) SeedSteps() int64 { return t.seedSteps }

// LastUpdate returns the metrics of the latest update (nil before the first).
func (t *Trainer) LastUpdate() map[string]float64 { return t.lastUpdate }

// LastEpisodeReturn is the return of the latest finished training episode.
func (t *Trainer) LastEpisodeReturn() float64 { return t.lastEpRet }

// LastEval is the mean return of the latest evaluation (NaN before the first).
func (t *Trainer) LastEval() float64 { return t.lastEval }

// Subscribe adds a sink for every record from now on.
func (t *Trainer) Subscribe(s Sink) { t.sinks = append(t.sinks, s) }

func (t *Trainer) emit(recs ...Record) error {
	if t.emitted >= 0 { // -1: loaded from a checkpoint that predates the count
		t.emitted += int64(len(recs))
	}
	var errs []error
	for _, s := range t.sinks {
		if err := s.Write(recs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetLambda changes λ from the next update on and records it (and the prior kind, which λ > 0
// turns from none to learned).
func (t *Trainer) SetLambda(lambda float64) error {
	return t.changeKnobs(func() error { return t.agent.SetLambda(lambda) })
}

// SetPrior changes the prior kind from the next update on and records it.
func (t *Trainer) SetPrior(p PriorKind) error {
	return t.changeKnobs(func() error { return t.agent.SetPrior(p) })
}

// SetPriorKL changes the prior's KL direction from the next update on and records it.
func (t *Trainer) SetPriorKL(d KLDir) error {
	return t.changeKnobs(func() error { return t.agent.SetPriorKL(d) })
}

// SetReanalyze turns lazy reanalysis on or off from the next update on and records it.
func (t *Trainer) SetReanalyze(on bool) error {
	return t.changeKnobs(func() error { return t.agent.SetReanalyze(on) })
}

// changeKnobs applies set and emits a record for every knob whose value it changed (a knob set
// to the value it has is not a change).
func (t *Trainer) changeKnobs(set func() error) error {
	before := knobRecords(t.step, t.agent.Config())
	if err := set(); err != nil {
		return err
	}
	var changed []Record
	for i, r := range knobRecords(t.step, t.agent.Config()) {
		if !sameValue(r.Val, before[i].Val) {
			changed = append(changed, r)
		}
	}
	return t.emit(changed...)
}

func (t *Trainer) fire(ev Event) error {
	for _, h := range t.hooks {
		if err := h.Fn(t, ev); err != nil {
			return fmt.Errorf("pompc: hook %q on %s: %w", h.Name, ev, err)
		}
	}
	return nil
}

// Run takes n environment steps (with their updates and evaluations), calling hooks. It stops
// early, without error, when ctx is done. Calling Run again continues where it stopped.
func (t *Trainer) Run(ctx context.Context, n int, hooks ...Hook) error {
	t.hooks = hooks
	defer func() { t.hooks = nil }()
	t.started, t.stepsAtRun = time.Now(), t.step
	if err := t.fire(EventStart); err != nil {
		return err
	}
	var runErr error
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		if runErr = t.Step(); runErr != nil {
			break
		}
	}
	if err := t.fire(EventEnd); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// StepsPerSecond is the agent-step rate of the current Run.
func (t *Trainer) StepsPerSecond() float64 {
	d := time.Since(t.started).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(t.step-t.stepsAtRun) / d
}

// Step takes one environment step with the planner (random actions in the seed phase), stores
// the transition, and runs the updates due (alg §6). After loading a checkpoint saved during a
// step's updates (the seed-phase burst), it first finishes that step.
func (t *Trainer) Step() error {
	if t.pending > 0 {
		if err := t.finishStep(); err != nil {
			return err
		}
	}
	if t.needReset {
		if rs, ok := t.env.(envs.Reseeder); ok {
			rs.Reseed(envs.EpisodeSeed(uint64(t.cfg.Seed), t.episode))
		}
		ts, err := t.env.Reset()
		if err != nil {
			return fmt.Errorf("pompc: reset %s: %w", t.task, err)
		}
		t.ts, t.needReset, t.fresh = ts, false, true
		t.episode++
		t.epPos, t.epReturn = 0, 0
	}
	if t.step == 0 && t.episode == 1 && t.epPos == 0 {
		// The first step of a run: the knobs' initial values, so that a run's metrics alone
		// give its knob history (alg §8).
		if err := t.emit(knobRecords(0, t.agent.Config())...); err != nil {
			return err
		}
	}
	var action, planMean, planStd []float32
	if t.step < t.seedSteps {
		action = make([]float32, t.spec.ActionDim)
		for i := range action {
			action[i] = float32(2*t.rng.Float64() - 1)
		}
	} else {
		r, err := t.agent.Act(t.ts.Obs, t.fresh, false)
		if err != nil {
			return fmt.Errorf("pompc: step %d: %w", t.step, err)
		}
		action, planMean, planStd = r.Action, r.Mean, r.Std
		t.planCalls++
		if t.cfg.SnapshotEvery > 0 && t.planCalls%int64(t.cfg.SnapshotEvery) == 0 {
			if err := t.emit(snapshotOf(t.step, r).Records()...); err != nil {
				return err
			}
		}
	}
	t.fresh = false
	next, err := t.env.Step(action)
	if err != nil {
		return fmt.Errorf("pompc: step %d of %s: %w", t.step, t.task, err)
	}
	cont := 1.0
	if next.Type == envs.Last && next.Discount == 0 {
		cont = 0
	}
	if err := t.buf.Add(Step{Episode: t.episode, Pos: t.epPos, Obs: t.ts.Obs, Action: action,
		Reward: next.Reward, Cont: cont, PlanMean: planMean, PlanStd: planStd}); err != nil {
		return err
	}
	t.epPos++
	t.epReturn += next.Reward
	t.ts = next
	t.step++
	if next.Type == envs.Last {
		// The final observation: a sequence may end here but never start here.
		if err := t.buf.Add(Step{Episode: t.episode, Pos: t.epPos, Obs: next.Obs}); err != nil {
			return err
		}
		t.needReset = true
		t.lastEpRet = t.epReturn
		if err := t.emit(Record{KeyEpisodeReturn, t.step, t.epReturn}, Record{KeyEpisodeLength, t.step, float64(t.epPos)}); err != nil {
			return err
		}
		if err := t.fire(EventEpisodeEnd); err != nil {
			return err
		}
	}

	// Updates: none during the seed phase, seedSteps at its end, then UpdatesPerStep per step
	// (UTD 1 in alg §6).
	switch {
	case t.step == t.seedSteps:
		t.pending = int(t.seedSteps)
		if err := t.fire(EventSeedEnd); err != nil {
			return err
		}
	case t.step > t.seedSteps:
		t.pending = t.agent.Config().UpdatesPerStep()
	}
	return t.finishStep()
}

// InBurst reports whether the trainer is inside the seed-phase update burst (between its
// EventSeedEnd and the last of its updates).
func (t *Trainer) InBurst() bool { return t.step == t.seedSteps && t.pending > 0 }

// finishStep runs the updates the current step owes, the evaluation due, and the step's
// EventEnvStep.
func (t *Trainer) finishStep() error {
	for t.pending > 0 {
		if err := t.update(); err != nil {
			return err
		}
	}
	if t.cfg.EvalEvery > 0 && t.step%int64(t.cfg.EvalEvery) == 0 && t.cfg.EvalEpisodes > 0 {
		if _, err := t.Evaluate(t.cfg.EvalEpisodes); err != nil {
			return err
		}
	}
	return t.fire(EventEnvStep)
}

// update samples a batch, reanalyzes it when due, and runs one agent update.
func (t *Trainer) update() error {
	cfg := t.agent.Config()
	b, err := t.buf.Sample(t.rng, cfg.BatchSize, cfg.Horizon)
	if err != nil {
		return err
	}
	if cfg.Reanalyze && cfg.Prior != PriorNone && t.agent.Updates()%int64(cfg.ReanalyzeEvery) == 0 {
		err := t.agent.Reanalyze(b, func(seq, step int, mean, std []float32) {
			t.buf.SetPlan((b.Slots[seq]+step)%t.buf.capacity, mean, std)
		})
		if err != nil {
			return err
		}
	}
	m, err := t.agent.Update(b)
	if err != nil {
		return err
	}
	t.lastUpdate = m
	recs := make([]Record, 0, len(m))
	for _, k := range t.agent.lastKeys { // the graph's order: the same in every run
		recs = append(recs, Record{k, t.step, m[k]})
	}
	if err := t.emit(recs...); err != nil {
		return err
	}
	t.pending--
	return t.fire(EventUpdate)
}

// Evaluate runs episodes on the evaluation env with the planner and no exploration noise, emits
// eval/return (mean) and eval/return_std, and returns the mean return. The training episode's
// warm start is kept aside and restored.
func (t *Trainer) Evaluate(episodes int) (float64, error) {
	saved := append([]float32(nil), t.agent.prevMean...)
	defer func() { t.agent.prevMean = saved }()
	returns := make([]float64, 0, episodes)
	for e := 0; e < episodes; e++ {
		if rs, ok := t.evalEnv.(envs.Reseeder); ok {
			rs.Reseed(envs.EpisodeSeed(uint64(t.cfg.Seed)^0xe7a1, t.evalEpisodes))
		}
		t.evalEpisodes++
		ret, err := RunEpisode(t.evalEnv, t.agent, true)
		if err != nil {
			return 0, err
		}
		returns = append(returns, ret)
	}
	mean, std := MeanStd(returns)
	t.lastEval = mean
	if err := t.emit(Record{KeyEvalReturn, t.step, mean}, Record{KeyEvalReturnStd, t.step, std}); err != nil {
		return 0, err
	}
	return mean, t.fire(EventEval)
}

// RunEpisode plays one episode of env with the agent's planner (eval: no exploration noise)
// and returns its return.
func RunEpisode(env envs.Env, agent *Agent, eval bool) (float64, error) {
	ts, err := env.Reset()
	if err != nil {
		return 0, err
	}
	ret := 0.0
	for fresh := true; ts.Type != envs.Last; fresh = false {
		r, err := agent.Act(ts.Obs, fresh, eval)
		if err != nil {
			return 0, err
		}
		if ts, err = env.Step(r.Action); err != nil {
			return 0, err
		}
		ret += ts.Reward
	}
	return ret, nil
}

// EvalEnv is the environment evaluations run on.
func (t *Trainer) EvalEnv() envs.Env { return t.evalEnv }
