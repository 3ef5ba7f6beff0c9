package pompc

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// updateExec is the compiled update graph of one variant and the metric keys of its outputs
// (recorded when the graph is built).
type updateExec struct {
	exec *model.Exec
	keys *[]string
}

// variant is the discrete part of the update graph: changing lambda between finite values only
// changes a graph input, while these choose which graph runs (each compiled once, on first use).
type variant struct {
	lambdaZero, lambdaInf bool
	prior                 PriorKind
	priorKL               KLDir
	qk                    bool
	// noPolicy leaves the policy and the prior alone (a world-model-only seed burst, BMPC's).
	noPolicy bool
}

// Agent is a PO-MPC agent: the networks in a GoMLX Store, the compiled planner and update
// graphs, and its warm-start state. It is not safe for concurrent use.
type Agent struct {
	cfg            Config
	obsDim, actDim int
	gamma          float64
	backend        compute.Backend
	store          *model.Store
	n              *nets

	planExec    *model.Exec
	updateExecs map[variant]updateExec
	mixedExecs  map[string]updateExec // a population's graphs for runs of different variants
	lastKeys    []string              // the metric keys of the latest update, in graph order
	adamEnc     optimizer.Interface
	adamCore    optimizer.Interface
	adamPi      optimizer.Interface
	adamPrior   optimizer.Interface

	prevMean []float32 // [H, A] warm start of the single-env planner
	updates  int64
	// burst is set by the trainer during the seed-phase update burst (BurstWorldModelOnly).
	burst bool

	// slot, when not nil, makes this agent run k of a population (population.go): its planner
	// and update calls are batched with the other runs' into the population's graphs, and its
	// store holds its state only after a sync (Population.sync).
	slot *popSlot
}

// NewAgent builds an agent for observations of obsDim and actions of actDim, with discount
// gamma (see Config.DiscountFor). It initializes every variable from cfg.Seed and copies the
// online critics into their targets.
func NewAgent(backend compute.Backend, cfg Config, obsDim, actDim int, gamma float64) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if obsDim <= 0 || actDim <= 0 {
		return nil, fmt.Errorf("pompc: observation and action dims must be > 0, got %d and %d", obsDim, actDim)
	}
	if !(gamma > 0 && gamma < 1) {
		return nil, fmt.Errorf("pompc: discount must be in (0, 1), got %v", gamma)
	}
	if backend == nil {
		return nil, fmt.Errorf("pompc: nil backend (use NewBackend)")
	}
	a := &Agent{cfg: cfg, obsDim: obsDim, actDim: actDim, gamma: gamma, backend: backend,
		store: model.NewStore(), updateExecs: map[variant]updateExec{},
		prevMean: make([]float32, cfg.Horizon*actDim)}
	a.store.SetParam(model.ParamInitialSeed, cfg.Seed)
	if err := a.store.SetRNGStateFromSeed(cfg.Seed); err != nil {
		return nil, err
	}
	a.n = &nets{cfg: cfg, obsDim: obsDim, actDim: actDim, store: a.store}
	a.newOptimizers()
	if err := a.initVariables(); err != nil {
		return nil, err
	}
	if err := a.newPlanExec(); err != nil {
		return nil, err
	}
	return a, nil
}

// newOptimizers makes the four Adams of the update (alg §4: lr 3e-4, encoder ×EncLRScale; ε as
// TD-MPC2: 1e-8 for the world model, 1e-5 for the policies).
func (a *Agent) newOptimizers() {
	for _, o := range a.adamSettings() {
		*o.opt = optimizer.Adam().LearningRate(o.lr).Epsilon(o.eps).Done()
	}
}

// adamSetting is one optimizer of the update: the variables under path, its learning rate and ε.
type adamSetting struct {
	path    string
	opt     *optimizer.Interface
	lr, eps float64
}

