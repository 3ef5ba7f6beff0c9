package pompc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// A population trains K runs as one batched computation (issue 15). Every run stays an ordinary
// Trainer with its own env, replay buffer, host RNG, hooks, sinks and run directory; what the
// runs share is the compiled graphs. The population's core agent holds every run's variables
// stacked on a leading run axis ([K, ...]: parameters, targets, Adam moments, running scales)
// and one RNG state per run, and its planner and update graphs compute all K runs in the same
// operations (nets.pop): one batched matmul per layer instead of K small ones, one call into the
// backend instead of K.
//
// The runs step in lockstep, one goroutine each; a run's planner or update call blocks until
// every live run has made its call, then one batched call serves them all. Each run samples its
// own batch and sees exactly the random numbers it would draw alone: a population of one equals
// the run alone bit for bit, and a run of a larger population equals it up to the float
// rounding of the batched products (population_test.go). A run's own store holds its state after a sync, which every Save does:
// its checkpoint is an ordinary checkpoint, and the run can continue alone from it (or join
// another population).
//
// What the runs of one population must share: the task, every graph-shaping config field (size,
// planner, batch, losses, optimizers), the seed phase, UTD ratio and number of envs, and the
// Adam step count. Seeds, λ (0, finite or +Inf), the prior kind, the KL direction and the
// critic set differ freely, also during training: the update graph of a population whose runs
// differ in these computes every term any run needs and lets each run keep its own
// (updateGraphOf), so a whole ablation (TD-MPC2, PO-MPC at several λ, BMPC, prior and KL
// variants) is one population with one graph per assignment of variants to runs.

// popSlot is run k's handle on its population.
type popSlot struct {
	p *popEngine
	k int
}

// popCall is one run's pending planner or update call.
type popCall struct {
	update bool
	// planner inputs
	obs, prevMean, fresh []float32
	n                    int
	// update inputs
	batch  *Batch
	v      variant
	lambda float64

	done bool
	outs [][]float32 // planner outputs, run k's part of each
	m    map[string]float64
	keys []string
	err  error
}

// popEngine is the batched core of a population and the barrier that batches the runs' calls.
type popEngine struct {
	core    *Agent
	members []*Agent
	k       int

	mu      sync.Mutex
	cond    *sync.Cond
	live    []bool
	active  []bool // inside its Step: the runs a batch waits for
	pending []*popCall
}

// sharedConfig is the part of a config that shapes the graphs: the fields every run of a
// population must share (the per-run ones zeroed).
func sharedConfig(c Config) Config {
	c.Lambda, c.Seed, c.Preset, c.Backend = 0, 0, "", ""
	c.Prior, c.PriorKL, c.KLCritic = "", "", false // the update variant: mixed in one graph (updateGraphOf)
	c.Steps, c.EvalEvery, c.EvalEpisodes, c.SnapshotEvery, c.BufferSize = 0, 0, 0, 0, 0
	c.Reanalyze, c.ReanalyzeEvery = false, 0
	// The forms of the two ends: per-run constants or selections in the graphs (nets.runs).
	c.PolicyForm, c.EntropyActionDim, c.KLReduce, c.KLScale, c.PolicyStates = "", false, "", "", ""
	c.SeedPrior, c.PlanMean, c.TDHeads, c.BurstWorldModelOnly = "", "", "", false
	c.LogStdMin, c.LogStdMax, c.ReanalyzeLogStdMin, c.ReanalyzeLogStdMax = 0, 0, 0, 0
	return c
}

// PopulationKey is equal for two runs exactly when they can train in one population: the same
// task, the same graph-shaping configuration (size, planner, batch, losses, optimizers), the
// same seed phase, UTD ratio and number of envs, and the same step target (populations step
// in lockstep). Seeds, λ (0, finite or +Inf), the prior kind, the KL direction and the critic
// set may differ: one graph holds them all. Sweeps group their points by it.
func PopulationKey(task string, c Config) string {
	sc := sharedConfig(c)
	b, err := json.Marshal(struct {
		Task   string
		Config Config
		Steps  int
	}{task, sc, c.Steps})
	if err != nil {
		return fmt.Sprintf("%s %+v %d", task, sc, c.Steps) // not reached: Config marshals
	}
	return string(b)
}

