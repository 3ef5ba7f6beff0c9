package pompc

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// thSetVar overwrites a variable of the agent's store.
func thSetVar(t *testing.T, ag *Agent, path string, data []float32) {
	t.Helper()
	v := ag.Store().GetVariable(path)
	require.NotNil(t, v, "no variable %s", path)
	require.Equal(t, v.Shape().Size(), len(data), path)
	require.NoError(t, v.SetValue(tensors.FromFlatDataAndDimensions(data, v.Shape().Dimensions...)))
}

func thFill(n int, x float32) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = x
	}
	return d
}

// thPeakedReward hand-builds the reward head R(z, a) of a 1-D action so that it ignores z and is
// maximal (= 0) exactly at a = aStar, strictly decreasing in |a − aStar|:
//
//	h0: units 0/1 = ±(a − a*), units 2/3 = ±1 (constant, so that LayerNorm keeps the magnitude);
//	    after LayerNorm + Mish, h0[0] + h0[1] = Mish(k) + Mish(−k) is even in k ∝ (a − a*) and
//	    increasing in |k|;
//	h1: units 0/1 = ±(h0[0] + h0[1]), units 2/3 = ±1, so h1[0] ≥ 0 grows with |a − a*|;
//	out: logit_i = −β·h1[0]·centre_i (β = 0.03: a smooth bump, not a needle), i.e. the two-hot distribution tilts towards negative bins
//	    away from a*, and is uniform (expected symlog value 0) at a*.
func thPeakedReward(t *testing.T, ag *Agent, aStar float32) {
	cfg := ag.cfg
	in := cfg.Size.Latent + ag.actDim
	hid := cfg.Size.MLPDim
	bins := cfg.NumBins
	require.Equal(t, 1, ag.actDim)
	const pre = scopeReward
	w0 := make([]float32, in*hid)
	w0[(in-1)*hid+0], w0[(in-1)*hid+1] = 1, -1 // the action is the last input
	b0 := make([]float32, hid)
	b0[0], b0[1], b0[2], b0[3] = -aStar, aStar, 1, -1
	w1 := make([]float32, hid*hid)
	w1[0*hid+0], w1[1*hid+0] = 1, 1
	w1[0*hid+1], w1[1*hid+1] = -1, -1
	b1 := make([]float32, hid)
	b1[2], b1[3] = 1, -1
	w2 := make([]float32, hid*bins)
	step := (cfg.VMax - cfg.VMin) / float64(bins-1)
	for i := 0; i < bins; i++ {
		w2[0*bins+i] = float32(-0.03 * (cfg.VMin + float64(i)*step))
	}
	thSetVar(t, ag, pre+"/h0/linear/dense/weights", w0)
	thSetVar(t, ag, pre+"/h0/linear/dense/biases", b0)
	thSetVar(t, ag, pre+"/h0/ln/layer_normalization/gain", thFill(hid, 1))
	thSetVar(t, ag, pre+"/h0/ln/layer_normalization/offset", thFill(hid, 0))
	thSetVar(t, ag, pre+"/h1/linear/dense/weights", w1)
	thSetVar(t, ag, pre+"/h1/linear/dense/biases", b1)
	thSetVar(t, ag, pre+"/h1/ln/layer_normalization/gain", thFill(hid, 1))
	thSetVar(t, ag, pre+"/h1/ln/layer_normalization/offset", thFill(hid, 0))
	thSetVar(t, ag, pre+"/out/linear/dense/weights", w2)
	thSetVar(t, ag, pre+"/out/linear/dense/biases", thFill(bins, 0))
}

