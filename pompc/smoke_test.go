package pompc

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSmokeAgent(t *testing.T) {
	b, err := NewBackend("")
	if err != nil {
		t.Fatalf("%+v", err)
	}
	cfg := POMPC().WithSize(SizeTiny)
	ag, err := NewAgent(b, cfg, 5, 1, 0.99)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	obs := []float32{0.1, 1, 0, 0, 0}
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		r, err := ag.Act(obs, i == 0, false)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		t.Logf("act %v %v %v in %v", r.Action, r.Mean, r.Std, time.Since(t0))
	}
	buf, _ := NewBuffer(1000, 5, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	for e := 0; e < 3; e++ {
		for p := 0; p < 50; p++ {
			o := []float32{rng.Float32(), rng.Float32(), rng.Float32(), rng.Float32(), rng.Float32()}
			s := Step{Episode: int64(e), Pos: p, Obs: o, Action: []float32{rng.Float32()*2 - 1}, Reward: rng.Float64(), Cont: 1}
			if p%2 == 0 {
				s.PlanMean, s.PlanStd = []float32{0.1}, []float32{0.5}
			}
			buf.Add(s)
		}
	}
	for i := 0; i < 5; i++ {
		batch, err := buf.Sample(rng, cfg.BatchSize, cfg.Horizon)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		t0 := time.Now()
		m, err := ag.Update(batch)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		t.Logf("update %v: %v", time.Since(t0), m)
	}
}
