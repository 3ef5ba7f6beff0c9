package pompc

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// thPolicyInputs are random [T, B] inputs of the policy loss.
func thPolicyInputs(seed uint64, tt, b int) (q, kl, ent, valid []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	q, kl, ent, valid = make([]float64, tt*b), make([]float64, tt*b), make([]float64, tt*b), make([]float64, tt*b)
	for i := range q {
		q[i] = rng.NormFloat64() * 5
		kl[i] = rng.ExpFloat64() * 3
		ent[i] = rng.NormFloat64()
		if rng.Float64() < 0.7 {
			valid[i] = 1
		}
	}
	return
}

func thPolicyLossRun(t *testing.T, q, kl, ent, valid []float64, tt, b int, lambda float64, inf bool, scale, beta, rho float64) float64 {
	t.Helper()
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		terms := PolicyLossTerms{Q: in[0], KL: in[1], Entropy: in[2], Valid: in[3]}
		return []*Node{PolicyLoss(terms, Scalar(g, dt, lambda), inf, Scalar(g, dt, scale), beta, rho)}
	}, thT32(q, tt, b), thT32(kl, tt, b), thT32(ent, tt, b), thT32(valid, tt, b))
	return outs[0][0]
}

// f32 rounds to float32 precision (the graph sees float32 inputs).
func f32(x []float64) []float64 {
	o := make([]float64, len(x))
	for i, v := range x {
		o[i] = float64(float32(v))
	}
	return o
}

func TestPolicyLossLambdaZeroIsTDMPC2(t *testing.T) {
	const tt, b, scale, beta, rho = 4, 16, 2.3, 1e-4, 0.5
	q, kl, ent, valid := thPolicyInputs(1, tt, b)
	q, kl, ent = f32(q), f32(kl), f32(ent)
	// TD-MPC2: (1/T) Σ_t ρ^t mean_b(−Q/S − β·H).
	perStep := make([]float64, tt)
	for s := 0; s < tt; s++ {
		for j := 0; j < b; j++ {
			i := s*b + j
			perStep[s] += (-q[i]/scale - beta*ent[i]) / b
		}
	}
	want := thRhoMean(perStep, rho)
	got := thPolicyLossRun(t, q, kl, ent, valid, tt, b, 0, false, scale, beta, rho)
	assert.InDelta(t, want, got, 1e-6*math.Max(1, math.Abs(want)))
	// The KL has no effect at lambda = 0, whatever its values.
	kl2 := make([]float64, len(kl))
	for i := range kl2 {
		kl2[i] = 1e4 * float64(i+1)
	}
	got2 := thPolicyLossRun(t, q, kl2, ent, valid, tt, b, 0, false, scale, beta, rho)
	assert.Equal(t, got, got2)
	// Positive control: with lambda > 0 the KL matters.
	got3 := thPolicyLossRun(t, q, kl2, ent, valid, tt, b, 0.5, false, scale, beta, rho)
	assert.NotEqual(t, got, got3)
}

func TestPolicyLossFiniteLambdaHandFormula(t *testing.T) {
	const tt, b, lambda, scale, beta, rho = 3, 8, 2.5, 1.7, 0.01, 0.5
	q, kl, ent, valid := thPolicyInputs(2, tt, b)
	q, kl, ent = f32(q), f32(kl), f32(ent)
	perStep := make([]float64, tt)
	for s := 0; s < tt; s++ {
		for j := 0; j < b; j++ {
			i := s*b + j
			perStep[s] += ((-q[i]+lambda*valid[i]*kl[i])/scale - beta*ent[i]) / b
		}
	}
	want := thRhoMean(perStep, rho)
	got := thPolicyLossRun(t, q, kl, ent, valid, tt, b, lambda, false, scale, beta, rho)
	assert.InDelta(t, want, got, 1e-6*math.Max(1, math.Abs(want)))
}

