package pompc

import (
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

// Shared helpers of the unit tests (prefixed th* to stay clear of other test files).

var (
	thBackendOnce sync.Once
	thBackendVal  compute.Backend
	thBackendErr  error
)

// thBackend returns one pure-Go backend shared by every test of the package.
func thBackend(t testing.TB) compute.Backend {
	t.Helper()
	thBackendOnce.Do(func() { thBackendVal, thBackendErr = NewBackend("") })
	require.NoError(t, thBackendErr)
	return thBackendVal
}

// thFloats returns the data of a float32 or float64 tensor as float64.
func thFloats(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("unsupported dtype %s", x.DType())
	return nil
}

// thRun builds and runs fn once on the pure-Go backend and returns every output as float64s.
func thRun(t testing.TB, fn func(g *Graph, in []*Node) []*Node, args ...any) [][]float64 {
	t.Helper()
	exec, err := NewExec(thBackend(t), fn)
	require.NoError(t, err)
	defer exec.Finalize()
	outs, err := exec.Call(args...)
	require.NoError(t, err)
	return thAllFloats(t, outs)
}

// thAllFloats is thFloats of every tensor.
func thAllFloats(t testing.TB, outs []*tensors.Tensor) [][]float64 {
	t.Helper()
	res := make([][]float64, len(outs))
	for i, o := range outs {
		res[i] = thFloats(t, o)
	}
	return res
}

// thT64 makes a float64 tensor.
func thT64(data []float64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
}

// thT32 makes a float32 tensor from float64 data.
func thT32(data []float64, dims ...int) *tensors.Tensor {
	f := make([]float32, len(data))
	for i, v := range data {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// thClose asserts |got − want| <= atol + rtol·|want| element-wise.
func thClose(t testing.TB, want, got []float64, atol, rtol float64, msgAndArgs ...any) {
	t.Helper()
	require.Len(t, got, len(want), msgAndArgs...)
	for i := range want {
		tol := atol + rtol*math.Abs(want[i])
		if !(math.Abs(got[i]-want[i]) <= tol) {
			require.Failf(t, "values differ", "index %d: want %.10g, got %.10g (tol %.3g) %v", i, want[i], got[i], tol, msgAndArgs)
		}
	}
}

// thRhoMean is (1/T) Σ_t ρ^t x_t.
func thRhoMean(x []float64, rho float64) float64 {
	s := 0.0
	for t, v := range x {
		s += math.Pow(rho, float64(t)) * v
	}
	return s / float64(len(x))
}

// thKL is the closed form KL(N(m1, s1) || N(m2, s2)) summed over dimensions.
func thKL(m1, s1, m2, s2 []float64) float64 {
	kl := 0.0
	for i := range m1 {
		kl += math.Log(s2[i]/s1[i]) + (s1[i]*s1[i]+(m1[i]-m2[i])*(m1[i]-m2[i]))/(2*s2[i]*s2[i]) - 0.5
	}
	return kl
}

// thLogProb is log N(x; m, s) summed over dimensions.
func thLogProb(x, m, s []float64) float64 {
	lp := 0.0
	for i := range x {
		z := (x[i] - m[i]) / s[i]
		lp += -0.5*z*z - math.Log(s[i]) - 0.5*math.Log(2*math.Pi)
	}
	return lp
}

// thSymLog and thSymExp are the host-side references.
func thSymLog(x float64) float64 {
	if x < 0 {
		return -math.Log1p(-x)
	}
	return math.Log1p(x)
}

func thSymExp(x float64) float64 {
	if x < 0 {
		return -math.Expm1(-x)
	}
	return math.Expm1(x)
}

// thTwoHot is an independent host-side two-hot encoding of symlog(x) over numBins bins on
// [vmin, vmax].
func thTwoHot(x float64, numBins int, vmin, vmax float64) []float64 {
	p := make([]float64, numBins)
	y := math.Min(math.Max(thSymLog(x), vmin), vmax)
	step := (vmax - vmin) / float64(numBins-1)
	for i := 0; i < numBins-1; i++ {
		lo, hi := vmin+float64(i)*step, vmin+float64(i+1)*step
		if y >= lo && y <= hi {
			w := (y - lo) / step
			p[i] = 1 - w
			p[i+1] = w
			return p
		}
	}
	p[numBins-1] = 1
	return p
}

// thTinyConfig is POMPC at the tiny size with a smaller planner, for fast agent tests.
func thTinyConfig() Config {
	c := POMPC().WithSize(SizeTiny)
	c.BatchSize = 8
	c.NumSamples = 32
	c.NumPiTrajs = 4
	c.NumElites = 8
	c.Iterations = 2
	c.ReanalyzeSeqs = 2
	return c
}

// thAgent builds an agent on the shared backend.
func thAgent(t testing.TB, cfg Config, obsDim, actDim int) *Agent {
	t.Helper()
	ag, err := NewAgent(thBackend(t), cfg, obsDim, actDim, 0.95)
	require.NoError(t, err)
	return ag
}

// thBatch builds a random time-major batch (see Batch) with every Valid set to valid.
func thBatch(seed uint64, h, b, o, a int, valid float32) *Batch {
	rng := rand.New(rand.NewPCG(seed, 99))
	u := func(n int, lo, hi float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = lo + (hi-lo)*rng.Float32()
		}
		return x
	}
	bt := &Batch{H: h, B: b, ObsDim: o, ActDim: a,
		Obs: u((h+1)*b*o, -1, 1), Action: u(h*b*a, -1, 1), Reward: u(h*b, -1, 2),
		Cont: make([]float32, h*b), PlanMean: u((h+1)*b*a, -0.8, 0.8), PlanStd: u((h+1)*b*a, 0.1, 1),
		Valid: make([]float32, (h+1)*b), Slots: make([]int, b)}
	for i := range bt.Cont {
		bt.Cont[i] = 1
	}
	for i := range bt.Valid {
		bt.Valid[i] = valid
	}
	return bt
}

// thCloneBatch deep-copies a batch.
func thCloneBatch(b *Batch) *Batch {
	c := *b
	cp := func(x []float32) []float32 { return append([]float32(nil), x...) }
	c.Obs, c.Action, c.Reward, c.Cont = cp(b.Obs), cp(b.Action), cp(b.Reward), cp(b.Cont)
	c.PlanMean, c.PlanStd, c.Valid = cp(b.PlanMean), cp(b.PlanStd), cp(b.Valid)
	c.Slots = append([]int(nil), b.Slots...)
	return &c
}

// thParams copies every variable of the agent's store, by path.
func thParams(t testing.TB, ag *Agent) map[string]*tensors.Tensor {
	t.Helper()
	out := map[string]*tensors.Tensor{}
	for v := range ag.Store().IterVariables() {
		val, err := v.Value()
		require.NoError(t, err)
		c, err := val.LocalClone()
		require.NoError(t, err)
		out[v.Path()] = c
	}
	return out
}

// thParamsDiff reports the paths whose values differ or that exist in only one of a and b (nil
// when both hold the same bit-identical variables).
func thParamsDiff(t testing.TB, a, b map[string]*tensors.Tensor) []string {
	t.Helper()
	var diff []string
	for p, ta := range a {
		tb, ok := b[p]
		if !ok || !ta.Shape().Equal(tb.Shape()) || !reflect.DeepEqual(ta.Value(), tb.Value()) {
			diff = append(diff, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diff = append(diff, p)
		}
	}
	sort.Strings(diff)
	return diff
}
