package pompc

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"
	"github.com/stretchr/testify/require"
)

// TestMishGradValuesAndGradient checks the training form of Mish: the value is exactly the
// inference form's, and its closed-form derivative matches autodiff of x·tanh(softplus(x))
// and central finite differences, across the range where the cap at 20 matters too.
func TestMishGradValuesAndGradient(t *testing.T) {
	xs := []float64{-30, -12, -5, -2, -1, -0.3, 0, 0.2, 1, 2.5, 7, 15, 19.9, 20.5, 40}
	out := thRun(t, func(g *Graph, in []*Node) []*Node {
		x := in[0]
		a, b := mishGrad(x), Mish(x)
		ga := Gradient(ReduceAllSum(a), x)[0]
		gb := Gradient(ReduceAllSum(mishReference(x)), x)[0]
		return []*Node{a, b, ga, gb}
	}, thT64(xs, len(xs)))
	require.Equal(t, out[1], out[0], "mishGrad's value must be Mish's, bit for bit")
	thClose(t, out[3], out[2], 1e-12, 1e-9, "mish' against autodiff of the textbook form")

	rng := rand.New(rand.NewPCG(3, 4))
	w := thRandn(rng, 12, 1, 0)
	thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(mishGrad(in[0]), in[1])) },
		thGradInput{name: "x", data: thRandn(rng, 12, 3, 0), dims: []int{3, 4}, diff: true},
		thGradInput{name: "w", data: w, dims: []int{3, 4}})
}

// normedLinearReference is Linear → LayerNorm(γ, β) written with GoMLX's ops (matmul, bias
// broadcast, the fused LayerNorm op and its decomposed derivative), differentiated by autodiff.
func normedLinearReference(x, w, b, gain, offset *Node, drop func(*Node) *Node) *Node {
	var h *Node
	if x.Rank() == 2 {
		h = Add(Dot(x, w).Product(), ExpandLeftToRank(b, 2))
	} else {
		h = Add(Einsum("eni,eio->eno", x, w), b)
	}
	if drop != nil {
		h = drop(h)
	}
	if x.Rank() == 2 {
		return nn.LayerNorm(h, []int{-1}, 1e-5, ExpandLeftToRank(gain, 2), ExpandLeftToRank(offset, 2), nil)
	}
	return Add(Mul(nn.LayerNorm(h, []int{-1}, 1e-5, nil, nil, nil), gain), offset)
}

// TestNormedLinearTrainMatchesReference checks the training form of NormedLinear (plain and
// ensemble, with and without a dropout mask between Linear and LayerNorm): values against the
// reference, gradients w.r.t. x, W, b, γ and β against the reference's autodiff and against
// central finite differences. Rows get different scales and offsets, one of them nearly constant
// after the bias (the ε regime).
func TestNormedLinearTrainMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name    string
		e, r, i int
		o       int
		drop    bool
	}{
		{"plain", 0, 5, 4, 6, false},
		{"plain-square-dropout", 0, 5, 6, 6, true},
		{"ensemble", 2, 4, 3, 5, false},
		{"ensemble-dropout", 2, 4, 5, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lead := []int{tc.r}
			pdims := []int{tc.o}
			wdims := []int{tc.i, tc.o}
			if tc.e > 0 {
				lead = []int{tc.e, tc.r}
				pdims = []int{tc.e, 1, tc.o}
				wdims = []int{tc.e, tc.i, tc.o}
			}
			xd := append(append([]int{}, lead...), tc.i)
			od := append(append([]int{}, lead...), tc.o)
			x := thRandn(rng, thSize(xd), 2, 0.5)
			for j := 0; j < tc.i; j++ { // row 0: nearly constant input, so p is nearly the bias
				x[j] = 1e-4 * rng.NormFloat64()
			}
			w := thRandn(rng, thSize(wdims), 0.7, 0)
			b := thRandn(rng, thSize(pdims), 1, 0)
			gain := thRandn(rng, thSize(pdims), 0.5, 1)
			offset := thRandn(rng, thSize(pdims), 0.5, 0)
			cot := thRandn(rng, thSize(od), 1, 0)
			mask := make([]float64, thSize(od))
			for j := range mask {
				if rng.Float64() > 0.25 {
					mask[j] = 1 / 0.75
				}
			}
			dropFn := func(m *Node) func(*Node) *Node {
				if !tc.drop {
					return nil
				}
				return func(h *Node) *Node { return Mul(h, m) }
			}
			fn := func(train bool) func(in []*Node) *Node {
				return func(in []*Node) *Node {
					f := normedLinearReference
					if train {
						f = normedLinearTrain
					}
					return ReduceAllSum(Mul(f(in[0], in[1], in[2], in[3], in[4], dropFn(in[6])), in[5]))
				}
			}
			inputs := []thGradInput{
				{name: "x", data: x, dims: xd, diff: true}, {name: "w", data: w, dims: wdims, diff: true},
				{name: "b", data: b, dims: pdims, diff: true}, {name: "gain", data: gain, dims: pdims, diff: true},
				{name: "offset", data: offset, dims: pdims, diff: true}, {name: "cot", data: cot, dims: od},
				{name: "mask", data: mask, dims: od},
			}
			got := thGradCheck(t, fn(true), inputs...)
			want := thGradCheck(t, fn(false), inputs...)
			for k := range got {
				thClose(t, want[k], got[k], 1e-9, 1e-7, "gradient %d against the reference's autodiff", k)
			}
			// Each parameter differentiated alone gets the same gradient as all together (the
			// hooks that record the adjoints must lie on every parameter's path).
			for k := range got {
				alone := append([]thGradInput(nil), inputs...)
				for j := range alone {
					alone[j].diff = j == k
				}
				thClose(t, got[k], thGradCheck(t, fn(true), alone...)[0], 1e-12, 1e-9, "%s differentiated alone", inputs[k].name)
			}
			args := make([]any, len(inputs))
			for k, in := range inputs {
				args[k] = thT64(in.data, in.dims...)
			}
			vals := thRun(t, func(g *Graph, in []*Node) []*Node {
				return []*Node{normedLinearTrain(in[0], in[1], in[2], in[3], in[4], dropFn(in[6])),
					normedLinearReference(in[0], in[1], in[2], in[3], in[4], dropFn(in[6]))}
			}, args...)
			thClose(t, vals[1], vals[0], 1e-10, 1e-9, "values")
		})
	}
}

