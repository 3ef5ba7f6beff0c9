package pompc

import "math"

// MeanStd is the mean of xs and their sample standard deviation, s = sqrt(Σ(x-m)²/(n-1)) (0 for
// one value; NaN, NaN for none): the spread of the evaluation episodes (eval/return_std, alg §8)
// and of the seeds in a figure's band alike.
func MeanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) == 1 {
		return mean, 0
	}
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(v / float64(len(xs)-1))
}