// thRewardOnGrid evaluates R(h(obs), a) on a grid of 1-D actions with the agent's networks.
func thRewardOnGrid(t *testing.T, ag *Agent, obs []float32, grid []float32) []float64 {
	exec, err := model.NewExec(ag.backend, ag.store, func(s *model.Scope, in []*Node) []*Node {
		n := in[1].Shape().Dimensions[0]
		z := BroadcastToDims(ag.n.Encode(in[0]), n, ag.cfg.Size.Latent)
		return []*Node{ag.n.RewardValue(z, in[1])}
	})
	require.NoError(t, err)
	outs, err := exec.Call(tensors.FromFlatDataAndDimensions(obs, 1, ag.obsDim),
		tensors.FromFlatDataAndDimensions(grid, len(grid), 1))
	require.NoError(t, err)
	return thFloats(t, outs[0])
}

func thPlannerConfig() Config {
	c := POMPC().WithSize(SizeTiny)
	c.NumPiTrajs = 0 // the untrained sampling policy plays no part
	c.NumSamples = 256
	c.NumElites = 32
	c.Iterations = 6
	return c
}

func TestPlannerFindsKnownOptimum(t *testing.T) {
	cfg := thPlannerConfig()
	require.NoError(t, cfg.Validate(), "NumPiTrajs = 0 must be allowed")
	obs := []float32{0.3, -0.2, 0.9}
	for _, aStar := range []float32{-0.6, 0.5} {
		for seed := int64(1); seed <= 2; seed++ {
			cfg.Seed = seed
			ag := thAgent(t, cfg, len(obs), 1)
			thPeakedReward(t, ag, aStar)

			// Precondition: the hand-built landscape peaks at a* (checked on a grid).
			grid := make([]float32, 201)
			for i := range grid {
				grid[i] = -1 + float32(i)/100
			}
			r := thRewardOnGrid(t, ag, obs, grid)
			best := 0
			for i := range r {
				if r[i] > r[best] {
					best = i
				}
			}
			require.InDelta(t, float64(aStar), float64(grid[best]), 0.011, "reward landscape argmax")
			require.Less(t, r[best-20], r[best]-0.5, "landscape must be peaked")
			require.Less(t, r[best+20], r[best]-0.5, "landscape must be peaked")

			res, err := ag.Act(obs, true, true)
			require.NoError(t, err)
			t.Logf("a*=%v seed %d: mean0 %v std0 %v clean action %v value %.3g", aStar, seed, res.Mean, res.Std, res.Action, res.Value)
			assert.InDelta(t, float64(aStar), float64(res.Mean[0]), 0.1, "planner mean_0")
			assert.InDelta(t, float64(aStar), float64(res.Action[0]), 0.1, "clean (eval) action")
			assert.InDelta(t, cfg.MinStd, float64(res.Std[0]), 0.05, "std collapses on a sharp optimum")
			// R <= 0 everywhere with max 0 at a*, and Q is 0 at init: the best elite is worth ~0.
			assert.Less(t, res.Value, 0.01)
			assert.Greater(t, res.Value, -0.5)
			// Every step of the warm-start mean targets a* too (the reward ignores z).
			for h, m := range ag.prevMean {
				assert.InDelta(t, float64(aStar), float64(m), 0.15, "plan mean at step %d", h)
			}
			// With exploration noise the action stays near a*.
			res, err = ag.Act(obs, false, false)
			require.NoError(t, err)
			assert.InDelta(t, float64(aStar), float64(res.Action[0]), 0.35)
		}
	}
}

// thFlatConfig is a planner whose samples all have the same value (reward and Q heads start at
// zero), with a fixed tiny std, so that the returned mean is the average of many samples drawn
// around the warm-start mean.
func thFlatConfig() Config {
	c := POMPC().WithSize(SizeTiny)
	c.NumPiTrajs = 0
	c.NumSamples = 256
	c.NumElites = 128
	c.Iterations = 3
	c.MinStd, c.MaxStd = 0.05, 0.05
	return c
}

