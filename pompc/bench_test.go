package pompc

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/pompc/pompc/envs"
)

// benchAgent builds an agent and a synthetic buffer for benchmarks.
func benchAgent(b *testing.B, cfg Config, obsDim, actDim int) (*Agent, *Buffer, *rand.Rand) {
	backend, err := NewBackend("")
	if err != nil {
		b.Fatal(err)
	}
	ag, err := NewAgent(backend, cfg, obsDim, actDim, 0.99)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf, _ := NewBuffer(2048, obsDim, actDim)
	for e := 0; e < 4; e++ {
		for p := 0; p < 300; p++ {
			o := make([]float32, obsDim)
			a := make([]float32, actDim)
			s := make([]float32, actDim)
			for i := range o {
				o[i] = float32(rng.NormFloat64())
			}
			for i := range a {
				a[i], s[i] = float32(rng.Float64()*2-1), 0.5
			}
			if err := buf.Add(Step{Episode: int64(e), Pos: p, Obs: o, Action: a, Reward: rng.Float64(), Cont: 1, PlanMean: a, PlanStd: s}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return ag, buf, rng
}

// BenchmarkPlanTiny times one planner call of the tiny preset at cartpole dims.
func BenchmarkPlanTiny(b *testing.B) {
	ag, _, _ := benchAgent(b, POMPC().WithSize(SizeTiny), 5, 1)
	obs := []float32{0.1, 0.9, 0.1, 0, 0}
	if _, err := ag.Act(obs, true, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ag.Act(obs, false, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateTiny times one full POMPC update of the tiny preset at cartpole dims.
func BenchmarkUpdateTiny(b *testing.B) {
	cfg := POMPC().WithSize(SizeTiny)
	ag, buf, rng := benchAgent(b, cfg, 5, 1)
	batch, _ := buf.Sample(rng, cfg.BatchSize, cfg.Horizon)
	if _, err := ag.Update(batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ag.Update(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReanalyzeTiny times one lazy reanalysis (ReanalyzeSeqs x (H+1) planner calls in one
// graph) of the tiny preset.
func BenchmarkReanalyzeTiny(b *testing.B) {
	cfg := POMPC().WithSize(SizeTiny)
	ag, buf, rng := benchAgent(b, cfg, 5, 1)
	batch, _ := buf.Sample(rng, cfg.BatchSize, cfg.Horizon)
	if err := ag.Reanalyze(batch, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ag.Reanalyze(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalEpisodes times 5 evaluation episodes of the tiny preset on cartpole-swingup
// (500 agent steps each) played together (RunEpisodes over 5 envs: one 5-row planner call per
// step) and one after another (five 1-row calls per step), on the same agent: the A/B of
// evaluation's batching. Run with -bench EvalEpisodes -benchtime 1x.
func BenchmarkEvalEpisodes(b *testing.B) {
	const n = 5
	ag, _, _ := benchAgent(b, POMPC().WithSize(SizeTiny), 5, 1)
	es := make([]envs.Env, n)
	for i := range es {
		env, err := envs.Make("cartpole-swingup")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { env.Close() })
		es[i] = env
	}
	if _, err := RunEpisodes(context.Background(), es[:1], ag, true, nil); err != nil { // compile the 1-row planner
		b.Fatal(err)
	}
	if _, err := RunEpisodes(context.Background(), es, ag, true, nil); err != nil { // and the n-row one
		b.Fatal(err)
	}
	b.Run("together", func(b *testing.B) {
		for b.Loop() {
			if _, err := RunEpisodes(context.Background(), es, ag, true, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, e := range es {
				if _, err := RunEpisodes(context.Background(), []envs.Env{e}, ag, true, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
