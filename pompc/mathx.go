package pompc

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // GoMLX graph code reads best dot-imported.
)

// Stateless graph math shared by the networks, losses and planner (TD-MPC2's common/math.py).

// like broadcasts x to the shape of ref explicitly (x unchanged when the shapes agree). The
// pure-Go backend runs a binary op whose operands differ in shape in a non-leading axis
// (implicit broadcasting of an axis of size 1 between others) through a generic per-element
// index iterator, many times slower than its vectorized same-shape kernels. Its compiler also
// folds a same-rank BroadcastToDims back into the binary op, so the size-1 axes are dropped
// first and the broadcast expands them from the lower rank (kept, materialized). The values are
// the same.
func like(x, ref *Node) *Node {
	if x.Shape().Equal(ref.Shape()) {
		return x
	}
	xd, rd := x.Shape().Dimensions, ref.Shape().Dimensions
	lead := len(rd) - len(xd) // x's axes are the last ones of ref's (NumPy alignment)
	var kept, expanded []int
	for i := range lead {
		expanded = append(expanded, i)
	}
	for i, d := range xd {
		if d == 1 && rd[lead+i] != 1 {
			expanded = append(expanded, lead+i)
		} else {
			kept = append(kept, d)
		}
	}
	return ExpandAndBroadcast(Reshape(x, kept...), rd, expanded)
}

// halfLog2PiE is ½·log(2πe), the per-dimension entropy of a unit Gaussian.
var halfLog2PiE = 0.5 * math.Log(2*math.Pi*math.E)

// halfLog2Pi is ½·log(2π), the Gaussian log-density constant.
var halfLog2Pi = 0.5 * math.Log(2*math.Pi)

// SymLog is symlog(x) = sign(x)·log(1 + |x|). Sign has no gradient rule in GoMLX, so its input
// is detached; the derivative of symlog does not depend on the sign term anyway.
func SymLog(x *Node) *Node {
	return Mul(Sign(StopGradient(x)), Log1p(Abs(x)))
}

// SymExp is symexp(x) = sign(x)·(exp(|x|) − 1), the inverse of SymLog.
func SymExp(x *Node) *Node {
	return Mul(Sign(StopGradient(x)), AddScalar(Exp(Abs(x)), -1))
}

// TwoHot encodes x (any shape) as a two-hot distribution over numBins bins evenly spaced on
// [vmin, vmax] in symlog space: the mass is split between the two bins around symlog(x),
// linearly by distance. Output shape: x.shape + [numBins]. The result carries no gradient
// (two-hot targets are constants of the loss).
//
// With pos = (clip(symlog x) − vmin)/binSize ∈ [0, numBins−1], bin i gets max(0, 1 − |i − pos|)
// (the lower bin 1 − frac, the upper bin frac, every other bin 0), with i − pos for all bins as
// one product of inner dimension 2, [−pos, 1]·[1; i] (issue 9: no one-hot encodings).
func TwoHot(x *Node, numBins int, vmin, vmax float64) *Node {
	x = StopGradient(x)
	g, dt := x.Graph(), x.DType()
	binSize := (vmax - vmin) / float64(numBins-1)
	pos := DivScalar(AddScalar(ClipScalar(SymLog(x), vmin, vmax), -vmin), binSize)
	lhs := Stack([]*Node{Neg(pos), OnesLike(pos)}, -1) // [..., 2]
	rhs := Stack([]*Node{Ones(g, shapes.Make(dt, numBins)), Iota(g, shapes.Make(dt, numBins), 0)}, 0)
	dist := DotGeneral(lhs, []int{lhs.Rank() - 1}, nil, rhs, []int{0}, nil) // i − pos
	return StopGradient(MaxScalar(OneMinus(Abs(dist)), 0))
}

// binCenters returns the symlog-space bin centres [numBins].
func binCenters(g *Graph, dt dtypes.DType, numBins int, vmin, vmax float64) *Node {
	binSize := (vmax - vmin) / float64(numBins-1)
	idx := Iota(g, shapes.Make(dt, numBins), 0)
	return AddScalar(MulScalar(idx, binSize), vmin)
}

// TwoHotInv decodes logits [..., numBins] into a scalar value per row: symexp(Σ softmax(l)·bins),
// the expectation over the bins as a product with the vector of bin centres.
func TwoHotInv(logits *Node, numBins int, vmin, vmax float64) *Node {
	probs := softmax(logits)
	centers := binCenters(logits.Graph(), logits.DType(), numBins, vmin, vmax)
	return SymExp(DotGeneral(probs, []int{probs.Rank() - 1}, nil, centers, []int{0}, nil))
}

