package pompc

import (
	"strings"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
)

// timeAxis is the time axis of the update's inputs: 0, or 1 after a population's run axis.
func (n *nets) timeAxis() int { return min(n.pop, 1) }

// timeSlice returns x[from:to] along the time axis.
func (n *nets) timeSlice(x *Node, from, to int) *Node {
	return SliceAxis(x, n.timeAxis(), AxisRange(from, to))
}

// timeAt returns x[t] along the time axis (the axis removed).
func (n *nets) timeAt(x *Node, t int) *Node {
	return Squeeze(SliceAxis(x, n.timeAxis(), AxisElem(t)), n.timeAxis())
}

// runMean is the mean of x over everything but the run axis: a scalar, or [K] in a population.
func (n *nets) runMean(x *Node) *Node {
	if n.pop == 0 {
		return ReduceAllMean(x)
	}
	return ReduceMean(x, iotaInts(x.Rank())[1:]...)
}

// perRunScalar shapes a scalar (or [K] per-run value) to broadcast against x [K, T, B]: [K, 1, 1].
func (n *nets) perRunScalar(v *Node) *Node {
	if n.pop == 0 {
		return v
	}
	return Reshape(v, n.pop, 1, 1)
}

// updateGraph is one full PO-MPC update (alg §4), ordered as TD-MPC2 orders its update:
//  1. TD targets for Q and Qk from sg(h(o_{t+1})), with the target critics;
//  2. latent rollout z_{t+1} = d(z_t, a_t) from z_0 = h(o_0); world-model loss
//     20·consistency + 0.1·reward + 0.1·(Q + Qk); one clipped Adam step (encoder lr × 0.3);
//  3. intermediate prior pi_p fitted to the stored planner Gaussians (forward or reverse KL);
//  4. sampling policy pi_s on the detached rollout latents, against the updated critic and prior;
//  5. Polyak averaging of the target critics.
//
// Inputs: obs [H+1,B,O], action [H,B,A], reward [H,B], cont [H,B], planMean/planStd [H+1,B,A],
// valid [H+1,B], lambda []. Outputs: the update's metrics by key (alg §8), only the terms variant
// v has (no value_kl without Qk, no prior terms without the learned prior, no policy KL without
// a prior), in a fixed order. In a population (nets.pop = K) every input has a leading run axis
// (lambda is [K]) and every output is [K]: each run's losses, gradients, clipping and Adam step
// are its own, and the summed loss that autodiff differentiates gives each run exactly its own
// gradient (no parameter is shared between runs).
func (a *Agent) updateGraph(v variant, in []*Node) []namedNode {
	return a.updateGraphOf([]variant{v}, in)
}