// variant is the update variant a config selects (Agent.variant).
// At λ = 0 the variant is TD-MPC2's whatever the prior and critics (alg §7): no Qk loss, no
// prior fit, no KL; a later λ > 0 takes them up again from the frozen networks.
func (c Config) variant() variant {
	prior := c.Prior
	if c.Lambda == 0 {
		prior = PriorNone
	}
	return variant{lambdaZero: c.Lambda == 0, lambdaInf: c.LambdaInf(), prior: prior,
		priorKL: c.PriorKL, qk: c.UsesQk()}
}

// newPopEngine stacks the members' variables into one population store on backend and builds
// the batched agent over it.
func newPopEngine(backend compute.Backend, members []*Agent) (*popEngine, error) {
	if len(members) == 0 {
		return nil, errors.New("pompc: a population needs at least one run")
	}
	a0 := members[0]
	for i, a := range members {
		if a.slot != nil {
			return nil, fmt.Errorf("pompc: run %d already belongs to a population", i)
		}
		if a.obsDim != a0.obsDim || a.actDim != a0.actDim || a.gamma != a0.gamma {
			return nil, fmt.Errorf("pompc: run %d has obs/act dims %d/%d and discount %v, run 0 %d/%d and %v: a population's runs share the task",
				i, a.obsDim, a.actDim, a.gamma, a0.obsDim, a0.actDim, a0.gamma)
		}
		if d := ConfigDiff(sharedConfig(a.cfg), sharedConfig(a0.cfg)); len(d) > 0 {
			var fields []string
			for _, f := range d {
				fields = append(fields, fmt.Sprintf("%s (%s vs %s)", f.Key, f.A, f.B))
			}
			return nil, fmt.Errorf("pompc: run %d differs from run 0 in %s: a population's runs share every graph-shaping field", i, strings.Join(fields, ", "))
		}
	}
	k := len(members)
	store := model.NewStore()
	if err := stackStores(store, members); err != nil {
		return nil, err
	}
	core := &Agent{cfg: a0.cfg, obsDim: a0.obsDim, actDim: a0.actDim, gamma: a0.gamma, backend: backend,
		store: store, updateExecs: map[variant]updateExec{}}
	core.n = &nets{cfg: a0.cfg, obsDim: a0.obsDim, actDim: a0.actDim, store: store, pop: k}
	for _, a := range members {
		core.n.runs = append(core.n.runs, a.cfg)
	}
	core.newOptimizers()
	if err := core.newPlanExec(); err != nil {
		return nil, err
	}
	e := &popEngine{core: core, members: members, k: k, live: make([]bool, k), active: make([]bool, k), pending: make([]*popCall, k)}
	e.cond = sync.NewCond(&e.mu)
	for i, a := range members {
		a.slot = &popSlot{p: e, k: i}
		e.live[i] = true
	}
	return e, nil
}

// sharedVar reports whether a variable is one value for the whole population rather than one
// per run: the optimizers' learning rates (constants). Every other scalar is per run: the
// running scales, and the optimizers' and the global step counters (popAdam: a run's optimizer
// counts only the steps it takes, as alone).
func sharedVar(path string, rank int) bool {
	return rank == 0 && strings.HasSuffix(path, "/"+optimizer.Scope+"/"+optimizer.ParamLearningRate)
}

// stackStores creates in store every variable of the members' stores, stacked on a leading run
// axis; the RNG states go to popRNGPath; shared scalars must be equal in every run.
func stackStores(store *model.Store, members []*Agent) error {
	k := len(members)
	per := make([]map[string]savedVar, k)
	for i, a := range members {
		vars, err := saveVars(a.store)
		if err != nil {
			return err
		}
		per[i] = make(map[string]savedVar, len(vars))
		for _, sv := range vars {
			per[i][sv.Path] = sv
		}
	}
	first, err := saveVars(members[0].store)
	if err != nil {
		return err
	}
	for _, sv0 := range first {
		path := sv0.Path
		svs := make([]savedVar, k)
		for i := range members {
			sv, ok := per[i][path]
			if !ok || !reflect.DeepEqual(sv.Dims, sv0.Dims) {
				return fmt.Errorf("pompc: run %d has no variable %s of shape %v like run 0 (runs must be at the same stage of training to join)", i, path, sv0.Dims)
			}
			svs[i] = sv
		}
		if sharedVar(path, len(sv0.Dims)) {
			for i := range svs {
				if !reflect.DeepEqual(svs[i].tensorData(), sv0.tensorData()) {
					return fmt.Errorf("pompc: %s is %v in run %d and %v in run 0: runs at different optimizer steps cannot train as one population",
						path, svs[i].tensorData(), i, sv0.tensorData())
				}
			}
			if err := createVar(store, sv0); err != nil {
				return err
			}
			continue
		}
		stacked := stackSaved(svs)
		if path == "/"+model.RNGStateVariableName {
			stacked.Path = popRNGPath
		}
		if err := createVar(store, stacked); err != nil {
			return err
		}
	}
	return nil
}

