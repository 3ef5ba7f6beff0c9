package pompc

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// popTrain trains a population of the given configs for steps lockstep steps and returns its
// trainers (closed at cleanup) and their sinks.
func popTrain(t *testing.T, cfgs []Config, steps int) ([]*Trainer, []*MemorySink, *Population) {
	t.Helper()
	trs := make([]*Trainer, len(cfgs))
	sinks := make([]*MemorySink, len(cfgs))
	for i, c := range cfgs {
		trs[i] = newTestTrainer(t, c, "cartpole-swingup")
		sinks[i] = &MemorySink{}
		trs[i].Subscribe(sinks[i])
	}
	p, err := NewPopulation(thBackend(t), trs)
	require.NoError(t, err)
	require.NoError(t, p.Run(context.Background(), steps, nil))
	require.NoError(t, p.Sync())
	return trs, sinks, p
}

func popConfig(seed int64, lambda float64) Config {
	c := fastConfig()
	c.Seed, c.Lambda = seed, lambda
	return c
}

// A population of one runs the batched graphs (run axis of size 1: batched matmuls, per-run RNG
// streams drawn from the population's state, the barrier, the sync back to the run's store) and
// equals the ordinary trainer bit for bit: every metric record of 45 steps (seed phase, its
// burst of updates, planner steps with reanalysis and snapshots) and every variable.
func TestPopulationOfOneEqualsTrainer(t *testing.T) {
	cfg := popConfig(3, 1)
	alone, aloneSink := trainWithSink(t, cfg, "cartpole-swingup", 45)
	trs, sinks, _ := popTrain(t, []Config{cfg}, 45)
	requireSameRecords(t, aloneSink.Records(), sinks[0].Records(), 0)
	require.Empty(t, thParamsDiff(t, thParams(t, alone.Agent()), thParams(t, trs[0].Agent())),
		"a population of one must hold the same variables as the run trained alone")
}

// requireSameRecords compares two metric streams: keys and steps exactly, values bit for bit
// (rtol 0) or to a relative tolerance.
func requireSameRecords(t *testing.T, want, got []Record, rtol float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), "record counts")
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.Key, g.Key, "record %d", i)
		require.Equal(t, w.Step, g.Step, "record %d (%s)", i, w.Key)
		if rtol == 0 {
			require.True(t, w.Val == g.Val || (math.IsNaN(w.Val) && math.IsNaN(g.Val)),
				"record %d (%s @ %d): %v alone, %v in the population", i, w.Key, w.Step, w.Val, g.Val)
		} else {
			require.InDelta(t, w.Val, g.Val, rtol*math.Max(1, math.Abs(w.Val)), "record %d (%s @ %d)", i, w.Key, w.Step)
		}
	}
}

// Each run of a population of three (different seeds and λ) matches the same run trained alone
// on its first update to float32 rounding (the training forms run as batched products over
// three runs, which the backend blocks differently from one run's), and changing one run's λ or
// seed changes no other run's parameters, bit for bit.
func TestPopulationRunsMatchAloneAndAreIndependent(t *testing.T) {
	cfgs := []Config{popConfig(1, 0.1), popConfig(2, 1), popConfig(3, 9)}
	// seed phase (20 steps) + its burst of 20 updates happen at step 20: stop right after.
	const steps = 20
	trs, sinks, _ := popTrain(t, cfgs, steps)
	for i, c := range cfgs {
		_, aloneSink := trainWithSink(t, c, "cartpole-swingup", steps)
		want, got := aloneSink.Records(), sinks[i].Records()
		require.Equal(t, len(want), len(got))
		// The first update's records: bit-identical inputs, batched kernels.
		requireSameRecords(t, firstUpdate(want), firstUpdate(got), 2e-5)
	}
	// Independence: run 1's λ changed, runs 0 and 2 unchanged bit for bit.
	cfgs2 := []Config{cfgs[0], popConfig(2, 5), cfgs[2]}
	trs2, _, _ := popTrain(t, cfgs2, steps)
	for _, k := range []int{0, 2} {
		require.Empty(t, thParamsDiff(t, thParams(t, trs[k].Agent()), thParams(t, trs2[k].Agent())),
			"run %d must not depend on run 1's λ", k)
	}
	require.NotEmpty(t, thParamsDiff(t, thParams(t, trs[1].Agent()), thParams(t, trs2[1].Agent())))
	// And on run 1's seed.
	cfgs3 := []Config{cfgs[0], popConfig(7, 1), cfgs[2]}
	trs3, _, _ := popTrain(t, cfgs3, steps)
	for _, k := range []int{0, 2} {
		require.Empty(t, thParamsDiff(t, thParams(t, trs[k].Agent()), thParams(t, trs3[k].Agent())),
			"run %d must not depend on run 1's seed", k)
	}
}