// thSize is the number of elements of a tensor with the given dimensions.
func thSize(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// TestDenseTrainMatchesReference checks the training form of Linear (plain and ensemble,
// square and not) against autodiff of x·W + b and finite differences.
func TestDenseTrainMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct{ e, r, i, o int }{{0, 5, 4, 3}, {0, 3, 4, 4}, {2, 3, 4, 6}, {2, 3, 5, 5}} {
		xd, wd, bd, od := []int{tc.r, tc.i}, []int{tc.i, tc.o}, []int{tc.o}, []int{tc.r, tc.o}
		if tc.e > 0 {
			xd, wd, bd, od = []int{tc.e, tc.r, tc.i}, []int{tc.e, tc.i, tc.o}, []int{tc.e, 1, tc.o}, []int{tc.e, tc.r, tc.o}
		}
		inputs := []thGradInput{
			{name: "x", data: thRandn(rng, thSize(xd), 1, 0), dims: xd, diff: true},
			{name: "w", data: thRandn(rng, thSize(wd), 1, 0), dims: wd, diff: true},
			{name: "b", data: thRandn(rng, thSize(bd), 1, 0), dims: bd, diff: true},
			{name: "cot", data: thRandn(rng, thSize(od), 1, 0), dims: od},
		}
		got := thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(denseTrain(in[0], in[1], in[2]), in[3])) }, inputs...)
		want := thGradCheck(t, func(in []*Node) *Node {
			return ReduceAllSum(Mul(Add(matmul(in[0], in[1]), ExpandLeftToRank(in[2], in[0].Rank())), in[3]))
		}, inputs...)
		for k := range got {
			thClose(t, want[k], got[k], 1e-10, 1e-9, "case %v gradient %d", tc, k)
		}
	}
}