func createVar(store *model.Store, sv savedVar) error {
	v, err := store.CreateVariable(sv.Path, sv.tensor())
	if err != nil {
		return fmt.Errorf("pompc: population variable %s: %w", sv.Path, err)
	}
	v.SetTrainable(sv.Trainable)
	return nil
}

// tensorData is the flat data of a saved variable, whatever its dtype.
func (sv savedVar) tensorData() any {
	switch {
	case sv.F32 != nil:
		return sv.F32
	case sv.F64 != nil:
		return sv.F64
	case sv.I64 != nil:
		return sv.I64
	case sv.I32 != nil:
		return sv.I32
	case sv.U64 != nil:
		return sv.U64
	default:
		return sv.U32
	}
}

// stackSaved stacks equal-shaped saved variables on a new leading axis.
func stackSaved(svs []savedVar) savedVar {
	out := savedVar{Path: svs[0].Path, Trainable: svs[0].Trainable, Dims: append([]int{len(svs)}, svs[0].Dims...)}
	for _, sv := range svs {
		out.F32 = appendNonNil(out.F32, sv.F32)
		out.F64 = appendNonNil(out.F64, sv.F64)
		out.I64 = appendNonNil(out.I64, sv.I64)
		out.I32 = appendNonNil(out.I32, sv.I32)
		out.U64 = appendNonNil(out.U64, sv.U64)
		out.U32 = appendNonNil(out.U32, sv.U32)
	}
	return out
}

func appendNonNil[T any](dst, src []T) []T {
	if src == nil {
		return dst
	}
	return append(dst, src...)
}

// unstack returns run k's slice of a stacked saved variable.
func (sv savedVar) unstack(k int) savedVar {
	out := savedVar{Path: sv.Path, Trainable: sv.Trainable, Dims: sv.Dims[1:]}
	size := 1
	for _, d := range out.Dims {
		size *= d
	}
	lo, hi := k*size, (k+1)*size
	switch {
	case sv.F32 != nil:
		out.F32 = append([]float32(nil), sv.F32[lo:hi]...)
	case sv.F64 != nil:
		out.F64 = append([]float64(nil), sv.F64[lo:hi]...)
	case sv.I64 != nil:
		out.I64 = append([]int64(nil), sv.I64[lo:hi]...)
	case sv.I32 != nil:
		out.I32 = append([]int32(nil), sv.I32[lo:hi]...)
	case sv.U64 != nil:
		out.U64 = append([]uint64(nil), sv.U64[lo:hi]...)
	default:
		out.U32 = append([]uint32(nil), sv.U32[lo:hi]...)
	}
	return out
}

// sync copies the given runs' slices of the population store into their own stores, so that
// their stores (checkpoints, a run leaving the population) hold their current state.
func (e *popEngine) sync(ks ...int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.syncLocked(ks...)
}

func (e *popEngine) syncLocked(ks ...int) error {
	vars, err := saveVars(e.core.store)
	if err != nil {
		return err
	}
	for _, k := range ks {
		own := make([]savedVar, 0, len(vars))
		for _, sv := range vars {
			switch {
			case sharedVar(sv.Path, len(sv.Dims)):
				own = append(own, sv)
			case sv.Path == popRNGPath:
				r := sv.unstack(k)
				r.Path = "/" + model.RNGStateVariableName
				own = append(own, r)
			default:
				own = append(own, sv.unstack(k))
			}
		}
		if err := loadVars(e.members[k].store, own); err != nil {
			return fmt.Errorf("pompc: population run %d: %w", k, err)
		}
	}
	return nil
}

