package pompc

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc/rundir"

	"github.com/pompc/pompc/envs"
	_ "github.com/pompc/pompc/envs/classic"
	"github.com/stretchr/testify/require"
)

// fastConfig is a tiny POMPC run that reaches the update phase within a few dozen steps.
func fastConfig() Config {
	c := POMPC().WithSize(SizeTiny)
	c.BatchSize = 16
	c.NumSamples = 32
	c.NumPiTrajs = 4
	c.NumElites = 8
	c.Iterations = 2
	c.SeedSteps = 20
	c.Steps = 60
	c.EvalEvery = 0
	c.ReanalyzeEvery = 5
	c.ReanalyzeSeqs = 2
	c.SnapshotEvery = 10
	return c
}

func newTestTrainer(t *testing.T, cfg Config, task string) *Trainer {
	t.Helper()
	tr, err := NewTrainer(thBackend(t), cfg, task)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// trainWithSink trains a new trainer of cfg on task for steps agent steps, recording every
// metric in the returned sink.
func trainWithSink(t *testing.T, cfg Config, task string, steps int) (*Trainer, *MemorySink) {
	t.Helper()
	tr := newTestTrainer(t, cfg, task)
	sink := &MemorySink{}
	tr.Subscribe(sink)
	require.NoError(t, tr.Run(context.Background(), steps))
	return tr, sink
}

func TestTrainerDeterministicUnderSeed(t *testing.T) {
	run := func() ([]Record, *Trainer) {
		tr := newTestTrainer(t, fastConfig(), "cartpole-swingup")
		sink := &MemorySink{}
		tr.Subscribe(sink)
		require.NoError(t, tr.Run(context.Background(), 45))
		return sink.Records(), tr
	}
	r1, t1 := run()
	r2, t2 := run()
	require.NotEmpty(t, r1)
	require.Equal(t, r1, r2, "same seed must give identical metric streams")
	require.Empty(t, thParamsDiff(t, thParams(t, t1.Agent()), thParams(t, t2.Agent())))
	var keys []string
	for _, r := range r1 {
		keys = append(keys, r.Key)
	}
	joined := strings.Join(keys, " ")
	for _, k := range []string{"loss/consistency", "loss/value_kl", "loss/prior", "kl/policy_prior", "snapshot/plan/mean/0", "snapshot/pi/std/0"} {
		require.Contains(t, joined, k)
	}
}

func TestTrainerSchedule(t *testing.T) {
	cfg := fastConfig()
	tr := newTestTrainer(t, cfg, "pendulum-swingup")
	updates, steps, starts, ends := 0, 0, 0, 0
	hook := Hook{Name: "count", Fn: func(tt *Trainer, ev Event) error {
		switch ev {
		case EventUpdate:
			updates++
		case EventEnvStep:
			steps++
		case EventStart:
			starts++
		case EventEnd:
			ends++
		}
		return nil
	}}
	require.NoError(t, tr.Run(context.Background(), 19, hook))
	require.Equal(t, 0, updates, "no updates during the seed phase")
	require.NoError(t, tr.Run(context.Background(), 1, hook))
	require.Equal(t, cfg.SeedSteps, updates, "seed-steps updates at once when the seed phase ends")
	require.NoError(t, tr.Run(context.Background(), 5, hook))
	require.Equal(t, cfg.SeedSteps+5, updates, "then one update per step")
	require.Equal(t, 25, steps)
	require.Equal(t, 3, starts)
	require.Equal(t, 3, ends)
	require.Equal(t, int64(cfg.SeedSteps+5), tr.Agent().Updates())

	// A hook error stops Run and names the hook.
	boom := errors.New("boom")
	err := tr.Run(context.Background(), 3, On(EventEnvStep, "failing", func(*Trainer) error { return boom }))
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "failing")

	// A cancelled context stops without error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := tr.StepCount()
	require.NoError(t, tr.Run(ctx, 10))
	require.Equal(t, before, tr.StepCount())
}

func TestTrainerEpisodesAndEval(t *testing.T) {
	cfg := fastConfig()
	cfg.SeedSteps = 600
	tr, sink := trainWithSink(t, cfg, "cartpole-balance", 501)
	eps := sink.Series(KeyEpisodeReturn)
	require.Len(t, eps, 1, "one 500-step episode")
	require.Equal(t, int64(500), eps[0].Step)
	require.Equal(t, 500.0, sink.Series(KeyEpisodeLength)[0].Val)
	require.Greater(t, eps[0].Val, 0.0)
	require.LessOrEqual(t, eps[0].Val, 1000.0)
	mean, err := tr.Evaluate(1)
	require.NoError(t, err)
	require.False(t, math.IsNaN(mean))
	require.Len(t, sink.Series(KeyEvalReturn), 1)
}