// adamSettings are the four optimizers of the update, one per variable scope.
func (a *Agent) adamSettings() []adamSetting {
	lr := a.cfg.LR
	return []adamSetting{{scopeEnc, &a.adamEnc, lr * a.cfg.EncLRScale, 1e-8}, {scopeCore, &a.adamCore, lr, 1e-8},
		{scopePi, &a.adamPi, lr, 1e-5}, {scopePrior, &a.adamPrior, lr, 1e-5}}
}

// newPlanExec makes the planner's executable. A population's (nets.pop > 0) takes a fourth
// input, active [K] bool: the runs that asked for this call; the others' RNG states are left
// as they were, so a run's random stream depends only on its own calls.
func (a *Agent) newPlanExec() error {
	var err error
	a.planExec, err = model.NewExec(a.backend, a.store, func(s *model.Scope, in []*Node) []*Node {
		if a.n.pop == 0 {
			return a.n.planGraph(in[0], in[1], in[2], a.gamma)
		}
		v := a.store.GetVariable(popRNGPath)
		before := v.NodeValue(in[0].Graph())
		out := a.n.planGraph(in[0], in[1], in[2], a.gamma)
		v.SetNodeValue(Where(in[3], v.NodeValue(in[0].Graph()), before))
		return out
	})
	if err != nil {
		return fmt.Errorf("pompc: planner graph: %w", err)
	}
	return nil
}

// initVariables creates every variable in a fixed order, initializes it from the seed, and sets
// the target critics equal to the online critics.
func (a *Agent) initVariables() error {
	_, err := model.CallOnceN(a.backend, a.store, func(s *model.Scope, g *Graph) *Node {
		return a.n.buildAll(g)
	})
	if err != nil {
		return fmt.Errorf("pompc: initializing variables: %w", err)
	}
	for _, pair := range [][2]string{{scopeQ, scopeTargetQ}, {scopeQk, scopeTargetQk}} {
		for v := range a.store.Scope(pair[1]).IterVariables() {
			src := a.store.GetVariable(pair[0] + strings.TrimPrefix(v.Path(), pair[1]))
			if src == nil {
				return fmt.Errorf("pompc: target variable %s has no online twin", v.Path())
			}
			val, err := src.Value()
			if err != nil {
				return err
			}
			clone, err := val.LocalClone()
			if err != nil {
				return err
			}
			if err := v.SetValue(clone); err != nil {
				return err
			}
			v.SetTrainable(false)
		}
	}
	return nil
}

// Config returns the agent's current configuration.
func (a *Agent) Config() Config { return a.cfg }

// Store exposes the GoMLX store holding every variable (parameters, targets, optimizer state,
// running scales, graph RNG).
func (a *Agent) Store() *model.Store { return a.store }

// Updates is the number of updates done so far.
func (a *Agent) Updates() int64 { return a.updates }

// SetLambda changes λ for the next update. Negative or NaN lambda is an error. Moving a
// TD-MPC2 config (prior none) to λ > 0 also selects the learned prior pi_p, whose network always
// exists (it has been untrained so far).
func (a *Agent) SetLambda(lambda float64) error { return a.setConfig(a.cfg.WithLambda(lambda)) }

// SetPrior changes the prior kind for the next update.
func (a *Agent) SetPrior(p PriorKind) error { c := a.cfg; c.Prior = p; return a.setConfig(c) }

// SetPriorKL changes the direction of the prior's KL for the next update.
func (a *Agent) SetPriorKL(d KLDir) error { c := a.cfg; c.PriorKL = d; return a.setConfig(c) }

// SetReanalyze turns lazy reanalysis on or off.
func (a *Agent) SetReanalyze(on bool) error { c := a.cfg; c.Reanalyze = on; return a.setConfig(c) }

func (a *Agent) setConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	a.cfg = c
	a.n.cfg = c
	return nil
}

func (a *Agent) variant() variant {
	v := a.cfg.variant()
	v.noPolicy = a.burst && a.cfg.BurstWorldModelOnly
	return v
}