func TestPlannerWarmStartShiftsPreviousMean(t *testing.T) {
	cfg := thFlatConfig()
	const actDim = 2
	obs := []float32{0.1, -0.4, 0.7}
	ag := thAgent(t, cfg, len(obs), actDim)
	h := cfg.Horizon
	require.Equal(t, 3, h)
	prev := []float32{0.7, -0.7, 0.4, 0.2, -0.5, 0.6} // [H, A]

	// Direct planner call, fresh = 0: starts from prev shifted by one step, last step zero.
	outs, err := ag.plan(obs, prev, []float32{0}, 1)
	require.NoError(t, err)
	mean := outs[planOutMean]
	want := []float64{0.4, 0.2, -0.5, 0.6, 0, 0}
	thClose(t, want, toF64(mean), 0.03, 0, "warm-started mean")
	thClose(t, want[:actDim], toF64(outs[planOutMean0]), 0.03, 0, "mean_0")
	thClose(t, []float64{0.05, 0.05}, toF64(outs[planOutStd0]), 1e-6, 0, "std_0 clamped")

	// fresh = 1 ignores prevMean.
	outs, err = ag.plan(obs, prev, []float32{1}, 1)
	require.NoError(t, err)
	thClose(t, make([]float64, h*actDim), toF64(outs[planOutMean]), 0.03, 0, "fresh start")

	// Several observations at once: each row uses its own prevMean and fresh flag.
	prev2 := append(append([]float32{}, prev...), prev...)
	obs2 := append(append([]float32{}, obs...), obs...)
	outs, err = ag.plan(obs2, prev2, []float32{0, 1}, 2)
	require.NoError(t, err)
	m2 := toF64(outs[planOutMean])
	thClose(t, want, m2[:h*actDim], 0.03, 0, "row 0 warm")
	thClose(t, make([]float64, h*actDim), m2[h*actDim:], 0.03, 0, "row 1 fresh")

	// Through Act: the mean kept between calls is shifted on every non-fresh call.
	copy(ag.prevMean, prev)
	r1, err := ag.Act(obs, false, true)
	require.NoError(t, err)
	thClose(t, want[:actDim], toF64(r1.Mean), 0.03, 0, "Act 1 mean_0")
	after1 := append([]float32(nil), ag.prevMean...)
	thClose(t, want, toF64(after1), 0.03, 0, "Act 1 stored mean")
	r2, err := ag.Act(obs, false, true)
	require.NoError(t, err)
	// Call 2 starts from call 1's final mean shifted by one step.
	shifted := append(toF64(after1[actDim:]), 0, 0)
	thClose(t, shifted[:actDim], toF64(r2.Mean), 0.03, 0, "Act 2 mean_0")
	thClose(t, shifted, toF64(ag.prevMean), 0.03, 0, "Act 2 stored mean")
	r3, err := ag.Act(obs, true, true)
	require.NoError(t, err)
	thClose(t, []float64{0, 0}, toF64(r3.Mean), 0.03, 0, "fresh Act ignores the kept mean")
}

func toF64(x []float32) []float64 {
	o := make([]float64, len(x))
	for i, v := range x {
		o[i] = float64(v)
	}
	return o
}

// TestPlannerOutputsWellFormed checks shapes and ranges of a default-config planner call.
func TestPlannerOutputsWellFormed(t *testing.T) {
	cfg := thTinyConfig()
	ag := thAgent(t, cfg, 3, 2)
	r, err := ag.Act([]float32{0.2, 0.1, -0.3}, true, false)
	require.NoError(t, err)
	for _, x := range [][]float32{r.Action, r.Mean, r.Std, r.PiMean, r.PiStd, r.PriorMean, r.PriorStd} {
		require.Len(t, x, 2)
	}
	for i := 0; i < 2; i++ {
		assert.LessOrEqual(t, math.Abs(float64(r.Action[i])), 1.0)
		assert.GreaterOrEqual(t, float64(r.Std[i]), cfg.MinStd-1e-6)
		assert.LessOrEqual(t, float64(r.Std[i]), cfg.MaxStd+1e-6)
		assert.Greater(t, float64(r.PiStd[i]), math.Exp(cfg.LogStdMin)-1e-6)
		assert.Less(t, float64(r.PiStd[i]), math.Exp(cfg.LogStdMax)+1e-6)
	}
	assert.False(t, math.IsNaN(r.Value))
}
