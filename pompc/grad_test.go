package pompc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

// thGradInput is one float64 input of a gradient check.
type thGradInput struct {
	name string
	data []float64
	dims []int
	diff bool // differentiate w.r.t. this input
}

// thGradCheck compares graph.Gradient of the scalar fn(inputs) with central finite differences
// for every input marked diff, element by element (float64, step 1e-6). It returns the analytic
// gradients, one per differentiated input.
func thGradCheck(t *testing.T, fn func(in []*Node) *Node, inputs ...thGradInput) [][]float64 {
	t.Helper()
	b := thBackend(t)
	var wrt []int
	for i, in := range inputs {
		if in.diff {
			wrt = append(wrt, i)
		}
	}
	lossExec, err := NewExec(b, func(g *Graph, in []*Node) []*Node { return []*Node{fn(in)} })
	require.NoError(t, err)
	defer lossExec.Finalize()
	gradExec, err := NewExec(b, func(g *Graph, in []*Node) []*Node {
		nodes := make([]*Node, len(wrt))
		for k, i := range wrt {
			nodes[k] = in[i]
		}
		return Gradient(fn(in), nodes...)
	})
	require.NoError(t, err)
	defer gradExec.Finalize()
	args := func(override int, data []float64) []any {
		out := make([]any, len(inputs))
		for i, in := range inputs {
			d := in.data
			if i == override {
				d = data
			}
			out[i] = tensors.FromFlatDataAndDimensions(append([]float64(nil), d...), in.dims...)
		}
		return out
	}
	eval := func(override int, data []float64) float64 {
		outs, err := lossExec.Call(args(override, data)...)
		require.NoError(t, err)
		return thFloats(t, outs[0])[0]
	}
	gOuts, err := gradExec.Call(args(-1, nil)...)
	require.NoError(t, err)
	const h = 1e-6
	res := make([][]float64, len(wrt))
	for k, i := range wrt {
		grad := thFloats(t, gOuts[k])
		require.Len(t, grad, len(inputs[i].data))
		pert := append([]float64(nil), inputs[i].data...)
		maxAbs := 0.0
		for j := range pert {
			x0 := pert[j]
			pert[j] = x0 + h
			fp := eval(i, pert)
			pert[j] = x0 - h
			fm := eval(i, pert)
			pert[j] = x0
			fd := (fp - fm) / (2 * h)
			tol := 1e-6 + 1e-5*math.Max(math.Abs(fd), math.Abs(grad[j]))
			if !(math.Abs(fd-grad[j]) <= tol) {
				require.Failf(t, "gradient mismatch", "d/d%s[%d]: autodiff %.10g, finite differences %.10g",
					inputs[i].name, j, grad[j], fd)
			}
			maxAbs = math.Max(maxAbs, math.Abs(grad[j]))
		}
		// A gradient check on an all-zero gradient proves little.
		require.Greater(t, maxAbs, 1e-4, "gradient w.r.t. %s is identically ~0", inputs[i].name)
		res[k] = grad
	}
	return res
}

func thRandn(rng *rand.Rand, n int, scale, offset float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = offset + scale*rng.NormFloat64()
	}
	return x
}

// thSmallBins is a config with a small two-hot support, so finite differences stay cheap.
func thSmallBins() Config {
	c := POMPC()
	c.NumBins, c.VMin, c.VMax = 11, -3, 3
	c.Rho = 0.7
	return c
}

func TestGradConsistencyLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	h, b, l := 3, 2, 4
	thGradCheck(t, func(in []*Node) *Node { return ConsistencyLoss(in[0], in[1], 0.6) },
		thGradInput{"zPred", thRandn(rng, h*b*l, 1, 0), []int{h, b, l}, true},
		thGradInput{"zTarget", thRandn(rng, h*b*l, 1, 0), []int{h, b, l}, false})
}

func TestGradRewardLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := thSmallBins()
	h, b := 3, 2
	thGradCheck(t, func(in []*Node) *Node { return RewardLoss(in[0], in[1], cfg) },
		thGradInput{"logits", thRandn(rng, h*b*cfg.NumBins, 1, 0), []int{h, b, cfg.NumBins}, true},
		thGradInput{"reward", thRandn(rng, h*b, 3, 0), []int{h, b}, false})
}

func TestGradValueLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	cfg := thSmallBins()
	e, h, b := 2, 3, 2
	thGradCheck(t, func(in []*Node) *Node { return ValueLoss(in[0], in[1], cfg) },
		thGradInput{"logits", thRandn(rng, e*h*b*cfg.NumBins, 1, 0), []int{e, h, b, cfg.NumBins}, true},
		thGradInput{"target", thRandn(rng, h*b, 3, 0), []int{h, b}, false})
}

func TestGradPriorLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 4))
	tt, b, a := 3, 3, 2
	valid := []float64{1, 0, 1, 1, 1, 0, 0, 1, 1}
	planStd := make([]float64, tt*b*a)
	for i := range planStd {
		planStd[i] = 0.2 + rng.Float64()
	}
	for _, dir := range []KLDir{KLForward, KLReverse} {
		t.Run(string(dir), func(t *testing.T) {
			grads := thGradCheck(t, func(in []*Node) *Node {
				loss, _ := PriorLoss(in[0], in[1], in[2], in[3], in[4], dir, 0.5)
				return loss
			},
				thGradInput{"priorMean", thRandn(rng, tt*b*a, 0.5, 0), []int{tt, b, a}, true},
				thGradInput{"priorLogStd", thRandn(rng, tt*b*a, 0.4, -0.5), []int{tt, b, a}, true},
				thGradInput{"planMean", thRandn(rng, tt*b*a, 0.5, 0), []int{tt, b, a}, false},
				thGradInput{"planStd", planStd, []int{tt, b, a}, false},
				thGradInput{"valid", valid, []int{tt, b}, false})
			// Masked entries get exactly zero gradient.
			for _, g := range grads {
				for i, v := range valid {
					if v == 0 {
						for j := 0; j < a; j++ {
							require.Equal(t, 0.0, g[i*a+j])
						}
					}
				}
			}
		})
	}
}

func TestGradPolicyLossTerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	tt, b := 3, 4
	const lambda, scale, beta, rho = 0.7, 1.7, 0.3, 0.5
	valid := []float64{1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1}
	for _, inf := range []bool{false, true} {
		t.Run(fmt.Sprintf("lambdaInf=%v", inf), func(t *testing.T) {
			fn := func(in []*Node) *Node {
				g := in[0].Graph()
				terms := PolicyLossTerms{Q: in[0], KL: in[1], Entropy: in[2], Valid: in[3]}
				return PolicyLoss(terms, Const(g, lambda), inf, Const(g, scale), beta, rho)
			}
			inputs := []thGradInput{
				{"Q", thRandn(rng, tt*b, 2, 0), []int{tt, b}, !inf},
				{"KL", thRandn(rng, tt*b, 1, 2), []int{tt, b}, true},
				{"Entropy", thRandn(rng, tt*b, 1, 0), []int{tt, b}, true},
				{"Valid", valid, []int{tt, b}, false},
			}
			grads := thGradCheck(t, fn, inputs...)
			// The gradients are also known in closed form: dL/dx_{t,b} = c · ρ^t / (T·B).
			k := 0
			if !inf {
				for i := range grads[0] {
					w := math.Pow(rho, float64(i/b)) / float64(tt*b)
					require.InDelta(t, -w/scale, grads[0][i], 1e-12, "dL/dQ")
				}
				k = 1
			}
			for i := range grads[k] {
				w := math.Pow(rho, float64(i/b)) / float64(tt*b)
				klCoef := lambda * valid[i] / scale
				if inf {
					klCoef = valid[i] / scale
				}
				require.InDelta(t, klCoef*w, grads[k][i], 1e-12, "dL/dKL")
				require.InDelta(t, -beta*w, grads[k+1][i], 1e-12, "dL/dH")
			}
			if inf {
				// Q has no effect at all on the BMPC form.
				outs := thRun(t, func(g *Graph, in []*Node) []*Node {
					return Gradient(fn(in), in[0])
				}, thT64(inputs[0].data, tt, b), thT64(inputs[1].data, tt, b), thT64(inputs[2].data, tt, b), thT64(valid, tt, b))
				for _, v := range outs[0] {
					require.Equal(t, 0.0, v)
				}
			}
		})
	}
}

