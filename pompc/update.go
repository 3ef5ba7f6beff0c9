package pompc

import (
	"math"
	"slices"
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
	u := &updateCtx{vs: vs, n: n, tn: tn}
	has, every, sel, only := u.has, u.every, u.sel, u.only
	qk := func(v variant) bool { return v.qk }
	planner := func(v variant) bool { return v.prior == PriorPlanner }
	noPolicy := func(v variant) bool { return v.noPolicy }
	tanhForm := n.runMask(Config.TanhForm)
	anyTanh := slices.Contains(tanhForm, true)

	// Masked planner entries (seed phase, final observations) become N(0, 1) so that no KL or
	// log-density on them is ever ±Inf or NaN: multiplying by valid = 0 would not cancel those.
	validA := BroadcastToDims(ExpandAxes(valid, -1), planMean.Shape().Dimensions...)
	isValid := GreaterThan(validA, ZerosLike(validA))
	planMean = Where(isValid, planMean, ZerosLike(planMean))
	planStd = Where(isValid, planStd, OnesLike(planStd))
	h := cfg.Horizon
	zero := ScalarZero(g, dt)
	// notLast is 1 at t < H: the rollout states where no final observation can sit.
	notLast := func() *Node {
		m := make([]float32, h+1)
		for t := range h {
			m[t] = 1
		}
		dims := make([]int, valid.Rank())
		for i := range dims {
			dims[i] = 1
		}
		dims[n.timeAxis()] = h + 1
		return BroadcastToDims(Reshape(Const(g, m), dims...), valid.Shape().Dimensions...)
	}
	// The planner prior q_t exists where stored; with seed_prior normal also at the seed-phase
	// states before z_H (BMPC imitates N(0, 1) there, the entries just set).
	validQ := n.runWhere(func(c Config) bool { return c.SeedPrior == "normal" }, Max(valid, notLast()), valid)
	// prior is where each run's prior exists: everywhere for pi_p (a network), where q_t does for
	// the planner prior (alg §4: only a missing prior masks a KL term).
	prior := sel(planner, validQ, OnesLike(valid))
	// states marks the rollout states the policy and prior losses cover (policy_states).
	hStates := n.runMask(func(c Config) bool { return c.PolicyStates == "h" })
	states := pick(hStates, notLast(), OnesLike(valid))
	var stepW *Node // per-step weights ρ^t/T_k over each run's T_k states (nil: ρ^t/(H+1))
	if slices.Contains(hStates, true) {
		all, first := make([]float32, h+1), make([]float32, h+1)
		for t := range all {
			r := math.Pow(cfg.Rho, float64(t))
			all[t] = float32(r / float64(h+1))
			if t < h {
				first[t] = float32(r / float64(h))
			}
		}
		wAll, wH := Const(g, all), Const(g, first)
		if n.pop > 0 {
			wAll, wH = BroadcastToDims(ExpandAxes(wAll, 0), n.pop, h+1), BroadcastToDims(ExpandAxes(wH, 0), n.pop, h+1)
		}
		stepW = pick(hStates, wH, wAll)
	}

	// 1. TD targets (no gradient), with the critics' dropout off (TD-MPC2 evaluates its
	// targets in eval mode).
	a.store.SetTraining(g, false)
	nextZ := StopGradient(n.Encode(timeSlice(obs, 1, h+1))) // [H, B, L]
	next := n.SamplePolicy(scopePi, nextZ)
	y := TDTarget(reward, cont, n.tdValue(scopeTargetQ, nextZ, next.a), a.gamma)
	var yk *Node
	if has(qk) {
		// Soft value of the KL-regularized critic: min2 Qk_target(z', a') − λ·(log pi_s − log prior)
		// at a' ~ pi_s. In the tanh form both log-densities carry the same tanh Jacobian, which
		// cancels against pi_p's (the same u) and stays against q_t's (a Gaussian in action space).
		logPi := GaussianLogProb(next.u, next.loc, next.logStd)
		var logPlanner, logLearned *Node
		if has(func(v variant) bool { return v.qk && v.prior == PriorPlanner }) {
			x := pick(tanhForm, next.a, next.u)
			logPlanner = GaussianLogProb(x, timeSlice(planMean, 1, h+1), Log(timeSlice(planStd, 1, h+1)))
			if anyTanh {
				logPlanner = Add(logPlanner, next.logJacobian())
			}
		}
		if has(func(v variant) bool { return v.qk && v.prior != PriorPlanner }) {
			pmu, praw := n.policyRaw(scopePrior, nextZ)
			logLearned = GaussianLogProb(next.u, pick(tanhForm, pmu, Tanh(pmu)), n.logStd(praw))
		}
		logPrior := either(logPlanner, logLearned, func(p, l *Node) *Node { return sel(planner, p, l) })
		var vk *Node
		only(qk, func() { vk = n.tdValue(scopeTargetQk, nextZ, next.a) })
		yk = SoftTDTarget(reward, cont, vk, logPi, logPrior, lambda, timeSlice(prior, 1, h+1), a.gamma)
	}
	a.store.SetTraining(g, true)

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
	a.applyAdam(a.adamEnc, scopeEnc, wmGrads[:len(encVars)], nil, nil)
	a.applyAdam(a.adamCore, scopeCore, wmGrads[len(encVars):], nil, func(v *model.Variable) []bool {
		if underScope(v, scopeQk) {
			return u.mask(qk) // Qk stays as it is for the runs that do not train it
		}
		return nil
	})

	zsD := StopGradient(rollout) // policy and prior train on detached latents

	nodes := map[string]*Node{KeyLossConsistency: lCons, KeyLossReward: lRew, KeyLossValue: lQ, KeyLossValueKL: lQk,
		KeyLossWorldModel: lWM, KeyGradWorldModel: wmNorm, KeyQTDTarget: n.runMean(y)}
	if !every(noPolicy) {
		// A run in a world-model-only burst draws nothing here, as alone.
		only(func(v variant) bool { return !v.noPolicy }, func() {
			a.policyUpdate(u, nodes, zsD, planMean, planStd, prior, validQ, states, stepW, lambda)
		})
	}

	// 5. Targets: θ⁻ ← (1 − τ)·θ⁻ + τ·θ (Qk's only where the run trains Qk).
	a.polyak(g, scopeQ, scopeTargetQ, nil)
	if has(qk) {
		a.polyak(g, scopeQk, scopeTargetQk, func(nw, old *Node) *Node { return sel(qk, nw, old) })
	}

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

// updateCtx is the per-run selection machinery of one update graph: vs[k] is run k's variant
// (one element: every run's).
type updateCtx struct {
	vs    []variant
	n, tn *nets
}

// variant is run k's variant.
func (u *updateCtx) variant(k int) variant { return u.vs[min(k, len(u.vs)-1)] }

// mask is p of every run's variant, one entry per run.
func (u *updateCtx) mask(p func(variant) bool) []bool {
	m := make([]bool, max(len(u.vs), len(u.n.runCfgs())))
	for k := range m {
		m[k] = p(u.variant(k))
	}
	return m
}

// has reports whether p holds for some run, every for all of them.
func (u *updateCtx) has(p func(variant) bool) bool { return slices.Contains(u.mask(p), true) }

// every reports whether p holds for every run.
func (u *updateCtx) every(p func(variant) bool) bool { return !slices.Contains(u.mask(p), false) }

// sel is yes for the runs where p holds and no for the others (x [K, ...] each).
func (u *updateCtx) sel(p func(variant) bool, yes, no *Node) *Node { return pick(u.mask(p), yes, no) }

// only restricts the random draws of build to the runs where p holds.
func (u *updateCtx) only(p func(variant) bool, build func()) { u.onlyRuns(u.mask(p), build) }

// onlyRuns restricts the random draws of build to the runs m marks, within any restriction
// already in force (the other runs draw nothing and keep their RNG state, as alone).
func (u *updateCtx) onlyRuns(m []bool, build func()) {
	prev := u.n.drawOnly
	eff := slices.Clone(m)
	for k := range eff {
		eff[k] = eff[k] && (prev == nil || prev[k])
	}
	if prev == nil && !slices.Contains(eff, false) {
		build()
		return
	}
	u.n.drawOnly, u.tn.drawOnly = eff, eff
	defer func() { u.n.drawOnly, u.tn.drawOnly = prev, prev }()
	build()
}

// policyUpdate is steps 3 and 4 of the update (alg §4) for the runs not in a world-model-only
// burst: the intermediate prior pi_p fitted to the planner Gaussians, then the sampling policy
// pi_s against the updated critic and prior, on the detached rollout latents zsD. prior marks
// where each run's prior exists, states the rollout states its losses cover, stepW their
// per-step weights (nil: ρ^t/(H+1)). It adds its metrics to nodes.
func (a *Agent) policyUpdate(u *updateCtx, nodes map[string]*Node, zsD, planMean, planStd, prior, validQ, states, stepW, lambda *Node) {
	cfg, n, tn := a.cfg, a.n, u.tn
	g := zsD.Graph()
	has, every, sel, only := u.has, u.every, u.sel, u.only
	noPolicy := func(v variant) bool { return v.noPolicy }
	learned := func(v variant) bool { return v.prior == PriorLearned && !v.noPolicy }
	planner := func(v variant) bool { return v.prior == PriorPlanner }
	hasPrior := func(v variant) bool { return v.prior != PriorNone }
	forward := func(v variant) bool { return v.priorKL == KLForward }
	bmpc := func(v variant) bool { return v.lambdaInf }
	qkCritic := func(v variant) bool { return v.qk && !v.lambdaZero }
	tanhForm := n.runMask(Config.TanhForm)
	anyTanh := slices.Contains(tanhForm, true)
	aggregate := func(perStep *Node) *Node { // (1/T) Σ_t ρ^t · x_t, over each run's states
		if stepW == nil {
			return rhoMean(perStep, cfg.Rho)
		}
		return ReduceSum(Mul(perStep, stepW), -1)
	}
	// The states pi_p is fitted at: those with a planner Gaussian q_t (or N(0, 1) for a missing
	// one with seed_prior normal) among the states the losses cover.
	planPrior := Mul(validQ, states)

	// 3. Intermediate prior pi_p: forward KL(q_t || pi_p) or reverse KL(pi_p || q_t) over the
	// states with a planner Gaussian; closed form in the clip form, sampled in the tanh form
	// (PriorKLSampled).
	if has(learned) {
		pmu, praw := tn.policyRaw(scopePrior, zsD)
		pls := tn.logStd(praw)
		pm := Tanh(pmu)
		var kl *Node
		if every(forward) || !has(forward) {
			kl = PriorKL(pm, pls, planMean, planStd, u.vs[0].priorKL)
		} else {
			kl = sel(forward, PriorKL(pm, pls, planMean, planStd, KLForward), PriorKL(pm, pls, planMean, planStd, KLReverse))
		}
		if anyTanh {
			var eps *Node
			m := u.mask(learned)
			for k := range m {
				m[k] = m[k] && tanhForm[k] // only the tanh runs' fit is sampled
			}
			u.onlyRuns(m, func() { eps = n.randomNormal(g, n.perRun(pmu), 0) })
			kf := PriorKLSampled(pmu, pls, planMean, planStd, eps, KLForward)
			kr := PriorKLSampled(pmu, pls, planMean, planStd, eps, KLReverse)
			kl = pick(tanhForm, sel(forward, kf, kr), kl)
		}
		lPrior := aggregate(maskedMean(kl, planPrior, -1))
		lPrior = sel(learned, lPrior, ZerosLike(lPrior)) // the other runs fit no prior
		grads, priorNorm := clippedGrads(lPrior, trainable(a.store, scopePrior, g), cfg.GradClipNorm, n.pop)
		a.applyAdam(a.adamPrior, scopePrior, grads, u.mask(learned), nil)
		nodes[KeyLossPrior], nodes[KeyKLPriorPlanner], nodes[KeyGradPrior] = lPrior, maskedMean(kl, planPrior, -2, -1), priorNorm
	}

	// 4. Sampling policy.
	ps := tn.SamplePolicy(scopePi, zsD)
	// The critic of the policy loss: Qk where the run trains it (λ > 0), else Q, both with
	// the one pair of heads each run draws.
	heads := n.randomHeadPair(g)
	var q *Node
	switch {
	case every(qkCritic):
		q = tn.qValueHeads(scopeQk, zsD, ps.a, heads, "avg")
	case !has(qkCritic):
		q = tn.qValueHeads(scopeQ, zsD, ps.a, heads, "avg")
	default: // each critic's dropout drawn only by the runs that use that critic, as alone
		var qk, qq *Node
		only(qkCritic, func() { qk = tn.qValueHeads(scopeQk, zsD, ps.a, heads, "avg") })
		only(func(v variant) bool { return !qkCritic(v) }, func() { qq = tn.qValueHeads(scopeQ, zsD, ps.a, heads, "avg") })
		q = sel(qkCritic, qk, qq)
	}
	entropy := n.entropyTerm(ps)
	kl := ZerosLike(q)
	if has(hasPrior) {
		// KL(pi_s || prior): closed form between the two Gaussians (pre-squash in the tanh form)
		// for pi_p; for the planner's q_t closed form in the clip form and sampled at the
		// policy's own draw in the tanh form: log N(u; μ, σ) − log|J| − log N(a; m, s).
		var klPlanner, klLearned *Node
		if has(planner) {
			klPlanner = GaussianKL(ps.mean, Exp(ps.logStd), planMean, planStd)
			if anyTanh {
				sampled := Sub(Sub(GaussianLogProb(ps.u, ps.loc, ps.logStd), ps.logJacobian()), GaussianLogProb(ps.a, planMean, Log(planStd)))
				klPlanner = pick(tanhForm, sampled, klPlanner)
			}
		}
		if has(func(v variant) bool { return v.prior == PriorLearned }) {
			pmu, praw := n.policyRaw(scopePrior, zsD) // after its update
			lm, ls := StopGradient(pick(tanhForm, pmu, Tanh(pmu))), StopGradient(Exp(n.logStd(praw)))
			klLearned = GaussianKL(ps.loc, Exp(ps.logStd), lm, ls)
		}
		kl = sel(hasPrior, either(klPlanner, klLearned, func(p, l *Node) *Node { return sel(planner, p, l) }), kl)
		kl = n.klTerm(kl)
	}
	// Running scales: S_KL of the KL at z_0 (λ = ∞, and finite λ with kl_scale separate) and
	// S_Q of Q at z_0 (finite λ); each run moves only the scales its loss uses.
	klUser := func(k int) bool {
		v, c := u.variant(k), n.runCfgs()[k]
		return !v.noPolicy && (v.lambdaInf || (c.KLScale == "separate" && v.prior != PriorNone && !v.lambdaZero))
	}
	mQ := u.mask(func(v variant) bool { return !v.lambdaInf && !v.noPolicy })
	mKL := make([]bool, len(mQ))
	for k := range mKL {
		mKL[k] = klUser(k)
	}
	scaleOf := func(name string, x *Node, m []bool) *Node {
		if !slices.Contains(m, false) {
			return n.updateScale(name, x)
		}
		return n.selectScale(name, x, func(s, old *Node) *Node { return pick(m, s, old) })
	}
	var sKL, sQ *Node
	if slices.Contains(mKL, true) {
		sKL = scaleOf("kl", Mul(n.timeAt(kl, 0), n.timeAt(prior, 0)), mKL)
	}
	if slices.Contains(mQ, true) {
		sQ = scaleOf("q", n.timeAt(q, 0), mQ)
	}
	scale := either(sKL, sQ, func(k, q *Node) *Node { return sel(bmpc, k, q) })
	terms := PolicyLossTerms{Q: q, KL: kl, Entropy: entropy, Valid: Mul(prior, states), StepWeights: stepW}
	sc := n.perRunScalar(StopGradient(scale))
	finite := PolicyLoss(terms, lambda, false, sc, cfg.EntropyCoef, cfg.Rho)
	if sKL != nil && sQ != nil {
		sep := terms
		sep.KLScale = n.perRunScalar(StopGradient(sKL))
		finite = pick(mKL, PolicyLoss(sep, lambda, false, sc, cfg.EntropyCoef, cfg.Rho), finite)
	}
	var lPi *Node
	switch {
	case every(bmpc):
		lPi = PolicyLoss(terms, lambda, true, sc, cfg.EntropyCoef, cfg.Rho)
	case !has(bmpc):
		lPi = finite
	default:
		lPi = sel(bmpc, PolicyLoss(terms, lambda, true, sc, cfg.EntropyCoef, cfg.Rho), finite)
	}
	lPi = sel(noPolicy, ZerosLike(lPi), lPi) // a world-model-only burst leaves pi_s alone
	piGrads, piNorm := clippedGrads(lPi, trainable(a.store, scopePi, g), cfg.GradClipNorm, n.pop)
	a.applyAdam(a.adamPi, scopePi, piGrads, u.mask(func(v variant) bool { return !v.noPolicy }), nil)
	for k, v := range map[string]*Node{KeyLossPi: lPi, KeyKLPolicyPrior: maskedMean(kl, Mul(prior, states), -2, -1),
		KeyPolicyEntropy: n.runMean(GaussianEntropy(ps.logStd)), KeyPolicyStd: n.runMean(Exp(ps.logStd)),
		KeyScalePi: scale, KeyGradPi: piNorm, KeyQPiMean: n.runMean(n.timeAt(q, 0))} {
		nodes[k] = v
	}
}

// either is the one of a and b that was built (the terms only some runs need), or both(a, b)
// when both were.
func either(a, b *Node, both func(a, b *Node) *Node) *Node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return both(a, b)
}

// updateKeys are the metric keys of an update of variant v, in the order records are written:
// only the terms v has (no value_kl without Qk, no prior terms without the learned prior, no
// policy KL without a prior).
func updateKeys(v variant) []string {
	out := []string{KeyLossConsistency, KeyLossReward, KeyLossValue}
	if v.qk {
		out = append(out, KeyLossValueKL)
	}
	if v.noPolicy { // a world-model-only burst: no policy or prior terms
		return append(out, KeyLossWorldModel, KeyGradWorldModel, KeyQTDTarget)
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