// leave takes run k out of the population for good: its store gets its state, its calls go to
// its own graphs again, and the population's slot k computes nothing anyone reads.
func (e *popEngine) leave(k int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.live[k] {
		return nil
	}
	err := e.syncLocked(k)
	e.members[k].slot = nil
	e.live[k] = false
	e.tryRunLocked()
	return err
}

// plan is run k's planner call: it waits for the batch and returns run k's outputs.
func (s *popSlot) plan(obs, prevMean, fresh []float32, n int) ([][]float32, error) {
	c := s.p.submit(s.k, &popCall{obs: obs, prevMean: prevMean, fresh: fresh, n: n})
	return c.outs, c.err
}

// update is run k's update call.
func (s *popSlot) update(b *Batch, v variant, lambda float64) (map[string]float64, []string, error) {
	c := s.p.submit(s.k, &popCall{update: true, batch: b, v: v, lambda: lambda})
	return c.m, c.keys, c.err
}

// submit queues run k's call and blocks until a batched call has answered it.
func (e *popEngine) submit(k int, c *popCall) *popCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.live[k] {
		c.err = fmt.Errorf("pompc: run %d has left its population", k)
		return c
	}
	e.pending[k] = c
	e.tryRunLocked()
	for !c.done {
		e.cond.Wait()
	}
	return c
}

// enter marks the given runs as inside a step: a batch waits for their calls.
func (e *popEngine) enter(ks []int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range ks {
		e.active[k] = true
	}
}

// exit marks run k's step as done: the calls the runs still in their steps make (an evaluation
// only some runs have at this step, say) no longer wait for it.
func (e *popEngine) exit(k int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.active[k] = false
	e.tryRunLocked()
}

// tryRunLocked serves the pending calls once every live run inside its step has one: planner
// calls first (one batched call per observation count, the runs not in it untouched), then,
// when they all wait on an update, one batched update. Updates are the whole population's
// (every run's Adam steps together): an update that some live run, done with its step, does
// not join is an error (runs of a population share their seed phase and UTD ratio, so it does
// not happen).
func (e *popEngine) tryRunLocked() {
	for {
		waiting, updates, alive, parked := 0, 0, 0, 0
		for k, c := range e.pending {
			switch {
			case !e.live[k]:
				continue
			case !e.active[k]:
				parked++
				continue
			}
			alive++
			if c != nil {
				waiting++
				if c.update {
					updates++
				}
			}
		}
		if alive == 0 || waiting < alive {
			return
		}
		switch {
		case updates < waiting:
			n := -1
			for k, c := range e.pending {
				if e.live[k] && e.active[k] && c != nil && !c.update && n < 0 {
					n = c.n
				}
			}
			e.runPlanLocked(n)
		case parked > 0:
			for k, c := range e.pending {
				if e.live[k] && c != nil {
					c.err = errors.New("pompc: an update without every run of the population (runs of a population must share their seed phase and UTD ratio)")
					e.answer(k)
				}
			}
		default:
			e.runUpdateLocked()
		}
		e.cond.Broadcast()
	}
}

// answer marks run k's pending call done.
func (e *popEngine) answer(k int) {
	e.pending[k].done = true
	e.pending[k] = nil
}

// runPlanLocked serves every pending planner call for n observations in one batched call.
func (e *popEngine) runPlanLocked(n int) {
	a := e.core
	h, o, act := a.cfg.Horizon, a.obsDim, a.actDim
	obs := make([]float32, e.k*n*o)
	prev := make([]float32, e.k*n*h*act)
	fresh := make([]float32, e.k*n)
	active := make([]bool, e.k)
	var in []int
	for k, c := range e.pending {
		if !e.live[k] || c == nil || c.update || c.n != n {
			for i := range n {
				fresh[k*n+i] = 1
			}
			continue
		}
		active[k] = true
		in = append(in, k)
		copy(obs[k*n*o:], c.obs)
		copy(prev[k*n*h*act:], c.prevMean)
		copy(fresh[k*n:], c.fresh)
	}
	outs, err := callExec(a.planExec,
		tensors.FromFlatDataAndDimensions(obs, e.k, n, o),
		tensors.FromFlatDataAndDimensions(prev, e.k, n, h, act),
		tensors.FromFlatDataAndDimensions(fresh, e.k, n),
		tensors.FromFlatDataAndDimensions(active, e.k))
	data := make([][]float32, len(outs)) // each output's data once, [K, ...] flattened
	for i, t := range outs {
		data[i] = flat(t)
	}
	for _, k := range in {
		c := e.pending[k]
		if err != nil {
			c.err = fmt.Errorf("pompc: population planner: %w", err)
		} else {
			c.outs = make([][]float32, len(data))
			for i, d := range data {
				size := len(d) / e.k
				c.outs[i] = d[k*size : (k+1)*size] // read-only: ActN and Reanalyze copy what they keep
			}
		}
		e.answer(k)
	}
}

