package pompc

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 16: each end of the family against the official code's formulas, written out here from
// the equations (TD-MPC2 e9f5932, BMPC d5dabc6), never by calling pompc's losses.

// officialPolicyLoss is the policy loss of TD-MPC2 (tanh form) or BMPC's entropy and action form
// (clip form) with q = Σ_i c_i·a_i + 0.3·Σ_i a_i² as the critic, in float64:
//
//	log σ = lo + ½(hi − lo)(tanh(raw) + 1);  log p = Σ_i (−½ε_i² − log σ_i − 0.9189385175704956)
//	TD-MPC2: a = tanh(μ + σε); log p̃ = log p − Σ_i log(relu(1 − a_i²) + 1e-6);
//	         scaled_entropy = −log p̃ · (A·log p)/(log p̃ + 1e-8)
//	BMPC:    a = clip(tanh(μ) + σε, −1, 1); scaled_entropy = −log p · A
//	loss = mean_t ρ^t mean_b ( −β·scaled_entropy − q/S )
func officialPolicyLoss(tanhForm bool, mu, raw, eps, c []float64, tt, b, a int, lo, hi, s, beta, rho float64) float64 {
	loss := 0.0
	for t := range tt {
		step := 0.0
		for j := range b {
			logP, sq, q := 0.0, 0.0, 0.0
			for i := range a {
				k := (t*b+j)*a + i
				ls := lo + 0.5*(hi-lo)*(math.Tanh(raw[k])+1)
				logP += -0.5*eps[k]*eps[k] - ls - 0.9189385175704956
				var act float64
				if tanhForm {
					act = math.Tanh(mu[k] + eps[k]*math.Exp(ls))
					sq += math.Log(math.Max(1-act*act, 0) + 1e-6)
				} else {
					act = math.Max(-1, math.Min(1, math.Tanh(mu[k])+eps[k]*math.Exp(ls)))
				}
				q += c[i]*act + 0.3*act*act
			}
			var scaledEntropy float64
			if tanhForm {
				logPSq := logP - sq
				scaledEntropy = -logPSq * (float64(a) * logP) / (logPSq + 1e-8)
			} else {
				scaledEntropy = -logP * float64(a)
			}
			step += (-beta*scaledEntropy - q/s) / float64(b)
		}
		loss += math.Pow(rho, float64(t)) * step / float64(tt)
	}
	return loss
}

func TestPolicyLossOfficialForms(t *testing.T) {
	const tt, b, s, beta, rho = 4, 8, 1.7, 1e-2, 0.5 // β large enough that the entropy term shows
	for _, tc := range []struct {
		name string
		cfg  Config
		tanh bool
	}{{"tdmpc2", TDMPC2(), true}, {"bmpc", BMPC(), false}} {
		for _, a := range []int{1, 6} {
			t.Run(tc.name+"/A="+string(rune('0'+a)), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(a), 7))
				n := tt * b * a
				mu, raw, eps := make([]float64, n), make([]float64, n), make([]float64, n)
				for i := range mu {
					mu[i], raw[i], eps[i] = rng.NormFloat64(), 1.5*rng.NormFloat64(), rng.NormFloat64()
				}
				c := make([]float64, a)
				for i := range c {
					c[i] = rng.NormFloat64()
				}
				mu, raw, eps, c = f32(mu), f32(raw), f32(eps), f32(c)
				nets := &nets{cfg: tc.cfg, actDim: a}
				build := func(g *Graph, in []*Node) (*Node, *Node, *Node) {
					ps := nets.sampleFrom(in[0], nets.logStd(in[1]), in[2])
					cq := in[3]
					q := ReduceSum(Add(Mul(ps.a, like(cq, ps.a)), MulScalar(Square(ps.a), 0.3)), -1)
					terms := PolicyLossTerms{Q: q, KL: ZerosLike(q), Entropy: nets.entropyTerm(ps), Valid: OnesLike(q)}
					return PolicyLoss(terms, ScalarZero(g, dt), false, Scalar(g, dt, s), beta, rho), in[0], in[1]
				}
				outs := thRun(t, func(g *Graph, in []*Node) []*Node {
					loss, m, r := build(g, in)
					grads := Gradient(loss, m, r)
					return []*Node{loss, grads[0], grads[1]}
				}, thT32(mu, tt, b, a), thT32(raw, tt, b, a), thT32(eps, tt, b, a), thT32(c, a))
				want := officialPolicyLoss(tc.tanh, mu, raw, eps, c, tt, b, a, tc.cfg.LogStdMin, tc.cfg.LogStdMax, s, beta, rho)
				assert.InDelta(t, want, outs[0][0], 2e-6*math.Max(1, math.Abs(want)), "policy loss")
				// Gradients against central differences of the official formula.
				for which, x := range [][]float64{mu, raw} {
					for _, i := range []int{0, n / 2, n - 1} {
						const h = 1e-5
						old := x[i]
						x[i] = old + h
						up := officialPolicyLoss(tc.tanh, mu, raw, eps, c, tt, b, a, tc.cfg.LogStdMin, tc.cfg.LogStdMax, s, beta, rho)
						x[i] = old - h
						down := officialPolicyLoss(tc.tanh, mu, raw, eps, c, tt, b, a, tc.cfg.LogStdMin, tc.cfg.LogStdMax, s, beta, rho)
						x[i] = old
						fd := (up - down) / (2 * h)
						assert.InDelta(t, fd, outs[1+which][i], 1e-4*math.Max(1, math.Abs(fd)), "gradient %d[%d]", which, i)
					}
				}
			})
		}
	}
}

