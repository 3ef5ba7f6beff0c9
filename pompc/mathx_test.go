package pompc

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSymLogSymExpRoundTrip(t *testing.T) {
	xs := []float64{-1e4, -1234.5, -10, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 3.7, 10, 777, 1e4}
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		sl := SymLog(in[0])
		return []*Node{sl, SymExp(sl), SymExp(in[0])}
	}, thT64(xs, len(xs)))
	for i, x := range xs {
		assert.InDelta(t, thSymLog(x), outs[0][i], 1e-12, "symlog(%v)", x)
		assert.InDelta(t, x, outs[1][i], 1e-9*math.Max(1, math.Abs(x)), "symexp(symlog(%v))", x)
		if math.Abs(x) < 20 {
			assert.InDelta(t, thSymExp(x), outs[2][i], 1e-9*math.Max(1, math.Abs(thSymExp(x))), "symexp(%v)", x)
		}
	}
	// Odd and monotone.
	for i := 1; i < len(xs); i++ {
		assert.Greater(t, outs[0][i], outs[0][i-1])
	}
	assert.Equal(t, 0.0, outs[0][6])
	assert.Equal(t, 0.0, outs[1][6])
}

func TestTwoHotDecodeRoundTrip(t *testing.T) {
	const bins, vmin, vmax = 101, -10.0, 10.0
	// Inside the support |symlog x| <= 10, i.e. |x| <= e^10 − 1 ≈ 22025; includes bin centres.
	xs := []float64{-20000, -5000, -100, -3.3, -1, -0.37, 0, 0.2, 1, 2.5, 77, 1234, 21000, thSymExp(0.2), thSymExp(-3.4)}
	n := len(xs)
	for _, dtName := range []string{"float64", "float32"} {
		t.Run(dtName, func(t *testing.T) {
			arg := thT64(xs, n)
			rtol := 1e-9
			if dtName == "float32" {
				arg = thT32(xs, n)
				rtol = 1e-4
			}
			outs := thRun(t, func(g *Graph, in []*Node) []*Node {
				p := TwoHot(in[0], bins, vmin, vmax) // [n, bins]
				centers := binCenters(g, p.DType(), bins, vmin, vmax)
				decoded := SymExp(ReduceSum(Mul(p, ExpandAxes(centers, 0)), -1))
				// TwoHotInv of the two-hot used as logits: log(p + eps).
				inv := TwoHotInv(Log(AddScalar(p, 1e-12)), bins, vmin, vmax)
				return []*Node{p, decoded, inv}
			}, arg)
			p, decoded, inv := outs[0], outs[1], outs[2]
			for i, x := range xs {
				row := p[i*bins : (i+1)*bins]
				sum, nonzero, first := 0.0, 0, -1
				for j, v := range row {
					require.GreaterOrEqual(t, v, 0.0)
					sum += v
					if v != 0 {
						nonzero++
						if first < 0 {
							first = j
						}
					}
				}
				assert.InDelta(t, 1, sum, 1e-6, "x=%v sums to 1", x)
				assert.LessOrEqual(t, nonzero, 2, "x=%v has at most 2 nonzeros", x)
				if nonzero == 2 {
					assert.NotZero(t, row[first+1], "x=%v: the two nonzeros are adjacent", x)
				}
				assert.InDelta(t, x, decoded[i], 1e-4*math.Max(1, math.Abs(x))+rtol*math.Abs(x), "decode(twohot(%v))", x)
				assert.InDelta(t, x, inv[i], 1e-4*math.Max(1, math.Abs(x))+rtol*math.Abs(x), "TwoHotInv(log twohot(%v))", x)
				// Against the independent host encoding.
				thClose(t, thTwoHot(x, bins, vmin, vmax), row, 1e-4, 0, "twohot(%v)", x)
			}
		})
	}
	// Outside the support the encoding saturates at the end bins.
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		return []*Node{TwoHot(in[0], bins, vmin, vmax)}
	}, thT64([]float64{-1e6, 1e6}, 2))
	assert.Equal(t, 1.0, outs[0][0])
	assert.Equal(t, 1.0, outs[0][2*bins-1])
}