// firstUpdate returns the records of a run's first update (those between the knob records and
// the second update's first loss).
func firstUpdate(recs []Record) []Record {
	var out []Record
	seen := map[string]bool{}
	for _, r := range recs {
		if !isUpdateKey(r.Key) {
			continue
		}
		if seen[r.Key] {
			break
		}
		seen[r.Key] = true
		out = append(out, r)
	}
	return out
}

func isUpdateKey(k string) bool {
	for _, u := range allUpdateKeys {
		if u == k {
			return true
		}
	}
	return false
}

var allUpdateKeys = []string{KeyLossConsistency, KeyLossReward, KeyLossValue, KeyLossValueKL,
	KeyLossWorldModel, KeyLossPi, KeyLossPrior, KeyKLPriorPlanner, KeyKLPolicyPrior, KeyPolicyEntropy,
	KeyPolicyStd, KeyScalePi, KeyGradWorldModel, KeyGradPi, KeyGradPrior, KeyQPiMean, KeyQTDTarget}

// A population refuses runs that cannot share its graphs, with an error that says why.
func TestPopulationRefusesMismatchedRuns(t *testing.T) {
	a := newTestTrainer(t, popConfig(1, 1), "cartpole-swingup")
	c := popConfig(2, 1)
	c.Horizon = 4
	b := newTestTrainer(t, c, "cartpole-swingup")
	_, err := NewPopulation(thBackend(t), []*Trainer{a, b})
	require.ErrorContains(t, err, "run 1 differs from run 0 in horizon (4 vs 3)")
	e := popConfig(2, 1)
	e.NumEnvs = 2
	d := newTestTrainer(t, e, "cartpole-swingup")
	_, err = NewPopulation(thBackend(t), []*Trainer{a, d})
	require.ErrorContains(t, err, "num_envs (2 vs unset)")
}

var _ = tensors.FromScalar[float32]

// A population checkpoints through its runs' ordinary checkpoints (each Save syncs the run's
// slice of the population) and resumes exactly: runs saved mid-training, loaded into new
// trainers and joined again finish with the same records and variables, bit for bit, as the
// population that never stopped; and a saved run continues alone from its checkpoint.
func TestPopulationResumesExactly(t *testing.T) {
	cfgs := []Config{popConfig(1, 0.1), popConfig(2, 9)}
	const first, total = 27, 40
	full, fullSinks, _ := popTrain(t, cfgs, total)

	dirs := []string{t.TempDir(), t.TempDir()}
	trs, sinks, p := popTrain(t, cfgs, first)
	for k, tr := range trs {
		require.NoError(t, tr.Save(dirs[k]))
	}
	require.NoError(t, p.Close())
	// "Killed": fresh trainers from the checkpoints, joined into a new population.
	res := make([]*Trainer, len(cfgs))
	resSinks := make([]*MemorySink, len(cfgs))
	for k, c := range cfgs {
		res[k] = newTestTrainer(t, c, "cartpole-swingup")
		require.NoError(t, res[k].Load(dirs[k]))
		resSinks[k] = &MemorySink{}
		res[k].Subscribe(resSinks[k])
	}
	p2, err := NewPopulation(thBackend(t), res)
	require.NoError(t, err)
	require.NoError(t, p2.Run(context.Background(), total-first, nil))
	require.NoError(t, p2.Sync())
	for k := range cfgs {
		got := append(append([]Record{}, sinks[k].Records()...), resSinks[k].Records()...)
		requireSameRecords(t, fullSinks[k].Records(), got, 0)
		require.Empty(t, thParamsDiff(t, thParams(t, full[k].Agent()), thParams(t, res[k].Agent())))
	}
	// Run 1 leaves and trains alone from its checkpoint: its planner and updates run its own
	// graphs on the state the population left.
	alone := newTestTrainer(t, cfgs[1], "cartpole-swingup")
	require.NoError(t, alone.Load(dirs[1]))
	require.NoError(t, alone.Run(context.Background(), 3))
	require.Equal(t, int64(first+3), alone.StepCount())
}

// Planner calls that only some runs make (reanalysis, here on in one run and off in the other)
// are served for those runs alone: a run's random streams and results do not depend on whether
// its neighbour reanalyzes.
func TestPopulationPartialPlannerCalls(t *testing.T) {
	plain := popConfig(1, 1)
	plain.Reanalyze = false
	withRe, noRe := popConfig(2, 1), popConfig(2, 1)
	noRe.Reanalyze = false
	trsA, sinksA, _ := popTrain(t, []Config{plain, withRe}, 35)
	trsB, sinksB, _ := popTrain(t, []Config{plain, noRe}, 35)
	requireSameRecords(t, sinksA[0].Records(), sinksB[0].Records(), 0)
	require.Empty(t, thParamsDiff(t, thParams(t, trsA[0].Agent()), thParams(t, trsB[0].Agent())))
	require.NotEmpty(t, thParamsDiff(t, thParams(t, trsA[1].Agent()), thParams(t, trsB[1].Agent())),
		"reanalysis changes the run that does it")
}