// PlanResult is the outcome of one planner call for one observation.
type PlanResult struct {
	// Action is the action to execute (with exploration noise unless eval).
	Action []float32
	// Mean and Std are the planner's first-step Gaussian q_t, stored with the transition.
	Mean, Std []float32
	// PiMean/PiStd and PriorMean/PriorStd are pi_s and pi_p at the same state (snapshots).
	PiMean, PiStd, PriorMean, PriorStd []float32
	// Value is the estimated value of the best elite.
	Value float64
}

// Act plans for one observation with MPPI (alg §3). fresh marks the first step of an episode (no
// warm start); eval drops the exploration noise. The warm-start mean is the agent's own, kept
// between calls: the one-observation helper (benchmarks, notebooks); the trainer and evaluation
// keep a warm start per env and call ActN.
func (a *Agent) Act(obs []float32, fresh, eval bool) (PlanResult, error) {
	rs, err := a.ActN([][]float32{obs}, [][]float32{a.prevMean}, []bool{fresh}, eval)
	if err != nil {
		return PlanResult{}, err
	}
	return rs[0], nil
}

// ActN plans for several observations in one planner call (the environments of a run, alg §3):
// observation i with its own warm start prevMean[i] ([H, A], updated in place with the new
// mean) and fresh flag; eval drops the exploration noise.
func (a *Agent) ActN(obs, prevMean [][]float32, fresh []bool, eval bool) ([]PlanResult, error) {
	n := len(obs)
	if len(prevMean) != n || len(fresh) != n || n == 0 {
		return nil, fmt.Errorf("pompc: ActN needs as many warm starts and fresh flags as observations (>= 1), got %d, %d, %d",
			n, len(prevMean), len(fresh))
	}
	ha := a.cfg.Horizon * a.actDim
	flatObs := make([]float32, 0, n*a.obsDim)
	flatPrev := make([]float32, 0, n*ha)
	flags := make([]float32, n)
	for i, o := range obs {
		if len(o) != a.obsDim {
			return nil, fmt.Errorf("pompc: observation has size %d, want %d", len(o), a.obsDim)
		}
		if err := checkFinite("observation", o); err != nil {
			return nil, err
		}
		if len(prevMean[i]) != ha {
			return nil, fmt.Errorf("pompc: warm start has size %d, want %d", len(prevMean[i]), ha)
		}
		flatObs = append(flatObs, o...)
		flatPrev = append(flatPrev, prevMean[i]...)
		if fresh[i] {
			flags[i] = 1
		}
	}
	all, err := a.plan(flatObs, flatPrev, flags, n)
	if err != nil {
		return nil, err
	}
	at := func(out, i, size int) []float32 { return all[out][i*size : (i+1)*size] }
	act := a.actDim
	rs := make([]PlanResult, n)
	for i := range rs {
		copy(prevMean[i], at(planOutMean, i, ha))
		r := PlanResult{Mean: at(planOutMean0, i, act), Std: at(planOutStd0, i, act),
			PiMean: at(planOutPiMean, i, act), PiStd: at(planOutPiStd, i, act),
			PriorMean: at(planOutPriorMean, i, act), PriorStd: at(planOutPriorStd, i, act),
			Value: float64(at(planOutValue, i, 1)[0])}
		if eval {
			r.Action = at(planOutActionClean, i, act)
		} else {
			r.Action = at(planOutAction, i, act)
		}
		rs[i] = r
	}
	return rs, nil
}

