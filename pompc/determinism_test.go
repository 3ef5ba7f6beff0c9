package pompc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// thRunAgent acts a few times and runs 3 updates, returning everything observable.
func thRunAgent(t *testing.T, cfg Config, batches []*Batch) (acts []PlanResult, metrics []map[string]float64, ag *Agent) {
	t.Helper()
	ag = thAgent(t, cfg, batches[0].ObsDim, batches[0].ActDim)
	obs := []float32{0.5, -0.1, 0.3, 0.8}
	for i := 0; i < 3; i++ {
		r, err := ag.Act(obs, i == 0, i == 2)
		require.NoError(t, err)
		acts = append(acts, r)
	}
	for _, b := range batches {
		m, err := ag.Update(b)
		require.NoError(t, err)
		metrics = append(metrics, m)
	}
	r, err := ag.Act(obs, false, false)
	require.NoError(t, err)
	acts = append(acts, r)
	return acts, metrics, ag
}

func TestDeterminismSameSeed(t *testing.T) {
	const h, b, o, a = 3, 8, 4, 2
	batches := []*Batch{thBatch(10, h, b, o, a, 1), thBatch(11, h, b, o, a, 1), thBatch(12, h, b, o, a, 0)}
	for name, cfg := range map[string]Config{"pompc": thTinyConfig(), "bmpc": func() Config {
		c := BMPC().WithSize(SizeTiny)
		c.NumSamples, c.NumElites, c.Iterations = 32, 8, 2
		return c
	}()} {
		t.Run(name, func(t *testing.T) {
			acts1, m1, ag1 := thRunAgent(t, cfg, batches)
			acts2, m2, ag2 := thRunAgent(t, cfg, batches)
			require.Equal(t, acts1, acts2, "same seed: identical planner outputs")
			require.Equal(t, m1, m2, "same seed: identical update metrics")
			p1, p2 := thParams(t, ag1), thParams(t, ag2)
			require.Empty(t, thParamsDiff(t, p1, p2), "same seed: identical variables")
			require.EqualValues(t, 3, ag1.Updates())

			// The updates did change the parameters (the comparison above is not vacuous).
			fresh := thAgent(t, cfg, o, a)
			changed := thParamsDiff(t, thParams(t, fresh), p1)
			assert.Contains(t, changed, "/pi/h0/linear/dense/weights")
			assert.Contains(t, changed, "/wm/core/q/out/linear/weights")
			assert.Contains(t, changed, "/target/q/out/linear/weights")

			// A different seed gives different parameters and actions.
			cfg2 := cfg
			cfg2.Seed = cfg.Seed + 1
			acts3, _, ag3 := thRunAgent(t, cfg2, batches)
			diff := thParamsDiff(t, p1, thParams(t, ag3))
			assert.Contains(t, diff, "/wm/enc/h0/linear/dense/weights")
			assert.Contains(t, diff, "/pi/h0/linear/dense/weights")
			assert.NotEqual(t, acts1[0].Action, acts3[0].Action)
		})
	}
}