// thAgentGraph runs fn once over the agent's variables (no update) and returns its outputs.
func thAgentGraph(t *testing.T, ag *Agent, fn func(in []*Node) []*Node, args ...any) [][]float64 {
	t.Helper()
	exec, err := model.NewExec(thBackend(t), ag.store, func(_ *model.Scope, in []*Node) []*Node { return fn(in) })
	require.NoError(t, err)
	outs, err := exec.Call(args...)
	require.NoError(t, err)
	return thAllFloats(t, outs)
}

// TestBMPCImitationLossIsOfficial: the BMPC preset's first policy loss equals BMPC's
//
//	L = (1/H) Σ_{t<H} ρ^t mean_b KL_t,b / S,  KL_t,b = (1/A) Σ_i KL(N(tanh μ_i, σ_i) || N(m_i, s_i)),
//	S = lerp(1, max(P95 − P5 of KL_0,·, 1), τ),
//
// at A = 6 over H states (z_H ignored whatever its planner Gaussian), with N(0, 1) as the planner
// Gaussian of the seed-phase entries (β = 0 here: the entropy form is TestPolicyLossOfficialForms').
func TestBMPCImitationLossIsOfficial(t *testing.T) {
	const h, bs, o, a = 3, 16, 5, 6
	cfg := BMPC().WithSize(SizeTiny)
	cfg.BatchSize, cfg.EntropyCoef, cfg.Reanalyze = bs, 0, false
	ag := thAgent(t, cfg, o, a)
	b := thBatch(11, h, bs, o, a, 1)
	for j := range bs {
		if j%3 == 0 { // seed-phase entries at every t < H
			b.Valid[(j%h)*bs+j] = 0
		}
		b.Valid[h*bs+j] = float32(j % 2) // z_H: anything
		for i := range a {
			b.PlanMean[(h*bs+j)*a+i], b.PlanStd[(h*bs+j)*a+i] = 5, 0.01
		}
	}
	// The rollout latents z_0..z_H and pi_s at them, with the agent's initial parameters.
	outs := thAgentGraph(t, ag, func(in []*Node) []*Node {
		z := ag.n.Encode(in[0])
		zs := []*Node{z}
		for s := range h {
			z = ag.n.Next(z, Squeeze(SliceAxis(in[1], 0, AxisElem(s)), 0))
			zs = append(zs, z)
		}
		mean, ls := ag.n.Policy(scopePi, Stack(zs, 0))
		return []*Node{mean, ls}
	}, tensors.FromFlatDataAndDimensions(b.Obs[:bs*o], bs, o), tensors.FromFlatDataAndDimensions(b.Action, h, bs, a))
	mean, ls := outs[0], outs[1]
	kl := make([]float64, h*bs)
	for t := range h {
		for j := range bs {
			sum := 0.0
			for i := range a {
				k := (t*bs+j)*a + i
				m, s := float64(b.PlanMean[k]), float64(b.PlanStd[k])
				if b.Valid[t*bs+j] == 0 {
					m, s = 0, 1
				}
				s1 := math.Exp(ls[k])
				sum += math.Log(s/s1) + (s1*s1+(mean[k]-m)*(mean[k]-m))/(2*s*s) - 0.5
			}
			kl[t*bs+j] = sum / a
		}
	}
	rng := thPercentile(kl[:bs], 0.95) - thPercentile(kl[:bs], 0.05)
	scale := 1 + cfg.Tau*(math.Max(rng, 1)-1)
	want := 0.0
	for t := range h {
		step := 0.0
		for j := range bs {
			step += kl[t*bs+j] / scale / bs
		}
		want += math.Pow(cfg.Rho, float64(t)) * step / h
	}
	m, err := ag.Update(b)
	require.NoError(t, err)
	assert.InDelta(t, want, m[KeyLossPi], 1e-5*math.Max(1, math.Abs(want)))
	assert.InDelta(t, scale, m[KeyScalePi], 1e-6)
}

