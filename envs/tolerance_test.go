package envs

import (
	"math"
	"testing"
)

var allSigmoids = []Sigmoid{Gaussian, Hyperbolic, LongTail, Reciprocal, Cosine, Linear, Quadratic, TanhSquared}

func TestToleranceInsideBounds(t *testing.T) {
	for _, s := range allSigmoids {
		for _, c := range []struct{ x, lo, hi, margin float64 }{
			{0, 0, 0, 1}, {0.3, -1, 1, 2}, {-1, -1, 1, 0}, {1, -1, 1, 0.5},
			{1e9, 0, math.Inf(1), 1}, {-1e9, math.Inf(-1), 0, 1}, {5, math.Inf(-1), math.Inf(1), 0},
		} {
			got, err := Tolerance(c.x, c.lo, c.hi, c.margin, s, 0.1)
			if err != nil || got != 1 {
				t.Errorf("%v: Tolerance(%v, [%v, %v], margin %v) = %v, %v; want 1", s, c.x, c.lo, c.hi, c.margin, got, err)
			}
		}
	}
}

// TestToleranceAtMargin: one margin outside either bound every sigmoid gives value_at_margin.
func TestToleranceAtMargin(t *testing.T) {
	for _, s := range allSigmoids {
		vs := []float64{0.1, 0.5, 0.9, 1e-3}
		if s == Cosine || s == Linear || s == Quadratic {
			vs = append(vs, 0)
		}
		for _, v := range vs {
			for _, c := range []struct{ x, lo, hi, margin float64 }{
				{-2.5, -0.5, 0.5, 2}, {2.5, -0.5, 0.5, 2}, {3, 0, 0, 3}, {-0.25, 0, 0, 0.25}, {2, 0.995, 1, 1}, {-0.005, 0.995, 1, 1},
			} {
				got, err := Tolerance(c.x, c.lo, c.hi, c.margin, s, v)
				if err != nil || math.Abs(got-v) > 1e-12 {
					t.Errorf("%v v=%v: Tolerance(%v, [%v, %v], margin %v) = %v, %v; want %v", s, v, c.x, c.lo, c.hi, c.margin, got, err, v)
				}
			}
		}
	}
}

// TestToleranceShape: every sigmoid decreases from 1 to below value_at_margin, and the bounded
// ones reach exactly 0.
func TestToleranceShape(t *testing.T) {
	for _, s := range allSigmoids {
		prev := 1.0
		for d := 0.0; d <= 4; d += 0.125 {
			got := MustTolerance(1+d, 0, 1, 1, s, 0.1)
			if got > prev || got < 0 || (d > 0 && got >= 1) {
				t.Errorf("%v: not decreasing in [0, 1) at d = %v: %v after %v", s, d, got, prev)
			}
			prev = got
		}
		if d := MustTolerance(-1.5, 0, 1, 1, s, 0.1); d >= 0.1 {
			t.Errorf("%v: value 1.5 margins out = %v, want < 0.1", s, d)
		}
	}
	// Closed forms at d = 2 with v = 0.1.
	for s, want := range map[Sigmoid]float64{
		Gaussian:    1e-4,            // v^(d²)
		LongTail:    1 / (4*9 + 1.0), // 1/(d²(1/v−1)+1)
		Reciprocal:  1 / (2*9 + 1.0), // 1/(d(1/v−1)+1)
		Linear:      0,               // 1 − 2·0.9 < 0 → 0
		Quadratic:   0,               // (2·√0.9)² > 1 → 0
		Hyperbolic:  1 / math.Cosh(2*math.Acosh(10)),
		TanhSquared: 1 - math.Pow(math.Tanh(2*math.Atanh(math.Sqrt(0.9))), 2),
		Cosine:      0, // t = 2·arccos(−0.8)/π > 1
	} {
		if got := MustTolerance(3, 0, 1, 1, s, 0.1); math.Abs(got-want) > 1e-12 {
			t.Errorf("%v at d = 2: %v, want %v", s, got, want)
		}
	}
	// DMC's small_control: (4 + tol(u, margin 1, quadratic, 0))/5 = (5 − u²)/5.
	for _, u := range []float64{-1, -0.5, 0, 0.3, 1} {
		if got := MustTolerance(u, 0, 0, 1, Quadratic, 0); math.Abs(got-(1-u*u)) > 1e-15 {
			t.Errorf("quadratic(%v) = %v, want %v", u, got, 1-u*u)
		}
	}
}

// TestToleranceHardIndicator: with margin 0 the result is 0 outside the bounds, whatever the sigmoid.
func TestToleranceHardIndicator(t *testing.T) {
	for _, s := range allSigmoids {
		for _, x := range []float64{-0.2500001, 0.26, 10, math.Inf(1), math.Inf(-1)} {
			if got := MustTolerance(x, -0.25, 0.25, 0, s, 0.1); got != 0 {
				t.Errorf("%v: hard indicator at %v = %v, want 0", s, x, got)
			}
		}
		if got := MustTolerance(0.25, -0.25, 0.25, 0, s, 0.1); got != 1 {
			t.Errorf("%v: hard indicator on the bound = %v, want 1", s, got)
		}
	}
	if got := MustTolerance(math.NaN(), 0, 1, 1, Gaussian, 0.1); !math.IsNaN(got) {
		t.Errorf("NaN input gave %v, want NaN", got)
	}
}

func TestToleranceErrors(t *testing.T) {
	for _, c := range []struct {
		name              string
		lo, hi, margin, v float64
		s                 Sigmoid
	}{
		{"lo > hi", 1, 0, 1, 0.1, Gaussian},
		{"NaN bound", math.NaN(), 0, 1, 0.1, Gaussian},
		{"negative margin", 0, 0, -1, 0.1, Gaussian},
		{"NaN margin", 0, 0, math.NaN(), 0.1, Gaussian},
		{"v = 0 gaussian", 0, 0, 1, 0, Gaussian},
		{"v = 0 hyperbolic", 0, 0, 1, 0, Hyperbolic},
		{"v = 0 long_tail", 0, 0, 1, 0, LongTail},
		{"v = 0 reciprocal", 0, 0, 1, 0, Reciprocal},
		{"v = 0 tanh_squared", 0, 0, 1, 0, TanhSquared},
		{"v = 1 linear", 0, 0, 1, 1, Linear},
		{"v = 1 gaussian", 0, 0, 1, 1, Gaussian},
		{"v < 0 cosine", 0, 0, 1, -0.1, Cosine},
		{"v > 1 quadratic", 0, 0, 1, 1.5, Quadratic},
		{"v NaN", 0, 0, 1, math.NaN(), Linear},
		{"bad v with margin 0", 0, 0, 0, 2, Gaussian},
		{"unknown sigmoid", 0, 0, 1, 0.1, Sigmoid(99)},
	} {
		if _, err := Tolerance(0.5, c.lo, c.hi, c.margin, c.s, c.v); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustTolerance with lo > hi did not panic")
		}
	}()
	MustTolerance(0, 1, 0, 1, Gaussian, 0.1)
}

func TestSigmoidString(t *testing.T) {
	want := []string{"gaussian", "hyperbolic", "long_tail", "reciprocal", "cosine", "linear", "quadratic", "tanh_squared"}
	for i, s := range allSigmoids {
		if s.String() != want[i] {
			t.Errorf("Sigmoid(%d).String() = %q, want %q", i, s.String(), want[i])
		}
	}
	if got := Sigmoid(42).String(); got != "Sigmoid(42)" {
		t.Errorf("unknown sigmoid prints %q", got)
	}
}