func TestPolicyLossLambdaInfIsBMPC(t *testing.T) {
	const tt, b, scaleKL, beta, rho = 4, 16, 3.1, 1e-4, 0.5
	q, kl, ent, valid := thPolicyInputs(3, tt, b)
	q, kl, ent = f32(q), f32(kl), f32(ent)
	// BMPC: (1/T) Σ_t ρ^t mean_b(valid·KL/S_KL − β·H).
	perStep := make([]float64, tt)
	for s := 0; s < tt; s++ {
		for j := 0; j < b; j++ {
			i := s*b + j
			perStep[s] += (valid[i]*kl[i]/scaleKL - beta*ent[i]) / b
		}
	}
	want := thRhoMean(perStep, rho)
	// The finite lambda input is ignored in the BMPC form.
	got := thPolicyLossRun(t, q, kl, ent, valid, tt, b, 123, true, scaleKL, beta, rho)
	assert.InDelta(t, want, got, 1e-6*math.Max(1, math.Abs(want)))
	// Q has no effect.
	q2 := make([]float64, len(q))
	for i := range q2 {
		q2[i] = -1e3 * float64(i)
	}
	assert.Equal(t, got, thPolicyLossRun(t, q2, kl, ent, valid, tt, b, 0, true, scaleKL, beta, rho))
}

// SoftTDTarget, the KL-regularized critic's target, against its equation written out here.
func TestTDTargetKLRegularized(t *testing.T) {
	const h, b, a, gamma = 3, 5, 2, 0.9
	rng := rand.New(rand.NewPCG(4, 4))
	rnd := func(n int, s, o float64) []float64 { return f32(thRandn(rng, n, s, o)) }
	reward, minQ := rnd(h*b, 1, 0), rnd(h*b, 3, 1)
	raw, pm, pls, qm, qls := rnd(h*b*a, 0.7, 0), rnd(h*b*a, 0.5, 0), rnd(h*b*a, 0.3, -0.7), rnd(h*b*a, 0.5, 0), rnd(h*b*a, 0.3, -0.3)
	cont, valid := make([]float64, h*b), make([]float64, h*b)
	for i := range cont {
		if rng.IntN(4) > 0 { // a quarter of the steps terminate
			cont[i] = 1
		}
		valid[i] = float64(rng.IntN(2))
	}
	run := func(lambda float64) (y, plain []float64) {
		outs := thRun(t, func(g *Graph, in []*Node) []*Node {
			logPi := GaussianLogProb(in[4], in[5], in[6])
			logPrior := GaussianLogProb(in[4], in[7], in[8])
			return []*Node{
				SoftTDTarget(in[0], in[1], in[2], logPi, logPrior, Scalar(g, dt, lambda), in[3], gamma),
				TDTarget(in[0], in[1], in[2], gamma),
			}
		}, thT32(reward, h, b), thT32(cont, h, b), thT32(minQ, h, b), thT32(valid, h, b),
			thT32(raw, h, b, a), thT32(pm, h, b, a), thT32(pls, h, b, a), thT32(qm, h, b, a), thT32(qls, h, b, a))
		return outs[0], outs[1]
	}
	exp := func(x []float64) []float64 {
		o := make([]float64, len(x))
		for i, v := range x {
			o[i] = math.Exp(v)
		}
		return o
	}
	ps, qs := exp(pls), exp(qls)
	for _, lambda := range []float64{0, 0.3, 9} {
		y, plain := run(lambda)
		for i := 0; i < h*b; i++ {
			sl := func(x []float64) []float64 { return x[i*a : (i+1)*a] }
			lp := thLogProb(sl(raw), sl(pm), sl(ps))
			lq := thLogProb(sl(raw), sl(qm), sl(qs))
			want := reward[i] + gamma*cont[i]*(minQ[i]-lambda*valid[i]*(lp-lq))
			require.InDelta(t, want, y[i], 1e-4*math.Max(1, math.Abs(want)), "lambda %v entry %d", lambda, i)
			plainWant := reward[i] + gamma*cont[i]*minQ[i]
			require.InDelta(t, plainWant, plain[i], 1e-5*math.Max(1, math.Abs(plainWant)))
			if lambda == 0 {
				require.Equal(t, plain[i], y[i], "lambda = 0 gives the plain Q target")
			}
		}
	}
}

