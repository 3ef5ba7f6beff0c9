package pompc

import (
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Variable scopes of the networks (alg §2). The world model's trainable variables live under
// /wm (the encoder apart, for its own learning-rate scale), the policies under /pi and /prior,
// the EMA critics under /target, and the running scales under /scale.
const (
	scopeEnc      = "/wm/enc"
	scopeCore     = "/wm/core"
	scopeDyn      = "/wm/core/dynamics"
	scopeReward   = "/wm/core/reward"
	scopeQ        = "/wm/core/q"
	scopeQk       = "/wm/core/qk"
	scopePi       = "/pi"
	scopePrior    = "/prior"
	scopeTargetQ  = "/target/q"
	scopeTargetQk = "/target/qk"
	scopeScale    = "/scale"
)

// dt is the dtype of every network.
const dt = dtypes.Float32

// nets builds the networks of alg §2 as graph functions over one model.Store. Every function
// takes inputs of any rank [..., F] and may be called many times per graph (weights are shared
// by path).
type nets struct {
	cfg    Config
	obsDim int
	actDim int
	store  *model.Store
	// grad selects the training forms of the layers (gradops.go): the same values, with
	// gradients that are cheap on the pure-Go backend. The planner and the parts of the update
	// that are not differentiated use the inference forms (fused LayerNorm and Dense).
	grad bool
	// autodiff keeps plain GoMLX autodiff in the update too (withGrad is then the identity): the
	// reference the training forms are tested against.
	autodiff bool
	// pop is the number of runs of a population (population.go) built over this store: every
	// variable then has a leading run axis of that size ([K, ...] stacks of the runs' variables),
	// every network input and output a leading run axis, and every random draw comes from the
	// run's own RNG state (popRNGPath), with the shape a single run would draw. 0 is an ordinary
	// single-run graph, with no run axis.
	pop int
	// drawOnly, when not nil, restricts a population's random draws to the runs it marks (the
	// terms only some runs' variants have): the other runs get zeros and keep their RNG state.
	drawOnly []bool
	// runs are the configs of a population's runs (nil for a single run: cfg). The fields in
	// which they may differ without changing the graphs' shapes (the forms of the two ends,
	// the log-std bounds) become per-run constants (runConst) or selections (pick).
	runs []Config
}

// runCfgs is the config of every run: the population's members, or the one config.
func (n *nets) runCfgs() []Config {
	if len(n.runs) == 0 {
		return []Config{n.cfg}
	}
	return n.runs
}

// runMask is p of every run's config.
func (n *nets) runMask(p func(Config) bool) []bool {
	cs := n.runCfgs()
	m := make([]bool, len(cs))
	for k, c := range cs {
		m[k] = p(c)
	}
	return m
}

// pick is yes for the runs m marks and no for the others (both [K, ...] in a population);
// when every run agrees, no selection enters the graph.
func pick(m []bool, yes, no *Node) *Node {
	all, none := true, true
	for _, b := range m {
		all, none = all && b, none && !b
	}
	switch {
	case all:
		return yes
	case none:
		return no
	}
	return Where(Const(yes.Graph(), m), yes, no)
}

// runWhere is pick with the runs whose config satisfies p.
func (n *nets) runWhere(p func(Config) bool, yes, no *Node) *Node { return pick(n.runMask(p), yes, no) }

// runConst is f of each run's config as a constant that broadcasts against x (run axis leading
// in a population): a scalar when every run has the same value, else [K, 1, ..., 1].
func (n *nets) runConst(x *Node, f func(Config) float64) *Node {
	cs := n.runCfgs()
	vals := make([]float32, len(cs))
	same := true
	for k, c := range cs {
		vals[k] = float32(f(c))
		same = same && vals[k] == vals[0]
	}
	if same {
		return Scalar(x.Graph(), x.DType(), vals[0])
	}
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = len(vals)
	return Reshape(Const(x.Graph(), vals), dims...)
}

// popRNGPath is the population store's variable holding one RNG state per run, [K, 3] uint64:
// run k's slice is what /#rngState holds in its own store.
const popRNGPath = "/#popRNG"

// runDims prepends the run axis to dims in a population (dims unchanged otherwise).
func (n *nets) runDims(dims ...int) []int {
	if n.pop > 0 {
		return append([]int{n.pop}, dims...)
	}
	return dims
}

// perRun is the shape of x as one run sees it: without the leading run axis in a population.
func (n *nets) perRun(x *Node) shapes.Shape {
	d := x.Shape().Dimensions
	if n.pop > 0 {
		d = d[1:]
	}
	return shapes.Make(x.DType(), d...)
}

// runDraw draws one value per run in a population: draw(state) is called with run k's RNG
// state [3] for every k, and the values are stacked along kAxis (the states written back).
func (n *nets) runDraw(g *Graph, kAxis int, draw func(state *Node) (newState, values *Node)) *Node {
	v := n.store.GetVariable(popRNGPath)
	if v == nil {
		exceptions.Panicf("population store has no %s", popRNGPath)
	}
	st := v.NodeValue(g)
	states, vals := make([]*Node, n.pop), make([]*Node, n.pop)
	for k := range n.pop {
		states[k], vals[k] = draw(Squeeze(SliceAxis(st, 0, AxisElem(k)), 0))
		if n.drawOnly != nil && !n.drawOnly[k] {
			// Not this run's draw: its state stays, its values are never used.
			states[k], vals[k] = Squeeze(SliceAxis(st, 0, AxisElem(k)), 0), ZerosLike(vals[k])
		}
	}
	v.SetNodeValue(Stack(states, 0))
	return Stack(vals, kAxis)
}

// randomNormal draws N(0, 1) values of the given per-run shape from the store's RNG; in a
// population, every run draws that shape from its own state and the draws are stacked along
// kAxis (so run k sees exactly the values it would draw alone).
func (n *nets) randomNormal(g *Graph, shape shapes.Shape, kAxis int) *Node {
	if n.pop == 0 {
		return n.store.RandomNormal(g, shape)
	}
	return n.runDraw(g, kAxis, func(s *Node) (*Node, *Node) { return RandomNormal(s, shape) })
}

// randomUniform is randomNormal for U[0, 1) values.
func (n *nets) randomUniform(g *Graph, shape shapes.Shape, kAxis int) *Node {
	if n.pop == 0 {
		return n.store.RandomUniform(g, shape)
	}
	return n.runDraw(g, kAxis, func(s *Node) (*Node, *Node) { return RandomUniform(s, shape) })
}

// randomIntN is randomNormal for integers uniform in [0, m), int32 scalars (stacked [K]).
func (n *nets) randomIntN(g *Graph, m int32) *Node {
	shape := shapes.Make(dtypes.Int32)
	if n.pop == 0 {
		return n.store.RandomIntN(g, m, shape)
	}
	return n.runDraw(g, 0, func(s *Node) (*Node, *Node) { return RandomIntN(s, m, shape) })
}

// dropout is layers.DropoutStatic (zero with probability rate, scale the rest by 1/(1 − rate),
// only in training graphs). In a population h is [K·..., ...] with the run axis leading (or
// merged into the leading axis, run-major) and every run draws its own mask of the shape it
// would draw alone.
func (n *nets) dropout(s *model.Scope, h *Node, rate float64) *Node {
	if n.pop == 0 || rate <= 0 {
		return layers.DropoutStatic(s, h, rate)
	}
	g := h.Graph()
	if !s.IsTraining(g) {
		return h
	}
	dims := h.Shape().Dimensions
	per := append([]int{dims[0] / n.pop}, dims[1:]...)
	rnd := Reshape(n.randomUniform(g, shapes.Make(dt, per...), 0), dims...)
	r := Scalar(g, dt, rate)
	out := Where(LessOrEqual(rnd, BroadcastToDims(r, dims...)), ZerosLike(h), h)
	return Div(out, OneMinus(r))
}

// withGrad returns the nets in their training forms (same store and variables).
func (n *nets) withGrad() *nets {
	c := *n
	c.grad = !n.autodiff
	return &c
}

// mish is Mish in the form that matches the graph (mishGrad when differentiated).
func (n *nets) mish(x *Node) *Node {
	if n.grad {
		return mishGrad(x)
	}
	return Mish(x)
}

// rowsOf returns the leading dimensions of x [..., F] and their product.
func rowsOf(x *Node) ([]int, int) {
	lead := x.Shape().Dimensions[:x.Rank()-1]
	rows := 1
	for _, d := range lead {
		rows *= d
	}
	return lead, rows
}

// denseVars returns layers.Dense's variables under s: <s>/dense/weights [in, out] and
// <s>/dense/biases [out]; in a population [K, in, out] and the biases as [K, 1, out] (the
// ensemble forms' layout, one member per run).
func (n *nets) denseVars(s *model.Scope, g *Graph, in, out int) (w, b *Node) {
	ds := s.In("dense")
	w = ds.VariableWithShape("weights", shapes.Make(dt, n.runDims(in, out)...)).NodeValue(g)
	b = ds.VariableWithShape("biases", shapes.Make(dt, n.runDims(out)...)).NodeValue(g)
	if n.pop > 0 {
		b = Reshape(b, n.pop, 1, out)
	}
	return w, b
}

// lnVars returns norm.LayerNorm's variables under s: <s>/layer_normalization/gain and /offset
// [f] (initialized to 1 and 0); in a population [K, f], returned as [K, 1, f].
func (n *nets) lnVars(s *model.Scope, g *Graph, f int) (gain, offset *Node) {
	ls := s.In("layer_normalization")
	gain = ls.WithInitializer(initializer.One).VariableWithShape("gain", shapes.Make(dt, n.runDims(f)...)).NodeValue(g)
	offset = ls.WithInitializer(initializer.Zero).VariableWithShape("offset", shapes.Make(dt, n.runDims(f)...)).NodeValue(g)
	if n.pop > 0 {
		gain, offset = Reshape(gain, n.pop, 1, f), Reshape(offset, n.pop, 1, f)
	}
	return gain, offset
}

// onRuns applies f, a map of per-run rows [K, R, in] → [K, R, out], to x [K, ..., in].
func (n *nets) onRuns(x *Node, out int, f func(*Node) *Node) *Node {
	dims := x.Shape().Dimensions
	lead := dims[1 : len(dims)-1]
	rows := 1
	for _, d := range lead {
		rows *= d
	}
	y := f(Reshape(x, n.pop, rows, dims[len(dims)-1]))
	return Reshape(y, append(append([]int{n.pop}, lead...), out)...)
}

// onRows applies f, a map of rows [R, in] → [R, out], to x [..., in] flattened to rows.
func onRows(x *Node, out int, f func(*Node) *Node) *Node {
	lead, rows := rowsOf(x)
	y := f(Reshape(x, rows, x.Shape().Dimensions[x.Rank()-1]))
	return Reshape(y, append(append([]int{}, lead...), out)...)
}

// dense is layers.Dense's x·W + b over the last axis, on the same variables (denseVars). The
// training form is denseTrain.
func (n *nets) dense(s *model.Scope, x *Node, out int) *Node {
	if n.pop > 0 {
		// One batched product for all runs: x [K, R, in]·W [K, in, out] + b [K, 1, out].
		w, b := n.denseVars(s, x.Graph(), x.Shape().Dimensions[x.Rank()-1], out)
		return n.onRuns(x, out, func(x3 *Node) *Node {
			if n.grad {
				return denseTrain(x3, w, b)
			}
			h := matmul(x3, w)
			return Add(h, like(b, h))
		})
	}
	if !n.grad {
		return layers.Dense(s, x, true, out)
	}
	w, b := n.denseVars(s, x.Graph(), x.Shape().Dimensions[x.Rank()-1], out)
	return onRows(x, out, func(x2 *Node) *Node { return denseTrain(x2, w, b) })
}

// weightInit is TD-MPC2's initialization: weights ~ N(0, 0.02²) (its truncation at ±2 absolute
// never binds at this std), biases and other rank <= 1 variables zero.
func weightInit(store *model.Store) model.VariableInitializer {
	return func(g *Graph, shape shapes.Shape) *Node {
		if shape.Rank() <= 1 {
			return Zeros(g, shape)
		}
		return MulScalar(store.RandomNormal(g, shape), 0.02)
	}
}

func (n *nets) scope(path string) *model.Scope {
	return n.store.Scope(path).WithInitializer(weightInit(n.store))
}

// normedLinear is TD-MPC2's NormedLinear: Linear → (Dropout) → LayerNorm → act.
func (n *nets) normedLinear(s *model.Scope, x *Node, out int, dropout float64, act func(*Node) *Node) *Node {
	var drop func(*Node) *Node
	if dropout > 0 {
		drop = func(h *Node) *Node { return n.dropout(s.At("dropout"), h, dropout) }
	}
	if n.pop > 0 {
		// Per-run weights as an ensemble of K members (the ensemble forms of gradops.go).
		g := x.Graph()
		w, b := n.denseVars(s.At("linear"), g, x.Shape().Dimensions[x.Rank()-1], out)
		gain, offset := n.lnVars(s.At("ln"), g, out)
		return act(n.onRuns(x, out, func(x3 *Node) *Node {
			if n.grad {
				return normedLinearTrain(x3, w, b, gain, offset, drop)
			}
			h := matmul(x3, w)
			h = Add(h, like(b, h))
			if drop != nil {
				h = drop(h)
			}
			return n.runLayerNorm(h, gain, offset)
		}))
	}
	if n.grad {
		g := x.Graph()
		in := x.Shape().Dimensions[x.Rank()-1]
		w, b := n.denseVars(s.At("linear"), g, in, out)
		gain, offset := n.lnVars(s.At("ln"), g, out)
		return act(onRows(x, out, func(x2 *Node) *Node { return normedLinearTrain(x2, w, b, gain, offset, drop) }))
	}
	x = layers.Dense(s.At("linear"), x, true, out)
	if dropout > 0 {
		x = layers.DropoutStatic(s.At("dropout"), x, dropout)
	}
	return act(norm.LayerNorm(s.At("ln"), x, -1).Epsilon(1e-5).Done())
}

// runLayerNorm is LayerNorm over the last axis of h [K, R, F] with run k's gain and offset
// ([K, 1, F]): the backend's fused kernel once per run, the very operation a run alone uses
// (norm.LayerNorm with its gain and offset), so a run rounds in a population exactly as alone.
// A per-run gain applied after one fused normalization of all runs would round differently.
func (n *nets) runLayerNorm(h, gain, offset *Node) *Node {
	parts := make([]*Node, n.pop)
	for k := range n.pop {
		at := func(x *Node) *Node { return Squeeze(SliceAxis(x, 0, AxisElem(k)), 0) }
		parts[k] = nn.LayerNorm(at(h), []int{-1}, 1e-5, at(gain), at(offset), nil)
	}
	return Stack(parts, 0)
}

// mlp is TD-MPC2's mlp: NormedLinear hidden layers, then a plain Linear (or a NormedLinear with
// outAct when given). zeroLast starts the last layer at zero (reward and Q heads).
func (n *nets) mlp(path string, x *Node, hidden []int, out int, dropout float64, outAct func(*Node) *Node, zeroLast bool) *Node {
	s := n.scope(path)
	for i, h := range hidden {
		d := 0.0
		if i == 0 {
			d = dropout
		}
		x = n.normedLinear(s.At("h%d", i), x, h, d, n.mish)
	}
	last := s.At("out")
	if zeroLast {
		last = last.WithInitializer(initializer.Zero)
	}
	if outAct != nil {
		return n.normedLinear(last, x, out, 0, outAct)
	}
	return n.dense(last.At("linear"), x, out)
}

func (n *nets) simNorm(x *Node) *Node { return SimNorm(x, n.cfg.SimNormDim) }

// Encode is h: obs [..., O] → z [..., L] (SimNorm latent).
func (n *nets) Encode(obs *Node) *Node {
	hidden := make([]int, max(n.cfg.Size.EncLayers-1, 1))
	for i := range hidden {
		hidden[i] = n.cfg.Size.EncDim
	}
	return n.mlp(scopeEnc, obs, hidden, n.cfg.Size.Latent, 0, n.simNorm, false)
}

func (n *nets) twoHidden() []int { return []int{n.cfg.Size.MLPDim, n.cfg.Size.MLPDim} }

// Next is d: (z, a) → z' (SimNorm latent).
func (n *nets) Next(z, a *Node) *Node {
	return n.mlp(scopeDyn, Concatenate([]*Node{z, a}, -1), n.twoHidden(), n.cfg.Size.Latent, 0, n.simNorm, false)
}

// Reward is R: (z, a) → two-hot logits [..., NumBins].
func (n *nets) Reward(z, a *Node) *Node {
	return n.mlp(scopeReward, Concatenate([]*Node{z, a}, -1), n.twoHidden(), n.cfg.NumBins, 0, nil, true)
}

// policyRaw is a policy head's raw output for z: the location μ and the unsquashed log std.
// path is scopePi or scopePrior.
func (n *nets) policyRaw(path string, z *Node) (mu, raw *Node) {
	out := n.mlp(path, z, n.twoHidden(), 2*n.actDim, 0, nil, false)
	return SliceAxis(out, -1, AxisRange(0, n.actDim)), SliceAxis(out, -1, AxisRange(n.actDim, 2*n.actDim))
}

// squash maps a raw log std into each run's [lo, hi] (SquashLogStd, TD-MPC2's and BMPC's form).
func (n *nets) squash(raw *Node, lo, hi func(Config) float64) *Node {
	l, h := n.runConst(raw, lo), n.runConst(raw, hi)
	if l.Rank() == 0 && h.Rank() == 0 {
		cs := n.runCfgs()
		return SquashLogStd(raw, lo(cs[0]), hi(cs[0]))
	}
	return Add(Mul(AddScalar(Tanh(raw), 1), MulScalar(Sub(h, l), 0.5)), l)
}

// logStd is the policy log std: raw squashed into [LogStdMin, LogStdMax].
func (n *nets) logStd(raw *Node) *Node {
	return n.squash(raw, func(c Config) float64 { return c.LogStdMin }, func(c Config) float64 { return c.LogStdMax })
}

// exploreLogStd is the log std of pi_s's proposals when reanalysis re-plans: raw squashed into
// [ReanalyzeLogStdMin, ReanalyzeLogStdMax] (BMPC's exploratory bounds), or the policy's own.
func (n *nets) exploreLogStd(raw *Node) *Node {
	bounds := func(c Config) (float64, float64) {
		if c.ReanalyzeLogStdMin == 0 && c.ReanalyzeLogStdMax == 0 {
			return c.LogStdMin, c.LogStdMax
		}
		return c.ReanalyzeLogStdMin, c.ReanalyzeLogStdMax
	}
	return n.squash(raw, func(c Config) float64 { l, _ := bounds(c); return l }, func(c Config) float64 { _, h := bounds(c); return h })
}

// Policy is a diagonal Gaussian head z → (mean, logStd) (alg §2): mean = tanh(μ) is the
// action-space centre in both policy forms, log std squashed into [LogStdMin, LogStdMax]. path
// is scopePi or scopePrior.
func (n *nets) Policy(path string, z *Node) (mean, logStd *Node) {
	mu, raw := n.policyRaw(path, z)
	return Tanh(mu), n.logStd(raw)
}

// policySample is one reparameterized draw a of a policy, in the run's form (Config.PolicyForm):
// clip: u = tanh(μ) + σε, a = clip(u, −1, 1) (alg §2); tanh: u = μ + σε, a = tanh(u) (TD-MPC2).
// Either way u ~ N(loc, σ) exactly.
type policySample struct {
	a, u, eps *Node
	loc       *Node // the Gaussian's location: tanh(μ) (clip) or μ (tanh)
	mean      *Node // the action-space centre tanh(μ)
	logStd    *Node
	tanh      []bool // the runs in the tanh form
}

// SamplePolicy draws a from pi_s or pi_p at z (eps from the run's RNG).
func (n *nets) SamplePolicy(path string, z *Node) policySample {
	mu, raw := n.policyRaw(path, z)
	return n.sampleFrom(mu, n.logStd(raw), n.randomNormal(z.Graph(), n.perRun(mu), 0))
}

// sampleFrom is the draw of the Gaussian (μ, logStd) with noise eps, in each run's form.
func (n *nets) sampleFrom(mu, logStd, eps *Node) policySample {
	s := policySample{eps: eps, mean: Tanh(mu), logStd: logStd, tanh: n.runMask(Config.TanhForm)}
	s.loc = pick(s.tanh, mu, s.mean)
	s.u = Add(s.loc, Mul(Exp(logStd), eps))
	s.a = pick(s.tanh, Tanh(s.u), ClipScalar(s.u, -1, 1))
	return s
}

// entropyTerm is the entropy bonus of the policy loss for each run: the draw's entropyBonus,
// × A where entropy_x_action_dim (TD-MPC2's and BMPC's −A·log N(u; μ, σ)).
func (n *nets) entropyTerm(s policySample) *Node {
	e := s.entropyBonus()
	if !slices.Contains(n.runMask(func(c Config) bool { return c.EntropyActionDim }), true) {
		return e
	}
	return Mul(e, n.runConst(e, func(c Config) float64 {
		if c.EntropyActionDim {
			return float64(n.actDim)
		}
		return 1
	}))
}

// klTerm is KL(pi_s || prior) [..., summed over actions] as each run's policy loss takes it:
// the sum, or the mean over the A action dimensions where kl_reduce is mean (BMPC's).
func (n *nets) klTerm(kl *Node) *Node {
	if !slices.Contains(n.runMask(func(c Config) bool { return c.KLReduce == "mean" }), true) {
		return kl
	}
	return Mul(kl, n.runConst(kl, func(c Config) float64 {
		if c.KLReduce == "mean" {
			return 1 / float64(n.actDim)
		}
		return 1
	}))
}

// logJacobian is Σ_i log(1 − a_i² + 1e-6), TD-MPC2's tanh correction, for the tanh runs (0 for
// the clip runs): log pi(a) = log N(u; μ, σ) − logJacobian.
func (s policySample) logJacobian() *Node {
	j := ReduceSum(Log(AddScalar(OneMinus(Square(s.a)), 1e-6)), -1)
	return pick(s.tanh, j, ZerosLike(j))
}

// entropyBonus is the policy's entropy as both official codes estimate it, −log N(u; loc, σ)
// from the draw's own ε: Σ_i [ ½ε_i² + log σ_i + ½·log 2π ]. Its expectation is H(N(loc, σ)) and
// its gradient (ε held fixed) is exactly that of the closed form.
func (s policySample) entropyBonus() *Node {
	return ReduceSum(Add(MulScalar(Square(s.eps), 0.5), AddScalar(s.logStd, halfLog2Pi)), -1)
}

// ensembleLinear is a Linear layer with an ensemble axis: x [E, N, in] → [E, N, out] with
// weights [E, in, out] (one batched matmul for all heads). heads, when not nil, are int32
// indices [k] of the members to evaluate: their weights are gathered first, so only k heads
// are computed.
func (n *nets) ensembleLinear(s *model.Scope, x *Node, out int, heads *Node) *Node {
	w, b := n.ensembleLinearVars(s, x, out, heads)
	if n.grad {
		return denseTrain(x, w, b)
	}
	h := Einsum("eni,eio->eno", x, w)
	return Add(h, like(b, h))
}

// ensembleLinearVars returns ensembleLinear's variables (weights [E, in, out], biases
// [E, 1, out]), gathered to the given heads. In a population the variables are [K, E, ...] and
// are returned with runs and members merged run-major ([K·E, ...], or [K·k, ...] gathered to
// each run's heads [K, k]).
func (n *nets) ensembleLinearVars(s *model.Scope, x *Node, out int, heads *Node) (w, b *Node) {
	e := n.cfg.Size.QHeads
	in := x.Shape().Dimensions[2]
	g := x.Graph()
	w = s.VariableWithShape("weights", shapes.Make(dt, n.runDims(e, in, out)...)).NodeValue(g)
	b = s.VariableWithShape("biases", shapes.Make(dt, n.runDims(e, 1, out)...)).NodeValue(g)
	return n.members(w, heads), n.members(b, heads)
}

// members selects the ensemble members of v [E, ...] (or [K, E, ...] in a population, merged
// to [K·E, ...]) given by heads ([k] int32, or [K, k] per run); nil heads keep all members.
func (n *nets) members(v, heads *Node) *Node {
	if n.pop > 0 {
		d := v.Shape().Dimensions
		v = Reshape(v, append([]int{d[0] * d[1]}, d[2:]...)...)
		if heads == nil {
			return v
		}
		// Run k's member h sits at k·E + h of the merged axis.
		k := heads.Shape().Dimensions[1]
		base := MulScalar(Iota(heads.Graph(), shapes.Make(dtypes.Int32, n.pop, k), 0), float64(d[1]))
		return Gather(v, ExpandAxes(Reshape(Add(heads, base), n.pop*k), -1))
	}
	if heads == nil {
		return v
	}
	return Gather(v, ExpandAxes(heads, -1))
}

// ensembleLayerNorm normalizes the last axis of x [E, N, F] with a gain and offset per member.
func (n *nets) ensembleLayerNorm(s *model.Scope, x *Node, heads *Node) *Node {
	gain, offset := n.ensembleLNVars(s, x.Graph(), x.Shape().Dimensions[2], heads)
	// (x − mean)/sqrt(var + 1e-5) by the backend's fused LayerNorm (no gain/offset: those are per
	// member here), then the member's gain and offset; faster than the same normalisation
	// written with primitive ops (README "Training forms").
	return Add(Mul(nn.LayerNorm(x, []int{-1}, 1e-5, nil, nil, nil), like(gain, x)), like(offset, x))
}

// ensembleLNVars returns ensembleLayerNorm's gain and offset [E, 1, F], gathered to the heads
// (merged with the run axis in a population, as ensembleLinearVars).
func (n *nets) ensembleLNVars(s *model.Scope, g *Graph, f int, heads *Node) (gain, offset *Node) {
	e := n.cfg.Size.QHeads
	gain = s.WithInitializer(initializer.One).VariableWithShape("gain", shapes.Make(dt, n.runDims(e, 1, f)...)).NodeValue(g)
	offset = s.WithInitializer(initializer.Zero).VariableWithShape("offset", shapes.Make(dt, n.runDims(e, 1, f)...)).NodeValue(g)
	return n.members(gain, heads), n.members(offset, heads)
}

// QEnsemble evaluates a critic ensemble (path scopeQ, scopeQk or their targets) on (z, a)
// [..., L], [..., A]. It returns logits [k, ..., NumBins], k = QHeads or len(heads). Dropout on
// the first hidden layer is active only in training graphs. In a population z and a are
// [K, ..., ·], heads [K, k], and the logits [K, k, ..., NumBins]: runs and members are merged
// into one ensemble axis of K·k members.
func (n *nets) QEnsemble(path string, z, a *Node, heads *Node) *Node {
	x := Concatenate([]*Node{z, a}, -1)
	lead, rows := rowsOf(x)
	k := n.cfg.Size.QHeads
	if heads != nil {
		k = heads.Shape().Dimensions[heads.Rank()-1]
	}
	f := x.Shape().Dimensions[x.Rank()-1]
	if n.pop > 0 {
		lead = lead[1:]
		rows /= n.pop
		x = Reshape(BroadcastToDims(ExpandAxes(Reshape(x, n.pop, rows, f), 1), n.pop, k, rows, f), n.pop*k, rows, f)
	} else {
		x = BroadcastToDims(ExpandAxes(Reshape(x, rows, -1), 0), k, rows, f)
	}
	s := n.scope(path)
	for i := 0; i < 2; i++ {
		hs := s.At("h%d", i)
		var drop func(*Node) *Node
		if i == 0 && n.cfg.Dropout > 0 {
			drop = func(h *Node) *Node { return n.dropout(hs.At("dropout"), h, n.cfg.Dropout) }
		}
		if n.grad {
			w, b := n.ensembleLinearVars(hs.At("linear"), x, n.cfg.Size.MLPDim, heads)
			gain, offset := n.ensembleLNVars(hs.At("ln"), x.Graph(), n.cfg.Size.MLPDim, heads)
			x = n.mish(normedLinearTrain(x, w, b, gain, offset, drop))
			continue
		}
		x = n.ensembleLinear(hs.At("linear"), x, n.cfg.Size.MLPDim, heads)
		if drop != nil {
			x = drop(x)
		}
		x = n.mish(n.ensembleLayerNorm(hs.At("ln"), x, heads))
	}
	x = n.ensembleLinear(s.At("out").WithInitializer(initializer.Zero).At("linear"), x, n.cfg.NumBins, heads)
	return Reshape(x, append(append(n.runDims(k), lead...), n.cfg.NumBins)...)
}

// randomHeadPair draws two distinct critic heads uniformly (TD-MPC2 draws 2 of the ensemble for
// every target and value estimate). Returns int32 indices [2] ([K, 2] in a population: a pair
// per run).
func (n *nets) randomHeadPair(g *Graph) *Node {
	e := n.cfg.Size.QHeads
	i1 := n.randomIntN(g, int32(e))
	i2 := n.randomIntN(g, int32(e-1))
	i2 = Where(GreaterOrEqual(i2, i1), AddScalar(i2, 1), i2)
	return Stack([]*Node{i1, i2}, -1)
}

// tdValue is the bootstrapped value of a TD target: two random heads of the target critic path,
// reduced per run by TDHeads, min (TD-MPC2) or avg (BMPC's Q variant).
func (n *nets) tdValue(path string, z, a *Node) *Node {
	v := n.headValues(path, z, a, n.randomHeadPair(z.Graph()))
	axis := min(n.pop, 1)
	avg := n.runMask(func(c Config) bool { return c.TDHeads == "avg" })
	if !slices.Contains(avg, true) {
		return ReduceMin(v, axis)
	}
	return pick(avg, ReduceMean(v, axis), ReduceMin(v, axis))
}

// qValueHeads is the scalar value of the two given heads (int32 [2]) of a critic: "min" or
// "avg" (planner and policy), decoded from two-hot logits. Shape [...].
func (n *nets) qValueHeads(path string, z, a, heads *Node, reduce string) *Node {
	v := n.headValues(path, z, a, heads)
	axis := min(n.pop, 1)
	if reduce == "min" {
		return ReduceMin(v, axis)
	}
	return ReduceMean(v, axis)
}

// headValues decodes the two given heads' values, [2, ...] ([K, 2, ...]). With an ensemble of
// two the pair is always both heads, and min and mean do not depend on their order, so the
// whole ensemble is evaluated without gathering its weights (issue 9: the gathers were 3% of a
// 1M planner call).
func (n *nets) headValues(path string, z, a, heads *Node) *Node {
	if n.cfg.Size.QHeads == 2 {
		heads = nil
	}
	return TwoHotInv(n.QEnsemble(path, z, a, heads), n.cfg.NumBins, n.cfg.VMin, n.cfg.VMax)
}

// RewardValue is the decoded scalar reward R(z, a) [...].
func (n *nets) RewardValue(z, a *Node) *Node {
	return TwoHotInv(n.Reward(z, a), n.cfg.NumBins, n.cfg.VMin, n.cfg.VMax)
}

// buildAll touches every network once so that all variables exist (and are initialized in one
// deterministic order) before any training graph runs. It returns a scalar.
func (n *nets) buildAll(g *Graph) *Node {
	obs := Zeros(g, shapes.Make(dt, 1, n.obsDim))
	a := Zeros(g, shapes.Make(dt, 1, n.actDim))
	z := n.Encode(obs)
	outs := []*Node{ReduceAllSum(n.Next(z, a)), ReduceAllSum(n.Reward(z, a))}
	for _, p := range []string{scopeQ, scopeQk, scopeTargetQ, scopeTargetQk} {
		outs = append(outs, ReduceAllSum(n.QEnsemble(p, z, a, nil)))
	}
	for _, p := range []string{scopePi, scopePrior} {
		m, s := n.Policy(p, z)
		outs = append(outs, ReduceAllSum(m), ReduceAllSum(s))
	}
	n.scaleVar("q")
	n.scaleVar("kl")
	total := outs[0]
	for _, o := range outs[1:] {
		total = Add(total, o)
	}
	return total
}

// scaleVar is a running scale S (TD-MPC2's RunningScale), a non-trainable scalar starting at 1.
// In a population it is [K], a scale per run.
func (n *nets) scaleVar(name string) *model.Variable {
	return n.store.Scope(scopeScale).WithInitializer(initializer.One).
		VariableWithShape(name, shapes.Make(dt, n.runDims()...)).SetTrainable(false)
}

// selectScale is updateScale for runs of which only some keep the new value: keep(new, old)
// chooses per run, and the variable gets the choice. Returns it.
func (n *nets) selectScale(name string, x *Node, keep func(nw, old *Node) *Node) *Node {
	v := n.scaleVar(name)
	old := v.NodeValue(x.Graph())
	s := keep(n.updateScale(name, x), old)
	v.SetNodeValue(s)
	return s
}

// updateScale moves S towards the 5-95 percentile range of x: S ← lerp(S, max(P95 − P5, 1), τ),
// and returns the new S (TD-MPC2's RunningScale, used by the policy loss of alg §4).
func (n *nets) updateScale(name string, x *Node) *Node {
	v := n.scaleVar(name)
	g := x.Graph()
	old := v.NodeValue(g)
	var target *Node
	if n.pop > 0 {
		target = Max(percentileRanges(x, n.pop), OnesLike(old)) // x [K, ...]: a range per run
	} else {
		target = Max(percentileRange(x), ScalarOne(g, dt))
	}
	s := Add(MulScalar(old, 1-n.cfg.Tau), MulScalar(target, n.cfg.Tau))
	v.SetNodeValue(s)
	return s
}