func TestSoftCEMatchesHandFormula(t *testing.T) {
	const bins, vmin, vmax = 101, -10.0, 10.0
	rng := rand.New(rand.NewPCG(3, 4))
	n := 7
	logits := make([]float64, n*bins)
	for i := range logits {
		logits[i] = rng.NormFloat64() * 2
	}
	targets := []float64{-50, -1.5, 0, 0.3, 4, 900, 1e6}
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		return []*Node{SoftCE(in[0], in[1], bins, vmin, vmax)}
	}, thT64(logits, n, bins), thT64(targets, n))
	for i, y := range targets {
		row := logits[i*bins : (i+1)*bins]
		lse := thLogSumExp(row)
		p := thTwoHot(y, bins, vmin, vmax)
		ce := 0.0
		for j := range row {
			ce -= p[j] * (row[j] - lse)
		}
		assert.InDelta(t, ce, outs[0][i], 1e-9, "target %v", y)
	}
}

// thLogSumExp is log Σ exp(row) in float64, shifted by the row's maximum.
func thLogSumExp(row []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, v)
	}
	sum := 0.0
	for _, v := range row {
		sum += math.Exp(v - mx)
	}
	return mx + math.Log(sum)
}

// thGauss2 are two fixed 3-D diagonal Gaussians p and q.
var (
	thPM = []float64{0.3, -0.5, 0.1}
	thPS = []float64{0.8, 1.5, 0.3}
	thQM = []float64{-0.2, 0.4, 0.25}
	thQS = []float64{1.2, 0.7, 0.5}
)

func TestGaussianKLClosedFormVsMonteCarlo(t *testing.T) {
	d := len(thPM)
	ls := func(s []float64) []float64 {
		o := make([]float64, len(s))
		for i, v := range s {
			o[i] = math.Log(v)
		}
		return o
	}
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		pm, ps, qm, qs := in[0], in[1], in[2], in[3]
		return []*Node{GaussianKL(pm, ps, qm, qs), GaussianKL(qm, qs, pm, ps), GaussianKL(pm, ps, pm, ps),
			GaussianEntropy(Log(ps))}
	}, thT64(thPM, d), thT64(thPS, d), thT64(thQM, d), thT64(thQS, d))
	klPQ, klQP, klPP, entP := outs[0][0], outs[1][0], outs[2][0], outs[3][0]

	// Monte Carlo: KL(p||q) = E_p[log p − log q], H(p) = −E_p[log p].
	rng := rand.New(rand.NewPCG(11, 12))
	const nSamples = 200_000
	x := make([]float64, d)
	sumPQ, sumQP, sumH := 0.0, 0.0, 0.0
	for k := 0; k < nSamples; k++ {
		for i := range x {
			x[i] = thPM[i] + thPS[i]*rng.NormFloat64()
		}
		lp := thLogProb(x, thPM, thPS)
		sumPQ += lp - thLogProb(x, thQM, thQS)
		sumH -= lp
		for i := range x {
			x[i] = thQM[i] + thQS[i]*rng.NormFloat64()
		}
		sumQP += thLogProb(x, thQM, thQS) - thLogProb(x, thPM, thPS)
	}
	mcPQ, mcQP, mcH := sumPQ/nSamples, sumQP/nSamples, sumH/nSamples
	t.Logf("KL(p||q) closed %.5f MC %.5f; KL(q||p) closed %.5f MC %.5f; H(p) closed %.5f MC %.5f",
		klPQ, mcPQ, klQP, mcQP, entP, mcH)
	assert.InEpsilon(t, mcPQ, klPQ, 0.03)
	assert.InEpsilon(t, mcQP, klQP, 0.03)
	assert.InDelta(t, mcH, entP, 0.03*math.Abs(mcH)+0.01)
	// Also the exact closed forms computed on the host.
	assert.InDelta(t, thKL(thPM, thPS, thQM, thQS), klPQ, 1e-12)
	assert.InDelta(t, thKL(thQM, thQS, thPM, thPS), klQP, 1e-12)
	hExact := 0.0
	for _, s := range ls(thPS) {
		hExact += s + 0.5*math.Log(2*math.Pi*math.E)
	}
	assert.InDelta(t, hExact, entP, 1e-12)
	// KL(p||p) = 0, KL >= 0 and KL is asymmetric.
	assert.InDelta(t, 0, klPP, 1e-12)
	assert.Greater(t, klPQ, 0.1)
	assert.Greater(t, math.Abs(klPQ-klQP), 0.1, "KL must be asymmetric for these Gaussians")
}

func TestGaussianLogProbHandFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n, d := 6, 3
	x, m, lsd := make([]float64, n*d), make([]float64, n*d), make([]float64, n*d)
	for i := range x {
		x[i], m[i], lsd[i] = rng.NormFloat64(), rng.NormFloat64(), rng.Float64()*3-2
	}
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		return []*Node{GaussianLogProb(in[0], in[1], in[2])}
	}, thT64(x, n, d), thT64(m, n, d), thT64(lsd, n, d))
	for r := 0; r < n; r++ {
		s := make([]float64, d)
		for i := range s {
			s[i] = math.Exp(lsd[r*d+i])
		}
		want := thLogProb(x[r*d:(r+1)*d], m[r*d:(r+1)*d], s)
		assert.InDelta(t, want, outs[0][r], 1e-10)
	}
}

// thPercentile is numpy's default (linear) percentile of x, p in [0, 1].
func thPercentile(x []float64, p float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	pos := p * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func TestPercentileRangeMatchesNumpyLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cases := map[string][]float64{}
	for _, n := range []int{1, 2, 5, 20, 64, 257} {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64() * 3
		}
		cases["normal_"+strconv.Itoa(n)] = x
	}
	ties := make([]float64, 100)
	for i := range ties {
		ties[i] = math.Round(rng.NormFloat64()*2) / 2 // heavy ties
	}
	cases["ties"] = ties
	allSame := make([]float64, 33)
	for i := range allSame {
		allSame[i] = 4.25
	}
	cases["constant"] = allSame
	for name, x := range cases {
		t.Run(name, func(t *testing.T) {
			outs := thRun(t, func(g *Graph, in []*Node) []*Node {
				return []*Node{percentileRange(in[0])}
			}, thT64(x, len(x)))
			want := thPercentile(x, 0.95) - thPercentile(x, 0.05)
			assert.InDelta(t, want, outs[0][0], 1e-9)
		})
	}
	// 2-D input is flattened.
	x := cases["normal_20"]
	outs := thRun(t, func(g *Graph, in []*Node) []*Node {
		return []*Node{percentileRange(in[0])}
	}, thT64(x, 4, 5))
	assert.InDelta(t, thPercentile(x, 0.95)-thPercentile(x, 0.05), outs[0][0], 1e-9)
}

func TestEliteMaskSelectsTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const rows, s = 5, 40
	v := make([]float64, rows*s)
	for i := range v {
		if i < 2*s {
			v[i] = math.Round(rng.NormFloat64()*2) / 2 // rows 0, 1: many ties
		} else {
			v[i] = rng.NormFloat64()
		}
	}
	// Row 2: all equal.
	for j := 0; j < s; j++ {
		v[2*s+j] = 1.5
	}
	for _, k := range []int{1, 7, 16, s} {
		outs := thRun(t, func(g *Graph, in []*Node) []*Node {
			return []*Node{eliteMask(in[0], k)}
		}, thT64(v, rows, s))
		mask := outs[0]
		for r := 0; r < rows; r++ {
			row := v[r*s : (r+1)*s]
			idx := make([]int, s)
			for i := range idx {
				idx[i] = i
			}
			// Descending by value, ties by index (lower index first).
			sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
			want := make([]float64, s)
			for _, i := range idx[:k] {
				want[i] = 1
			}
			got := mask[r*s : (r+1)*s]
			require.Equal(t, want, got, "row %d k %d", r, k)
			// And independently: exactly k selected, every selected >= every unselected.
			cnt := 0
			minSel, maxUnsel := math.Inf(1), math.Inf(-1)
			for j, m := range got {
				if m == 1 {
					cnt++
					minSel = math.Min(minSel, row[j])
				} else {
					maxUnsel = math.Max(maxUnsel, row[j])
				}
			}
			require.Equal(t, k, cnt)
			require.GreaterOrEqual(t, minSel, maxUnsel)
		}
	}
}