// updateGraphOf is updateGraph for a population whose runs may differ in their variant: vs[k]
// is run k's (one element: every run's). Every term any run needs is computed for all runs and
// each run keeps its own (a per-run selection, constant in the graph): its losses, gradients,
// clipping, Adam steps, targets and running scales are those of its variant, and terms it does
// not have are exact zeros (zero gradients, so Adam leaves those parameters as they are). The
// random draws only some variants make (the Qk target's head pair, the Qk ensemble's dropout)
// are drawn by those runs alone, so each run's random streams are the ones it draws alone.
// Outputs: every key any run reports; a run reads the keys of its own variant (updateKeys).
func (a *Agent) updateGraphOf(vs []variant, in []*Node) []namedNode {
	obs, action, reward, cont := in[0], in[1], in[2], in[3]
	planMean, planStd, valid, lambda := in[4], in[5], in[6], in[7]
	cfg, n := a.cfg, a.n
	tn := n.withGrad() // the differentiated networks (gradops.go)
	g := obs.Graph()
	timeSlice, timeAt := n.timeSlice, n.timeAt
	lambda = n.perRunScalar(lambda)
	has := func(p func(variant) bool) bool {
		for _, v := range vs {
			if p(v) {
				return true
			}
		}
		return false
	}
	every := func(p func(variant) bool) bool { return !has(func(v variant) bool { return !p(v) }) }
	// sel is yes for the runs where p holds and no for the others (x [K, ...] each).
	sel := func(p func(variant) bool, yes, no *Node) *Node {
		switch {
		case every(p):
			return yes
		case !has(p):
			return no
		}
		m := make([]bool, len(vs))
		for k, v := range vs {
			m[k] = p(v)
		}
		return Where(Const(g, m), yes, no)
	}
	// only restricts the random draws of build to the runs where p holds.
	only := func(p func(variant) bool, build func()) {
		if every(p) {
			build()
			return
		}
		m := make([]bool, len(vs))
		for k, v := range vs {
			m[k] = p(v)
		}
		n.drawOnly, tn.drawOnly = m, m
		defer func() { n.drawOnly, tn.drawOnly = nil, nil }()
		build()
	}
	qk := func(v variant) bool { return v.qk }
	learned := func(v variant) bool { return v.prior == PriorLearned }
	planner := func(v variant) bool { return v.prior == PriorPlanner }
	hasPrior := func(v variant) bool { return v.prior != PriorNone }
	forward := func(v variant) bool { return v.priorKL == KLForward }
	bmpc := func(v variant) bool { return v.lambdaInf }
	qkCritic := func(v variant) bool { return v.qk && !v.lambdaZero }

	// Masked planner entries (seed phase, final observations) become N(0, 1) so that no KL or
	// log-density on them is ever ±Inf or NaN: multiplying by valid = 0 would not cancel those.
	validA := BroadcastToDims(ExpandAxes(valid, -1), planMean.Shape().Dimensions...)
	isValid := GreaterThan(validA, ZerosLike(validA))
	planMean = Where(isValid, planMean, ZerosLike(planMean))
	planStd = Where(isValid, planStd, OnesLike(planStd))
	a.store.SetTraining(g, true)
	h := cfg.Horizon
	zero := ScalarZero(g, dt)

	// 1. TD targets (no gradient).
	nextZ := StopGradient(n.Encode(timeSlice(obs, 1, h+1))) // [H, B, L]
	aNext, rawNext, mNext, lsNext := n.SamplePolicy(scopePi, nextZ)
	y := TDTarget(reward, cont, n.QValue(scopeTargetQ, nextZ, aNext, "min"), a.gamma)
	var yk *Node
	if has(qk) {
		// Soft value of the KL-regularized critic: min2 Qk_target(z', a') − λ·(log pi_s − log prior).
		logPi := GaussianLogProb(rawNext, mNext, lsNext)
		var logPlanner, logLearned *Node
		if has(func(v variant) bool { return v.qk && v.prior == PriorPlanner }) {
			logPlanner = GaussianLogProb(rawNext, timeSlice(planMean, 1, h+1), Log(timeSlice(planStd, 1, h+1)))
		}
		if has(func(v variant) bool { return v.qk && v.prior != PriorPlanner }) {
			pm, pls := n.Policy(scopePrior, nextZ)
			logLearned = GaussianLogProb(rawNext, pm, pls)
		}
		logPrior := logLearned
		if logPlanner != nil {
			logPrior = logPlanner
			if logLearned != nil {
				logPrior = sel(planner, logPlanner, logLearned)
			}
		}
		var vk *Node
		only(qk, func() { vk = n.QValue(scopeTargetQk, nextZ, aNext, "min") })
		yk = SoftTDTarget(reward, cont, vk, logPi, logPrior, lambda, timeSlice(valid, 1, h+1), a.gamma)
	}

	// 2. World model.
	z := tn.Encode(timeAt(obs, 0))
	zs := []*Node{z}
	for t := 0; t < h; t++ {
		z = tn.Next(z, timeAt(action, t))
		zs = append(zs, z)
	}
	rollout := Stack(zs, n.timeAxis()) // [H+1, B, L]
	zIn := Stack(zs[:h], n.timeAxis()) // [H, B, L]
	lCons := ConsistencyLoss(timeSlice(rollout, 1, h+1), nextZ, cfg.Rho)
	lRew := RewardLoss(tn.Reward(zIn, action), reward, cfg)
	lQ := ValueLoss(tn.QEnsemble(scopeQ, zIn, action, nil), y, cfg)
	lQk := zero
	values := lQ
	if has(qk) {
		only(qk, func() { lQk = ValueLoss(tn.QEnsemble(scopeQk, zIn, action, nil), yk, cfg) })
		values = sel(qk, Add(lQ, lQk), lQ)
	}
	lWM := Add(Add(MulScalar(lCons, cfg.ConsistencyCoef), MulScalar(lRew, cfg.RewardCoef)), MulScalar(values, cfg.ValueCoef))
	encVars := trainable(a.store, scopeEnc, g)
	coreVars := trainable(a.store, scopeCore, g)
	wmGrads, wmNorm := clippedGrads(lWM, append(append([]*model.Variable{}, encVars...), coreVars...), cfg.GradClipNorm, n.pop)
	a.applyAdam(a.adamEnc, scopeEnc, wmGrads[:len(encVars)])
	a.applyAdam(a.adamCore, scopeCore, wmGrads[len(encVars):])

	zsD := StopGradient(rollout) // policy and prior train on detached latents

	// 3. Intermediate prior.
	lPrior, klPrior, priorNorm := zero, zero, zero // (only output with the learned prior)
	if has(learned) {
		pm, pls := tn.Policy(scopePrior, zsD)
		var kl *Node
		if every(forward) || !has(forward) {
			lPrior, kl = PriorLoss(pm, pls, planMean, planStd, valid, vs[0].priorKL, cfg.Rho)
		} else {
			lf, kf := PriorLoss(pm, pls, planMean, planStd, valid, KLForward, cfg.Rho)
			lr, kr := PriorLoss(pm, pls, planMean, planStd, valid, KLReverse, cfg.Rho)
			lPrior, kl = sel(forward, lf, lr), sel(forward, kf, kr)
		}
		lPrior = sel(learned, lPrior, ZerosLike(lPrior)) // the other runs fit no prior
		klPrior = maskedMean(kl, valid, -2, -1)
		var grads []*Node
		grads, priorNorm = clippedGrads(lPrior, trainable(a.store, scopePrior, g), cfg.GradClipNorm, n.pop)
		a.applyAdam(a.adamPrior, scopePrior, grads)
	}

	// 4. Sampling policy.
	act, _, piMean, piLogStd := tn.SamplePolicy(scopePi, zsD)
	// The critic of the policy loss: Qk where the run trains it (λ > 0), else Q, both with
	// the one pair of heads each run draws.
	heads := n.randomHeadPair(g)
	var q *Node
	switch {
	case every(qkCritic):
		q = tn.qValueHeads(scopeQk, zsD, act, heads, "avg")
	case !has(qkCritic):
		q = tn.qValueHeads(scopeQ, zsD, act, heads, "avg")
	default:
		q = sel(qkCritic, tn.qValueHeads(scopeQk, zsD, act, heads, "avg"), tn.qValueHeads(scopeQ, zsD, act, heads, "avg"))
	}
	entropy := GaussianEntropy(piLogStd)
	kl := ZerosLike(q)
	if has(hasPrior) {
		var prMean, prStd *Node
		if has(planner) {
			prMean, prStd = planMean, planStd
		}
		if has(func(v variant) bool { return v.prior == PriorLearned }) {
			pm, pls := n.Policy(scopePrior, zsD) // after its update
			lm, ls := StopGradient(pm), StopGradient(Exp(pls))
			if prMean == nil {
				prMean, prStd = lm, ls
			} else {
				prMean, prStd = sel(planner, prMean, lm), sel(planner, prStd, ls)
			}
		}
		kl = sel(hasPrior, GaussianKL(piMean, Exp(piLogStd), prMean, prStd), kl)
	}
	var scale *Node
	switch {
	case every(bmpc):
		scale = n.updateScale("kl", Mul(timeAt(kl, 0), timeAt(valid, 0)))
	case !has(bmpc):
		scale = n.updateScale("q", timeAt(q, 0))
	default:
		// Each run moves only its own scale (the other stays bit-identical).
		sKL := n.selectScale("kl", Mul(timeAt(kl, 0), timeAt(valid, 0)), func(s, old *Node) *Node { return sel(bmpc, s, old) })
		sQ := n.selectScale("q", timeAt(q, 0), func(s, old *Node) *Node { return sel(bmpc, old, s) })
		scale = sel(bmpc, sKL, sQ)
	}
	terms := PolicyLossTerms{Q: q, KL: kl, Entropy: entropy, Valid: valid}
	sc := n.perRunScalar(StopGradient(scale))
	var lPi *Node
	switch {
	case every(bmpc) || !has(bmpc):
		lPi = PolicyLoss(terms, lambda, vs[0].lambdaInf, sc, cfg.EntropyCoef, cfg.Rho)
	default:
		lPi = sel(bmpc, PolicyLoss(terms, lambda, true, sc, cfg.EntropyCoef, cfg.Rho),
			PolicyLoss(terms, lambda, false, sc, cfg.EntropyCoef, cfg.Rho))
	}
	piGrads, piNorm := clippedGrads(lPi, trainable(a.store, scopePi, g), cfg.GradClipNorm, n.pop)
	a.applyAdam(a.adamPi, scopePi, piGrads)

	// 5. Targets: θ⁻ ← (1 − τ)·θ⁻ + τ·θ (Qk's only where the run trains Qk).
	a.polyak(g, scopeQ, scopeTargetQ, nil)
	if has(qk) {
		a.polyak(g, scopeQk, scopeTargetQk, func(nw, old *Node) *Node { return sel(qk, nw, old) })
	}

	nodes := map[string]*Node{KeyLossConsistency: lCons, KeyLossReward: lRew, KeyLossValue: lQ, KeyLossValueKL: lQk,
		KeyLossWorldModel: lWM, KeyLossPi: lPi, KeyLossPrior: lPrior, KeyKLPriorPlanner: klPrior,
		KeyKLPolicyPrior: maskedMean(kl, valid, -2, -1), KeyPolicyEntropy: n.runMean(entropy),
		KeyPolicyStd: n.runMean(Exp(piLogStd)), KeyScalePi: scale, KeyGradWorldModel: wmNorm, KeyGradPi: piNorm,
		KeyGradPrior: priorNorm, KeyQPiMean: n.runMean(timeAt(q, 0)), KeyQTDTarget: n.runMean(y)}
	var out []namedNode
	seen := map[string]bool{}
	for _, v := range vs {
		for _, k := range updateKeys(v) {
			if !seen[k] {
				seen[k] = true
				out = append(out, namedNode{k, nodes[k]})
			}
		}
	}
	return out
}