// plan runs the planner graph for n observations (batched with the other runs' calls in a
// population) and returns its outputs' data (planOut* order).
func (a *Agent) plan(obs, prevMean, fresh []float32, n int) ([][]float32, error) {
	if a.slot != nil {
		return a.slot.plan(obs, prevMean, fresh, n)
	}
	outs, err := a.planExec.Call(
		tensors.FromFlatDataAndDimensions(obs, n, a.obsDim),
		tensors.FromFlatDataAndDimensions(prevMean, n, a.cfg.Horizon, a.actDim),
		tensors.FromFlatDataAndDimensions(fresh, n))
	if err != nil {
		return nil, fmt.Errorf("pompc: planner: %w", err)
	}
	data := make([][]float32, len(outs))
	for i, t := range outs {
		data[i] = flat(t)
	}
	return data, nil
}

// Reanalyze re-plans (without warm start) the first ReanalyzeSeqs sequences of the batch at the
// rollout steps the policy learns on (all H+1, or H with policy_states h, as BMPC) with the
// current model, pi_s's proposals drawn with the exploratory log-std bounds when set, and
// writes the new (mean_0, std_0) into the batch and, via write, back to the replay buffer (lazy
// reanalysis, alg §5).
func (a *Agent) Reanalyze(b *Batch, write func(seq, t int, mean, std []float32)) error {
	r := min(a.cfg.ReanalyzeSeqs, b.B)
	steps := min(a.cfg.PolicyLatents(), b.H+1)
	o, act := b.ObsDim, b.ActDim
	n := r * steps
	obs := make([]float32, 0, n*o)
	for k := 0; k < r; k++ {
		for t := 0; t < steps; t++ {
			obs = append(obs, b.Obs[(t*b.B+k)*o:(t*b.B+k+1)*o]...)
		}
	}
	fresh := make([]float32, n)
	for i := range fresh {
		fresh[i] = 2 // a reanalysis: no warm start, exploratory proposals (planGraph)
	}
	outs, err := a.plan(obs, make([]float32, n*a.cfg.Horizon*act), fresh, n)
	if err != nil {
		return fmt.Errorf("pompc: reanalysis: %w", err)
	}
	mean, std := outs[planOutMean0], outs[planOutStd0]
	for k := 0; k < r; k++ {
		for t := 0; t < steps; t++ {
			i := k*steps + t
			m, s := mean[i*act:(i+1)*act], std[i*act:(i+1)*act]
			copy(b.PlanMean[(t*b.B+k)*act:], m)
			copy(b.PlanStd[(t*b.B+k)*act:], s)
			b.Valid[t*b.B+k] = 1
			if write != nil {
				write(k, t, m, s)
			}
		}
	}
	return nil
}

