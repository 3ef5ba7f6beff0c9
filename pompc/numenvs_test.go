package pompc

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Lanes keep each env's steps consecutive in its own ring: a sampled sequence never mixes
// lanes or episodes, wraps inside its lane, and every lane is sampled.
func TestBufferLanes(t *testing.T) {
	b, err := NewBufferLanes(30, 3, 1, 1)
	require.NoError(t, err)
	// Lane k: episodes of 7 steps with observations 100·k + pos, 25 steps each (wrapping).
	for step := 0; step < 25; step++ {
		for k := range 3 {
			ep, pos := int64(10*k+step/7), step%7
			require.NoError(t, b.AddTo(k, Step{Episode: ep, Pos: pos, Obs: []float32{float32(100*k + pos)}, Action: []float32{0}}))
		}
	}
	require.Equal(t, 30, b.Len())
	require.Equal(t, 3, b.Lanes())
	require.Equal(t, 19, b.Slot(18, 1))
	require.Equal(t, 10, b.Slot(19, 1), "lane 1 (slots 10-19) wraps to its own start")
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for range 50 {
		bt, err := b.Sample(rng, 8, 3)
		require.NoError(t, err)
		for s := range bt.B {
			lane := int(bt.Obs[s]) / 100
			seen[lane] = true
			for tt := 1; tt <= 3; tt++ {
				require.Equal(t, bt.Obs[s]+float32(tt), bt.Obs[tt*bt.B+s], "sequence %d must be one episode of lane %d", s, lane)
			}
		}
	}
	require.Len(t, seen, 3)
	require.Error(t, b.AddTo(3, Step{Obs: []float32{0}}))
	_, err = NewBufferLanes(2, 3, 1, 1)
	require.Error(t, err)
}

func numEnvsConfig(envs int) Config {
	c := fastConfig()
	c.NumEnvs = envs
	c.Steps = 60
	c.SeedSteps = 21 // not a multiple of 3: the burst comes when the step passes it
	c.EvalEvery, c.EvalEpisodes = 30, 1
	return c
}

// A run with three envs: every trainer step takes three agent steps (one planner call), the
// seed phase ends when the step passes it with its burst, then 3·UTD updates per trainer step;
// every env plays its own episodes (distinct seeds) into its own lane; evaluations fire when the
// step passes their multiples; same seed, same records.
func TestNumEnvsSchedule(t *testing.T) {
	cfg := numEnvsConfig(3)
	tr, sink := trainWithSink(t, cfg, "cartpole-swingup", 60)
	require.Equal(t, int64(60), tr.StepCount())
	require.Equal(t, int64(3), tr.Episodes(), "one episode per env so far")
	require.Equal(t, 3, tr.Buffer().Lanes())
	require.Equal(t, 60, tr.Buffer().Len())
	// Updates: the burst of 21 at step 21 (passing 21 at step 21), then 3 per trainer step for
	// steps 24..60: 13 more trainer steps.
	require.Equal(t, int64(21+13*3), tr.Agent().Updates())
	var evals []int64
	for _, r := range sink.Records() {
		if r.Key == KeyEvalReturn {
			evals = append(evals, r.Step)
		}
	}
	require.Equal(t, []int64{30, 60}, evals)
	// The three envs start from different states.
	obs := map[float32]bool{}
	for k := range 3 {
		obs[tr.buf.obs[k*tr.buf.laneCap*tr.buf.obsDim]] = true
	}
	require.Len(t, obs, 3, "each env has its own seed")
	_, sink2 := trainWithSink(t, cfg, "cartpole-swingup", 60)
	requireSameRecords(t, sink.Records(), sink2.Records(), 0)
}

// A three-env run saved mid-episode resumes exactly; a checkpoint refuses a run with another
// number of envs; steps must be a multiple of num_envs.
func TestNumEnvsResumeExactly(t *testing.T) {
	cfg := numEnvsConfig(3)
	full, fullSink := trainWithSink(t, cfg, "cartpole-swingup", 60)
	dir := t.TempDir()
	first, firstSink := trainWithSink(t, cfg, "cartpole-swingup", 33)
	require.NoError(t, first.Save(dir))
	res := newTestTrainer(t, cfg, "cartpole-swingup")
	require.NoError(t, res.Load(dir))
	resSink := &MemorySink{}
	res.Subscribe(resSink)
	require.NoError(t, res.Run(context.Background(), 27))
	requireSameRecords(t, fullSink.Records(), append(firstSink.Records(), resSink.Records()...), 0)
	require.Empty(t, thParamsDiff(t, thParams(t, full.Agent()), thParams(t, res.Agent())))

	other := newTestTrainer(t, numEnvsConfig(2), "cartpole-swingup")
	require.ErrorContains(t, other.Load(dir), "num_envs")
	bad := numEnvsConfig(3)
	bad.Steps = 61
	require.ErrorContains(t, bad.Validate(), "multiple of num_envs")
}

// Populations of runs with several envs: a population of one equals the run alone bit for bit,
// two envs per run.
func TestNumEnvsPopulation(t *testing.T) {
	cfg := numEnvsConfig(2)
	alone, aloneSink := trainWithSink(t, cfg, "cartpole-swingup", 40)
	trs, sinks, _ := popTrain(t, []Config{cfg}, 40)
	requireSameRecords(t, aloneSink.Records(), sinks[0].Records(), 0)
	require.Empty(t, thParamsDiff(t, thParams(t, alone.Agent()), thParams(t, trs[0].Agent())))
	require.Equal(t, int64(40), trs[0].StepCount())
}