// updateKeys are the metric keys of an update of variant v, in the order records are written:
// only the terms v has (no value_kl without Qk, no prior terms without the learned prior, no
// policy KL without a prior).
func updateKeys(v variant) []string {
	out := []string{KeyLossConsistency, KeyLossReward, KeyLossValue}
	if v.qk {
		out = append(out, KeyLossValueKL)
	}
	out = append(out, KeyLossWorldModel, KeyLossPi)
	if v.prior == PriorLearned {
		out = append(out, KeyLossPrior, KeyKLPriorPlanner)
	}
	if v.prior != PriorNone {
		out = append(out, KeyKLPolicyPrior)
	}
	out = append(out, KeyPolicyEntropy, KeyPolicyStd, KeyScalePi, KeyGradWorldModel, KeyGradPi)
	if v.prior == PriorLearned {
		out = append(out, KeyGradPrior)
	}
	return append(out, KeyQPiMean, KeyQTDTarget)
}

// namedNode is one output of a graph with the metric key it is recorded under.
type namedNode struct {
	key  string
	node *Node
}

// polyak sets every variable under target to (1 − τ)·target + τ·online (alg §4); keep, when not
// nil, chooses per run between the new value and the old one.
func (a *Agent) polyak(g *Graph, online, target string, keep func(nw, old *Node) *Node) {
	tau := a.cfg.Tau
	for tv := range a.store.Scope(target).IterVariables() {
		src := a.store.GetVariable(online + strings.TrimPrefix(tv.Path(), target))
		old := tv.NodeValue(g)
		nw := Add(MulScalar(old, 1-tau), MulScalar(src.NodeValue(g), tau))
		if keep != nil {
			nw = keep(nw, old)
		}
		tv.SetNodeValue(nw)
	}
}
