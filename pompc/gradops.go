package pompc

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// Training forms of the networks' building blocks (issue 9).
//
// The pure-Go backend runs matmuls on SIMD kernels but reductions and broadcasts through generic
// per-element iterators, and GoMLX differentiates LayerNorm and Mish op by op. Measured on one
// core at [1024, 384] (ns per element): ReduceSum over the last axis 2.9, over the first 1.45,
// BroadcastInDim 1.3–1.5, a broadcasting Mul 1.9; the same sums as a matrix-vector product with a
// ones vector 0.33 and 0.12, the same broadcasts as a K = 1 outer product 0.31–0.44. So in graphs
// that are differentiated (n.grad):
//   - every per-feature parameter (bias, LayerNorm gain and offset) is spread over the rows by an
//     outer product 1·bᵀ, whose gradient is the matrix-vector product 1ᵀ·v;
//   - LayerNorm and Mish carry hand-written closed-form gradients (below), with their row
//     statistics as matrix-vector products.
//
// The values are the same as the inference forms up to float32 rounding of the sums.

// onesLike is a constant of ones of x's dtype with the given dimensions.
func onesLike(x *Node, dims ...int) *Node { return Ones(x.Graph(), shapes.Make(x.DType(), dims...)) }

// rowSum is Σ_f x[r, f] for x [R, F], as the matrix-vector product x·1. Returns [R].
func rowSum(x *Node) *Node {
	return Dot(x, onesLike(x, x.Shape().Dimensions[1])).Product()
}

// spreadCols is m·1ᵀ for m [R]: every row r filled with m[r]. Returns [R, f].
func spreadCols(m *Node, f int) *Node {
	return Dot(Reshape(m, m.Shape().Dimensions[0], 1), onesLike(m, 1, f)).Product()
}

// spreadRows broadcasts per-feature parameters over rows as an outer product with a ones column,
// so that the parameters' gradient is 1ᵀ·v (a matrix-vector product) instead of a ReduceSum.
// b [F] gives [rows, F]; b [E, 1, F] (one row per ensemble member) gives [E, rows, F].
func spreadRows(b *Node, rows int) *Node {
	if b.Rank() == 1 {
		return Dot(onesLike(b, rows, 1), Reshape(b, 1, b.Shape().Dimensions[0])).Product()
	}
	e := b.Shape().Dimensions[0]
	return DotGeneral(onesLike(b, e, rows, 1), []int{2}, []int{0}, b, []int{1}, []int{0})
}

// layerNormGrad is LayerNorm without gain or offset over the last axis of x [R, F] (alg §2,
// TD-MPC2's NormedLinear): x̂ = (x − μ)·s with μ = mean_f x, s = 1/sqrt(var_f x + ε). Its
// gradient is the closed form ∂L/∂x = s·(g − mean_f g − x̂·mean_f(g·x̂)) with g = ∂L/∂x̂, instead
// of GoMLX's op-by-op derivative of the decomposed LayerNorm (which the fused op falls back to).
//
// The graph: xc = x − sg(μ) (gradient passes unchanged), then a custom-gradient identity on xc,
// then x̂ = xc·sg(s). Autodiff hands the identity v = g·s, and s·(g − mean g − x̂·mean(g·x̂))
// = v − mean v − x̂·mean(v·x̂), since s is constant along a row.
func layerNormGrad(x *Node, eps float64) *Node {
	f := x.Shape().Dimensions[1]
	inv := 1 / float64(f)
	xs := StopGradient(x)
	mu := StopGradient(spreadCols(MulScalar(rowSum(xs), inv), f))
	xc := Sub(x, mu)
	xcs := StopGradient(xc)
	s := StopGradient(spreadCols(Rsqrt(AddScalar(MulScalar(rowSum(Square(xcs)), inv), eps)), f))
	var xhat *Node
	xcID := IdentityWithCustomGradient(xc, func(_, v *Node) *Node {
		m1 := spreadCols(MulScalar(rowSum(v), inv), f)
		m2 := spreadCols(MulScalar(rowSum(Mul(v, xhat)), inv), f)
		return Sub(Sub(v, m1), Mul(xhat, m2))
	})
	out := Mul(xcID, s)
	xhat = StopGradient(out)
	return out
}

// gradTap is a node of x's shape and value exactly 0 (x − sg(x), for finite x) through which
// the adjoint v arriving at it reaches x as grad(v): the way to give a value a hand-written
// gradient, as value = sg(f(x)) + gradTap(x, f'ᵀ).
func gradTap(x *Node, grad func(v *Node) *Node) *Node {
	return IdentityWithCustomGradient(Sub(x, StopGradient(x)), func(_, v *Node) *Node { return grad(v) })
}

// matmulSquareGrad is x·W for x [R, I] and W [I, I] (an ensemble: x [E, R, I], W [E, I, I]) with
// the input gradient v·Wᵀ as one matmul. GoMLX's derivative of a matmul returns the input
// gradient through a transpose with the identity permutation, which the pure-Go backend runs
// as a full element-by-element copy (3–10 ns per element, more than the product itself). The
// weights' gradient is GoMLX's, through the product of sg(x).
func matmulSquareGrad(x, w *Node) *Node {
	xs := StopGradient(x)
	if x.Rank() == 2 {
		y := Dot(xs, w).Product()
		return Add(y, gradTap(x, func(v *Node) *Node { return DotGeneral(v, []int{1}, nil, w, []int{1}, nil) }))
	}
	y := Einsum("eni,eio->eno", xs, w)
	return Add(y, gradTap(x, func(v *Node) *Node { return DotGeneral(v, []int{2}, []int{0}, w, []int{2}, []int{0}) }))
}

// mishGrad is Mish (mathx.go) with its closed-form derivative
// mish'(x) = t + x·σ(x)·(1 − t²), t = tanh(softplus(x)), σ = eˣ/(1 + eˣ),
// which reuses the forward's eˣ and t instead of differentiating the formula op by op.
// The value is built as sg(mish(x)) + (x − sg(x)): exactly mish(x) for finite x, with the
// gradient routed to x through the custom-gradient identity.
func mishGrad(x *Node) *Node {
	xs := StopGradient(x)
	e := Exp(MinScalar(xs, 20))
	n := Mul(e, AddScalar(e, 2))
	t := Div(n, AddScalar(n, 2))
	return Add(Mul(xs, t), gradTap(x, func(v *Node) *Node {
		sig := Div(e, AddScalar(e, 1))
		return Mul(v, Add(t, Mul(Mul(xs, sig), OneMinus(Square(t)))))
	}))
}