// runUpdateLocked serves the pending update calls (one per live run) in one batched update, each
// run with its own variant (popUpdateExec). A run whose batch shape differs from the others'
// gets an error (and the population's slot for it computes on an inert batch).
func (e *popEngine) runUpdateLocked() {
	a := e.core
	var b0 *Batch
	for k, c := range e.pending {
		if e.live[k] && c != nil {
			b0 = c.batch
			break
		}
	}
	// Each run's variant: its own for the runs in this update; a left run's slot keeps the
	// variant it had (it computes on an inert batch).
	vs := make([]variant, e.k)
	for k := range e.k {
		if c := e.pending[k]; e.live[k] && c != nil {
			vs[k] = c.v
		} else {
			vs[k] = e.members[k].variant()
		}
	}
	h, bs, o, act := b0.H, b0.B, b0.ObsDim, b0.ActDim
	sizes := []int{(h + 1) * bs * o, h * bs * act, h * bs, h * bs, (h + 1) * bs * act, (h + 1) * bs * act, (h + 1) * bs}
	bufs := make([][]float32, len(sizes))
	for i, s := range sizes {
		bufs[i] = make([]float32, e.k*s)
	}
	lambdas := make([]float32, e.k)
	var in []int
	for k := range e.k {
		c := e.pending[k]
		ok := e.live[k] && c != nil && c.batch.B == bs && c.batch.H == h
		if !ok {
			// Inert: zero observations and actions, every planner entry masked (std 1).
			for i := range (h + 1) * bs * act {
				bufs[5][k*sizes[5]+i] = 1
			}
			if e.live[k] && c != nil {
				c.err = fmt.Errorf("pompc: this run's batch shape (B %d, H %d) differs from its population's (B %d, H %d)", c.batch.B, c.batch.H, bs, h)
				e.answer(k)
			}
			continue
		}
		in = append(in, k)
		b := c.batch
		for i, src := range [][]float32{b.Obs, b.Action, b.Reward, b.Cont, b.PlanMean, b.PlanStd, b.Valid} {
			copy(bufs[i][k*sizes[i]:], src)
		}
		if !math.IsInf(c.lambda, 1) {
			lambdas[k] = float32(c.lambda)
		}
	}
	ue, err := a.popUpdateExec(vs)
	var outs []*tensors.Tensor
	if err == nil {
		outs, err = callExec(ue.exec,
			tensors.FromFlatDataAndDimensions(bufs[0], e.k, h+1, bs, o),
			tensors.FromFlatDataAndDimensions(bufs[1], e.k, h, bs, act),
			tensors.FromFlatDataAndDimensions(bufs[2], e.k, h, bs),
			tensors.FromFlatDataAndDimensions(bufs[3], e.k, h, bs),
			tensors.FromFlatDataAndDimensions(bufs[4], e.k, h+1, bs, act),
			tensors.FromFlatDataAndDimensions(bufs[5], e.k, h+1, bs, act),
			tensors.FromFlatDataAndDimensions(bufs[6], e.k, h+1, bs),
			tensors.FromFlatDataAndDimensions(lambdas, e.k))
	}
	vals := map[string][]float32{}
	if err == nil {
		for i, t := range outs {
			vals[(*ue.keys)[i]] = flat(t)
		}
	}
	for _, k := range in {
		c := e.pending[k]
		if err != nil {
			c.err = fmt.Errorf("pompc: population update: %w", err)
		} else {
			c.keys = updateKeys(vs[k]) // this run's own keys, in its own order
			c.m = make(map[string]float64, len(c.keys))
			for _, key := range c.keys {
				c.m[key] = float64(vals[key][k])
			}
		}
		e.answer(k)
	}
}

