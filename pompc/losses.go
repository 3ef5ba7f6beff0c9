package pompc

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"
)

// One graph function per loss of alg §4. Time-major shapes throughout: H steps, B sequences.
// Per-step losses are aggregated as TD-MPC2 does: (1/T) Σ_t ρ^t · mean over the batch.
// In a population every input has a leading run axis K (the time axis comes second) and every
// loss is [K], one per run: the axes are addressed from the end.

// checkRank panics unless x has the given rank, or one more (a population's run axis).
func checkRank(name string, x *Node, rank int) {
	if x.Rank() != rank && x.Rank() != rank+1 {
		exceptions.Panicf("%s: want rank %d (or %d with a run axis), got shape %s", name, rank, rank+1, x.Shape())
	}
}

// ConsistencyLoss is L_cons = (1/H) Σ_t ρ^t · MSE(d(z_t, a_t), sg(h(o_{t+1}))) (alg §4).
// zPred and zTarget are [H, B, L]; zTarget must already be detached.
func ConsistencyLoss(zPred, zTarget *Node, rho float64) *Node {
	checkRank("ConsistencyLoss", zPred, 3)
	perStep := ReduceMean(Square(Sub(zPred, zTarget)), -2, -1) // [H]
	return rhoMean(perStep, rho)
}

// RewardLoss is L_R = (1/H) Σ_t ρ^t · mean_b CE(R(z_t, a_t), twohot(symlog r_t)) (alg §4).
// logits [H, B, bins], reward [H, B].
func RewardLoss(logits, reward *Node, cfg Config) *Node {
	checkRank("RewardLoss", logits, 3)
	ce := SoftCE(logits, reward, cfg.NumBins, cfg.VMin, cfg.VMax) // [H, B]
	return rhoMean(ReduceMean(ce, -1), cfg.Rho)
}

// ValueLoss is L_Q = (1/(H·E)) Σ_e Σ_t ρ^t · mean_b CE(Q_e(z_t, a_t), twohot(symlog y_t)) for a
// critic ensemble (used for both Q and Qk, alg §4). logits [E, H, B, bins], target [H, B].
func ValueLoss(logits, target *Node, cfg Config) *Node {
	checkRank("ValueLoss", logits, 4)
	d := logits.Shape().Dimensions
	e := d[len(d)-4]
	tgt := BroadcastToDims(ExpandAxes(target, -3), d[:len(d)-1]...)
	ce := SoftCE(logits, tgt, cfg.NumBins, cfg.VMin, cfg.VMax) // [E, H, B]
	perStep := ReduceSum(ReduceMean(ce, -1), -2)               // [H], summed over heads
	return DivScalar(rhoMean(perStep, cfg.Rho), float64(e))
}

// TDTarget is y_t = r_t + γ·c_t·V(z'_{t}) with V the bootstrapped next value (alg §4): for Q,
// V = min of 2 random target heads of Q(z', a'), a' ~ pi_s(z'); for Qk, V also subtracts
// λ·(log pi_s(a'|z') − log prior(a'|z')). c_t is 1 − terminated. The result is detached.
func TDTarget(reward, cont, nextValue *Node, gamma float64) *Node {
	return StopGradient(Add(reward, MulScalar(Mul(cont, nextValue), gamma)))
}

// SoftTDTarget is the target of the KL-regularized critic Qk (alg §4), its soft value:
//
//	yk_t = r_t + γ·c_t·[ min2 Qk⁻(z', a') − λ·v_t·(log pi_s(a'|z') − log prior(a'|z')) ],  a' ~ pi_s(z'),
//
// with nextQ = min2 Qk⁻(z', a'), the two log-densities of the same sampled a', λ a graph scalar
// (or [K, 1, 1] per run) and v_t the mask of next states where the penalty applies. The result
// is detached.
func SoftTDTarget(reward, cont, nextQ, logPi, logPrior, lambda, valid *Node, gamma float64) *Node {
	penalty := Mul(lambda, Mul(valid, Sub(logPi, logPrior)))
	return TDTarget(reward, cont, Sub(nextQ, penalty), gamma)
}

// PriorLoss fits the intermediate prior pi_p to the stored planner Gaussians q_t over rollout
// latents with a valid q_t (alg §4), as (1/T) Σ_t ρ^t · masked-mean_b KL (PriorKL).
// All inputs [T, B, A] except valid [T, B]. Returns the loss and the per-(t,b) KL [T, B].
func PriorLoss(priorMean, priorLogStd, planMean, planStd, valid *Node, dir KLDir, rho float64) (loss, kl *Node) {
	checkRank("PriorLoss", priorMean, 3)
	kl = PriorKL(priorMean, priorLogStd, planMean, planStd, dir)
	return rhoMean(maskedMean(kl, valid, -1), rho), kl
}