// thPerturbTargets sets every critic variable (online and target) to a deterministic nonzero
// pattern: the output layers start at zero, which would make every value 0 and every value
// loss independent of its target.
func thPerturbTargets(t *testing.T, ag *Agent) {
	t.Helper()
	for v := range ag.store.IterVariables() {
		p := v.Path()
		if !strings.HasPrefix(p, "/target/") && !strings.HasPrefix(p, scopeQ+"/") && !strings.HasPrefix(p, scopeQk+"/") {
			continue
		}
		val, err := v.Value()
		require.NoError(t, err)
		x := thFloats(t, val)
		for i := range x {
			x[i] = 0.3 * math.Sin(float64(i)*1.7+float64(len(x)))
		}
		require.NoError(t, v.SetValue(thT32(x, v.Shape().Dimensions...)))
	}
}

// thPerturbedUpdate is the first update's metrics of a tiny agent (thTinyConfig changed by set)
// with perturbed critics, on a fixed batch (obs 4, actions 2, H 3, 8 sequences).
func thPerturbedUpdate(t *testing.T, set func(*Config)) map[string]float64 {
	t.Helper()
	cfg := thTinyConfig()
	set(&cfg)
	ag := thAgent(t, cfg, 4, 2)
	thPerturbTargets(t, ag)
	m, err := ag.Update(thBatch(3, 3, 8, 4, 2, 1))
	require.NoError(t, err)
	return m
}

// TestTDTargetsWithoutDropout: the TD targets' critics evaluate with dropout off (TD-MPC2's
// targets are in eval mode), so a huge dropout rate leaves the targets as they are; the online
// critics' loss does see it (positive control).
func TestTDTargetsWithoutDropout(t *testing.T) {
	off := thPerturbedUpdate(t, func(c *Config) { c.Dropout = 0 })
	heavy := thPerturbedUpdate(t, func(c *Config) { c.Dropout = 0.9 })
	require.NotEqual(t, 0.0, off[KeyQTDTarget])
	assert.Equal(t, off[KeyQTDTarget], heavy[KeyQTDTarget], "targets must not see dropout")
	assert.NotEqual(t, off[KeyLossValue], heavy[KeyLossValue], "the online critics see dropout")
}

// TestTDHeadsAverage: td_heads avg bootstraps with the mean of the two target heads, min with the
// smaller, so on the same draws the average is the larger target.
func TestTDHeadsAverage(t *testing.T) {
	avg := thPerturbedUpdate(t, func(c *Config) { c.TDHeads = "avg" })
	mn := thPerturbedUpdate(t, func(c *Config) { c.TDHeads = "min" })
	assert.Greater(t, avg[KeyQTDTarget], mn[KeyQTDTarget])
}

// TestLambdaZeroIsTDMPC2Losses: a POMPC run at λ = 0 trains exactly what a TD-MPC2-configured run
// of the same forms trains: no Qk loss, no prior fit, no reanalysis; its Qk and pi_p stay as
// they were.
func TestLambdaZeroIsTDMPC2Losses(t *testing.T) {
	const h, bs, o, a = 3, 8, 4, 2
	po := thTinyConfig()
	po.Lambda = 0
	td := po
	td.Prior, td.KLCritic, td.Reanalyze = PriorNone, false, false
	assert.False(t, po.Reanalyzes())
	a1, a2 := thAgent(t, po, o, a), thAgent(t, td, o, a)
	before := thParams(t, a1)
	for range 2 {
		b := thBatch(4, h, bs, o, a, 1)
		m1, err := a1.Update(b)
		require.NoError(t, err)
		m2, err := a2.Update(thCloneBatch(b))
		require.NoError(t, err)
		assert.Equal(t, m2, m1)
		assert.NotContains(t, m1, KeyLossValueKL)
		assert.NotContains(t, m1, KeyLossPrior)
	}
	assert.Empty(t, thParamsDiff(t, thParams(t, a1), thParams(t, a2)))
	after := thParams(t, a1)
	for p, v := range before {
		if strings.HasPrefix(p, scopeQk) || strings.HasPrefix(p, scopePrior) || strings.HasPrefix(p, scopeTargetQk) {
			assert.Equal(t, thFloats(t, v), thFloats(t, after[p]), p)
		}
	}
}

