package pompc

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
)

// Training forms of the networks' building blocks (used where the update differentiates,
// nets.grad; README "Training forms" says which survived and why).
//
// GoMLX differentiates LayerNorm and Mish op by op, and a matmul through transposes (one with
// the identity permutation per input gradient, a full copy on the pure-Go backend). For the
// three blocks where that still costs more than the noise on the current kernels (a Linear
// layer, TD-MPC2's NormedLinear and Mish), the training forms
//   - write every gradient out in closed form from the adjoint ∂L/∂y of the block's output,
//     which a hook (an identity with a custom gradient) records while Gradient runs; the inputs
//     and parameters are identities (fromAdjoint) whose gradient is that closed form, and what
//     autodiff computes for them is unused, so the backend never runs it (dead code);
//   - keep the scale s·γᵀ and the centering of NormedLinear as single small products; row
//     sums and broadcasts are plain reductions and broadcasts (the products with a ones
//     vector that earlier kernels needed measure the same as these on the current ones).
//
// Everything else the update differentiates (soft cross-entropy, softmax, SimNorm, the
// gradient norm) is plain GoMLX. Values equal the inference forms' up to float32 rounding of
// the sums (Mish's exactly); update_equiv_test.go checks the whole update against plain
// autodiff (nets.autodiff).

// onesLike is a constant of ones of x's dtype with the given dimensions.
func onesLike(x *Node, dims ...int) *Node { return Ones(x.Graph(), shapes.Make(x.DType(), dims...)) }

// spreadRows broadcasts per-feature parameters over rows, 1·bᵀ: b [F] gives [rows, F];
// b [E, 1, F] (one row per ensemble member) gives [E, rows, F].
func spreadRows(b *Node, rows int) *Node {
	d := b.Shape().Dimensions
	if b.Rank() == 1 {
		return BroadcastToDims(InsertAxes(b, 0), rows, d[0])
	}
	return BroadcastToDims(b, d[0], rows, d[2])
}

// hook is an identity of x that records the adjoint arriving at it (∂L/∂x) in *dst while the
// gradient is built, and passes it on unchanged. It costs nothing at run time.
func hook(x *Node, dst **Node) *Node {
	return IdentityWithCustomGradient(x, func(_, v *Node) *Node {
		*dst = v
		return v
	})
}

// fromAdjoint is an identity of p whose gradient is grad(a), a being the adjoint that a hook
// downstream of p recorded in *adj while the gradient is built (autodiff reaches the hook first).
// What autodiff brings to p itself is then unused and dropped from the compiled graph; with no
// recorded adjoint, p gets no gradient from this use.
func fromAdjoint(p *Node, adj **Node, grad func(a *Node) *Node) *Node {
	return IdentityWithCustomGradient(p, func(_, _ *Node) *Node {
		if *adj == nil {
			return nil
		}
		return grad(*adj)
	})
}

// colSums is Σ_r v[r, f], the gradient of a parameter spread over rows (spreadRows):
// v [R, F] gives [F]; an ensemble v [E, R, F] gives [E, 1, F].
func colSums(v *Node) *Node {
	if v.Rank() == 2 {
		return ReduceSum(v, 0)
	}
	return ReduceAndKeep(v, ReduceSum, 1)
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
	xid, wc, bc := linearGrads(x, w, b, &dh)
	rows := x.Shape().Dimensions[x.Rank()-2]
	return hook(Add(matmul(xid, wc), spreadRows(bc, rows)), &dh)
}

// linearGrads returns identities of a Linear layer's input x, weights W and bias b whose
// gradients are written out from ∂L/∂h (h = x·W + b), which a hook on h records in *dh:
// ∂x = ∂h·Wᵀ, ∂W = xᵀ·∂h, ∂b = 1ᵀ·∂h. They must be created before the hook.
func linearGrads(x, w, b *Node, dh **Node) (xid, wc, bc *Node) {
	wc = fromAdjoint(w, dh, func(a *Node) *Node { return weightGrad(x, a) })
	bc = fromAdjoint(b, dh, colSums)
	xid = fromAdjoint(x, dh, func(a *Node) *Node { return inputGrad(a, w) })
	return xid, wc, bc
}