// TestSoftCEGradientClosedForm checks the cross-entropy's autodiff gradient against its closed
// form ∂CE/∂l = softmax(l) − twohot(y) and finite differences, including logits 200 apart, where
// most probabilities underflow and the log-sum-exp must stay finite; and SimNorm's gradient
// against finite differences.
func TestSoftCEGradientClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const rows, bins = 4, 9
	logits := thRandn(rng, rows*bins, 3, 0)
	for j := 0; j < bins; j++ { // row 3: a spread of 200
		logits[3*bins+j] = 25 * float64(j-4)
	}
	targets := []float64{-3, 0.2, 7, 1e4} // the last one clips at vmax
	vmin, vmax := -5.0, 5.0
	out := thRun(t, func(g *Graph, in []*Node) []*Node {
		l, y := in[0], in[1]
		return []*Node{
			SoftCE(l, y, bins, vmin, vmax),
			Gradient(ReduceAllSum(SoftCE(l, y, bins, vmin, vmax)), l)[0],
			Sub(Softmax(l, -1), TwoHot(y, bins, vmin, vmax)),
		}
	}, thT64(logits, rows, bins), thT64(targets, rows))
	thClose(t, out[2], out[1], 1e-12, 1e-9, "cross-entropy gradient")
	for _, v := range out[0] {
		require.False(t, math.IsInf(v, 0) || math.IsNaN(v), "cross-entropy must be finite: %v", out[0])
	}

	thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(SimNorm(in[0], 4), in[1])) },
		thGradInput{name: "z", data: thRandn(rng, 3*8, 2, 0), dims: []int{3, 8}, diff: true},
		thGradInput{name: "w", data: thRandn(rng, 3*8, 1, 0), dims: []int{3, 8}})
	thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(SoftCE(in[0], in[1], bins, vmin, vmax), in[2])) },
		thGradInput{name: "logits", data: thRandn(rng, 3*bins, 2, 0), dims: []int{3, bins}, diff: true},
		thGradInput{name: "y", data: []float64{-2, 0.5, 3}, dims: []int{3}},
		thGradInput{name: "w", data: []float64{1, -0.5, 2}, dims: []int{3}})
}

// TestSoftmaxMatchesLibrary checks the decomposed softmax against the hand formula
// exp(x − max)/Σ exp(x − max) in float64 and against GoMLX's graph.Softmax (the fused kernel on the
// pure-Go backend) in float32, with a row 400 wide where most probabilities underflow, a row of
// equal logits and a 101-bin row as the two-hot decodes use; and its gradient against finite
// differences.
func TestSoftmaxMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const rows, bins = 4, 101
	x := thRandn(rng, rows*bins, 3, 0)
	for j := 0; j < bins; j++ {
		x[1*bins+j] = 4 * float64(j-50) // a spread of 400
		x[2*bins+j] = -7.5              // uniform
	}
	want := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		row := x[r*bins : (r+1)*bins]
		lse := thLogSumExp(row)
		for j, v := range row {
			want[r*bins+j] = math.Exp(v - lse)
		}
	}
	out64 := thRun(t, func(g *Graph, in []*Node) []*Node { return []*Node{softmax(in[0])} }, thT64(x, rows, bins))
	thClose(t, want, out64[0], 1e-15, 1e-12, "softmax, float64")
	out32 := thRun(t, func(g *Graph, in []*Node) []*Node {
		return []*Node{softmax(in[0]), Softmax(in[0], -1)}
	}, thT32(x, rows, bins))
	thClose(t, want, out32[0], 1e-7, 1e-5, "softmax, float32, against the hand formula")
	thClose(t, out32[1], out32[0], 1e-7, 1e-5, "softmax, float32, against graph.Softmax")
	thGradCheck(t, func(in []*Node) *Node { return ReduceAllSum(Mul(softmax(in[0]), in[1])) },
		thGradInput{name: "x", data: thRandn(rng, 3*7, 2, 0), dims: []int{3, 7}, diff: true},
		thGradInput{name: "w", data: thRandn(rng, 3*7, 1, 0), dims: []int{3, 7}})
}