// TestSoftTargetMaskOnlyWherePriorMissing: with the learned prior the Qk target's KL penalty
// applies at every state (pi_p exists everywhere), so the first Qk loss does not depend on the
// batch's valid mask; with the planner prior it does (positive control).
func TestSoftTargetMaskOnlyWherePriorMissing(t *testing.T) {
	const h, bs, o, a = 3, 8, 4, 2
	for _, prior := range []PriorKind{PriorLearned, PriorPlanner} {
		cfg := thTinyConfig()
		cfg.Prior = prior
		loss := func(valid float32) float64 {
			ag := thAgent(t, cfg, o, a)
			thPerturbTargets(t, ag)
			m, err := ag.Update(thBatch(5, h, bs, o, a, valid))
			require.NoError(t, err)
			return m[KeyLossValueKL]
		}
		if prior == PriorLearned {
			assert.Equal(t, loss(1), loss(0))
		} else {
			assert.NotEqual(t, loss(1), loss(0))
		}
	}
}

// TestPolicyLossSeparateScales: kl_scale separate is −Q/S_Q + λ·KL/S_KL − β·H, written out.
func TestPolicyLossSeparateScales(t *testing.T) {
	const tt, b, sq, skl, lambda, beta, rho = 4, 16, 2.3, 0.7, 3.0, 1e-3, 0.5
	q, kl, ent, valid := thPolicyInputs(2, tt, b)
	q, kl, ent = f32(q), f32(kl), f32(ent)
	perStep := make([]float64, tt)
	for s := range tt {
		for j := range b {
			i := s*b + j
			perStep[s] += (-q[i]/sq + lambda*kl[i]*valid[i]/skl - beta*ent[i]) / b
		}
	}
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		terms := PolicyLossTerms{Q: in[0], KL: in[1], Entropy: in[2], Valid: in[3], KLScale: Scalar(g, dt, skl)}
		return []*Node{PolicyLoss(terms, Scalar(g, dt, lambda), false, Scalar(g, dt, sq), beta, rho)}
	}, thT32(q, tt, b), thT32(kl, tt, b), thT32(ent, tt, b), thT32(valid, tt, b))
	want := thRhoMean(perStep, rho)
	assert.InDelta(t, want, outs[0][0], 1e-6*math.Max(1, math.Abs(want)))
}

// TestPlanMeanElite: plan_mean elite stores the picked elite's first action (what evaluation
// executes) as the planner mean; mppi stores the weighted mean, another value.
func TestPlanMeanElite(t *testing.T) {
	const o, a = 4, 2
	obs := []float32{0.1, -0.2, 0.3, 0.5}
	for _, pm := range []string{"elite", "mppi"} {
		cfg := thTinyConfig()
		cfg.PlanMean = pm
		r, err := thAgent(t, cfg, o, a).Act(obs, true, true)
		require.NoError(t, err)
		if pm == "elite" {
			assert.Equal(t, r.Action, r.Mean)
		} else {
			assert.NotEqual(t, r.Action, r.Mean)
		}
	}
}