// SoftCE is the cross-entropy of logits [..., numBins] against two-hot(target) [...]:
// CE = −Σ_i y_i·log softmax(l)_i with y = twohot(target) (alg §3). Returns [...].
func SoftCE(logits, target *Node, numBins int, vmin, vmax float64) *Node {
	y := TwoHot(target, numBins, vmin, vmax)
	return Neg(ReduceSum(Mul(y, LogSoftmax(logits)), -1))
}

// Mish is mish(x) = x·tanh(softplus(x)); GoMLX has no Mish op. It is computed with one
// exponential: tanh(log(1 + eˣ)) = n/(n + 2) = 1/(1 + 2/n) with n = eˣ(eˣ + 2), which is exact
// algebra and faster on the pure-Go backend than Tanh(Softplus(x)), also on GoMLX's fused
// activation kernels (README "Training forms" has the A/B). The form x/(1 + 2/n) needs no cap on the exponential: eˣ = +Inf gives
// 2/n = 0 and mish = x, eˣ = 0 gives 2/n = +Inf and mish = x/Inf = 0 (issue 9: one pass fewer
// than capping x, six elementwise operations in all). No cancellation for x < 0: t ≈ n/2 keeps
// its relative precision.
func Mish(x *Node) *Node {
	e := Exp(x)
	n := Mul(e, AddScalar(e, 2))
	return Div(x, AddScalar(Div(Scalar(x.Graph(), x.DType(), 2), n), 1))
}

// SimNorm projects z [..., L] onto a product of simplices: softmax over each group of `group`
// consecutive entries (TD-MPC2's simplicial normalization).
func SimNorm(z *Node, group int) *Node {
	dims := z.Shape().Dimensions
	l := dims[len(dims)-1]
	grouped := append(append([]int{}, dims[:len(dims)-1]...), l/group, group)
	return Reshape(softmax(Reshape(z, grouped...)), dims...)
}

// softmax is softmax over the last axis, p_i = exp(x_i − m) / Σ_j exp(x_j − m) with m = max_j x_j
// (m is a constant for the gradient), written as GoMLX's own decomposed graph.Softmax. graph.Softmax
// calls the backend's fused kernel first, which on the pure-Go backend evaluates exp one element at
// a time (compute's fastmath.Exp32), where the decomposed form's Exp is the backend's vectorized
// one: the planner's and the update's two-hot decodes (101 bins) and SimNorm are a large part of a
// small network's step (README "Measured" has the A/B). XLA has no fused softmax and builds this
// same graph either way. Delete it when the pure-Go fused kernel vectorizes its exponential.
func softmax(x *Node) *Node {
	m := StopGradient(ReduceAndKeep(x, ReduceMax, -1))
	e := Exp(Sub(x, m))
	return Div(e, ReduceAndKeep(e, ReduceSum, -1))
}

// GaussianKL is the closed-form KL(N(m1, s1) || N(m2, s2)) of diagonal Gaussians, summed over
// the last axis (alg §2):
// KL = Σ_i [ log(s2_i/s1_i) + (s1_i² + (m1_i − m2_i)²)/(2·s2_i²) − ½ ].
func GaussianKL(m1, s1, m2, s2 *Node) *Node {
	v2 := Square(s2)
	terms := Add(Sub(Log(s2), Log(s1)), Div(Add(Square(s1), Square(Sub(m1, m2))), MulScalar(v2, 2)))
	return ReduceSum(AddScalar(terms, -0.5), -1)
}

// GaussianEntropy is H(N(m, s)) = Σ_i [ log s_i + ½·log(2πe) ], summed over the last axis.
func GaussianEntropy(logStd *Node) *Node {
	return ReduceSum(AddScalar(logStd, halfLog2PiE), -1)
}

// GaussianLogProb is log N(x; m, s) = Σ_i [ −(x_i − m_i)²/(2 s_i²) − log s_i − ½·log 2π ].
func GaussianLogProb(x, mean, logStd *Node) *Node {
	z := Div(Sub(x, mean), Exp(logStd))
	return ReduceSum(Sub(Neg(MulScalar(Square(z), 0.5)), AddScalar(logStd, halfLog2Pi)), -1)
}

// SquashLogStd maps raw outputs into [lo, hi]: lo + ½(hi − lo)(tanh(raw) + 1) (TD-MPC2, BMPC).
func SquashLogStd(raw *Node, lo, hi float64) *Node {
	return AddScalar(MulScalar(AddScalar(Tanh(raw), 1), 0.5*(hi-lo)), lo)
}

// rhoWeights returns [ρ^0, ..., ρ^(n−1)] as a constant [n].
func rhoWeights(g *Graph, dt dtypes.DType, rho float64, n int) *Node {
	w := make([]float32, n)
	for t := range w {
		w[t] = float32(math.Pow(rho, float64(t)))
	}
	return ConvertDType(Const(g, w), dt)
}

