package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchCISmall is the small bench configuration CI runs: every column is measured and the
// JSON and table forms carry them.
func TestBenchCISmall(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	ctx := context.Background()
	small := []string{"--sizes", "tiny", "--iters", "3", "--warmup", "1", "--e2e-steps", "3", "--env-seconds", "0.05", "--planner", "own", "--progress=false"}
	var out bytes.Buffer
	require.NoError(t, runBenchTo(ctx, append(small, "--dims", "5/1", "--json"), &out))
	var rows []benchRow
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows), out.String())
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Equal(t, pompc.DefaultBackend, r.Backend)
	assert.Equal(t, "tiny", r.Size)
	assert.Equal(t, "cartpole-balance", r.Task)
	assert.Equal(t, []int{5, 1, 128, 4, 64, 3, 3}, []int{r.ObsDim, r.ActDim, r.Samples, r.Iterations, r.Batch, r.Horizon, r.Calls},
		"tiny preset's own planner and batch with --planner own")
	assert.Greater(t, r.PlanMedMS, 0.0)
	assert.GreaterOrEqual(t, r.PlanP90MS, r.PlanMedMS)
	assert.Greater(t, r.UpdMedMS, 0.0)
	assert.GreaterOrEqual(t, r.UpdP90MS, r.UpdMedMS)
	assert.Greater(t, r.SampleMS, 0.0)
	assert.Greater(t, r.EnvSPS, 0.0)
	assert.Greater(t, r.AgentSPS, 0.0)
	assert.Less(t, r.AgentSPS, r.EnvSPS, "an agent step includes an env step")
	assert.Greater(t, r.PeakHeapMB, 0.0)
	assert.Greater(t, r.PeakRSSMB, 0.0)
	assert.Empty(t, r.RefName, "no reference for the tiny size")
	for _, k := range []string{`"plan_median_ms"`, `"plan_p90_ms"`, `"update_median_ms"`, `"update_p90_ms"`, `"env_steps_per_s"`, `"agent_steps_per_s"`, `"peak_heap_mb"`} {
		assert.Contains(t, out.String(), k)
	}

	// The table, at dims without a task in the build (a synthetic env stands in).
	out.Reset()
	require.NoError(t, runBenchTo(ctx, append(small, "--dims", "7/2"), &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 4, out.String())
	assert.Contains(t, lines[0], "backend "+pompc.DefaultBackend+" (")
	for _, col := range []string{"plan ms (med/p90)", "update ms (med/p90)", "env steps/s", "agent steps/s", "ref plan/update ms", "heap MB", "RSS MB"} {
		assert.Contains(t, lines[1], col)
	}
	f := strings.Fields(lines[2])
	assert.Equal(t, []string{"tiny", "7/2", "128", "x", "4", "64"}, f[:6])
	assert.Contains(t, out.String(), "7/2 synthetic")

	// --planner puts a planner and batch on any size: the 1M networks with the tiny planner
	// (no reference: the planner differs from the published one); an unknown one is refused.
	out.Reset()
	require.NoError(t, runBenchTo(ctx, []string{"--sizes", "1M", "--dims", "5/1", "--planner", "tiny", "--iters", "1", "--warmup", "1",
		"--e2e-steps", "0", "--env-seconds", "0", "--progress=false", "--json"}, &out))
	rows = nil
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows), out.String())
	require.Len(t, rows, 1)
	assert.Equal(t, []any{"1M", 128, 4, 64}, []any{rows[0].Size, rows[0].Samples, rows[0].Iterations, rows[0].Batch})
	assert.Empty(t, rows[0].RefName)
	require.ErrorContains(t, runBenchTo(ctx, []string{"--sizes", "tiny", "--planner", "huge"}, &out), `unknown planner "huge"`)
}

func TestBenchReferences(t *testing.T) {
	r := benchRow{Backend: "go:parallelism=-1", Size: "5M", ObsDim: 67, ActDim: 21, Samples: 512, Batch: 256, Horizon: 3}
	setRef(&r)
	assert.Equal(t, []any{"torch-cpu-2core", 485.0, 370.0}, []any{r.RefName, r.RefPlanMS, r.RefUpdMS})
	r = benchRow{Backend: "xla:cuda", Size: "5M", ObsDim: 67, ActDim: 21, Samples: 512, Batch: 256, Horizon: 3}
	setRef(&r)
	assert.Equal(t, []any{"tdmpc2-jax-h100", 7.1, 9.1}, []any{r.RefName, r.RefPlanMS, r.RefUpdMS})
	r = benchRow{Backend: "xla:cuda", Size: "5M", ObsDim: 67, ActDim: 21, Samples: 128, Batch: 256, Horizon: 3}
	setRef(&r)
	assert.Empty(t, r.RefName, "a different planner is not comparable")
	r = benchRow{Backend: "xla:cpu", Size: "1M", ObsDim: 5, ActDim: 1, Samples: 512, Batch: 256, Horizon: 3}
	setRef(&r)
	assert.Equal(t, "torch-cpu-2core", r.RefName)
}

func TestBenchBadFlags(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	for _, args := range [][]string{
		{"--iters", "0"}, {"--warmup", "-1"}, {"--e2e-steps", "-1"}, {"--dims", "5x1"}, {"--dims", "0/1"},
		{"--sizes", "nosuch"}, {"--preset", "nosuch"}, {"extra"}, {"--backend", "nosuch"},
	} {
		assert.Error(t, runBenchTo(ctx, args, &out), "%v", args)
	}
	assert.Empty(t, out.String(), "nothing measured or printed for bad input")
}

func TestQuantilesAndSMI(t *testing.T) {
	m, p := quantiles([]float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5})
	assert.Equal(t, 5.5, m)
	assert.Equal(t, 9.0, p)
	m, p = quantiles([]float64{3})
	assert.Equal(t, []float64{3, 3}, []float64{m, p})
	assert.Equal(t, 1536.0, parseSMIMemory("123, 1024\n77, 5\n123, 512\nbad line\n", 123))
	assert.Equal(t, 0.0, parseSMIMemory("", 1))
}

// --population N: the JSON row carries the population size, the summed agent rate, the per-run
// rate (sum/N) and the single run's rate; the table prints the population columns; bad values
// are refused.
func TestBenchPopulation(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	ctx := context.Background()
	args := []string{"--sizes", "tiny", "--dims", "5/1", "--iters", "1", "--warmup", "1", "--e2e-steps", "2", "--env-seconds", "0", "--planner", "own", "--progress=false", "--population", "3"}
	var out bytes.Buffer
	require.NoError(t, runBenchTo(ctx, append(args, "--json"), &out))
	var rows []benchRow
	require.NoError(t, json.Unmarshal(out.Bytes(), &rows), out.String())
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Equal(t, 3, r.Population)
	assert.Greater(t, r.AgentSPS, 0.0)
	assert.Greater(t, r.SingleSPS, 0.0)
	assert.InDelta(t, r.AgentSPS/3, r.PerRunSPS, 1e-9)
	assert.Contains(t, out.String(), `"population": 3`)
	out.Reset()
	require.NoError(t, runBenchTo(ctx, args, &out))
	assert.Contains(t, out.String(), "agent steps/s (sum)")
	assert.Contains(t, out.String(), "speed-up")
	require.ErrorContains(t, runBenchTo(ctx, []string{"--population", "0"}, &out), "--population")
}
