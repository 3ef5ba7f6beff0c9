package sweep

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/stretchr/testify/require"
)

func TestStudentTQuantileKnownValues(t *testing.T) {
	// Standard t-table values (two-sided 95% and 99%).
	for _, c := range []struct{ p, df, want float64 }{
		{0.975, 1, 12.7062}, {0.975, 2, 4.3027}, {0.975, 4, 2.7764}, {0.975, 9, 2.2622},
		{0.975, 30, 2.0423}, {0.995, 5, 4.0321}, {0.95, 10, 1.8125}, {0.975, 1e6, 1.9600},
	} {
		require.InDelta(t, c.want, StudentTQuantile(c.p, c.df), 1e-4, "p=%v df=%v", c.p, c.df)
	}
	require.InDelta(t, -2.7764, StudentTQuantile(0.025, 4), 1e-4)
	require.True(t, math.IsNaN(StudentTQuantile(1.2, 3)))
	require.True(t, math.IsNaN(StudentTQuantile(0.9, 0)))
}

func TestMeanCI(t *testing.T) {
	// Five values with mean 3 and sd sqrt(2.5): half = 2.7764 * 1.5811 / sqrt(5) = 1.9632.
	m, h := MeanCI([]float64{1, 2, 3, 4, 5}, 0.95)
	require.InDelta(t, 3.0, m, 1e-12)
	require.InDelta(t, 1.9632, h, 1e-4)
	m, h = MeanCI([]float64{7, math.NaN()}, 0.95)
	require.Equal(t, 7.0, m)
	require.True(t, math.IsNaN(h))
	m, _ = MeanCI(nil, 0.95)
	require.True(t, math.IsNaN(m))
	// Coverage: over many normal samples of size 4 the interval holds the mean ~95% of the time.
	rng := newTestRand()
	hits := 0
	const trials = 4000
	for i := 0; i < trials; i++ {
		xs := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		m, h := MeanCI(xs, 0.95)
		if math.Abs(m) <= h {
			hits++
		}
	}
	require.InDelta(t, 0.95, float64(hits)/trials, 0.015)
}

func TestAUCAndFinal(t *testing.T) {
	recs := []pompc.Record{{Step: 10, Val: 0}, {Step: 0, Val: 0}, {Step: 20, Val: 10}}
	// Trapezoids: 0 on [0,10], 50 on [10,20]: 50 / 20 = 2.5.
	require.InDelta(t, 2.5, AUC(recs), 1e-12)
	require.Equal(t, 10.0, Final(recs))
	require.Equal(t, 4.0, AUC([]pompc.Record{{Step: 3, Val: 4}}))
	require.True(t, math.IsNaN(AUC(nil)))
	require.True(t, math.IsNaN(Final(nil)))
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