// Update runs one full update (world model, critics, prior, policy, targets) on a batch in one
// compiled graph and returns its metrics (alg §4, §8).
func (a *Agent) Update(b *Batch) (map[string]float64, error) {
	if b.ObsDim != a.obsDim || b.ActDim != a.actDim || b.H != a.cfg.Horizon {
		return nil, fmt.Errorf("pompc: batch dims (obs %d, act %d, H %d) do not match the agent (%d, %d, %d)",
			b.ObsDim, b.ActDim, b.H, a.obsDim, a.actDim, a.cfg.Horizon)
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	if a.slot != nil {
		m, keys, err := a.slot.update(b, a.variant(), a.cfg.Lambda)
		if err != nil {
			return nil, fmt.Errorf("pompc: update %d: %w", a.updates+1, err)
		}
		a.updates++
		a.lastKeys = keys
		return m, checkNaN(m, keys, a.updates)
	}
	ue, err := a.updateExec(a.variant())
	if err != nil {
		return nil, err
	}
	exec := ue.exec
	lambda := a.cfg.Lambda
	if math.IsInf(lambda, 1) {
		lambda = 0 // unused by the BMPC graph
	}
	h, bs, o, act := b.H, b.B, b.ObsDim, b.ActDim
	outs, err := exec.Call(
		tensors.FromFlatDataAndDimensions(b.Obs, h+1, bs, o),
		tensors.FromFlatDataAndDimensions(b.Action, h, bs, act),
		tensors.FromFlatDataAndDimensions(b.Reward, h, bs),
		tensors.FromFlatDataAndDimensions(b.Cont, h, bs),
		tensors.FromFlatDataAndDimensions(b.PlanMean, h+1, bs, act),
		tensors.FromFlatDataAndDimensions(b.PlanStd, h+1, bs, act),
		tensors.FromFlatDataAndDimensions(b.Valid, h+1, bs),
		tensors.FromScalar(float32(lambda)))
	if err != nil {
		return nil, fmt.Errorf("pompc: update %d: %w", a.updates+1, err)
	}
	a.updates++
	keys := *ue.keys
	a.lastKeys = keys
	m := make(map[string]float64, len(keys))
	for i, k := range keys {
		m[k] = float64(flat(outs[i])[0])
	}
	return m, checkNaN(m, keys, a.updates)
}

// checkNaN reports the first metric of update u that is NaN (the run diverged).
func checkNaN(m map[string]float64, keys []string, u int64) error {
	for _, k := range keys {
		if math.IsNaN(m[k]) {
			return fmt.Errorf("pompc: update %d: %s is NaN (diverged)", u, k)
		}
	}
	return nil
}

// updateExec returns the compiled update graph of variant v (built on first use).
func (a *Agent) updateExec(v variant) (updateExec, error) {
	ue, ok := a.updateExecs[v]
	if ok {
		return ue, nil
	}
	ue, err := a.compileUpdate(func(in []*Node) []namedNode { return a.updateGraph(v, in) })
	if err != nil {
		return ue, err
	}
	a.updateExecs[v] = ue
	return ue, nil
}

// compileUpdate makes the executable of an update graph built by build, recording its outputs'
// metric keys when the graph is built.
func (a *Agent) compileUpdate(build func(in []*Node) []namedNode) (updateExec, error) {
	keys := new([]string)
	exec, err := model.NewExec(a.backend, a.store, func(s *model.Scope, in []*Node) []*Node {
		outs := build(in)
		nodes := make([]*Node, len(outs))
		*keys = (*keys)[:0]
		for i, o := range outs {
			nodes[i] = o.node
			*keys = append(*keys, o.key)
		}
		return nodes
	})
	if err != nil {
		return updateExec{}, fmt.Errorf("pompc: update graph: %w", err)
	}
	return updateExec{exec, keys}, nil
}

// trainable lists the trainable variables under path used by graph g, in Store order (the
// order GoMLX optimizers pair gradients with variables).
func trainable(store *model.Store, path string, g *Graph) []*model.Variable {
	var vs []*model.Variable
	for v := range store.Scope(path).IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vs = append(vs, v)
		}
	}
	return vs
}

// clippedGrads differentiates loss w.r.t. vars and rescales the gradients to a global norm of at
// most maxNorm: g ← g · min(1, maxNorm/‖g‖) (torch's clip_grad_norm_). Returns the pre-clip norm.
// In a population of pop runs, loss is [K] and every variable [K, ...]: the gradient of Σ_k L_k
// with respect to run k's parameters is ∂L_k/∂θ_k (runs share no parameter), and each run is
// clipped by its own norm ‖g_k‖ ([K]).
func clippedGrads(loss *Node, vars []*model.Variable, maxNorm float64, pop int) ([]*Node, *Node) {
	g := loss.Graph()
	nodes := make([]*Node, len(vars))
	for i, v := range vars {
		nodes[i] = v.NodeValue(g)
	}
	if pop == 0 {
		grads := Gradient(loss, nodes...)
		sq := ScalarZero(g, dt)
		for _, gr := range grads {
			sq = Add(sq, ReduceAllSum(Square(gr)))
		}
		norm := Sqrt(sq)
		coef := Min(ScalarOne(g, dt), Div(Scalar(g, dt, maxNorm), AddScalar(norm, 1e-6)))
		for i := range grads {
			grads[i] = Mul(grads[i], coef)
		}
		return grads, norm
	}
	grads := Gradient(ReduceAllSum(loss), nodes...)
	var sq *Node
	for _, gr := range grads {
		s := ReduceSum(Square(gr), iotaInts(gr.Rank())[1:]...) // [K]
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	norm := Sqrt(sq)
	coef := Min(OnesLike(norm), Div(Scalar(g, dt, maxNorm), AddScalar(norm, 1e-6)))
	for i, gr := range grads {
		dims := make([]int, gr.Rank())
		for j := range dims {
			dims[j] = 1
		}
		dims[0] = pop
		grads[i] = Mul(gr, Reshape(coef, dims...))
	}
	return grads, norm
}

type gradUpdater interface {
	UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType)
}