// PriorKL is the closed-form KL fitting pi_p (clip form) to a planner Gaussian q_t, [T, B]:
// forward: KL(q_t || pi_p(.|z_t)) (mass covering); reverse: KL(pi_p(.|z_t) || q_t) (mode seeking).
func PriorKL(priorMean, priorLogStd, planMean, planStd *Node, dir KLDir) *Node {
	ps := Exp(priorLogStd)
	if dir == KLForward {
		return GaussianKL(planMean, planStd, priorMean, ps)
	}
	return GaussianKL(priorMean, ps, planMean, planStd)
}

// PriorKLSampled is the KL of PriorLoss for the tanh policy form, where pi_p(a) is the law of
// tanh(N(μ_p, σ_p)) and q_t a Gaussian in action space, so no closed form exists; it is
// estimated from one draw per entry (eps [T, B, A] standard normal), as a log-density ratio:
//
//	forward: KL(q_t || pi_p) ≈ log N(x; m, s) − log pi_p(a),  x = m + s·ε, a = clip(x, ±(1 − 1e-6));
//	reverse: KL(pi_p || q_t) ≈ log pi_p(a) − log N(a; m, s),  a = tanh(μ_p + σ_p·ε);
//
// with log pi_p(a) = log N(atanh a; μ_p, σ_p) − Σ_i log(1 − a_i² + 1e-6) (TD-MPC2's squash).
// The reverse estimate is reparameterized; the forward one's gradient is the cross-entropy's.
// priorMu is μ_p before the squash. Returns [T, B].
func PriorKLSampled(priorMu, priorLogStd, planMean, planStd, eps *Node, dir KLDir) *Node {
	logJac := func(a *Node) *Node { return ReduceSum(Log(AddScalar(OneMinus(Square(a)), 1e-6)), -1) }
	logQ := func(x *Node) *Node { return GaussianLogProb(x, planMean, Log(planStd)) }
	if dir == KLForward {
		x := Add(planMean, Mul(planStd, eps))
		a := ClipScalar(x, -(1 - 1e-6), 1-1e-6)
		atanh := MulScalar(Sub(Log1p(a), Log1p(Neg(a))), 0.5)
		return Sub(logQ(x), Sub(GaussianLogProb(atanh, priorMu, priorLogStd), logJac(a)))
	}
	u := Add(priorMu, Mul(Exp(priorLogStd), eps))
	a := Tanh(u)
	return Sub(Sub(GaussianLogProb(u, priorMu, priorLogStd), logJac(a)), logQ(a))
}

// PolicyLossTerms are the per-(t, b) pieces of the policy loss, all [T, B].
type PolicyLossTerms struct {
	Q       *Node // critic value of a ~ pi_s (Qk, or Q when lambda = 0)
	KL      *Node // KL(pi_s || prior), 0 where masked (already / A where kl_reduce is mean)
	Entropy *Node // the entropy bonus of pi_s (already × A where entropy_x_action_dim)
	Valid   *Node // 1 where the prior exists (the stored q_t for the planner prior)
	// KLScale, when not nil, normalizes a finite λ's KL term by its own running scale S_KL:
	// −Q/S + λ·KL/S_KL (kl_scale separate); nil puts both under S: (−Q + λ·KL)/S.
	KLScale *Node
	// StepWeights, when not nil, replace ρ^t/T as the weights of the per-step means ([T], or
	// [K, T] in a population): policy_states h weighs ρ^t/H at t < H and 0 at t = H.
	StepWeights *Node
}

// PolicyLoss is the sampling-policy loss of alg §4, aggregated (1/T) Σ_t ρ^t · mean_b:
//
//	0 < λ < ∞:  L_π = ( −Qk(z_t, a) + λ·KL(pi_s || prior) ) / S − β·H(pi_s)
//	  (kl_scale separate: −Qk/S + λ·KL/S_KL − β·H)
//	λ = 0:      L_π = −Q(z_t, a)/S − β·H(pi_s)          (TD-MPC2)
//	λ = +∞:     L_π = KL(pi_s || prior)/S_KL − β·H(pi_s)  (BMPC)
//
// lambda is a graph scalar (finite), lambdaInf selects the BMPC form, scale is S (or S_KL); in a
// population both are [K, 1, 1], a value per run.
func PolicyLoss(t PolicyLossTerms, lambda *Node, lambdaInf bool, scale *Node, beta, rho float64) *Node {
	checkRank("PolicyLoss", t.Q, 2)
	var perSample *Node
	switch {
	case lambdaInf:
		perSample = Div(masked(t.KL, t.Valid), scale)
	case t.KLScale != nil:
		perSample = Add(Div(Neg(t.Q), scale), Div(Mul(lambda, masked(t.KL, t.Valid)), t.KLScale))
	default:
		perSample = Div(Add(Neg(t.Q), Mul(lambda, masked(t.KL, t.Valid))), scale)
	}
	perSample = Sub(perSample, MulScalar(t.Entropy, beta))
	perStep := ReduceMean(perSample, -1)
	if t.StepWeights != nil {
		return ReduceSum(Mul(perStep, t.StepWeights), -1)
	}
	return rhoMean(perStep, rho)
}
