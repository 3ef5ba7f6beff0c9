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

// layerNormReference is (x − mean)/sqrt(var + ε) over the last axis, written with primitive
// ops (the textbook form, differentiated by GoMLX op by op).
func layerNormReference(x *Node, eps float64) *Node {
	mean := ReduceAndKeep(x, ReduceMean, -1)
	xc := Sub(x, mean)
	v := ReduceAndKeep(Square(xc), ReduceMean, -1)
	return Div(xc, Sqrt(AddScalar(v, eps)))
}

// TestLayerNormGradValuesAndGradient checks the training form of LayerNorm against the fused
// op's value, the textbook form's autodiff gradient, and finite differences. Rows get
// different offsets and scales, one row is nearly constant (the ε regime).
func TestLayerNormGradValuesAndGradient(t *testing.T) {
	const r, f = 5, 7
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float64, r*f)
	for i := range r {
		scale, off := math.Pow(10, float64(i-2)), float64(3*i-6)
		for j := range f {
			x[i*f+j] = off + scale*rng.NormFloat64()
		}
	}
	for j := range f { // row 4: spread 1e-4, below sqrt(ε)
		x[4*f+j] = 2 + 1e-4*rng.NormFloat64()
	}
	w := thRandn(rng, r*f, 1, 0)
	out := thRun(t, func(g *Graph, in []*Node) []*Node {
		a := layerNormGrad(in[0], 1e-5)
		b := nn.LayerNorm(in[0], []int{-1}, 1e-5, nil, nil, nil)
		ga := Gradient(ReduceAllSum(Mul(a, in[1])), in[0])[0]
		gb := Gradient(ReduceAllSum(Mul(layerNormReference(in[0], 1e-5), in[1])), in[0])[0]
		return []*Node{a, b, ga, gb}
	}, thT64(x, r, f), thT64(w, r, f))
	thClose(t, out[1], out[0], 1e-12, 1e-10, "layerNormGrad value vs fused LayerNorm")
	thClose(t, out[3], out[2], 1e-9, 1e-8, "layerNormGrad gradient vs autodiff of the textbook form")

	thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(layerNormGrad(in[0], 1e-5), in[1])) },
		thGradInput{name: "x", data: thRandn(rng, 3*6, 2, 1), dims: []int{3, 6}, diff: true},
		thGradInput{name: "w", data: thRandn(rng, 3*6, 1, 0), dims: []int{3, 6}})
}

// TestSpreadAndSumHelpers checks the matmul-based sums and broadcasts (values and gradients).
func TestSpreadAndSumHelpers(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6} // [2, 3]
	out := thRun(t, func(g *Graph, in []*Node) []*Node {
		return []*Node{rowSum(in[0]), spreadCols(Const(g, []float64{7, 8}), 3),
			spreadRows(Const(g, []float64{1, 2, 3}), 2),
			spreadRows(Const(g, [][][]float64{{{1, 2}}, {{3, 4}}}), 3)}
	}, thT64(x, 2, 3))
	require.Equal(t, []float64{6, 15}, out[0])
	require.Equal(t, []float64{7, 7, 7, 8, 8, 8}, out[1])
	require.Equal(t, []float64{1, 2, 3, 1, 2, 3}, out[2])
	require.Equal(t, []float64{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}, out[3])

	rng := rand.New(rand.NewPCG(7, 8))
	thGradCheck(t, func(in []*Node) *Node {
		return Add(ReduceAllSum(Mul(spreadRows(in[0], 4), in[1])), ReduceAllSum(Mul(rowSum(in[1]), in[2])))
	},
		thGradInput{name: "b", data: thRandn(rng, 3, 1, 0), dims: []int{3}, diff: true},
		thGradInput{name: "m", data: thRandn(rng, 12, 1, 0), dims: []int{4, 3}, diff: true},
		thGradInput{name: "w", data: thRandn(rng, 4, 1, 0), dims: []int{4}})
	thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(spreadRows(in[0], 4), in[1])) },
		thGradInput{name: "b", data: thRandn(rng, 6, 1, 0), dims: []int{2, 1, 3}, diff: true},
		thGradInput{name: "w", data: thRandn(rng, 24, 1, 0), dims: []int{2, 4, 3}})
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