// weightGrad is xᵀ·∂h for x [R, I], ∂h [R, O] (or per ensemble member). x is transposed
// explicitly: given the contraction over the rows of both operands, the backend transposes both
// to its preferred layout, while xᵀ·∂h with xᵀ materialized is a plain product (one transpose
// of activations instead of two).
func weightGrad(x, dh *Node) *Node {
	if x.Rank() == 3 {
		return DotGeneral(TransposeAllAxes(x, 0, 2, 1), []int{2}, []int{0}, dh, []int{1}, []int{0})
	}
	return Dot(TransposeAllAxes(x, 1, 0), dh).Product()
}

// inputGrad is ∂h·Wᵀ for ∂h [R, O], W [I, O] (or per ensemble member). Small weights are
// transposed first: the backend's small-matrix kernel for a product against a transposed
// operand is slower than against a plain one for small matrices (at 384 features both run
// alike, and the transpose would be pure overhead).
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

// normedLinearTrain is the training form of TD-MPC2's NormedLinear before its activation
// (alg §2): u = LN(x·W + b)·γ + β, LayerNorm over the last axis with ε = 1e-5, for x [R, I] with
// W [I, O] and b, γ, β [O], or an ensemble x [E, R, I] with W [E, I, O] and b, γ, β [E, 1, O].
// drop, when not nil, is dropout applied to x·W + b before the normalization.
//
// Forward, with p = x·W + b, μ and s = 1/sqrt(var + ε) the row mean and inverse deviation of p:
//
//	p − μ = x·W + [−μₕ, 1]·[1; b − mean(b)]  (μₕ the row mean of x·W: bias and mean in one
//	                                          product of inner dimension 2)
//	u = (p − μ) ⊙ (s·γᵀ) + 1·βᵀ              (s·γᵀ one outer product)
//
// Backward, all written out from ∂L/∂u and ∂L/∂p recorded by hooks:
//
//	v = ∂L/∂u ⊙ (s·γᵀ) = s·∂L/∂x̂,   ∂L/∂p = v − mean(v) − (p − μ)·s²·mean(v ⊙ (p − μ))
//	∂γ = sᵀ·(∂L/∂u ⊙ (p − μ)),  ∂β = 1ᵀ·∂L/∂u,  ∂b = 1ᵀ·∂L/∂p,  ∂W = xᵀ·∂L/∂p,  ∂x = ∂L/∂p·Wᵀ
//
// The scale s·γᵀ is one outer product and the centering one product of inner dimension 2
// (see the top of this file).
func normedLinearTrain(x, w, b, gain, offset *Node, drop func(*Node) *Node) *Node {
	var dp, du, xc, s *Node
	xid, wc, bc := linearGrads(x, w, b, &dp)
	gc := fromAdjoint(gain, &du, func(a *Node) *Node {
		return weightedColSums(s, Mul(a, xc))
	})
	oc := fromAdjoint(offset, &du, colSums)
	h := matmul(xid, wc)
	last := h.Rank() - 1
	f := h.Shape().Dimensions[last]
	inv := 1 / float64(f)
	var centered *Node
	if drop == nil {
		// The hook sits on p − μ, which both x·W and the bias reach, so ∂L/∂p is recorded for
		// whichever of x, W and b is differentiated (μ is detached: its gradient is in xc's).
		mu := StopGradient(MulScalar(sumLast(h), inv))
		bcen := Sub(bc, ReduceAndKeep(bc, ReduceMean, -1))
		centered = hook(Add(h, rank2(Neg(mu), bcen)), &dp)
	} else {
		p := drop(hook(Add(h, spreadRows(bc, h.Shape().Dimensions[last-1])), &dp))
		mu := StopGradient(MulScalar(sumLast(p), inv))
		centered = Sub(p, spreadLast(mu, f))
	}
	xc = IdentityWithCustomGradient(centered, func(_, v *Node) *Node {
		m1 := spreadLast(MulScalar(sumLast(v), inv), f)
		a := Mul(MulScalar(sumLast(Mul(v, xc)), inv), Square(s))
		return Sub(Sub(v, Mul(xc, spreadLast(a, f))), m1)
	})
	s = StopGradient(Rsqrt(AddScalar(MulScalar(sumLast(Square(xc)), inv), 1e-5)))
	u := Add(Mul(xc, outerRows(s, gc)), spreadRows(oc, h.Shape().Dimensions[last-1]))
	return hook(u, &du)
}

