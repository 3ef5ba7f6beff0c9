package sweep

import (
	"testing"

	"github.com/pompc/pompc/pompc"
)

func TestBudgets(t *testing.T) {
	for name, b := range Budgets {
		for _, preset := range []string{"tdmpc2", "pompc", "bmpc"} {
			cfg, err := pompc.PresetByName(preset)
			if err != nil {
				t.Fatal(err)
			}
			c, err := b.Apply(cfg.WithSize(pompc.SizeTiny))
			if err != nil {
				t.Errorf("budget %s, preset %s: %v", name, preset, err)
			}
			if c.Steps != b.Steps || c.SeedSteps != b.SeedSteps || c.EvalEvery != b.EvalEvery || c.EvalEpisodes != b.EvalEpisodes {
				t.Errorf("budget %s not applied: %+v", name, c)
			}
		}
	}
	if b := Budgets["tiny"]; !b.Small || b.Steps > 200 || b.EvalEvery > b.Steps {
		t.Errorf("tiny budget %+v: want a small run with one evaluation", b)
	}
	if _, err := BudgetByName("huge"); err == nil {
		t.Error("unknown budget: want an error")
	}
	if b, err := BudgetByName("FULL"); err != nil || b.Name != "full" {
		t.Errorf("BudgetByName(FULL) = %+v, %v", b, err)
	}
}

// TestBudgetAsGridArgs: a grid with a budget's TrainArgs gives its jobs the budget's config.
func TestBudgetAsGridArgs(t *testing.T) {
	b := Budgets["tiny"]
	g := Grid{Tasks: []string{"cartpole-balance"}, Presets: []string{"pompc"}, Seeds: b.SeedList(),
		TrainArgs: append([]string{"--size", "tiny"}, b.TrainArgs()...)}
	jobs, err := g.Jobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != b.Seeds {
		t.Fatalf("%d jobs, want %d", len(jobs), b.Seeds)
	}
	want, err := b.Apply(pompc.POMPC().WithSize(pompc.SizeTiny))
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		want.Seed = int64(i + 1)
		if j.Config != want {
			t.Errorf("job %d config %+v, want %+v", i, j.Config, want)
		}
		if j.Steps() != int64(b.Steps) {
			t.Errorf("job %d trains to %d, want %d", i, j.Steps(), b.Steps)
		}
	}
}
