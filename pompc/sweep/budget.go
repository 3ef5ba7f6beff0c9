package sweep

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
)

// Budget is a sweep's run length: how many steps each run trains, with which seed phase and
// evaluation schedule, and how many seeds per variant. It changes a configuration only through
// config keys (Set), the way `--set key=value` does, so it is not a second preset: a run's
// config.json says what it trained with. The notebooks choose one with their --budget flag.
type Budget struct {
	// Name is "tiny" or "full".
	Name string
	// Steps is the agent steps per run.
	Steps int
	// SeedSteps is the random-action phase before updates start; 0 keeps the config's own
	// (max(1000, 5 × episode length), alg §6).
	SeedSteps int
	// EvalEvery and EvalEpisodes set the evaluation schedule (EvalEvery > Steps: none).
	EvalEvery, EvalEpisodes int
	// Seeds is the number of seeds per variant.
	Seeds int
	// Small shrinks the batch and the planner (batch 32, 64 samples, 2 iterations, 16 elites,
	// 8 policy trajectories, 4 reanalysed sequences) so that a smoke run costs seconds; the
	// algorithm is the same, only cheaper and noisier.
	Small bool
}

// Budgets are the run lengths of the ablation (`pompc ablation --budget`, the ablations
// notebook's --budget). tiny exercises every code path in seconds per run on two CPU cores: 100
// random seed steps, the 100 updates that end the seed phase, 50 trained steps and one
// evaluation episode at the end, with the Small planner and batch (it is a smoke test, not an
// experiment: no training episode ends before step 500). full is the ablation of README "The
// ablation" (issue 17): 5 seeds × 50k agent steps (100k environment steps at DMC's action
// repeat 2, where the published TD-MPC2 curves have their first point), the config's own seed
// phase, an evaluation of 5 episodes every 5k steps.
var Budgets = map[string]Budget{
	"tiny": {Name: "tiny", Steps: 150, SeedSteps: 100, EvalEvery: 150, EvalEpisodes: 1, Seeds: 3, Small: true},
	"full": {Name: "full", Steps: 50_000, EvalEvery: 5_000, EvalEpisodes: 5, Seeds: 5},
}

// BudgetByName returns Budgets[name] or a clear error.
func BudgetByName(name string) (Budget, error) {
	b, ok := Budgets[strings.ToLower(name)]
	if !ok {
		return Budget{}, fmt.Errorf("sweep: unknown budget %q (want tiny or full)", name)
	}
	return b, nil
}

// Set is the budget as config overrides, "key=value" each.
func (b Budget) Set() []string {
	kv := []string{"steps=" + strconv.Itoa(b.Steps)}
	if b.SeedSteps > 0 {
		kv = append(kv, "seed_steps="+strconv.Itoa(b.SeedSteps))
	}
	kv = append(kv, "eval_every="+strconv.Itoa(b.EvalEvery), "eval_episodes="+strconv.Itoa(b.EvalEpisodes))
	if b.Small {
		kv = append(kv, "batch_size=32", "num_samples=64", "iterations=2", "num_elites=16", "num_pi_trajs=8", "reanalyze_seqs=4")
	}
	return kv
}

// TrainArgs is the budget as `pompc train` config flags (--key value each), for
// Grid.TrainArgs: flags given after them, and every --set, override them.
func (b Budget) TrainArgs() []string {
	var args []string
	for _, kv := range b.Set() {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, "--"+k, v)
	}
	return args
}

// SeedList is 1, 2, ..., Seeds, for Grid.Seeds.
func (b Budget) SeedList() []int {
	out := make([]int, b.Seeds)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// Apply sets the budget on a config (through Config.Set).
func (b Budget) Apply(c pompc.Config) (pompc.Config, error) {
	for _, kv := range b.Set() {
		k, v, _ := strings.Cut(kv, "=")
		if err := c.Set(k, v); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}