func TestPriorLossMaskingAndDirections(t *testing.T) {
	const tt, b, a, rho = 3, 4, 2, 0.5
	rng := rand.New(rand.NewPCG(5, 5))
	rnd := func(n int, s, o float64) []float64 { return f32(thRandn(rng, n, s, o)) }
	pm, pls, qm := rnd(tt*b*a, 0.5, 0), rnd(tt*b*a, 0.3, -0.5), rnd(tt*b*a, 0.5, 0)
	qs := make([]float64, tt*b*a)
	for i := range qs {
		qs[i] = float64(float32(0.2 + rng.Float64()))
	}
	valid := []float64{1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0}
	run := func(dir KLDir, qm, qs []float64) (loss float64, kl []float64) {
		outs := thRun(t, func(g *Graph, in []*Node) []*Node {
			l, k := PriorLoss(in[0], in[1], in[2], in[3], in[4], dir, rho)
			return []*Node{l, k}
		}, thT32(pm, tt, b, a), thT32(pls, tt, b, a), thT32(qm, tt, b, a), thT32(qs, tt, b, a), thT32(valid, tt, b))
		return outs[0][0], outs[1]
	}
	// Wild values where valid = 0.
	qm2, qs2 := append([]float64(nil), qm...), append([]float64(nil), qs...)
	for i, v := range valid {
		if v == 0 {
			for j := 0; j < a; j++ {
				qm2[i*a+j] = 1e3 * float64(j+1)
				qs2[i*a+j] = 1e-3 + 50*float64(j)
			}
		}
	}
	losses := map[KLDir]float64{}
	for _, dir := range []KLDir{KLForward, KLReverse} {
		loss, kl := run(dir, qm, qs)
		loss2, _ := run(dir, qm2, qs2)
		assert.Equal(t, loss, loss2, "%s: masked entries must not change the loss", dir)
		// Hand formula.
		perStep := make([]float64, tt)
		for s := 0; s < tt; s++ {
			num, den := 0.0, 0.0
			for j := 0; j < b; j++ {
				i := s*b + j
				sl := func(x []float64) []float64 { return x[i*a : (i+1)*a] }
				sp := make([]float64, a)
				for k := range sp {
					sp[k] = math.Exp(pls[i*a+k])
				}
				var want float64
				if dir == KLForward {
					want = thKL(sl(qm), sl(qs), sl(pm), sp)
				} else {
					want = thKL(sl(pm), sp, sl(qm), sl(qs))
				}
				assert.InDelta(t, want, kl[i], 1e-5*math.Max(1, want))
				num += valid[i] * want
				den += valid[i]
			}
			perStep[s] = num / math.Max(den, 1)
		}
		want := thRhoMean(perStep, rho)
		assert.InDelta(t, want, loss, 1e-5*math.Max(1, want), "%s loss", dir)
		losses[dir] = loss
	}
	assert.Greater(t, math.Abs(losses[KLForward]-losses[KLReverse]), 1e-3, "forward and reverse KL must differ")
}

// --- end-to-end masking through Agent.Update ---

func thMaskVariants() map[string]Config {
	planner := thTinyConfig()
	planner.Prior, planner.Lambda, planner.KLCritic = PriorPlanner, 1, true
	learnedRev := thTinyConfig()
	learnedFwd := thTinyConfig()
	learnedFwd.PriorKL = KLForward
	bmpc := BMPC().WithSize(SizeTiny)
	bmpc.ReanalyzeSeqs = 2
	return map[string]Config{"planner_lambda1_klcritic": planner, "learned_reverse": learnedRev,
		"learned_forward": learnedFwd, "bmpc": bmpc}
}