// TestReanalysisStatesAndBounds: with policy_states h, reanalysis re-plans H states (z_H's entry
// untouched), and its proposals use the exploratory bounds: the same agent state re-plans to
// other Gaussians with them than without.
func TestReanalysisStatesAndBounds(t *testing.T) {
	const h, bs, o, a = 3, 8, 4, 2
	reanalyze := func(lo, hi float64) *Batch {
		cfg := thTinyConfig()
		cfg.PolicyStates = "h"
		cfg.ReanalyzeLogStdMin, cfg.ReanalyzeLogStdMax = lo, hi
		b := thBatch(6, h, bs, o, a, 0)
		require.NoError(t, thAgent(t, cfg, o, a).Reanalyze(b, nil))
		return b
	}
	b := reanalyze(0, 0)
	for j := range bs {
		want := float32(0)
		if j < 2 { // ReanalyzeSeqs
			want = 1
		}
		for s := range h {
			assert.Equal(t, want, b.Valid[s*bs+j])
		}
		assert.Equal(t, float32(0), b.Valid[h*bs+j], "z_H is not re-planned")
	}
	assert.NotEqual(t, b.PlanMean, reanalyze(4, 5).PlanMean, "exploratory bounds change the proposals")
	assert.Equal(t, b.PlanMean, reanalyze(0, 0).PlanMean)
}

// TestWorldModelOnlyBurst: with burst_world_model_only (BMPC's) the seed burst leaves pi_s and its
// optimizer untouched and reanalyzes nothing, while the world model learns; the first update
// after it trains pi_s.
func TestWorldModelOnlyBurst(t *testing.T) {
	cfg := BMPC().WithSize(SizeTiny)
	cfg.SeedSteps, cfg.BatchSize, cfg.NumSamples, cfg.NumPiTrajs, cfg.NumElites = 20, 8, 32, 4, 8
	cfg.Iterations, cfg.ReanalyzeSeqs, cfg.ReanalyzeEvery, cfg.EvalEvery = 2, 2, 1, 0
	tr := newTestTrainer(t, cfg, "cartpole-balance")
	before := thParams(t, tr.Agent())
	for tr.StepCount() < int64(cfg.SeedSteps) {
		require.NoError(t, tr.Step())
	}
	after := thParams(t, tr.Agent())
	changed := thParamsDiff(t, before, after)
	for _, p := range changed {
		assert.False(t, strings.HasPrefix(p, scopePi), "pi_s changed in the burst: %s", p)
		assert.NotContains(t, p, "/pi/", "pi_s's optimizer changed in the burst: %s", p)
	}
	assert.Contains(t, strings.Join(changed, " "), scopeEnc)
	for i, v := range tr.Buffer().valid[:tr.Buffer().Len()] {
		assert.Zero(t, v, "no reanalysis in the burst (slot %d)", i)
	}
	require.NoError(t, tr.Step())
	assert.Contains(t, strings.Join(thParamsDiff(t, after, thParams(t, tr.Agent())), " "), scopePi)
}

// TestFormFieldsValidate: a bad value of any form field is reported (with every other bad field).
func TestFormFieldsValidate(t *testing.T) {
	c := POMPC()
	for _, kv := range [][2]string{{"policy_form", "squash"}, {"kl_reduce", "max"}, {"kl_scale", "both"},
		{"policy_states", "h+2"}, {"seed_prior", "uniform"}, {"plan_mean", "best"}, {"td_heads", "max"},
		{"reanalyze_log_std_min", "2"}} {
		require.NoError(t, c.Set(kv[0], kv[1]))
	}
	err := c.Validate()
	require.Error(t, err)
	for _, key := range []string{"policy_form", "kl_reduce", "kl_scale", "policy_states", "seed_prior", "plan_mean", "td_heads", "reanalyze_log_std_max"} {
		assert.Contains(t, err.Error(), key)
	}
	require.NoError(t, c.Set("policy_form", "tanh"))
	assert.True(t, c.TanhForm())
}

// TestPriorFitOnlyWhereThePlannerStored: pi_p is fitted to stored planner Gaussians only (its
// KL terms against pi_s apply everywhere, its fit does not): a batch without any leaves it alone.
func TestPriorFitOnlyWhereThePlannerStored(t *testing.T) {
	for _, form := range []string{FormClip, FormTanh} {
		m := thPerturbedUpdate(t, func(c *Config) { c.PolicyForm = form })
		require.NotZero(t, m[KeyLossPrior], "%s: a control batch with planner Gaussians fits pi_p", form)
		cfg := thTinyConfig()
		cfg.PolicyForm = form
		ag := thAgent(t, cfg, 4, 2)
		m, err := ag.Update(thBatch(3, 3, 8, 4, 2, 0))
		require.NoError(t, err)
		assert.Zero(t, m[KeyLossPrior], form)
		assert.Zero(t, m[KeyGradPrior], form)
		assert.Zero(t, m[KeyKLPriorPlanner], form)
	}
}
