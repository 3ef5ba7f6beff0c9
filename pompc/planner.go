package pompc

import (
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// planOutputs are the planner graph's outputs, in order.
const (
	planOutAction      = iota // [N, A] chosen action plus exploration noise, clipped
	planOutActionClean        // [N, A] chosen action without noise (evaluation)
	planOutMean0              // [N, A] first-step mean of the final iteration: the stored q_t mean
	planOutStd0               // [N, A] first-step std of the final iteration: the stored q_t std
	planOutMean               // [N, H, A] final mean, warm-starts the next call
	planOutPiMean             // [N, A] pi_s mean at the observation (snapshots)
	planOutPiStd              // [N, A] pi_s std
	planOutPriorMean          // [N, A] pi_p mean (snapshots)
	planOutPriorStd           // [N, A] pi_p std
	planOutValue              // [N] value of the best elite
	numPlanOutputs
)

// estimateValue is the MPPI trajectory value of alg §3 for z [N, S, L] and actions [H, N, S, A]:
// G = Σ_t γ^t R(z_t, a_t) + γ^H · avg of 2 random heads of Q(z_H, a ~ pi_s(z_H)). Returns [N, S].
// In a population N is [K, N] (every axis is addressed from the end).
//
// The samples are cut into planSplit chunks that are rolled out independently: the pure-Go
// backend runs each elementwise op (Mish, LayerNorm, bias adds) on one core and parallelises
// only independent graph nodes and the matmul kernels, so independent chunks keep both cores
// busy (issue 9). The random draws (the terminal policy noise for all samples, then one pair of
// Q heads for all of them, as in TD-MPC2) are made once, in the same order as without the
// split, so the split changes no random stream.
func (n *nets) estimateValue(z, actions *Node, gamma float64) *Node {
	g := z.Graph()
	dims := z.Shape().Dimensions
	epsDims := append(append([]int{}, dims[:len(dims)-1]...), n.actDim)
	eps := n.randomNormal(g, shapes.Make(dt, epsDims[min(n.pop, 1):]...), 0)
	heads := n.randomHeadPair(g)
	k, s := planSplit, dims[len(dims)-2]
	if k <= 1 || s%k != 0 || s < planSplitMin {
		return n.estimateValueChunk(z, actions, eps, heads, gamma)
	}
	c := s / k
	parts := make([]*Node, k)
	for i := range parts {
		r := AxisRange(i*c, (i+1)*c)
		parts[i] = n.estimateValueChunk(SliceAxis(z, -2, r), SliceAxis(actions, -2, r), SliceAxis(eps, -2, r), heads, gamma)
	}
	return Concatenate(parts, -1)
}

// planSplit is the number of independent sample chunks of a planner call; calls with fewer
// than planSplitMin samples are not cut. Two chunks let the pure-Go backend run the rollouts of
// both halves on both cores; one chunk is measurably slower (README "Training forms").
var (
	planSplit    = 2
	planSplitMin = 64
)

// estimateValueChunk is estimateValue for one chunk of samples, with the terminal policy noise
// eps [N, S, A] and the Q heads given.
func (n *nets) estimateValueChunk(z, actions, eps, heads *Node, gamma float64) *Node {
	h := actions.Shape().Dimensions[0]
	var g *Node
	discount := 1.0
	for t := 0; t < h; t++ {
		a := Squeeze(SliceAxis(actions, 0, AxisElem(t)), 0)
		r := MulScalar(n.RewardValue(z, a), discount)
		if g == nil {
			g = r
		} else {
			g = Add(g, r)
		}
		z = n.Next(z, a)
		discount *= gamma
	}
	mu, raw := n.policyRaw(scopePi, z)
	aH := n.sampleFrom(mu, n.logStd(raw), eps).a
	return Add(g, MulScalar(n.qValueHeads(scopeQ, z, aH, heads, "avg"), discount))
}

// eliteMask marks the K highest values of v [N, S] without sorting: the rank of sample i is the
// number of samples with a larger value, ties broken by index (gomlx.md: TopK is slow on the Go
// backend, and this gives the same elites). Returns a float mask [N, S]. Any leading axes
// ([K, N, S] in a population) are kept.
func eliteMask(v *Node, k int) *Node {
	g := v.Graph()
	s := v.Shape().Dimensions[v.Rank()-1]
	grid := append(append([]int{}, v.Shape().Dimensions...), s)
	vi := BroadcastToDims(ExpandAxes(v, -1), grid...) // [N, S, S]: v_i
	vj := BroadcastToDims(ExpandAxes(v, -2), grid...) // [N, S, S]: v_j
	idx := Iota(g, shapes.Make(dtypes.Int32, s), 0)
	jBeforeI := LessThan(ExpandAxes(idx, 0), ExpandAxes(idx, 1)) // [S(i), S(j)]
	for jBeforeI.Rank() < vi.Rank() {
		jBeforeI = ExpandAxes(jBeforeI, 0) // [1, S(i), S(j)]
	}
	jBeforeI = BroadcastToDims(jBeforeI, grid...)
	better := Or(GreaterThan(vj, vi), And(Equal(vj, vi), jBeforeI))
	rank := ReduceSum(ConvertDType(better, dtypes.Int32), -1) // [N, S]
	return ConvertDType(LessThan(rank, Const(g, int32(k))), v.DType())
}

// planGraph is one full MPPI call (alg §3) for N observations, all iterations in one graph.
// obs [N, O]; prevMean [N, H, A]; fresh [N] is 0 for a warm start from prevMean, 1 where the
// episode just started (no warm start), 2 for a reanalysis (no warm start, and pi_s's
// proposals drawn with the exploratory log-std bounds, exploreLogStd).
// In a population every input and output has a leading run axis K ([K, N, O], ...): each run
// plans with its own networks and random streams, all in the same operations.
func (n *nets) planGraph(obs, prevMean, fresh *Node, gamma float64) []*Node {
	cfg := n.cfg
	g := obs.Graph()
	lead := obs.Shape().Dimensions[:obs.Rank()-1] // [N], or [K, N]
	nb := len(lead)
	h, a := cfg.Horizon, n.actDim
	s, p := cfg.NumSamples, cfg.NumPiTrajs
	iters := cfg.PlanIterations(a)
	with := func(tail ...int) []int { return append(append([]int{}, lead...), tail...) }
	nRun := lead[nb-1] // observations per run

	z0 := n.Encode(obs) // [N, L], encoded once
	latent := z0.Shape().Dimensions[nb]

	// Policy proposals: roll pi_s out for P trajectories, once per call.
	var piActions *Node // [H, N, P, A]
	if p > 0 {
		zp := BroadcastToDims(ExpandAxes(z0, -2), with(p, latent)...)
		steps := make([]*Node, h)
		explore := n.runMask(func(c Config) bool { return c.ReanalyzeLogStdMin != 0 || c.ReanalyzeLogStdMax != 0 })
		for t := 0; t < h; t++ {
			mu, raw := n.policyRaw(scopePi, zp)
			ls := n.logStd(raw)
			if slices.Contains(explore, true) {
				rows := BroadcastToDims(ExpandAxes(ExpandAxes(GreaterThan(fresh, OnesLike(fresh)), -1), -1), ls.Shape().Dimensions...)
				ls = Where(rows, n.exploreLogStd(raw), ls)
			}
			steps[t] = n.sampleFrom(mu, ls, n.randomNormal(g, n.perRun(mu), 0)).a
			if t < h-1 {
				zp = n.Next(zp, steps[t])
			}
		}
		piActions = Stack(steps, 0)
	}

	// Warm start: previous mean shifted by one step, unless the episode is fresh.
	shifted := Concatenate([]*Node{
		SliceAxis(prevMean, -2, AxisRange(1, h)),
		Zeros(g, shapes.Make(dt, with(1, a)...)),
	}, -2)
	keep := ConvertDType(Equal(ExpandAxes(fresh, -2, -1), ZerosLike(ExpandAxes(fresh, -2, -1))), dt)
	// [N, H, A] → [H, N, A]: the horizon axis first.
	toFront := append([]int{nb}, append(iotaInts(nb), nb+1)...)
	mean := TransposeAllAxes(Mul(shifted, keep), toFront...)
	std := Add(ZerosLike(mean), Scalar(g, dt, cfg.MaxStd))

	z := BroadcastToDims(ExpandAxes(z0, -2), with(s, latent)...)
	var actions, score, mask, value *Node
	for it := 0; it < iters; it++ {
		eps := n.randomNormal(g, shapes.Make(dt, h, nRun, s-p, a), 1)
		sampled := ClipScalar(Add(like(ExpandAxes(mean, -2), eps), Mul(like(ExpandAxes(std, -2), eps), eps)), -1, 1)
		if piActions != nil {
			actions = Concatenate([]*Node{piActions, sampled}, -2) // [H, N, S, A]
		} else {
			actions = sampled
		}
		value = n.estimateValue(z, actions, gamma)
		value = Where(IsNaN(value), ZerosLike(value), value) // nan_to_num, as TD-MPC2
		mask = eliteMask(value, cfg.NumElites)
		// MPPI weights over elites: w_i ∝ exp(T·(v_i − max v)).
		maxV := ReduceAndKeep(value, ReduceMax, -1)
		score = Mul(mask, Exp(MulScalar(Sub(value, like(maxV, value)), cfg.Temperature)))
		score = Div(score, like(AddScalar(ReduceAndKeep(score, ReduceSum, -1), 1e-9), score)) // [N, S]
		w := like(ExpandAxes(ExpandAxes(score, 0), -1), actions)                              // [H, N, S, A]
		mean = ReduceSum(Mul(w, actions), -2)                                                 // [H, N, A]
		dev := Sub(actions, like(ExpandAxes(mean, -2), actions))
		std = ClipScalar(Sqrt(ReduceSum(Mul(w, Square(dev)), -2)), cfg.MinStd, cfg.MaxStd)
	}

	// Pick one elite with probability score (Gumbel-max), act with its first action.
	u := ClipScalar(n.randomUniform(g, shapes.Make(dt, nRun, s), 0), 1e-6, 1-1e-6)
	gumbel := Neg(Log(Neg(Log(u))))
	logits := Where(GreaterThan(mask, ZerosLike(mask)), Add(Log(AddScalar(score, 1e-12)), gumbel),
		AddScalar(ZerosLike(score), -math.MaxFloat32))
	choice := OneHot(ArgMax(logits, -1, dtypes.Int32), s, dt) // [N, S]
	first := Squeeze(SliceAxis(actions, 0, AxisElem(0)), 0)   // [N, S, A]
	act := ReduceSum(Mul(ExpandAxes(choice, -1), first), -2)  // [N, A]
	mean0 := Squeeze(SliceAxis(mean, 0, AxisElem(0)), 0)
	std0 := Squeeze(SliceAxis(std, 0, AxisElem(0)), 0)
	noise := n.randomNormal(g, shapes.Make(dt, nRun, a), 0)
	noisy := ClipScalar(Add(act, Mul(std0, noise)), -1, 1)

	piMean, piLogStd := n.Policy(scopePi, z0)
	prMean, prLogStd := n.Policy(scopePrior, z0)
	best := ReduceMax(Where(GreaterThan(mask, ZerosLike(mask)), value, AddScalar(ZerosLike(value), -math.MaxFloat32)), -1)

	// [H, N, A] → [N, H, A]
	toBack := append(append(iotaInts(nb), 0), nb+1)
	for i := range nb {
		toBack[i] = i + 1
	}
	out := make([]*Node, numPlanOutputs)
	out[planOutAction] = noisy
	out[planOutActionClean] = ClipScalar(act, -1, 1)
	// The stored mean: the MPPI mean, or the picked elite's first action (BMPC's, plan_mean elite).
	out[planOutMean0] = n.runWhere(func(c Config) bool { return c.PlanMean == "elite" }, act, mean0)
	out[planOutStd0] = std0
	out[planOutMean] = TransposeAllAxes(mean, toBack...)
	out[planOutPiMean] = piMean
	// The action-space std of pi_s: σ, or for the tanh form σ·(1 − tanh²μ), the std of tanh(μ + σε)
	// to first order (snapshots compare it with the planner's std).
	out[planOutPiStd] = n.runWhere(Config.TanhForm, Mul(Exp(piLogStd), OneMinus(Square(piMean))), Exp(piLogStd))
	out[planOutPriorMean] = prMean
	out[planOutPriorStd] = n.runWhere(Config.TanhForm, Mul(Exp(prLogStd), OneMinus(Square(prMean))), Exp(prLogStd))
	out[planOutValue] = best
	return out
}

// iotaInts is [0, 1, ..., n−1].
func iotaInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