// fastOf is cfg with fastConfig's small sizes and schedule.
func fastOf(cfg Config, seed int64) Config {
	f := fastConfig()
	cfg = cfg.WithSize(SizeTiny)
	cfg.BatchSize, cfg.NumSamples, cfg.NumPiTrajs, cfg.NumElites, cfg.Iterations = f.BatchSize, f.NumSamples, f.NumPiTrajs, f.NumElites, f.Iterations
	cfg.SeedSteps, cfg.Steps, cfg.EvalEvery, cfg.ReanalyzeEvery, cfg.ReanalyzeSeqs, cfg.SnapshotEvery = f.SeedSteps, f.Steps, f.EvalEvery, f.ReanalyzeEvery, f.ReanalyzeSeqs, f.SnapshotEvery
	cfg.Seed = seed
	return cfg
}

// The whole ablation in one graph: TD-MPC2, PO-MPC (learned prior, reverse KL), BMPC, PO-MPC
// with the planner prior and with forward KL train as one population. Each run writes the
// records of its own variant (keys, steps and order as alone) and matches itself trained alone
// on its first update; the runs stay independent (another run's λ changes none of the others'
// variables, bit for bit).
func TestPopulationMixesVariants(t *testing.T) {
	planner, fwd := fastOf(POMPC(), 4), fastOf(POMPC(), 5)
	planner.Prior, fwd.PriorKL = PriorPlanner, KLForward
	cfgs := []Config{fastOf(TDMPC2(), 1), fastOf(POMPC(), 2), fastOf(BMPC(), 3), planner, fwd}
	const steps = 30
	trs, sinks, _ := popTrain(t, cfgs, steps)
	for i, c := range cfgs {
		_, aloneSink := trainWithSink(t, c, "cartpole-swingup", steps)
		want, got := aloneSink.Records(), sinks[i].Records()
		require.Equal(t, len(want), len(got), "run %d", i)
		for j := range want {
			require.Equal(t, want[j].Key, got[j].Key, "run %d record %d", i, j)
			require.Equal(t, want[j].Step, got[j].Step, "run %d record %d", i, j)
		}
		requireSameRecords(t, firstUpdate(want), firstUpdate(got), 2e-5)
	}
	c2 := append([]Config{}, cfgs...)
	c2[1].Lambda = 9
	trs2, _, _ := popTrain(t, c2, steps)
	for _, k := range []int{0, 2, 3, 4} {
		require.Empty(t, thParamsDiff(t, thParams(t, trs[k].Agent()), thParams(t, trs2[k].Agent())), "run %d", k)
	}
}

// Runs of a population may evaluate on different schedules: an evaluation (planner calls only
// some runs make at a step) is served while the other runs are done with their step, and each
// run evaluates where it would alone.
func TestPopulationDifferentEvalSchedules(t *testing.T) {
	a, b := popConfig(1, 1), popConfig(2, 9)
	a.EvalEvery, a.EvalEpisodes = 10, 1
	b.EvalEvery, b.EvalEpisodes = 15, 1
	done := make(chan struct{})
	var sinks []*MemorySink
	go func() {
		defer close(done)
		_, sinks, _ = popTrain(t, []Config{a, b}, 30)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the population hung on an evaluation only one run makes")
	}
	for i, want := range [][]int64{{10, 20, 30}, {15, 30}} {
		var got []int64
		for _, r := range sinks[i].Records() {
			if r.Key == KeyEvalReturn {
				got = append(got, r.Step)
			}
		}
		require.Equal(t, want, got, "run %d's evaluations", i)
	}
}

// The reverse of leaving: a run trained alone joins a population from its checkpoint and goes
// on exactly as alone (a population of one, bit for bit), and runs trained alone to the same
// step join one population.
func TestPopulationJoinsRunsTrainedAlone(t *testing.T) {
	cfg := popConfig(5, 1)
	full, fullSink := trainWithSink(t, cfg, "cartpole-swingup", 40)
	first, firstSink := trainWithSink(t, cfg, "cartpole-swingup", 30)
	dir := t.TempDir()
	require.NoError(t, first.Save(dir))
	joined := newTestTrainer(t, cfg, "cartpole-swingup")
	require.NoError(t, joined.Load(dir))
	sink := &MemorySink{}
	joined.Subscribe(sink)
	p, err := NewPopulation(thBackend(t), []*Trainer{joined})
	require.NoError(t, err)
	require.NoError(t, p.Run(context.Background(), 10, nil))
	require.NoError(t, p.Sync())
	requireSameRecords(t, fullSink.Records(), append(firstSink.Records(), sink.Records()...), 0)
	require.Empty(t, thParamsDiff(t, thParams(t, full.Agent()), thParams(t, joined.Agent())))

	other, _ := trainWithSink(t, popConfig(6, 9), "cartpole-swingup", 30)
	p2, err := NewPopulation(thBackend(t), []*Trainer{first, other})
	require.NoError(t, err)
	require.NoError(t, p2.Run(context.Background(), 5, nil))
	require.Equal(t, int64(35), other.StepCount())
}

