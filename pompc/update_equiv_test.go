package pompc

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/stretchr/testify/require"
)

// thEquivVariants is every preset and prior/KL variant of the update graph, each with dropout on
// (TD-MPC2's 0.01 on the first Q layer) and off.
func thEquivVariants() map[string]Config {
	small := func(c Config) Config {
		c = c.WithSize(SizeTiny)
		c.BatchSize, c.ReanalyzeSeqs = 8, 2
		return c
	}
	base := map[string]Config{}
	base["tdmpc2"] = small(TDMPC2())
	base["bmpc"] = small(BMPC())
	base["pompc_learned_reverse"] = small(POMPC())
	fwd := small(POMPC())
	fwd.PriorKL = KLForward
	base["pompc_learned_forward"] = fwd
	planner := small(POMPC())
	planner.Prior, planner.KLCritic = PriorPlanner, true
	base["pompc_planner_klcritic"] = planner
	learnedCritic := small(POMPC())
	learnedCritic.KLCritic = true
	base["pompc_learned_klcritic"] = learnedCritic
	out := map[string]Config{}
	for name, c := range base {
		on, off := c, c
		on.Dropout, off.Dropout = 0.01, 0
		out[name+"/dropout"] = on
		out[name+"/no_dropout"] = off
	}
	return out
}

// thRelDiff is max|a − b| / max(max|b|, tiny) over two float32 tensors of the same shape.
func thRelDiff(t *testing.T, a, b *tensors.Tensor) float64 {
	t.Helper()
	x, y := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	require.Equal(t, len(y), len(x))
	diff, scale := 0.0, 1e-30
	for i := range x {
		diff = math.Max(diff, math.Abs(float64(x[i])-float64(y[i])))
		scale = math.Max(scale, math.Abs(float64(y[i])))
	}
	return diff / scale
}

// TestUpdateTrainingFormsEqualAutodiff checks the assembled update graph (every loss, both
// critics, the prior, the policy, Adam, clipping, Polyak) built with the training forms
// (gradops.go) against the same update built with plain GoMLX autodiff, from the same seed and
// batches: every optimizer moment and variable after one update, relative to its tensor's
// largest entry, and every metric over three updates agree to float32 rounding.
func TestUpdateTrainingFormsEqualAutodiff(t *testing.T) {
	const h, b, o, a = 3, 8, 5, 2
	variants := thEquivVariants()
	names := make([]string, 0, len(variants))
	for name := range variants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cfg := variants[name]
		t.Run(name, func(t *testing.T) {
			cfg.Horizon = h
			forms := thAgent(t, cfg, o, a)
			plain := thAgent(t, cfg, o, a)
			plain.n.autodiff = true
			batches := []*Batch{thBatch(1, h, b, o, a, 1), thBatch(2, h, b, o, a, 1), thBatch(3, h, b, o, a, 1)}
			for i := range batches[1].Valid[:b] { // a seed-phase sequence start: masked planner entries
				batches[1].Valid[i] = float32(i % 2)
			}
			for step, bt := range batches {
				mf, err := forms.Update(thCloneBatch(bt))
				require.NoError(t, err)
				mp, err := plain.Update(thCloneBatch(bt))
				require.NoError(t, err)
				require.Equal(t, len(mp), len(mf))
				for k, want := range mp {
					got, ok := mf[k]
					require.True(t, ok, "metric %s", k)
					require.InDelta(t, want, got, 1e-5+3e-4*math.Abs(want), "update %d: %s", step+1, k)
				}
				if step > 0 {
					continue
				}
				pf, pp := thParams(t, forms), thParams(t, plain)
				require.Equal(t, len(pp), len(pf))
				moments := 0
				for path, want := range pp {
					got, ok := pf[path]
					require.True(t, ok, "variable %s", path)
					if want.DType() != dt { // RNG state, step counters: the same draws, bit for bit
						require.Equal(t, want.Value(), got.Value(), "after one update: %s", path)
						continue
					}
					if strings.Contains(strings.ToLower(path), "moment") {
						moments++
					}
					if strings.Contains(strings.ToLower(path), "moment") {
						require.LessOrEqual(t, thRelDiff(t, got, want), 1e-5, "moment after one update: %s", path)
						continue
					}
					// Parameters move by lr·m̂/(√v̂ + ε) = lr·g/(|g| + ε) at the first step, whose
					// slope lr/(4ε) at |g| = ε turns the gradients' rounding (1e-5 of the largest
					// entry, above) into up to a percent of one step for the entries near ε.
					x, y := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
					for i := range x {
						tol := 1e-6*math.Abs(float64(y[i])) + 1e-2*cfg.LR
						require.InDelta(t, float64(y[i]), float64(x[i]), tol, "after one update: %s[%d]", path, i)
					}
				}
				require.Greater(t, moments, 0, fmt.Sprintf("optimizer moments among %d variables", len(pp)))
			}
		})
	}
}