// sumLast is Σ over the last axis of x [..., F]. Returns [...].
func sumLast(x *Node) *Node { return ReduceSum(x, -1) }

// spreadLast is m ⊗ 1 for m [...]: m repeated along a new last axis of size f.
func spreadLast(m *Node, f int) *Node {
	dims := append(append([]int{}, m.Shape().Dimensions...), f)
	return BroadcastToDims(InsertAxes(m, -1), dims...)
}

// outerRows is the outer product s·γᵀ for s [R], γ [F] (giving [R, F]), or per ensemble member
// for s [E, R], γ [E, 1, F] (giving [E, R, F]).
func outerRows(s, g *Node) *Node {
	if g.Rank() == 1 {
		return Dot(Reshape(s, s.Shape().Dimensions[0], 1), Reshape(g, 1, g.Shape().Dimensions[0])).Product()
	}
	d := s.Shape().Dimensions
	return DotGeneral(Reshape(s, d[0], d[1], 1), []int{2}, []int{0}, g, []int{1}, []int{0})
}

// rank2 is [m, 1]·[1; c] = m ⊗ 1 + 1 ⊗ c as one product of inner dimension 2: for m [R] and c
// [F] it gives [R, F]; per ensemble member, m [E, R] and c [E, 1, F] give [E, R, F].
func rank2(m, c *Node) *Node {
	if c.Rank() == 1 {
		f := c.Shape().Dimensions[0]
		lhs := Stack([]*Node{m, OnesLike(m)}, -1)                           // [R, 2]
		rhs := Concatenate([]*Node{onesLike(c, 1, f), Reshape(c, 1, f)}, 0) // [2, F]
		return Dot(lhs, rhs).Product()
	}
	e, f := c.Shape().Dimensions[0], c.Shape().Dimensions[2]
	lhs := Stack([]*Node{m, OnesLike(m)}, -1)               // [E, R, 2]
	rhs := Concatenate([]*Node{onesLike(c, e, 1, f), c}, 1) // [E, 2, F]
	return DotGeneral(lhs, []int{2}, []int{0}, rhs, []int{1}, []int{0})
}

// weightedColSums is Σ_r s[r]·v[r, f] as the product sᵀ·v for s [R], v [R, F] (giving [F]), or
// per ensemble member for s [E, R], v [E, R, F] (giving [E, 1, F]).
func weightedColSums(s, v *Node) *Node {
	d := v.Shape().Dimensions
	if v.Rank() == 2 {
		return Reshape(Dot(Reshape(s, 1, d[0]), v).Product(), d[1])
	}
	return DotGeneral(Reshape(s, d[0], 1, d[1]), []int{2}, []int{0}, v, []int{1}, []int{0})
}

// mishGrad is Mish (mathx.go) with its closed-form derivative
// mish'(x) = t + x·σ(x)·(1 − t²), t = tanh(softplus(x)), σ = eˣ/(1 + eˣ),
// which reuses the forward's eˣ and 1/t instead of differentiating the formula op by op. The
// value is x̃/sg(1/t), computed exactly as Mish computes it, with x̃ an identity of x whose
// gradient is ∂L/∂y·mish'(x), ∂L/∂y recorded by a hook on the output (autodiff's own ∂L/∂y·t
// is then unused).
func mishGrad(x *Node) *Node {
	var dy, e, d, xid *Node
	xid = fromAdjoint(x, &dy, func(a *Node) *Node {
		t := Reciprocal(d)
		sig := Reciprocal(AddScalar(Reciprocal(e), 1)) // σ = 1/(1 + e⁻ˣ), also at eˣ = 0 or +Inf
		return Mul(a, Add(t, Mul(Mul(xid, sig), OneMinus(Square(t)))))
	})
	e = Exp(xid)
	n := Mul(e, AddScalar(e, 2))
	d = StopGradient(AddScalar(Div(Scalar(x.Graph(), x.DType(), 2), n), 1)) // 1/t
	return hook(Div(xid, d), &dy)
}