// thScalar is the value of a scalar variable of an agent's store.
func thScalar(t *testing.T, ag *Agent, path string) float64 {
	t.Helper()
	v := ag.Store().GetVariable(path)
	require.NotNil(t, v, path)
	val, err := v.Value()
	require.NoError(t, err)
	return thFloats(t, val)[0]
}

// Each run's optimizers count only the steps the run takes (popAdam): in one population with
// TD-MPC2, BMPC (world-model-only burst) and two PO-MPC runs, BMPC's policy Adam counts the
// post-burst updates alone and a PO-MPC run moved to λ = 0 mid-training keeps its Qk and pi_p,
// with their Adam moments, exactly as they were (as alone, where its λ = 0 graph has neither).
func TestPopulationOptimizersCountPerRun(t *testing.T) {
	cfgs := []Config{fastOf(TDMPC2(), 1), fastOf(BMPC(), 2), fastOf(POMPC(), 3), fastOf(POMPC(), 4)}
	trs := make([]*Trainer, len(cfgs))
	for i, c := range cfgs {
		trs[i] = newTestTrainer(t, c, "cartpole-swingup")
	}
	p, err := NewPopulation(thBackend(t), trs)
	require.NoError(t, err)
	require.NoError(t, p.Run(context.Background(), 26, nil))
	require.NoError(t, trs[2].SetLambda(0))
	require.NoError(t, p.Sync())
	frozen := thParams(t, trs[2].Agent())
	require.NoError(t, p.Run(context.Background(), 36, nil))
	require.NoError(t, p.Sync())

	updates := float64(trs[0].Agent().Updates())
	burst := float64(cfgs[0].SeedSteps)
	require.Greater(t, updates, burst)
	assert.Equal(t, updates, thScalar(t, trs[0].Agent(), scopePi+"/"+adamScopeName+"/step"))
	assert.Equal(t, updates-burst, thScalar(t, trs[1].Agent(), scopePi+"/"+adamScopeName+"/step"), "BMPC's policy Adam skips the burst")
	assert.Equal(t, updates, thScalar(t, trs[1].Agent(), scopeCore+"/"+adamScopeName+"/step"))

	after := thParams(t, trs[2].Agent())
	checked := 0
	for path, v := range frozen {
		for _, scope := range []string{scopeQk, scopePrior} {
			if strings.HasPrefix(path, scope+"/") || strings.HasPrefix(path, "/"+adamScopeName+scope+"/") {
				checked++
				require.Equal(t, thFloats(t, v), thFloats(t, after[path]), "%s moved at λ = 0", path)
			}
		}
	}
	require.Greater(t, checked, 10)
	assert.NotEmpty(t, thParamsDiff(t, frozen, after), "the λ = 0 run still trains")
}

// Every run of a mixed population draws exactly the random numbers it draws alone, through the
// seed burst (BMPC's world-model-only burst draws no policy noise), mixed critics (each critic's
// dropout drawn only by its users) and mixed policy forms (only the tanh runs draw the sampled
// prior fit's noise): after training, each run's graph RNG state equals its state alone.
func TestPopulationRunsDrawAsAlone(t *testing.T) {
	tanh := fastOf(POMPC(), 4)
	tanh.PolicyForm, tanh.LogStdMin, tanh.LogStdMax = FormTanh, -10, 2
	cfgs := []Config{fastOf(TDMPC2(), 1), fastOf(BMPC(), 2), fastOf(POMPC(), 3), tanh}
	const steps = 30
	trs, _, _ := popTrain(t, cfgs, steps)
	rng := "/" + model.RNGStateVariableName
	for i, c := range cfgs {
		alone, _ := trainWithSink(t, c, "cartpole-swingup", steps)
		want, err := alone.Agent().Store().GetVariable(rng).Value()
		require.NoError(t, err)
		got, err := trs[i].Agent().Store().GetVariable(rng).Value()
		require.NoError(t, err)
		require.Equal(t, want.Value(), got.Value(), "run %d (%s) drew other random numbers than alone", i, c.Preset)
	}
}