// rhoMean is TD-MPC2's time aggregation (1/T) Σ_t ρ^t x_t of per-step losses x [T], or of
// x [K, T] per run (a population) giving [K].
func rhoMean(x *Node, rho float64) *Node {
	n := x.Shape().Dimensions[x.Rank()-1]
	w := rhoWeights(x.Graph(), x.DType(), rho, n)
	if x.Rank() == 1 {
		return DivScalar(ReduceAllSum(Mul(x, w)), float64(n))
	}
	return DivScalar(ReduceSum(Mul(x, ExpandAxes(w, 0)), -1), float64(n))
}

// masked is x where mask > 0 and 0 elsewhere (a Where, so ±Inf or NaN under the mask vanish).
func masked(x, mask *Node) *Node {
	return Where(GreaterThan(mask, ZerosLike(mask)), x, ZerosLike(x))
}

// maskedMean is Σ mask·x / max(Σ mask, 1) over the given axes; masked-out x never leak NaN.
func maskedMean(x, mask *Node, axes ...int) *Node {
	num := ReduceSum(Mul(masked(x, mask), mask), axes...)
	den := Max(ReduceSum(mask, axes...), OnesLike(num))
	return Div(num, den)
}

// sortedAt returns the values of x [n] at the given ascending ranks, without a sort: each
// element's rank is counted by pairwise comparison (ties broken by index), which is exact and,
// unlike TopK/Sort on the pure-Go backend, fast (gomlx.md).
func sortedAt(x *Node, ranks []int) []*Node {
	n := x.Shape().Dimensions[0]
	g := x.Graph()
	xi := ExpandAxes(x, 1) // [n, 1]
	xj := ExpandAxes(x, 0) // [1, n]
	idx := Iota(g, shapes.Make(dtypes.Int32, n), 0)
	before := LessThan(ExpandAxes(idx, 0), ExpandAxes(idx, 1)) // j < i
	less := LessThan(xj, xi)
	tie := And(Equal(xj, xi), before)
	rank := ReduceSum(ConvertDType(Or(less, tie), dtypes.Int32), 1) // [n]
	out := make([]*Node, len(ranks))
	for i, r := range ranks {
		sel := ConvertDType(Equal(rank, Const(g, int32(r))), x.DType())
		out[i] = ReduceAllSum(Mul(sel, x))
	}
	return out
}

// percentileRanges is percentileRange per run for x [K, ...]: the P95 − P5 of each run's
// values, [K] (the same pairwise-rank selection, batched over runs).
func percentileRanges(x *Node, k int) *Node {
	x = StopGradient(Reshape(x, k, -1))
	n := x.Shape().Dimensions[1]
	g := x.Graph()
	xi := ExpandAxes(x, -1) // [K, n, 1]
	xj := ExpandAxes(x, -2) // [K, 1, n]
	idx := Iota(g, shapes.Make(dtypes.Int32, n), 0)
	before := ExpandAxes(LessThan(ExpandAxes(idx, 0), ExpandAxes(idx, 1)), 0) // [1, n, n]: j < i
	rank := ReduceSum(ConvertDType(Or(LessThan(xj, xi), And(Equal(xj, xi), before)), dtypes.Int32), -1)
	at := func(r int) *Node {
		return ReduceSum(Mul(ConvertDType(Equal(rank, Const(g, int32(r))), x.DType()), x), -1)
	}
	l5, h5, f5 := percentilePos(0.05, n)
	l95, h95, f95 := percentilePos(0.95, n)
	p5 := Add(MulScalar(at(l5), 1-f5), MulScalar(at(h5), f5))
	p95 := Add(MulScalar(at(l95), 1-f95), MulScalar(at(h95), f95))
	return Sub(p95, p5)
}

// percentilePos is where the p-th percentile of n sorted values lies with linear
// interpolation: between ranks lo and hi, at fraction f.
func percentilePos(p float64, n int) (lo, hi int, f float64) {
	pos := p * float64(n-1)
	lo = int(math.Floor(pos))
	return lo, min(lo+1, n-1), pos - float64(lo)
}

// percentileRange is P95(x) − P5(x) with linear interpolation, as TD-MPC2's RunningScale.
func percentileRange(x *Node) *Node {
	x = StopGradient(Reshape(x, -1))
	n := x.Shape().Dimensions[0]
	l5, h5, f5 := percentilePos(0.05, n)
	l95, h95, f95 := percentilePos(0.95, n)
	v := sortedAt(x, []int{l5, h5, l95, h95})
	p5 := Add(MulScalar(v[0], 1-f5), MulScalar(v[1], f5))
	p95 := Add(MulScalar(v[2], 1-f95), MulScalar(v[3], f95))
	return Sub(p95, p5)
}