// popUpdateExec is the population's update graph for the runs' variants vs: the one-variant
// graph when they agree, else the graph of every term any run needs, each run keeping its own
// (updateGraphOf), compiled once per assignment of variants to runs.
func (a *Agent) popUpdateExec(vs []variant) (updateExec, error) {
	uniform := true
	for _, v := range vs {
		uniform = uniform && v == vs[0]
	}
	if uniform {
		return a.updateExec(vs[0])
	}
	key := fmt.Sprintf("%+v", vs)
	if ue, ok := a.mixedExecs[key]; ok {
		return ue, nil
	}
	ue, err := a.compileUpdate(func(in []*Node) []namedNode { return a.updateGraphOf(vs, in) })
	if err != nil {
		return ue, err
	}
	if a.mixedExecs == nil {
		a.mixedExecs = map[string]updateExec{}
	}
	a.mixedExecs[key] = ue
	return ue, nil
}

// callExec runs an executable, turning a graph-building panic into an error.
func callExec(exec *model.Exec, args ...any) (outs []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return exec.Call(args...)
}

// Population trains K runs (Trainers) as one batched computation: see the top of this file.
type Population struct {
	trainers []*Trainer
	eng      *popEngine
	failed   []error
}

// NewPopulation joins trainers (made with NewTrainer, resumed with Load or fresh) into one
// population computed on backend. The trainers keep their envs, buffers, sinks and state; they
// must share the task and the graph-shaping config (see the top of this file).
func NewPopulation(backend compute.Backend, trainers []*Trainer) (*Population, error) {
	members := make([]*Agent, len(trainers))
	for i, t := range trainers {
		if t.task != trainers[0].task {
			return nil, fmt.Errorf("pompc: run %d trains %s, run 0 %s: a population's runs share the task", i, t.task, trainers[0].task)
		}
		if t.seedSteps != trainers[0].seedSteps || t.cfg.UpdatesPerStep() != trainers[0].cfg.UpdatesPerStep() {
			return nil, fmt.Errorf("pompc: run %d has a different seed phase or UTD ratio: a population's runs update in lockstep", i)
		}
		if t.step != trainers[0].step || t.pending != trainers[0].pending {
			return nil, fmt.Errorf("pompc: run %d is at step %d, run 0 at step %d: a population's runs step in lockstep", i, t.step, trainers[0].step)
		}
		members[i] = t.agent
	}
	eng, err := newPopEngine(backend, members)
	if err != nil {
		return nil, err
	}
	return &Population{trainers: trainers, eng: eng, failed: make([]error, len(trainers))}, nil
}

// Trainers returns the population's runs, in order.
func (p *Population) Trainers() []*Trainer { return p.trainers }

// Size is the number of runs.
func (p *Population) Size() int { return len(p.trainers) }

// Err is the error that ended run k (nil while it trains).
func (p *Population) Err(k int) error { return p.failed[k] }

// Live is the number of runs still training together.
func (p *Population) Live() int {
	n := 0
	for _, err := range p.failed {
		if err == nil {
			n++
		}
	}
	return n
}

// Sync makes every live run's own store hold its current state (Save does it for its run).
func (p *Population) Sync() error {
	var ks []int
	for k, err := range p.failed {
		if err == nil {
			ks = append(ks, k)
		}
	}
	return p.eng.sync(ks...)
}

// Leave takes run k out of the population: from then on its trainer computes alone, from its
// current state.
func (p *Population) Leave(k int) error { return p.eng.leave(k) }