// TestSpreadAndSumHelpers checks the matmul-based sums and broadcasts (values and gradients).
func TestSpreadAndSumHelpers(t *testing.T) {
	out := thRun(t, func(g *Graph, in []*Node) []*Node {
		x := in[0] // [2, 3]
		e := Reshape(Concatenate([]*Node{x, MulScalar(x, 10)}, 0), 2, 2, 3)
		return []*Node{sumLast(x), spreadLast(Const(g, []float64{7, 8}), 3),
			spreadRows(Const(g, []float64{1, 2, 3}), 2),
			spreadRows(Const(g, [][][]float64{{{1, 2}}, {{3, 4}}}), 3),
			colSums(x), colSums(e), sumLast(e),
			outerRows(Const(g, []float64{1, 2}), Const(g, []float64{1, 10, 100})),
			outerRows(Const(g, [][]float64{{1, 2}, {3, 4}}), Const(g, [][][]float64{{{1, 10}}, {{2, 20}}})),
			rank2(Const(g, []float64{1, 2}), Const(g, []float64{10, 20, 30})),
			weightedColSums(Const(g, []float64{2, 3}), x),
		}
	}, thT64([]float64{1, 2, 3, 4, 5, 6}, 2, 3))
	require.Equal(t, []float64{6, 15}, out[0])
	require.Equal(t, []float64{7, 7, 7, 8, 8, 8}, out[1])
	require.Equal(t, []float64{1, 2, 3, 1, 2, 3}, out[2])
	require.Equal(t, []float64{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}, out[3])
	require.Equal(t, []float64{5, 7, 9}, out[4])
	require.Equal(t, []float64{5, 7, 9, 50, 70, 90}, out[5])
	require.Equal(t, []float64{6, 15, 60, 150}, out[6])
	require.Equal(t, []float64{1, 10, 100, 2, 20, 200}, out[7])
	require.Equal(t, []float64{1, 10, 2, 20, 6, 60, 8, 80}, out[8])
	require.Equal(t, []float64{11, 21, 31, 12, 22, 32}, out[9])
	require.Equal(t, []float64{14, 19, 24}, out[10])
}

// TestTrainingFormsMatchInference runs every network of an agent in both forms on the same
// inputs: values must agree, and so must the gradients of a random linear functional of the
// outputs with respect to every trainable variable and to the inputs (alg §2; the update
// differentiates the training forms, the planner runs the inference forms).
func TestTrainingFormsMatchInference(t *testing.T) {
	cfg := thTinyConfig()
	cfg.Dropout = 0 // dropout masks are random draws; both forms must see the same function
	const obsDim, actDim, rows = 5, 2, 6
	ag := thAgent(t, cfg, obsDim, actDim)
	vars := func(g *Graph) []*Node {
		var nodes []*Node
		for v := range ag.store.IterVariables() {
			if v.Trainable && v.Shape().DType == dtypes.Float32 {
				nodes = append(nodes, v.NodeValue(g))
			}
		}
		return nodes
	}
	forward := func(n *nets, obs, act *Node) []*Node {
		z := n.Encode(obs)
		heads := Const(obs.Graph(), []int32{1, 0})
		pm, pls := n.Policy(scopePi, z)
		return []*Node{z, n.Next(z, act), n.Reward(z, act), n.QEnsemble(scopeQ, z, act, nil),
			n.QEnsemble(scopeQk, z, act, heads), pm, pls}
	}
	exec, err := model.NewExec(ag.backend, ag.store, func(s *model.Scope, in []*Node) []*Node {
		g := in[0].Graph()
		var outs []*Node
		for _, n := range []*nets{ag.n, ag.n.withGrad()} {
			fs := forward(n, in[0], in[1])
			loss := ScalarZero(g, dt)
			for i, f := range fs {
				w := Sin(MulScalar(IotaFull(g, shapes.Make(dt, f.Shape().Dimensions...)), 0.37+0.1*float64(i)))
				loss = Add(loss, ReduceAllSum(Mul(f, w)))
			}
			wrt := append(vars(g), in[0], in[1])
			outs = append(outs, fs...)
			outs = append(outs, Gradient(loss, wrt...)...)
		}
		return outs
	})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(9, 10))
	obs := make([]float32, rows*obsDim)
	act := make([]float32, rows*actDim)
	for i := range obs {
		obs[i] = float32(rng.NormFloat64())
	}
	for i := range act {
		act[i] = float32(2*rng.Float64() - 1)
	}
	res, err := exec.Call(tensors.FromFlatDataAndDimensions(obs, rows, obsDim), tensors.FromFlatDataAndDimensions(act, rows, actDim))
	require.NoError(t, err)
	half := len(res) / 2
	require.Greater(t, half, 7+10, "gradients for the variables and inputs")
	for i := 0; i < half; i++ {
		want, got := thFloats(t, res[i]), thFloats(t, res[half+i])
		scale := 0.0
		for _, v := range want {
			scale = math.Max(scale, math.Abs(v))
		}
		thClose(t, want, got, 1e-6+1e-4*scale, 1e-4, "output %d", i)
	}
}