// TestGradPolicyLossClosedForm differentiates the policy loss through a tiny closed-form
// parameterization: mean = tanh(μ), std = exp(ls), Q = −Σ(mean − c)², KL = KL(π || prior),
// H = H(π).
func TestGradPolicyLossClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6))
	tt, b, a := 2, 3, 2
	valid := []float64{1, 0, 1, 1, 1, 1}
	pStd := make([]float64, tt*b*a)
	for i := range pStd {
		pStd[i] = 0.3 + rng.Float64()
	}
	for _, inf := range []bool{false, true} {
		t.Run(fmt.Sprintf("lambdaInf=%v", inf), func(t *testing.T) {
			thGradCheck(t, func(in []*Node) *Node {
				g := in[0].Graph()
				mean, ls := Tanh(in[0]), in[1]
				q := Neg(ReduceSum(Square(Sub(mean, in[2])), -1))
				kl := GaussianKL(mean, Exp(ls), in[3], in[4])
				terms := PolicyLossTerms{Q: q, KL: kl, Entropy: GaussianEntropy(ls), Valid: in[5]}
				return PolicyLoss(terms, Const(g, 2.0), inf, Const(g, 1.3), 0.1, 0.5)
			},
				thGradInput{"mu", thRandn(rng, tt*b*a, 0.5, 0), []int{tt, b, a}, true},
				thGradInput{"logStd", thRandn(rng, tt*b*a, 0.3, -0.5), []int{tt, b, a}, true},
				thGradInput{"c", thRandn(rng, tt*b*a, 0.5, 0), []int{tt, b, a}, false},
				thGradInput{"priorMean", thRandn(rng, tt*b*a, 0.5, 0), []int{tt, b, a}, false},
				thGradInput{"priorStd", pStd, []int{tt, b, a}, false},
				thGradInput{"valid", valid, []int{tt, b}, false})
		})
	}
}

func TestGradGaussianHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 7))
	n, d := 3, 2
	pos := func(k int) []float64 {
		x := make([]float64, k)
		for i := range x {
			x[i] = 0.3 + rng.Float64()
		}
		return x
	}
	thGradCheck(t, func(in []*Node) *Node {
		return ReduceAllSum(Mul(GaussianKL(in[0], in[1], in[2], in[3]), Const(in[0].Graph(), []float64{1, 0.5, -2})))
	},
		thGradInput{"m1", thRandn(rng, n*d, 1, 0), []int{n, d}, true},
		thGradInput{"s1", pos(n * d), []int{n, d}, true},
		thGradInput{"m2", thRandn(rng, n*d, 1, 0), []int{n, d}, true},
		thGradInput{"s2", pos(n * d), []int{n, d}, true})
	thGradCheck(t, func(in []*Node) *Node {
		return ReduceAllSum(Mul(GaussianLogProb(in[0], in[1], in[2]), Const(in[0].Graph(), []float64{1, 0.5, -2})))
	},
		thGradInput{"x", thRandn(rng, n*d, 1, 0), []int{n, d}, true},
		thGradInput{"mean", thRandn(rng, n*d, 1, 0), []int{n, d}, true},
		thGradInput{"logStd", thRandn(rng, n*d, 0.5, 0), []int{n, d}, true})
	// SymLog (away from its kink at 0) and TwoHotInv w.r.t. logits.
	thGradCheck(t, func(in []*Node) *Node {
		return ReduceAllSum(Mul(SymLog(in[0]), in[0]))
	}, thGradInput{"x", []float64{-7, -1.5, -0.2, 0.3, 2, 40}, []int{6}, true})
	cfg := thSmallBins()
	thGradCheck(t, func(in []*Node) *Node {
		return ReduceAllSum(TwoHotInv(in[0], cfg.NumBins, cfg.VMin, cfg.VMax))
	}, thGradInput{"logits", thRandn(rng, 2*cfg.NumBins, 1, 0), []int{2, cfg.NumBins}, true})
}
