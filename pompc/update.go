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
	obs, action, reward, cont := in[0], in[1], in[2], in[3]
	planMean, planStd, valid, lambda := in[4], in[5], in[6], in[7]
	cfg, n := a.cfg, a.n
	tn := n.withGrad() // the differentiated networks (gradops.go)
	g := obs.Graph()
	timeSlice, timeAt := n.timeSlice, n.timeAt
	lambda = n.perRunScalar(lambda)
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
	if v.qk {
		// Soft value of the KL-regularized critic: min2 Qk_target(z', a') − λ·(log pi_s − log prior).
		logPi := GaussianLogProb(rawNext, mNext, lsNext)
		var logPrior *Node
		if v.prior == PriorPlanner {
			logPrior = GaussianLogProb(rawNext, timeSlice(planMean, 1, h+1), Log(timeSlice(planStd, 1, h+1)))
		} else {
			pm, pls := n.Policy(scopePrior, nextZ)
			logPrior = GaussianLogProb(rawNext, pm, pls)
		}
		penalty := Mul(lambda, Mul(timeSlice(valid, 1, h+1), Sub(logPi, logPrior)))
		yk = TDTarget(reward, cont, Sub(n.QValue(scopeTargetQk, nextZ, aNext, "min"), penalty), a.gamma)
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
	if v.qk {
		lQk = ValueLoss(tn.QEnsemble(scopeQk, zIn, action, nil), yk, cfg)
		values = Add(lQ, lQk)
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
	if v.prior == PriorLearned {
		pm, pls := tn.Policy(scopePrior, zsD)
		var kl *Node
		lPrior, kl = PriorLoss(pm, pls, planMean, planStd, valid, v.priorKL, cfg.Rho)
		klPrior = maskedMean(kl, valid, -2, -1)
		var grads []*Node
		grads, priorNorm = clippedGrads(lPrior, trainable(a.store, scopePrior, g), cfg.GradClipNorm, n.pop)
		a.applyAdam(a.adamPrior, scopePrior, grads)
	}

	// 4. Sampling policy.
	act, _, piMean, piLogStd := tn.SamplePolicy(scopePi, zsD)
	critic := scopeQ
	if v.qk && !v.lambdaZero {
		critic = scopeQk
	}
	q := tn.QValue(critic, zsD, act, "avg") // [H+1, B], critic weights already updated
	entropy := GaussianEntropy(piLogStd)
	kl := ZerosLike(q)
	if v.prior != PriorNone {
		var prMean, prStd *Node
		if v.prior == PriorPlanner {
			prMean, prStd = planMean, planStd
		} else {
			pm, pls := n.Policy(scopePrior, zsD) // after its update
			prMean, prStd = StopGradient(pm), StopGradient(Exp(pls))
		}
		kl = GaussianKL(piMean, Exp(piLogStd), prMean, prStd)
	}
	var scale *Node
	if v.lambdaInf {
		scale = n.updateScale("kl", Mul(timeAt(kl, 0), timeAt(valid, 0)))
	} else {
		scale = n.updateScale("q", timeAt(q, 0))
	}
	terms := PolicyLossTerms{Q: q, KL: kl, Entropy: entropy, Valid: valid}
	lPi := PolicyLoss(terms, lambda, v.lambdaInf, n.perRunScalar(StopGradient(scale)), cfg.EntropyCoef, cfg.Rho)
	piGrads, piNorm := clippedGrads(lPi, trainable(a.store, scopePi, g), cfg.GradClipNorm, n.pop)
	a.applyAdam(a.adamPi, scopePi, piGrads)

	// 5. Targets: θ⁻ ← (1 − τ)·θ⁻ + τ·θ.
	a.polyak(g, scopeQ, scopeTargetQ)
	if v.qk {
		a.polyak(g, scopeQk, scopeTargetQk)
	}

	out := []namedNode{{KeyLossConsistency, lCons}, {KeyLossReward, lRew}, {KeyLossValue, lQ}}
	if v.qk {
		out = append(out, namedNode{KeyLossValueKL, lQk})
	}
	out = append(out, namedNode{KeyLossWorldModel, lWM}, namedNode{KeyLossPi, lPi})
	if v.prior == PriorLearned {
		out = append(out, namedNode{KeyLossPrior, lPrior}, namedNode{KeyKLPriorPlanner, klPrior})
	}
	if v.prior != PriorNone {
		out = append(out, namedNode{KeyKLPolicyPrior, maskedMean(kl, valid, -2, -1)})
	}
	out = append(out, namedNode{KeyPolicyEntropy, n.runMean(entropy)},
		namedNode{KeyPolicyStd, n.runMean(Exp(piLogStd))}, namedNode{KeyScalePi, scale},
		namedNode{KeyGradWorldModel, wmNorm}, namedNode{KeyGradPi, piNorm})
	if v.prior == PriorLearned {
		out = append(out, namedNode{KeyGradPrior, priorNorm})
	}
	return append(out, namedNode{KeyQPiMean, n.runMean(timeAt(q, 0))},
		namedNode{KeyQTDTarget, n.runMean(y)})
}

// namedNode is one output of a graph with the metric key it is recorded under.
type namedNode struct {
	key  string
	node *Node
}

// polyak sets every variable under target to (1 − τ)·target + τ·online (alg §4).
func (a *Agent) polyak(g *Graph, online, target string) {
	tau := a.cfg.Tau
	for tv := range a.store.Scope(target).IterVariables() {
		src := a.store.GetVariable(online + strings.TrimPrefix(tv.Path(), target))
		tv.SetNodeValue(Add(MulScalar(tv.NodeValue(g), 1-tau), MulScalar(src.NodeValue(g), tau)))
	}
}
