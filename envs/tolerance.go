package envs

import (
	"fmt"
	"math"
)

// Sigmoid selects the shape of Tolerance outside its bounds. Every shape s is a function of the
// normalized distance d >= 0 from the bounds with s(0) = 1 and s(1) = valueAtMargin; they differ
// in how fast they decay and whether they reach 0 (cosine, linear, quadratic) or only approach it.
type Sigmoid uint8

const (
	// Gaussian is s(d) = exp(-½·(d·√(−2 ln v))²) = v^(d²).
	Gaussian Sigmoid = iota
	// Hyperbolic is s(d) = 1/cosh(d·arccosh(1/v)).
	Hyperbolic
	// LongTail is s(d) = 1/((d·√(1/v − 1))² + 1), a Cauchy/Lorentzian shape.
	LongTail
	// Reciprocal is s(d) = 1/(|d|·(1/v − 1) + 1).
	Reciprocal
	// Cosine is s(d) = (1 + cos(π·t))/2 with t = d·arccos(2v − 1)/π, and 0 once |t| >= 1.
	Cosine
	// Linear is s(d) = 1 − t with t = d·(1 − v), and 0 once |t| >= 1.
	Linear
	// Quadratic is s(d) = 1 − t² with t = d·√(1 − v), and 0 once |t| >= 1.
	Quadratic
	// TanhSquared is s(d) = 1 − tanh²(d·arctanh(√(1 − v))).
	TanhSquared
)

// DefaultValueAtMargin is dm_control's default value_at_margin (0.1).
const DefaultValueAtMargin = 0.1

var sigmoidNames = [...]string{
	Gaussian:    "gaussian",
	Hyperbolic:  "hyperbolic",
	LongTail:    "long_tail",
	Reciprocal:  "reciprocal",
	Cosine:      "cosine",
	Linear:      "linear",
	Quadratic:   "quadratic",
	TanhSquared: "tanh_squared",
}

// String returns dm_control's name of the sigmoid ("gaussian", "long_tail", ...).
func (s Sigmoid) String() string {
	if int(s) < len(sigmoidNames) {
		return sigmoidNames[s]
	}
	return fmt.Sprintf("Sigmoid(%d)", uint8(s))
}

// Tolerance is dm_control's rewards.tolerance(x, bounds=(lo, hi), margin, sigmoid,
// value_at_margin): a soft indicator of lo <= x <= hi.
//
//   - Inside the bounds the result is 1. The bounds may be infinite, and lo == hi is allowed.
//   - With margin == 0 the result is 0 outside the bounds: a hard indicator.
//   - Otherwise the result is sigmoid(d) with d = (lo − x)/margin below the bounds and
//     d = (x − hi)/margin above them, so it equals valueAtMargin exactly one margin away.
//
// valueAtMargin must lie in (0, 1); Cosine, Linear and Quadratic also accept 0. Unlike
// dm_control, which checks valueAtMargin only when margin > 0, Tolerance always validates it, so
// a bad constant is caught whatever the margin. lo > hi, margin < 0 (or NaN) and an unknown
// sigmoid are errors too. A NaN x gives NaN.
func Tolerance(x, lo, hi, margin float64, sigmoid Sigmoid, valueAtMargin float64) (float64, error) {
	if !(lo <= hi) {
		return 0, fmt.Errorf("envs.Tolerance: lower bound %v must be <= upper bound %v", lo, hi)
	}
	if !(margin >= 0) {
		return 0, fmt.Errorf("envs.Tolerance: margin must be non-negative, got %v", margin)
	}
	if err := checkValueAtMargin(sigmoid, valueAtMargin); err != nil {
		return 0, err
	}
	return tolerance(x, lo, hi, margin, sigmoid, valueAtMargin), nil
}

// MustTolerance is Tolerance for arguments that are constants of the calling code (a task's
// reward definition): invalid arguments are a programming error and panic.
func MustTolerance(x, lo, hi, margin float64, sigmoid Sigmoid, valueAtMargin float64) float64 {
	v, err := Tolerance(x, lo, hi, margin, sigmoid, valueAtMargin)
	if err != nil {
		panic(err)
	}
	return v
}

// checkValueAtMargin enforces 0 < v < 1, or 0 <= v < 1 for the sigmoids that reach 0.
func checkValueAtMargin(sigmoid Sigmoid, v float64) error {
	switch sigmoid {
	case Cosine, Linear, Quadratic:
		if !(v >= 0 && v < 1) {
			return fmt.Errorf("envs.Tolerance: value_at_margin must be in [0, 1) for %v, got %v", sigmoid, v)
		}
	case Gaussian, Hyperbolic, LongTail, Reciprocal, TanhSquared:
		if !(v > 0 && v < 1) {
			return fmt.Errorf("envs.Tolerance: value_at_margin must be in (0, 1) for %v, got %v", sigmoid, v)
		}
	default:
		return fmt.Errorf("envs.Tolerance: unknown sigmoid %v", sigmoid)
	}
	return nil
}

// tolerance is Tolerance on validated arguments.
func tolerance(x, lo, hi, margin float64, sigmoid Sigmoid, v float64) float64 {
	switch {
	case math.IsNaN(x):
		return math.NaN()
	case lo <= x && x <= hi:
		return 1
	case margin == 0:
		return 0
	}
	var d float64
	if x < lo {
		d = (lo - x) / margin
	} else {
		d = (x - hi) / margin
	}
	return sigmoidValue(d, sigmoid, v)
}

// sigmoidValue evaluates the sigmoid at normalized distance d >= 0, scaled so that
// sigmoidValue(0) = 1 and sigmoidValue(1) = v (dm_control's rewards._sigmoids).
func sigmoidValue(d float64, sigmoid Sigmoid, v float64) float64 {
	switch sigmoid {
	case Gaussian:
		// exp(-½(d·s)²) with s² = −2 ln v: at d = 1 this is exp(ln v) = v.
		scale := math.Sqrt(-2 * math.Log(v))
		ds := d * scale
		return math.Exp(-0.5 * ds * ds)
	case Hyperbolic:
		// 1/cosh(d·s) with cosh(s) = 1/v.
		return 1 / math.Cosh(d*math.Acosh(1/v))
	case LongTail:
		// 1/((d·s)² + 1) with s² = 1/v − 1.
		ds := d * math.Sqrt(1/v-1)
		return 1 / (ds*ds + 1)
	case Reciprocal:
		// 1/(|d|·s + 1) with s = 1/v − 1.
		return 1 / (math.Abs(d)*(1/v-1) + 1)
	case Cosine:
		// Half a cosine period from 1 down to 0, stretched so that t = arccos(2v−1)/π at d = 1
		// gives (1 + (2v−1))/2 = v.
		t := d * math.Acos(2*v-1) / math.Pi
		if math.Abs(t) < 1 {
			return (1 + math.Cos(math.Pi*t)) / 2
		}
		return 0
	case Linear:
		t := d * (1 - v)
		if math.Abs(t) < 1 {
			return 1 - t
		}
		return 0
	case Quadratic:
		t := d * math.Sqrt(1-v)
		if math.Abs(t) < 1 {
			return 1 - t*t
		}
		return 0
	case TanhSquared:
		// 1 − tanh²(d·s) with tanh²(s) = 1 − v.
		th := math.Tanh(d * math.Atanh(math.Sqrt(1-v)))
		return 1 - th*th
	}
	panic(fmt.Sprintf("envs: unknown sigmoid %v", sigmoid))
}
