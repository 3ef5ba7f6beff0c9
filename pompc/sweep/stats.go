package sweep

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/pompc/pompc/pompc"
)

// MeanCI returns the mean of xs and the half-width of its two-sided confidence interval at level
// (e.g. 0.95) under Student's t: half = t_{(1+level)/2, n-1} * s / sqrt(n), with s the sample
// standard deviation (n-1 denominator). Seeds are few (3-10), so the t quantile, not the normal
// 1.96, is what makes the band honest. NaN values are dropped; with fewer than two values the
// half-width is NaN (no interval).
func MeanCI(xs []float64, level float64) (mean, half float64) {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	n := len(v)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(n)
	if n < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	s := math.Sqrt(ss / float64(n-1))
	return mean, StudentTQuantile((1+level)/2, float64(n-1)) * s / math.Sqrt(float64(n))
}

// StudentTQuantile returns t such that P(T <= t) = p for Student's t with df degrees of freedom
// (gonum's distuv.StudentsT); NaN for p outside (0, 1) or df <= 0.
func StudentTQuantile(p, df float64) float64 {
	if p <= 0 || p >= 1 || df <= 0 || math.IsNaN(p) || math.IsNaN(df) {
		return math.NaN()
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(p)
}

// AUC is the normalized area under a return curve: the trapezoid-rule integral of val over step
// divided by the step span, i.e. the average return over training (same units as the return, so
// runs of different lengths compare). One point gives its value; none gives NaN.
func AUC(recs []pompc.Record) float64 {
	pts := append([]pompc.Record(nil), recs...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Step < pts[j].Step })
	switch len(pts) {
	case 0:
		return math.NaN()
	case 1:
		return pts[0].Val
	}
	span := float64(pts[len(pts)-1].Step - pts[0].Step)
	if span == 0 {
		var s float64
		for _, p := range pts {
			s += p.Val
		}
		return s / float64(len(pts))
	}
	var area float64
	for i := 1; i < len(pts); i++ {
		area += float64(pts[i].Step-pts[i-1].Step) * (pts[i].Val + pts[i-1].Val) / 2
	}
	return area / span
}

// Final is the last value of a series in step order (NaN if empty).
func Final(recs []pompc.Record) float64 {
	if len(recs) == 0 {
		return math.NaN()
	}
	best := recs[0]
	for _, r := range recs[1:] {
		if r.Step >= best.Step {
			best = r
		}
	}
	return best.Val
}
