package pompc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
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

// Every wraps h so that its EnvStep events fire only every n agent steps (when a trainer step
// passes a multiple of n; other events pass through).
func Every(n int, h Hook) Hook {
	return Hook{Name: h.Name, Fn: func(t *Trainer, ev Event) error {
		if ev == EventEnvStep && !t.Crossed(int64(n)) {
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
	envs      []*envSlot // the run's environments (Config.NumEnvs), each with its episode
	evalEnvs  []envs.Env // the evaluation episodes' envs (evalEnvs[0] is EvalEnv), added as needed
	spec      envs.Spec
	agent     *Agent
	buf       *Buffer
	rng       *rand.Rand
	pcg       *rand.PCG
	sinks     []Sink
	seedSteps int64

	step      int64 // agent steps taken (summed over the envs)
	episode   int64 // episodes started (over all envs)
	planCalls int64
	hooks     []Hook

	evalEpisodes int64 // evaluation episodes played (episode j draws its initial state from j)
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

// envSlot is one training environment of a run and its episode in progress.
type envSlot struct {
	env       envs.Env
	ts        envs.TimeStep
	needReset bool
	fresh     bool
	episode   int64 // the id of its episode in progress (the run's episode count at its reset)
	epPos     int
	epReturn  float64
	prevMean  []float32 // the planner's warm start [H, A]
}

// NewTrainer makes the task's training envs (Config.NumEnvs of them; env k seeded from
// cfg.Seed + k·envSeedStride) and its first evaluation env, the agent on backend, and an empty replay
// buffer (one lane per env).
func NewTrainer(backend compute.Backend, cfg Config, task string) (_ *Trainer, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, task: task, lastEval: math.NaN()}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	for k := range cfg.Envs() {
		env, err := envs.Make(task, envs.WithSeed(uint64(cfg.Seed)+uint64(k)*envSeedStride))
		if err != nil {
			return nil, err
		}
		t.envs = append(t.envs, &envSlot{env: env, needReset: true, prevMean: make([]float32, cfg.Horizon*env.Spec().ActionDim)})
	}
	if err = t.addEvalEnv(); err != nil {
		return nil, err
	}
	spec := t.envs[0].env.Spec()
	if t.agent, err = NewAgent(backend, cfg, spec.ObsDim, spec.ActionDim, cfg.DiscountFor(spec.EpisodeLen)); err != nil {
		return nil, err
	}
	// Room for every step and final observation of the run (each env's lane its share).
	e := cfg.Envs()
	capacity := min(cfg.BufferSize, max(cfg.Steps, 1)+cfg.Steps/max(spec.EpisodeLen, 1)+2)
	if t.buf, err = NewBufferLanes(max(capacity+2*(e-1), e), e, spec.ObsDim, spec.ActionDim); err != nil {
		return nil, err
	}
	t.pcg = rand.NewPCG(uint64(cfg.Seed), 0x5eed)
	t.rng, t.spec = rand.New(t.pcg), spec
	t.seedSteps = int64(cfg.SeedStepsFor(spec.EpisodeLen))
	return t, nil
}

// envSeedStride separates the seeds of a run's environments (env k: Seed + k·stride; evaluation
// env k has Seed + 1,000,003 + k·stride; every episode is reseeded anyway where the env can be).
const envSeedStride = 7_919

// addEvalEnv makes one more evaluation env.
func (t *Trainer) addEvalEnv() error {
	seed := uint64(t.cfg.Seed) + 1_000_003 + uint64(len(t.evalEnvs))*envSeedStride
	env, err := envs.Make(t.task, envs.WithSeed(seed))
	if err != nil {
		return err
	}
	t.evalEnvs = append(t.evalEnvs, env)
	return nil
}

// Close releases the environments.
func (t *Trainer) Close() error {
	var errs []error
	for _, e := range t.envs {
		errs = append(errs, e.env.Close())
	}
	for _, e := range t.evalEnvs {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
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

// Run takes n agent steps (n/NumEnvs trainer steps; with their updates and evaluations), calling
// hooks. It stops early, without error, when ctx is done. Calling Run again continues where it
// stopped.
func (t *Trainer) Run(ctx context.Context, n int, hooks ...Hook) error {
	t.hooks = hooks
	defer func() { t.hooks = nil }()
	t.started, t.stepsAtRun = time.Now(), t.step
	if err := t.fire(EventStart); err != nil {
		return err
	}
	var runErr error
	for target := t.step + int64(n); t.step < target; {
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

// Crossed reports whether the latest trainer step passed a multiple of n agent steps (with one
// env: whether the step count is a multiple of n).
func (t *Trainer) Crossed(n int64) bool {
	if n <= 0 || t.step == 0 {
		return false
	}
	return t.step/n != (t.step-int64(len(t.envs)))/n
}

// Step takes one environment step in every env with the planner (one planner call for all of
// them; random actions in the seed phase), stores the transitions, and runs the updates due (alg
// §6; NumEnvs·UTD after the seed phase). After loading a checkpoint saved during a step's
// updates (the seed-phase burst), it first finishes that step.
func (t *Trainer) Step() error {
	if t.pending > 0 {
		if err := t.finishStep(); err != nil {
			return err
		}
	}
	for _, e := range t.envs {
		if !e.needReset {
			continue
		}
		if rs, ok := e.env.(envs.Reseeder); ok {
			rs.Reseed(envs.EpisodeSeed(uint64(t.cfg.Seed), t.episode))
		}
		ts, err := e.env.Reset()
		if err != nil {
			return fmt.Errorf("pompc: reset %s: %w", t.task, err)
		}
		e.ts, e.needReset, e.fresh = ts, false, true
		t.episode++
		e.episode, e.epPos, e.epReturn = t.episode, 0, 0
	}
	if t.step == 0 && t.episode == int64(len(t.envs)) && t.envs[0].epPos == 0 {
		// The first step of a run: the knobs' initial values, so that a run's metrics alone
		// give its knob history (alg §8).
		if err := t.emit(knobRecords(0, t.agent.Config())...); err != nil {
			return err
		}
	}
	n := len(t.envs)
	actions := make([][]float32, n)
	planMean, planStd := make([][]float32, n), make([][]float32, n)
	if t.step < t.seedSteps {
		for k := range actions {
			actions[k] = make([]float32, t.spec.ActionDim)
			for i := range actions[k] {
				actions[k][i] = float32(2*t.rng.Float64() - 1)
			}
		}
	} else {
		obs, prev, fresh := make([][]float32, n), make([][]float32, n), make([]bool, n)
		for k, e := range t.envs {
			obs[k], prev[k], fresh[k] = e.ts.Obs, e.prevMean, e.fresh
		}
		rs, err := t.agent.ActN(obs, prev, fresh, false)
		if err != nil {
			return fmt.Errorf("pompc: step %d: %w", t.step, err)
		}
		for k, r := range rs {
			actions[k], planMean[k], planStd[k] = r.Action, r.Mean, r.Std
		}
		t.planCalls++
		if t.cfg.SnapshotEvery > 0 && t.planCalls%int64(t.cfg.SnapshotEvery) == 0 {
			if err := t.emit(snapshotOf(t.step, rs[0]).Records()...); err != nil {
				return err
			}
		}
	}
	nexts, err := t.stepEnvs(actions)
	if err != nil {
		return err
	}
	prev := t.step
	for k, e := range t.envs {
		e.fresh = false
		next := nexts[k]
		cont := 1.0
		if next.Type == envs.Last && next.Discount == 0 {
			cont = 0
		}
		if err := t.buf.AddTo(k, Step{Episode: e.episode, Pos: e.epPos, Obs: e.ts.Obs, Action: actions[k],
			Reward: next.Reward, Cont: cont, PlanMean: planMean[k], PlanStd: planStd[k]}); err != nil {
			return err
		}
		e.epPos++
		e.epReturn += next.Reward
		e.ts = next
		t.step++
		if next.Type == envs.Last {
			// The final observation: a sequence may end here but never start here.
			if err := t.buf.AddTo(k, Step{Episode: e.episode, Pos: e.epPos, Obs: next.Obs}); err != nil {
				return err
			}
			e.needReset = true
			t.lastEpRet = e.epReturn
			if err := t.emit(Record{KeyEpisodeReturn, t.step, e.epReturn}, Record{KeyEpisodeLength, t.step, float64(e.epPos)}); err != nil {
				return err
			}
			if err := t.fire(EventEpisodeEnd); err != nil {
				return err
			}
		}
	}

	// Updates: none during the seed phase, seedSteps when it ends (the burst), then UTD per
	// agent step (UTD 1 in alg §6): NumEnvs·UTD per trainer step.
	switch {
	case prev < t.seedSteps && t.step >= t.seedSteps:
		t.pending = int(t.seedSteps)
		if err := t.fire(EventSeedEnd); err != nil {
			return err
		}
	case t.step > t.seedSteps:
		t.pending = t.agent.Config().UpdatesPerStep() * n
	}
	return t.finishStep()
}

// stepEnvs steps every env with its action: with several envs, each in its own goroutine (they
// share nothing; MuJoCo physics is what this parallelizes). Errors name the env.
func (t *Trainer) stepEnvs(actions [][]float32) ([]envs.TimeStep, error) {
	out := make([]envs.TimeStep, len(t.envs))
	if len(t.envs) == 1 {
		next, err := t.envs[0].env.Step(actions[0])
		if err != nil {
			return nil, fmt.Errorf("pompc: step %d of %s: %w", t.step, t.task, err)
		}
		out[0] = next
		return out, nil
	}
	errs := make([]error, len(t.envs))
	var wg sync.WaitGroup
	for k, e := range t.envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out[k], errs[k] = e.env.Step(actions[k]); errs[k] != nil {
				errs[k] = fmt.Errorf("pompc: step %d of %s (env %d): %w", t.step, t.task, k, errs[k])
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// InBurst reports whether the trainer is inside the seed-phase update burst (between its
// EventSeedEnd and the last of its updates).
func (t *Trainer) InBurst() bool {
	return t.step >= t.seedSteps && t.step-int64(len(t.envs)) < t.seedSteps && t.pending > 0
}

// finishStep runs the updates the current step owes, the evaluation due, and the step's
// EventEnvStep.
func (t *Trainer) finishStep() error {
	for t.pending > 0 {
		if err := t.update(); err != nil {
			return err
		}
	}
	if t.cfg.EvalEpisodes > 0 && t.Crossed(int64(t.cfg.EvalEvery)) {
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
	// BMPC's pretraining: the seed burst trains the world model and critics only (no policy or
	// prior update, no reanalysis) where the config says so.
	wmOnly := cfg.BurstWorldModelOnly && t.InBurst()
	t.agent.burst = wmOnly
	if cfg.Reanalyzes() && !wmOnly && t.agent.Updates()%int64(cfg.ReanalyzeEvery) == 0 {
		err := t.agent.Reanalyze(b, func(seq, step int, mean, std []float32) {
			t.buf.SetPlan(t.buf.Slot(b.Slots[seq], step), mean, std)
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

// Evaluate runs episodes on the evaluation envs with the planner and no exploration noise
// (EvalReturns), emits eval/return (mean) and eval/return_std (sample std), and returns the mean
// return. It runs to the end: a training step that evaluates is not interrupted in the middle.
func (t *Trainer) Evaluate(episodes int) (float64, error) {
	returns, err := t.EvalReturns(context.Background(), episodes)
	if err != nil {
		return 0, err
	}
	mean, std := MeanStd(returns)
	t.lastEval = mean
	if err := t.emit(Record{KeyEvalReturn, t.step, mean}, Record{KeyEvalReturnStd, t.step, std}); err != nil {
		return 0, err
	}
	return mean, t.fire(EventEval)
}

// maxEvalBatch caps how many evaluation episodes play together (one planner call per step for
// all of them).
const maxEvalBatch = 16

// EvalReturns plays `episodes` evaluation episodes (the planner without exploration noise) and
// returns their returns, emitting nothing. They play together, up to maxEvalBatch at a time, each
// on its own env (RunEpisodes: one planner call per step for all of them), and each episode's
// initial state is drawn from (run seed, its index among the run's evaluation episodes), so a
// resumed run evaluates from the states the uninterrupted one would have. The training episodes'
// warm starts (envSlot.prevMean) are left be. In a population the runs' calls are batched when
// they plan for as many episodes (the same eval_episodes); a run evaluating more or fewer plans
// in calls of its own. When ctx is done it stops within a step and returns the returns of the
// batches that finished with ctx's error.
func (t *Trainer) EvalReturns(ctx context.Context, episodes int) ([]float64, error) {
	if episodes <= 0 {
		return nil, fmt.Errorf("pompc: evaluation episodes must be > 0, got %d", episodes)
	}
	returns := make([]float64, 0, episodes)
	for len(returns) < episodes {
		n := min(episodes-len(returns), maxEvalBatch)
		for len(t.evalEnvs) < n {
			if err := t.addEvalEnv(); err != nil {
				return nil, err
			}
		}
		es := t.evalEnvs[:n]
		for _, e := range es {
			if rs, ok := e.(envs.Reseeder); ok {
				rs.Reseed(envs.EpisodeSeed(uint64(t.cfg.Seed)^0xe7a1, t.evalEpisodes))
			}
			t.evalEpisodes++
		}
		rets, err := RunEpisodes(ctx, es, t.agent, true, nil)
		if err != nil {
			return returns, err
		}
		returns = append(returns, rets...)
	}
	return returns, nil
}

// RunEpisodes plays one episode on each env at once with the agent's planner (eval: no
// exploration noise) and returns their returns. Every step makes one planner call for the
// episodes still running (ActN, each episode with its own warm start), so n episodes cost n-row
// planner calls instead of n times as many one-row calls. observe, when set, sees each time step
// of episode i: its reset's (First), then each env step's. When ctx is done it stops before the
// next step with ctx's error.
func RunEpisodes(ctx context.Context, es []envs.Env, agent *Agent, eval bool, observe func(i int, ts envs.TimeStep) error) ([]float64, error) {
	n := len(es)
	ts := make([]envs.TimeStep, n)
	see := func(i int) error {
		if observe == nil {
			return nil
		}
		return observe(i, ts[i])
	}
	for i, e := range es {
		var err error
		if ts[i], err = e.Reset(); err != nil {
			return nil, fmt.Errorf("pompc: episode %d: %w", i, err)
		}
		if err := see(i); err != nil {
			return nil, err
		}
	}
	rets := make([]float64, n)
	prev := make([][]float32, n)
	fresh := make([]bool, n)
	for i := range prev {
		prev[i], fresh[i] = make([]float32, agent.cfg.Horizon*agent.actDim), true
	}
	live := make([]int, 0, n)
	obs, warm, fr := make([][]float32, 0, n), make([][]float32, 0, n), make([]bool, 0, n)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		live, obs, warm, fr = live[:0], obs[:0], warm[:0], fr[:0]
		for i := range ts {
			if ts[i].Type != envs.Last {
				live = append(live, i)
				obs, warm, fr = append(obs, ts[i].Obs), append(warm, prev[i]), append(fr, fresh[i])
			}
		}
		if len(live) == 0 {
			return rets, nil
		}
		rs, err := agent.ActN(obs, warm, fr, eval)
		if err != nil {
			return nil, err
		}
		for k, i := range live {
			fresh[i] = false
			if ts[i], err = es[i].Step(rs[k].Action); err != nil {
				return nil, fmt.Errorf("pompc: episode %d: %w", i, err)
			}
			rets[i] += ts[i].Reward
			if err := see(i); err != nil {
				return nil, err
			}
		}
	}
}

// EvalEnv is the first of the environments evaluations run on (videos record on it).
func (t *Trainer) EvalEnv() envs.Env { return t.evalEnvs[0] }