// thTwoAgentUpdates runs n updates on two fresh agents of the same config (same seed), one fed
// b1 and the other b2, and returns both metric sequences and final parameters.
func thTwoAgentUpdates(t *testing.T, cfg Config, b1, b2 *Batch, n int) (m1, m2 []map[string]float64, equalParams bool) {
	t.Helper()
	a1 := thAgent(t, cfg, b1.ObsDim, b1.ActDim)
	a2 := thAgent(t, cfg, b2.ObsDim, b2.ActDim)
	for i := 0; i < n; i++ {
		x1, err := a1.Update(b1)
		require.NoError(t, err)
		x2, err := a2.Update(b2)
		require.NoError(t, err)
		m1, m2 = append(m1, x1), append(m2, x2)
	}
	return m1, m2, len(thParamsDiff(t, thParams(t, a1), thParams(t, a2))) == 0
}

func TestSeedPhaseMaskingEndToEnd(t *testing.T) {
	const h, b, o, a = 3, 8, 4, 2
	for name, cfg := range thMaskVariants() {
		t.Run(name, func(t *testing.T) {
			b1 := thBatch(1, h, b, o, a, 0)
			b2 := thCloneBatch(b1)
			for i := range b2.PlanMean {
				b2.PlanMean[i] = -b2.PlanMean[i]*1.2 + 0.3
				b2.PlanStd[i] = 0.05 + 1.9*float32(i%7)/6
			}
			m1, m2, same := thTwoAgentUpdates(t, cfg, b1, b2, 2)
			require.Equal(t, m1, m2, "Valid = 0: the stored planner Gaussians must have no effect")
			require.True(t, same, "Valid = 0: parameters must be identical")
			// The KL term is dropped only where the prior itself is missing: the planner prior
			// without its Gaussians (seed_prior mask). pi_p exists everywhere, and BMPC's seed
			// prior N(0, 1) stands in for the missing q_t.
			if cfg.Prior == PriorPlanner && cfg.SeedPrior != "normal" {
				assert.Equal(t, 0.0, m1[0]["kl/policy_prior"])
			} else {
				assert.Greater(t, m1[0]["kl/policy_prior"], 0.0)
			}

			// Positive control: the same two batches with Valid = 1 give different updates.
			for i := range b1.Valid {
				b1.Valid[i], b2.Valid[i] = 1, 1
			}
			p1, p2, same := thTwoAgentUpdates(t, cfg, b1, b2, 1)
			assert.NotEqual(t, p1[0]["kl/policy_prior"], p2[0]["kl/policy_prior"])
			assert.NotEqual(t, p1[0]["loss/pi"], p2[0]["loss/pi"])
			assert.False(t, same)
		})
	}
}