func TestTrainerSwitchesBetweenSteps(t *testing.T) {
	tr := newTestTrainer(t, fastConfig(), "cartpole-balance")
	require.NoError(t, tr.Run(context.Background(), 22))
	for _, change := range []func() error{
		func() error { return tr.SetLambda(9) },
		func() error { return tr.SetPriorKL(KLForward) },
		func() error { return tr.SetPrior(PriorPlanner) },
		func() error { return tr.SetLambda(math.Inf(1)) },
		func() error { return tr.SetReanalyze(false) },
		func() error { return tr.SetLambda(0) },
	} {
		require.NoError(t, change())
		require.NoError(t, tr.Run(context.Background(), 2))
		require.NotNil(t, tr.LastUpdate())
	}
	require.Equal(t, 0.0, tr.Config().Lambda)
	require.Error(t, tr.SetLambda(-1))
	require.Error(t, tr.SetLambda(math.NaN()))
	require.Equal(t, 0.0, tr.Config().Lambda, "a rejected lambda leaves the old one")
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig()
	a := newTestTrainer(t, cfg, "cartpole-swingup")
	require.NoError(t, a.Run(context.Background(), 30))
	require.NoError(t, a.SetLambda(3))
	require.NoError(t, a.Save(dir))
	// Saving is atomic: no temporary files are left behind.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp"), e.Name())
	}

	b := newTestTrainer(t, cfg, "cartpole-swingup")
	require.NoError(t, b.Load(dir))
	require.Equal(t, a.StepCount(), b.StepCount())
	require.Equal(t, 3.0, b.Config().Lambda)
	require.Equal(t, a.Agent().Updates(), b.Agent().Updates())
	require.Empty(t, thParamsDiff(t, thParams(t, a.Agent()), thParams(t, b.Agent())))
	require.Equal(t, a.Buffer().Len(), b.Buffer().Len())

	loaded, task, err := LoadConfig(dir)
	require.NoError(t, err)
	require.Equal(t, "cartpole-swingup", task)
	require.Equal(t, 3.0, loaded.Lambda)

	// Both continue identically, from the middle of the saved episode.
	require.NoError(t, a.Load(dir))
	ma, mb := &MemorySink{}, &MemorySink{}
	a.Subscribe(ma)
	b.Subscribe(mb)
	require.NoError(t, a.Run(context.Background(), 5))
	require.NoError(t, b.Run(context.Background(), 5))
	require.Equal(t, ma.Records(), mb.Records())
}

func TestCheckpointCorruptAndMismatched(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig()
	a := newTestTrainer(t, cfg, "cartpole-balance")
	require.NoError(t, a.Run(context.Background(), 25))
	require.NoError(t, a.Save(dir))
	path := filepath.Join(dir, rundir.CheckpointFile)
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	b := newTestTrainer(t, cfg, "cartpole-balance")
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	require.NoError(t, os.WriteFile(path, flipped, 0o644))
	require.ErrorContains(t, b.Load(dir), "checksum")
	require.NoError(t, os.WriteFile(path, good[:len(good)/3], 0o644))
	require.ErrorContains(t, b.Load(dir), "corrupt")
	require.NoError(t, os.WriteFile(path, []byte("nope"), 0o644))
	require.ErrorContains(t, b.Load(dir), "not a pompc checkpoint")
	badVer := append([]byte(nil), good...)
	badVer[11] = 99
	require.NoError(t, os.WriteFile(path, badVer, 0o644))
	require.ErrorContains(t, b.Load(dir), "version")
	require.ErrorIs(t, b.Load(t.TempDir()), ErrNoCheckpoint)

	// Another observation size.
	require.NoError(t, os.WriteFile(path, good, 0o644))
	p := newTestTrainer(t, cfg, "pendulum-swingup")
	require.ErrorContains(t, p.Load(dir), "dims")
	// A failed load left b usable.
	require.NoError(t, b.Run(context.Background(), 2))
}

