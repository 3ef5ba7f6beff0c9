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
	mu := StopGradient(MulScalar(rowSum(x), inv)) // [R]
	var out *Node
	xcID := IdentityWithCustomGradient(Sub(x, spreadCols(mu, f)), func(_, v *Node) *Node {
		m1 := spreadCols(MulScalar(rowSum(v), inv), f)
		m2 := spreadCols(MulScalar(rowSum(Mul(v, out)), inv), f)
		return Sub(Sub(v, m1), Mul(out, m2))
	})
	s := StopGradient(Rsqrt(AddScalar(MulScalar(rowSum(Square(xcID)), inv), eps))) // [R]
	out = Mul(xcID, spreadCols(s, f))
	return out
}

// hook is an identity of x that records the adjoint arriving at it (∂L/∂x) in *dst while the
// gradient is built, and passes it on unchanged. It costs nothing at run time.
func hook(x *Node, dst **Node) *Node {
	return IdentityWithCustomGradient(x, func(_, v *Node) *Node {
		*dst = v
		return v
	})
}

// withGrad is an identity of a parameter p whose gradient is grad() instead of what autodiff
// brings to it (which is then unused, and dropped from the compiled graph). grad is called
// while the gradient is built, after the hooks downstream of p have recorded their adjoints;
// it returns nil (no gradient) if they have not.
func withGrad(p *Node, grad func() *Node) *Node {
	return IdentityWithCustomGradient(p, func(_, _ *Node) *Node { return grad() })
}

// colSums is Σ_r v[r, f] as the product 1ᵀ·v, the layout the matmul kernels run fastest
// (0.11–0.27 ns per element; GoMLX's own gradient of a broadcast or of an outer product sums
// with 1.5–3.3). v [R, F] gives [F]; an ensemble v [E, R, F] gives [E, 1, F].
func colSums(v *Node) *Node {
	d := v.Shape().Dimensions
	if v.Rank() == 2 {
		return Reshape(Dot(onesLike(v, 1, d[0]), v).Product(), d[1])
	}
	return DotGeneral(onesLike(v, d[0], 1, d[1]), []int{2}, []int{0}, v, []int{1}, []int{0})
}

// matmul is x·W for x [R, I], W [I, O], or per ensemble member for x [E, R, I], W [E, I, O].
func matmul(x, w *Node) *Node {
	if x.Rank() == 2 {
		return Dot(x, w).Product()
	}
	return DotGeneral(x, []int{2}, []int{0}, w, []int{1}, []int{0})
}

// denseTrain is the training form of a Linear layer h = x·W + b (alg §2) for x [R, I], W [I, O],
// b [O], or an ensemble x [E, R, I], W [E, I, O], b [E, 1, O]. All three gradients are written
// out from ∂L/∂h, recorded by a hook: ∂W = xᵀ·∂h and ∂x = ∂h·Wᵀ as one product each (GoMLX's
// derivative of a matmul returns both through transposes, one of them with the identity
// permutation: a full element-by-element copy on the pure-Go backend), ∂b = 1ᵀ·∂h. The
// gradients autodiff brings to x and W are then unused and dropped from the compiled graph.
func denseTrain(x, w, b *Node) *Node {
	var dh *Node
	ens := x.Rank() == 3
	wc := withGrad(w, func() *Node {
		if dh == nil {
			return nil
		}
		if ens {
			return DotGeneral(x, []int{1}, []int{0}, dh, []int{1}, []int{0})
		}
		return DotGeneral(x, []int{0}, nil, dh, []int{0}, nil)
	})
	bc := withGrad(b, func() *Node {
		if dh == nil {
			return nil
		}
		return colSums(dh)
	})
	xid := withGrad(x, func() *Node {
		if dh == nil {
			return nil
		}
		return inputGrad(dh, w)
	})
	rows := x.Shape().Dimensions[x.Rank()-2]
	return hook(Add(matmul(xid, wc), spreadRows(bc, rows)), &dh)
}

// inputGrad is ∂h·Wᵀ for ∂h [R, O], W [I, O] (or per ensemble member). Small weights are
// transposed first: the backend's small-matrix kernel for a product against a transposed
// operand is up to 3.5x slower than against a plain one (measured at [768, 64]·[64, 64]ᵀ; at
// 384 features both run alike, and the transpose would be pure overhead).
func inputGrad(dh, w *Node) *Node {
	d := w.Shape().Dimensions
	small := d[len(d)-1]*d[len(d)-2] <= 128*128
	if dh.Rank() == 3 {
		if small {
			return DotGeneral(dh, []int{2}, []int{0}, TransposeAllAxes(w, 0, 2, 1), []int{1}, []int{0})
		}
		return DotGeneral(dh, []int{2}, []int{0}, w, []int{2}, []int{0})
	}
	if small {
		return Dot(dh, TransposeAllAxes(w, 1, 0)).Product()
	}
	return DotGeneral(dh, []int{1}, nil, w, []int{1}, nil)
}

// affineTrain is the training form of LayerNorm's gain and offset, u = x̂·γ + β, for x̂ [R, F]
// with γ, β [F], or an ensemble x̂ [E, R, F] with γ, β [E, 1, F]: ∂γ = 1ᵀ·(∂u ⊙ x̂) and
// ∂β = 1ᵀ·∂u, from ∂L/∂u recorded by a hook.
func affineTrain(xhat, gain, offset *Node) *Node {
	var du *Node
	gc := withGrad(gain, func() *Node {
		if du == nil {
			return nil
		}
		return colSums(Mul(du, xhat))
	})
	oc := withGrad(offset, func() *Node {
		if du == nil {
			return nil
		}
		return colSums(du)
	})
	rows := xhat.Shape().Dimensions[xhat.Rank()-2]
	return hook(Add(Mul(xhat, spreadRows(gc, rows)), spreadRows(oc, rows)), &du)
}

// mishGrad is Mish (mathx.go) with its closed-form derivative
// mish'(x) = t + x·σ(x)·(1 − t²), t = tanh(softplus(x)), σ = eˣ/(1 + eˣ),
// which reuses the forward's eˣ and t instead of differentiating the formula op by op. The
// value is x̃·sg(t) with x̃ an identity of x whose gradient is ∂L/∂y·mish'(x), ∂L/∂y recorded
// by a hook on the output (autodiff's own ∂L/∂y·t is then unused).
func mishGrad(x *Node) *Node {
	var dy, e, t, xid *Node
	xid = withGrad(x, func() *Node {
		if dy == nil {
			return nil
		}
		sig := Div(e, AddScalar(e, 1))
		return Mul(dy, Add(t, Mul(Mul(xid, sig), OneMinus(Square(t)))))
	})
	e = Exp(MinScalar(xid, 20))
	n := Mul(e, AddScalar(e, 2))
	t = StopGradient(Div(n, AddScalar(n, 2)))
	return hook(Mul(xid, t), &dy)
}