// TestPolicyStepFollowsItsCritic checks the assembled update, not the loss alone: at finite λ
// pi_s descends (−Qk + λ·KL(pi_s‖pi_p))/S − β·H (alg §4), so its step depends on Qk and on λ and
// not on Q, which only the planner and the world model's value loss use; at λ = 0 (TD-MPC2) it
// descends −Q/S − β·H and the roles swap. Two agents identical but for one critic's online
// weights take one update on the same batch and draws; the gradient clip is lifted so that
// Q's gradient norm cannot reach Qk's step through the world model's shared clip.
func TestPolicyStepFollowsItsCritic(t *testing.T) {
	const h, bs, o, a = 3, 8, 4, 2
	piAfter := func(lambda float64, critic string) map[string]*tensors.Tensor {
		t.Helper()
		cfg := thTinyConfig()
		cfg.Lambda, cfg.GradClipNorm = lambda, 1e30
		ag := thAgent(t, cfg, o, a)
		thPerturbTargets(t, ag)
		for v := range ag.Store().IterVariables() {
			if critic == "" || !strings.HasPrefix(v.Path(), critic+"/") {
				continue
			}
			val, err := v.Value()
			require.NoError(t, err)
			x := thFloats(t, val)
			for i := range x {
				x[i] = 1.5*x[i] + 0.05
			}
			require.NoError(t, v.SetValue(thT32(x, v.Shape().Dimensions...)))
		}
		_, err := ag.Update(thBatch(6, h, bs, o, a, 1))
		require.NoError(t, err)
		pi := map[string]*tensors.Tensor{}
		for p, x := range thParams(t, ag) {
			if strings.HasPrefix(p, scopePi+"/") {
				pi[p] = x
			}
		}
		require.NotEmpty(t, pi)
		return pi
	}
	for _, lambda := range []float64{1, 0} {
		base := piAfter(lambda, "")
		used, unused := scopeQk, scopeQ
		if lambda == 0 {
			used, unused = scopeQ, scopeQk
		}
		assert.Empty(t, thParamsDiff(t, base, piAfter(lambda, unused)), "λ = %g: pi_s's step must not depend on %s", lambda, unused)
		assert.NotEmpty(t, thParamsDiff(t, base, piAfter(lambda, used)), "λ = %g: pi_s's step must depend on %s", lambda, used)
	}
	assert.NotEmpty(t, thParamsDiff(t, piAfter(1, ""), piAfter(3, "")), "pi_s's step must depend on λ")
}

// TestMaskedZeroPlanStd: a batch whose masked (Valid = 0) entries hold zero planner std — what a
// zero-initialized Batch has — must behave like any other masked values.
func TestMaskedZeroPlanStd(t *testing.T) {
	const h, b, o, a = 3, 8, 4, 2
	for name, cfg := range thMaskVariants() {
		t.Run(name, func(t *testing.T) {
			b1 := thBatch(2, h, b, o, a, 1)
			b2 := thCloneBatch(b1)
			// Mask the first half of the sequences; give them zero mean and std in b2.
			for s := 0; s <= h; s++ {
				for k := 0; k < b/2; k++ {
					b1.Valid[s*b+k], b2.Valid[s*b+k] = 0, 0
					for j := 0; j < a; j++ {
						b2.PlanMean[(s*b+k)*a+j], b2.PlanStd[(s*b+k)*a+j] = 0, 0
					}
				}
			}
			m1, m2, same := thTwoAgentUpdates(t, cfg, b1, b2, 1)
			require.Equal(t, m1, m2)
			require.True(t, same)
		})
	}
}

func TestPlannerPriorUsesStoredGaussians(t *testing.T) {
	const h, b, o, a = 3, 8, 4, 2
	b1 := thBatch(3, h, b, o, a, 1)
	b2 := thCloneBatch(b1)
	for i := range b2.PlanMean {
		b2.PlanMean[i] = -b2.PlanMean[i]
	}
	t.Run("lambda1", func(t *testing.T) {
		cfg := thTinyConfig()
		cfg.Prior, cfg.Lambda, cfg.KLCritic = PriorPlanner, 1, true
		m1, m2, _ := thTwoAgentUpdates(t, cfg, b1, b2, 1)
		assert.NotEqual(t, m1[0]["kl/policy_prior"], m2[0]["kl/policy_prior"])
		// The world model before the Qk target is shared: consistency is unaffected.
		assert.Equal(t, m1[0]["loss/consistency"], m2[0]["loss/consistency"])
	})
	t.Run("bmpc", func(t *testing.T) {
		cfg := BMPC().WithSize(SizeTiny)
		require.True(t, cfg.LambdaInf())
		m1, m2, _ := thTwoAgentUpdates(t, cfg, b1, b2, 1)
		assert.NotEqual(t, m1[0]["loss/pi"], m2[0]["loss/pi"])
		assert.NotEqual(t, m1[0]["kl/policy_prior"], m2[0]["kl/policy_prior"])
		assert.Equal(t, m1[0]["loss/value"], m2[0]["loss/value"])
	})
}