func TestTrainerBadInput(t *testing.T) {
	_, err := NewTrainer(thBackend(t), fastConfig(), "cartpole-nosuch")
	var unk *envs.UnknownTaskError
	require.ErrorAs(t, err, &unk)
	require.Contains(t, err.Error(), "cartpole-balance")
	require.Contains(t, err.Error(), "pendulum-swingup")

	for _, mut := range []func(*Config){
		func(c *Config) { c.Lambda = -1 },
		func(c *Config) { c.Lambda = math.NaN() },
		func(c *Config) { c.Horizon = 0 },
		func(c *Config) { c.BatchSize = 0 },
	} {
		c := fastConfig()
		mut(&c)
		_, err := NewTrainer(thBackend(t), c, "cartpole-balance")
		require.Error(t, err)
		require.Contains(t, err.Error(), "invalid config")
	}
}

func TestRecordJSONInf(t *testing.T) {
	dir := t.TempDir()
	s, err := NewJSONLSink(filepath.Join(dir, "m.jsonl"))
	require.NoError(t, err)
	require.NoError(t, s.Write([]Record{{Key: KeyLambda, Step: 3, Val: math.Inf(1)}, {Key: KeyEpisodeReturn, Step: 4, Val: 12.5}}))
	require.NoError(t, s.Close())
	// A torn last line (crash mid-write) is skipped.
	f, err := os.OpenFile(filepath.Join(dir, "m.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"key":"episode/ret`)
	require.NoError(t, err)
	f.Close()
	m, err := ReadMetrics(filepath.Join(dir, "m.jsonl"))
	require.NoError(t, err)
	require.True(t, math.IsInf(m[KeyLambda][0].Val, 1))
	require.Equal(t, 12.5, m[KeyEpisodeReturn][0].Val)
	require.Len(t, m, 2)
}

// TestUTDRatio: after the seed phase's burst of SeedSteps updates, each agent step runs
// utd_ratio updates (each with its own batch), and a negative ratio is a clear error.
func TestUTDRatio(t *testing.T) {
	cfg := fastConfig()
	cfg.UTDRatio = 3
	tr, sink := trainWithSink(t, cfg, "cartpole-balance", 30)
	require.Equal(t, int64(20+3*10), tr.Agent().Updates())
	require.Len(t, sink.Series(KeyLossPi), 20+3*10, "one record of each metric per update")
	cfg.UTDRatio = -1
	require.ErrorContains(t, cfg.Validate(), "utd_ratio must be >= 0")
	cfg.UTDRatio = 0
	require.Equal(t, 1, cfg.UpdatesPerStep(), "0 means the algorithm's 1")
}

// shortEnv ends its episode after last agent steps (a task that terminates early; 0: at its
// time limit) and records what it returned and was given: every observation (its reset's first)
// and action.
type shortEnv struct {
	envs.Env
	last, pos int
	obs       [][]float32
	actions   [][]float32
}

func (e *shortEnv) Reseed(seed uint64) { e.Env.(envs.Reseeder).Reseed(seed) }

func (e *shortEnv) Reset() (envs.TimeStep, error) {
	e.pos, e.obs, e.actions = 0, nil, nil
	ts, err := e.Env.Reset()
	e.obs = append(e.obs, ts.Obs)
	return ts, err
}

func (e *shortEnv) Step(a []float32) (envs.TimeStep, error) {
	if e.last > 0 && e.pos >= e.last {
		return envs.TimeStep{}, errors.New("shortEnv: stepped after its last step")
	}
	ts, err := e.Env.Step(a)
	e.pos++
	e.actions = append(e.actions, append([]float32(nil), a...))
	if e.pos == e.last {
		ts.Type = envs.Last
	}
	e.obs = append(e.obs, ts.Obs)
	return ts, err
}

// TestRunEpisodesTogether: episodes of different lengths play together, each stepped until its
// own end and never after it, each observed from its reset on, the returns each episode's sum of
// rewards, each from the state its env's reseed draws. And the planner calls are the intended
// ones: a second agent, identical, replaying them by hand (each step one call for the episodes
// still running, in env order, each with its own warm start, fresh only at its first step) gets
// the very actions each env was given: a call with another set of rows, another warm start or
// flag, or an action sent to another env would not.
func TestRunEpisodesTogether(t *testing.T) {
	cfg := fastConfig()
	lens := []int{7, 3, 11}
	es := make([]envs.Env, len(lens))
	short := make([]*shortEnv, len(lens))
	for i, l := range lens {
		env, err := envs.Make("cartpole-swingup")
		require.NoError(t, err)
		t.Cleanup(func() { env.Close() })
		env.(envs.Reseeder).Reseed(uint64(100 + i))
		short[i] = &shortEnv{Env: env, last: l}
		es[i] = short[i]
	}
	seen := make([][]envs.TimeStep, len(lens))
	sums := make([]float64, len(lens))
	rets, err := RunEpisodes(context.Background(), es, thAgent(t, cfg, 5, 1), true, func(i int, ts envs.TimeStep) error {
		seen[i] = append(seen[i], ts)
		sums[i] += ts.Reward
		return nil
	})
	require.NoError(t, err)
	for i, l := range lens {
		require.Len(t, short[i].actions, l, "episode %d", i)
		require.Len(t, seen[i], l+1, "episode %d: its reset and each step", i)
		require.Equal(t, envs.First, seen[i][0].Type)
		require.Equal(t, envs.Last, seen[i][l].Type)
		require.Equal(t, sums[i], rets[i])
		ref, err := envs.Make("cartpole-swingup")
		require.NoError(t, err)
		t.Cleanup(func() { ref.Close() })
		ref.(envs.Reseeder).Reseed(uint64(100 + i))
		first, err := ref.Reset()
		require.NoError(t, err)
		require.Equal(t, first.Obs, seen[i][0].Obs, "episode %d starts where its reseed puts it", i)
	}
	require.NotEqual(t, seen[0][0].Obs, seen[1][0].Obs)

	replay := thAgent(t, cfg, 5, 1)
	warm := make([][]float32, len(lens))
	for i := range warm {
		warm[i] = make([]float32, cfg.Horizon)
	}
	for step := 0; ; step++ {
		var obs, ws [][]float32
		var fresh []bool
		var live []int
		for i, l := range lens {
			if step < l {
				live = append(live, i)
				obs, ws, fresh = append(obs, short[i].obs[step]), append(ws, warm[i]), append(fresh, step == 0)
			}
		}
		if len(live) == 0 {
			break
		}
		rs, err := replay.ActN(obs, ws, fresh, true)
		require.NoError(t, err)
		for k, i := range live {
			require.Equal(t, rs[k].Action, short[i].actions[step], "episode %d, step %d", i, step)
		}
	}
}

// TestEvalReturnsBatches: more evaluation episodes than one batch play in batches of at most
// maxEvalBatch; evaluation episode j of the run (a second call continues the count) starts from
// the state drawn from EpisodeSeed(seed ^ 0xe7a1, j), as it did when episodes played one by one;
// and evaluation is reproducible under the seed.
func TestEvalReturnsBatches(t *testing.T) {
	n := maxEvalBatch + 2
	cfg := fastConfig()
	run := func() ([]float64, []float64, [][]float32) {
		tr := newTestTrainer(t, cfg, "cartpole-balance")
		var rec []*shortEnv
		for i := range maxEvalBatch { // every eval env records its episodes' first observations
			if i > 0 {
				require.NoError(t, tr.addEvalEnv())
			}
			s := &shortEnv{Env: tr.evalEnvs[i]}
			tr.evalEnvs[i], rec = s, append(rec, s)
		}
		var firsts [][]float32
		collect := func(k int) {
			for _, s := range rec[:k] {
				firsts = append(firsts, s.obs[0])
			}
		}
		a, err := tr.EvalReturns(context.Background(), n)
		require.NoError(t, err)
		collect(2) // the second batch's two episodes replaced the first batch's on envs 0 and 1
		b, err := tr.EvalReturns(context.Background(), 2)
		require.NoError(t, err)
		collect(2)
		require.Len(t, tr.evalEnvs, maxEvalBatch)
		require.Equal(t, int64(n+2), tr.evalEpisodes)
		return a, b, firsts
	}
	a1, b1, firsts := run()
	a2, b2, _ := run()
	require.Len(t, a1, n)
	require.Equal(t, a1, a2, "evaluation is reproducible under the seed")
	require.Equal(t, b1, b2)
	for _, r := range a1 {
		require.False(t, math.IsNaN(r))
	}
	ref, err := envs.Make("cartpole-balance")
	require.NoError(t, err)
	defer ref.Close()
	for k, j := range []int64{int64(maxEvalBatch), int64(maxEvalBatch) + 1, int64(n), int64(n) + 1} {
		ref.(envs.Reseeder).Reseed(envs.EpisodeSeed(uint64(cfg.Seed)^0xe7a1, j))
		ts, err := ref.Reset()
		require.NoError(t, err)
		require.Equal(t, ts.Obs, firsts[k], "evaluation episode %d", j)
	}
	_, err = newTestTrainer(t, cfg, "cartpole-balance").EvalReturns(context.Background(), 0)
	require.ErrorContains(t, err, "must be > 0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := newTestTrainer(t, cfg, "cartpole-balance").EvalReturns(ctx, 3)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, got)
}