// applyAdam applies clipped gradients with a GoMLX Adam over the variables under path. In a
// population it is popAdam: runs marks the runs that take this step (nil: all), hold(v), when
// not nil, the runs whose variable v moves (the others keep it: a term their variant lacks).
func (a *Agent) applyAdam(opt optimizer.Interface, path string, grads []*Node, runs []bool, hold func(v *model.Variable) []bool) {
	g := grads[0].Graph()
	if a.n.pop > 0 {
		a.popAdam(path, grads, runs, hold)
	} else {
		u, ok := opt.(gradUpdater)
		if !ok {
			exceptions.Panicf("optimizer %T cannot apply precomputed gradients", opt)
		}
		u.UpdateGraphWithGradients(a.store.Scope(path), grads, dt)
	}
	// The losses built after this step (prior, policy) read the updated parameters as constants:
	// detaching them keeps autodiff of those losses from walking back into this step's gradients.
	for _, v := range trainable(a.store, path, g) {
		v.SetNodeValue(StopGradient(v.NodeValue(g)))
	}
}

// check validates a batch's slice lengths against its dims and that every value is finite
// (one NaN would reach every parameter through the optimizers).
func (b *Batch) check() error {
	if b.B <= 0 || b.H <= 0 || b.ObsDim <= 0 || b.ActDim <= 0 {
		return fmt.Errorf("pompc: batch dims must be > 0, got B %d, H %d, obs %d, act %d", b.B, b.H, b.ObsDim, b.ActDim)
	}
	h1, h := (b.H+1)*b.B, b.H*b.B
	for _, c := range []struct {
		name string
		x    []float32
		want int
	}{
		{"Obs", b.Obs, h1 * b.ObsDim}, {"Action", b.Action, h * b.ActDim}, {"Reward", b.Reward, h},
		{"Cont", b.Cont, h}, {"PlanMean", b.PlanMean, h1 * b.ActDim}, {"PlanStd", b.PlanStd, h1 * b.ActDim},
		{"Valid", b.Valid, h1},
	} {
		if len(c.x) != c.want {
			return fmt.Errorf("pompc: batch %s has %d values, want %d", c.name, len(c.x), c.want)
		}
		if c.name == "PlanMean" || c.name == "PlanStd" {
			continue // only valid entries matter; masked ones are replaced in the graph
		}
		if err := checkFinite("batch "+c.name, c.x); err != nil {
			return err
		}
	}
	for i, v := range b.Valid {
		if v == 0 {
			continue
		}
		m := b.PlanMean[i*b.ActDim : (i+1)*b.ActDim]
		s := b.PlanStd[i*b.ActDim : (i+1)*b.ActDim]
		if err := checkFinite("batch PlanMean", m); err != nil {
			return err
		}
		for _, x := range s {
			if !(x > 0) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("pompc: batch PlanStd has %v where Valid = 1; stds must be finite and > 0", x)
			}
		}
	}
	return nil
}

func checkFinite(what string, x []float32) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("pompc: %s[%d] = %v is not finite", what, i, v)
		}
	}
	return nil
}

// flat copies a float32 tensor's data.
func flat(t *tensors.Tensor) []float32 {
	return tensors.MustCopyFlatData[float32](t)
}