// --- config ---

func TestConfigPresets(t *testing.T) {
	for name, c := range map[string]Config{"tdmpc2": TDMPC2(), "bmpc": BMPC(), "pompc": POMPC()} {
		require.NoError(t, c.Validate(), name)
		require.NoError(t, c.WithSize(SizeTiny).Validate(), name)
		p, err := PresetByName(name)
		require.NoError(t, err)
		assert.Equal(t, c, p)
	}
	td := TDMPC2()
	assert.Equal(t, 0.0, td.Lambda)
	assert.Equal(t, PriorNone, td.Prior)
	assert.False(t, td.UsesQk())
	assert.False(t, td.UsesLearnedPrior())
	bm := BMPC()
	assert.True(t, bm.LambdaInf())
	assert.Equal(t, PriorPlanner, bm.Prior)
	assert.False(t, bm.UsesQk())
	po := POMPC()
	assert.Equal(t, 1.0, po.Lambda)
	assert.Equal(t, PriorLearned, po.Prior)
	assert.Equal(t, KLReverse, po.PriorKL)
	assert.True(t, po.UsesQk())
	// The forms of each preset (README "Presets and deviations").
	assert.True(t, td.TanhForm())
	assert.Equal(t, [2]float64{-10, 2}, [2]float64{td.LogStdMin, td.LogStdMax})
	assert.True(t, td.EntropyActionDim)
	assert.Equal(t, [2]float64{-3, 1}, [2]float64{bm.LogStdMin, bm.LogStdMax})
	assert.Equal(t, [2]float64{-2, 1}, [2]float64{bm.ReanalyzeLogStdMin, bm.ReanalyzeLogStdMax})
	assert.Equal(t, []string{"mean", "h", "normal", "elite", "avg"}, []string{bm.KLReduce, bm.PolicyStates, bm.SeedPrior, bm.PlanMean, bm.TDHeads})
	assert.True(t, bm.BurstWorldModelOnly && bm.EntropyActionDim && !bm.TanhForm())
	assert.Equal(t, bm.Horizon, bm.PolicyLatents())
	assert.False(t, po.TanhForm())
	assert.Equal(t, po.Horizon+1, po.PolicyLatents())
	// λ = 0 turns a PO-MPC run into TD-MPC2's losses.
	assert.False(t, po.WithLambda(0).UsesQk())
	assert.False(t, po.WithLambda(0).UsesLearnedPrior())
	assert.False(t, po.WithLambda(0).Reanalyzes())
	_, err := PresetByName("nosuch")
	assert.Error(t, err)
}

func TestConfigValidateReportsAllErrors(t *testing.T) {
	c := POMPC()
	c.Lambda = -1
	c.Horizon = 0
	c.BatchSize = 0
	err := c.Validate()
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"lambda", "horizon", "batch_size"} {
		assert.Contains(t, msg, want)
	}

	c = POMPC()
	c.Lambda = math.NaN()
	require.Error(t, c.Validate())
	c = TDMPC2()
	c.Lambda = 0.5 // prior none needs lambda = 0
	require.Error(t, c.Validate())
	c = POMPC()
	c.Prior = "bogus"
	require.Error(t, c.Validate())
	c = POMPC()
	c.NumElites = c.NumSamples + 1
	require.Error(t, c.Validate())
	c = POMPC()
	c.Size.QHeads = 1
	require.Error(t, c.Validate())
}