// Step takes one lockstep environment step of every live run (each with its updates and
// evaluation, its hooks set by Run). A run whose step fails leaves the population with its
// state at the failure (Err(k) tells); the others go on. It returns the failures of this step.
func (p *Population) Step() error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.trainers))
	var ks []int
	for k := range p.trainers {
		if p.failed[k] == nil {
			ks = append(ks, k)
		}
	}
	p.eng.enter(ks) // all of them before any call: a batch waits for every run in its step
	for _, k := range ks {
		t := p.trainers[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.eng.exit(k)
			if err := t.Step(); err != nil {
				errs[k] = fmt.Errorf("run %d: %w", k, err)
				p.failed[k] = errs[k]
				_ = p.eng.leave(k) // releases the others' batches that wait for this run
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// step is the agent step of the live runs (they step in lockstep).
func (p *Population) step() int64 {
	for k, err := range p.failed {
		if err == nil {
			return p.trainers[k].step
		}
	}
	return 0
}

// Run takes n agent steps (n/NumEnvs lockstep steps; or until ctx is done), with hooks(k) the hooks of run k (nil for
// none), firing every run's start and end events as Trainer.Run does. A failed run leaves the
// population and the others go on; the error joins the failures.
func (p *Population) Run(ctx context.Context, n int, hooks func(k int) []Hook) error {
	var errs []error
	for k, t := range p.trainers {
		var hs []Hook
		if hooks != nil {
			hs = hooks(k)
		}
		t.hooks = hs
		t.started, t.stepsAtRun = time.Now(), t.step
		if p.failed[k] == nil {
			if err := t.fire(EventStart); err != nil {
				p.fail(k, err)
				errs = append(errs, err)
			}
		}
	}
	start := p.step()
	for ctx.Err() == nil && p.Live() > 0 && p.step() < start+int64(n) {
		if err := p.Step(); err != nil {
			errs = append(errs, err)
		}
	}
	for k, t := range p.trainers {
		if p.failed[k] == nil {
			if err := t.fire(EventEnd); err != nil {
				p.fail(k, err)
				errs = append(errs, err)
			}
		}
		t.hooks = nil
	}
	return errors.Join(errs...)
}

func (p *Population) fail(k int, err error) {
	p.failed[k] = fmt.Errorf("run %d: %w", k, err)
	_ = p.eng.leave(k)
}

// Close takes every run out of the population (their own stores get their state); the
// trainers stay open (their owners close them).
func (p *Population) Close() error {
	var errs []error
	for k := range p.trainers {
		errs = append(errs, p.eng.leave(k))
	}
	return errors.Join(errs...)
}

// StepsPerSecond is the agent steps per second summed over the live runs in the current Run.
func (p *Population) StepsPerSecond() float64 {
	s := 0.0
	for k, t := range p.trainers {
		if p.failed[k] == nil {
			s += t.StepsPerSecond()
		}
	}
	return s
}

// TrainTogether trains opened runs to their target steps: the runs that can share graphs (the
// same PopulationKey, current step and target) as one population each (on backend), one
// population after another; a group that cannot form a population (not expected: the key says
// it can) trains one run after another. hooks(i), when not nil, are run i's hooks (its
// checkpoints among them). It returns one error per run: nil when the run reached its target or
// ctx stopped it. logf, when not nil, gets a line per population.
func TrainTogether(ctx context.Context, backend compute.Backend, runs []*Run, targets []int64, hooks func(i int) []Hook,
	logf func(format string, args ...any)) []error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	hooksOf := func(i int) []Hook {
		if hooks == nil {
			return nil
		}
		return hooks(i)
	}
	errs := make([]error, len(runs))
	var order []string
	groups := map[string][]int{}
	for i, r := range runs {
		tr := r.Trainer
		key := fmt.Sprintf("%d %d %s", tr.StepCount(), targets[i], PopulationKey(tr.Task(), tr.Config()))
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	for _, key := range order {
		idx := groups[key]
		remaining := int(max(targets[idx[0]]-runs[idx[0]].Trainer.StepCount(), 0))
		if ctx.Err() != nil || remaining == 0 {
			continue
		}
		trs := make([]*Trainer, len(idx))
		for n, i := range idx {
			trs[n] = runs[i].Trainer
		}
		pop, err := NewPopulation(backend, trs)
		if err != nil {
			logf("these %d runs cannot train as one population (%v): training them one by one", len(idx), err)
			for _, i := range idx {
				if ctx.Err() == nil {
					errs[i] = runs[i].Trainer.Run(ctx, remaining, hooksOf(i)...)
				}
			}
			continue
		}
		logf("population of %d runs (%s, %s): %d steps to go", len(idx), trs[0].Task(), trs[0].Config().Preset, remaining)
		_ = pop.Run(ctx, remaining, func(k int) []Hook { return hooksOf(idx[k]) }) // failures: pop.Err
		closeErr := pop.Close()
		for n, i := range idx {
			errs[i] = errors.Join(pop.Err(n), closeErr)
		}
	}
	return errs
}