func TestConfigSet(t *testing.T) {
	c := POMPC()
	require.NoError(t, c.Set("lambda", "inf"))
	assert.True(t, math.IsInf(c.Lambda, 1))
	require.NoError(t, c.Set("lambda", "9"))
	assert.Equal(t, 9.0, c.Lambda)
	assert.Error(t, c.Set("lambda", "-1"))
	assert.Error(t, c.Set("lambda", "nan"))
	assert.Equal(t, 9.0, c.Lambda, "a rejected value leaves lambda unchanged")

	require.NoError(t, c.Set("size", "1M"))
	assert.Equal(t, Size1M, c.Size)
	require.NoError(t, c.Set("size.mlp_dim", "96"))
	assert.Equal(t, 96, c.Size.MLPDim)
	assert.Equal(t, "custom", c.Size.Name)
	assert.Equal(t, Size1M.Latent, c.Size.Latent)

	require.NoError(t, c.Set("prior", "planner"))
	assert.Equal(t, PriorPlanner, c.Prior)
	require.NoError(t, c.Set("kl_critic", "false"))
	assert.False(t, c.KLCritic)
	require.NoError(t, c.Set("batch_size", "1_024"))
	assert.Equal(t, 1024, c.BatchSize)
	require.NoError(t, c.Set("temperature", "0.25"))
	assert.Equal(t, 0.25, c.Temperature)
	assert.Error(t, c.Set("batch_size", "many"))
	assert.Error(t, c.Set("size", "2M"))

	err := c.Set("no_such_key", "1")
	require.Error(t, err)
	for _, k := range []string{"lambda", "horizon", "prior", "size.mlp_dim", "batch_size"} {
		assert.Contains(t, err.Error(), k, "unknown-key error lists the known keys")
	}
	assert.Contains(t, ConfigKeys(), "size.latent_dim")
}

func TestConfigJSONRoundTrip(t *testing.T) {
	for name, c := range map[string]Config{"bmpc": BMPC(), "pompc": POMPC(), "tdmpc2": TDMPC2()} {
		t.Run(name, func(t *testing.T) {
			c.Seed = 42
			data, err := json.Marshal(c)
			require.NoError(t, err)
			if c.LambdaInf() {
				assert.True(t, strings.Contains(string(data), `"lambda":"inf"`), string(data))
			}
			var back Config
			require.NoError(t, json.Unmarshal(data, &back))
			assert.Equal(t, c, back)
			require.NoError(t, back.Validate())
		})
	}
	var bad Config
	assert.Error(t, json.Unmarshal([]byte(`{"lambda": "-3"}`), &bad))
	assert.Error(t, json.Unmarshal([]byte(`{"lambda": "lots"}`), &bad))
}

// TestPriorLossMaskedZeroStd: PriorLoss must ignore masked entries whatever they hold, including
// the zero std of a zero-initialized batch.
func TestPriorLossMaskedZeroStd(t *testing.T) {
	const tt, b, a = 2, 2, 1
	pm, pls := []float64{0.1, 0.2, -0.3, 0.4}, []float64{-0.5, -0.2, 0, -1}
	qm, qs := []float64{0.3, 0, -0.1, 0}, []float64{0.5, 0, 0.7, 0}
	valid := []float64{1, 0, 1, 0}
	for _, dir := range []KLDir{KLForward, KLReverse} {
		outs := thRun(t, func(g *Graph, in []*Node) []*Node {
			l, _ := PriorLoss(in[0], in[1], in[2], in[3], in[4], dir, 0.5)
			return []*Node{l}
		}, thT32(pm, tt, b, a), thT32(pls, tt, b, a), thT32(qm, tt, b, a), thT32(qs, tt, b, a), thT32(valid, tt, b))
		var want float64
		if dir == KLForward {
			want = (thKL(qm[0:1], qs[0:1], pm[0:1], []float64{math.Exp(pls[0])}) +
				0.5*thKL(qm[2:3], qs[2:3], pm[2:3], []float64{math.Exp(pls[2])})) / 2
		} else {
			want = (thKL(pm[0:1], []float64{math.Exp(pls[0])}, qm[0:1], qs[0:1]) +
				0.5*thKL(pm[2:3], []float64{math.Exp(pls[2])}, qm[2:3], qs[2:3])) / 2
		}
		assert.InDelta(t, want, outs[0][0], 1e-5, "%s: masked entries with zero std must not turn the loss into NaN", dir)
	}
}
