package pompc

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConfigDiff: every differing field by its JSON key, sorted, a size field under "size.",
// a field left out when empty as "unset", and nothing for equal configurations.
func TestConfigDiff(t *testing.T) {
	a, err := PresetByName("pompc")
	require.NoError(t, err)
	require.Empty(t, ConfigDiff(a, a))
	b := a
	b.Size = SizeTiny
	b.Horizon = a.Horizon + 2
	b.PolicyForm = "tanh"
	b.Lambda = 0.5
	want := []FieldDiff{
		{Key: "horizon", A: "3", B: "5"},
		{Key: "lambda", A: "1", B: "0.5"},
		{Key: "policy_form", A: "unset", B: "tanh"},
	}
	for _, k := range []struct {
		key  string
		a, b any
	}{{"enc_dim", a.Size.EncDim, b.Size.EncDim}, {"latent_dim", a.Size.Latent, b.Size.Latent},
		{"mlp_dim", a.Size.MLPDim, b.Size.MLPDim}, {"name", a.Size.Name, b.Size.Name},
		{"num_enc_layers", a.Size.EncLayers, b.Size.EncLayers}, {"num_q", a.Size.QHeads, b.Size.QHeads}} {
		if k.a != k.b {
			want = append(want, FieldDiff{Key: "size." + k.key, A: fmtAny(k.a), B: fmtAny(k.b)})
		}
	}
	require.Equal(t, want, ConfigDiff(a, b))
	// The other way round: A and B swap, and so does "unset".
	require.Equal(t, FieldDiff{Key: "policy_form", A: "tanh", B: "unset"}, ConfigDiff(b, a)[2])
}

// fmtAny writes a value as ConfigDiff does (its JSON form's fmt.Sprint).
func fmtAny(v any) string { return fmt.Sprint(v) }

// TestWithPlanner: the tiny planner on the 1M networks is exactly the tiny preset's planner and
// batch (the cheetah probe's `--set` list, written out here, and the reanalysed sequences) with
// 1M's networks; TD-MPC2's planner on the
// tiny networks is the 1M preset's; a size applied after a planner restores that size's own; a
// planner leaves the networks, the run length and everything else alone; an unknown planner is
// an error naming the known ones and changes nothing.
func TestWithPlanner(t *testing.T) {
	small, err := BuildConfig("tdmpc2", "1M", nil, []string{"planner=tiny"})
	require.NoError(t, err)
	probe, err := BuildConfig("tdmpc2", "1M", nil, []string{"batch_size=64", "num_samples=128", "num_pi_trajs=8",
		"num_elites=16", "iterations=4", "reanalyze_seqs=4"})
	require.NoError(t, err)
	require.Equal(t, probe, small)
	require.Equal(t, Size1M, small.Size)
	require.Equal(t, TDMPC2().WithSize(Size1M).Steps, small.Steps, "the run length stays the size's")
	tiny := TDMPC2().WithSize(SizeTiny)
	for _, f := range []struct {
		name      string
		got, want int
	}{
		{"batch", small.BatchSize, tiny.BatchSize}, {"samples", small.NumSamples, tiny.NumSamples},
		{"π trajectories", small.NumPiTrajs, tiny.NumPiTrajs}, {"elites", small.NumElites, tiny.NumElites},
		{"iterations", small.Iterations, tiny.Iterations}, {"reanalysed sequences", small.ReanalyzeSeqs, tiny.ReanalyzeSeqs},
	} {
		require.Equal(t, f.want, f.got, f.name)
	}

	full, err := tiny.WithPlanner(PlannerTDMPC2)
	require.NoError(t, err)
	want := TDMPC2().WithSize(Size1M)
	want.Size, want.Steps, want.EvalEvery, want.EvalEpisodes = tiny.Size, tiny.Steps, tiny.EvalEvery, tiny.EvalEpisodes
	require.Equal(t, want, full)

	again, err := BuildConfig("pompc", "tiny", nil, []string{"planner=tdmpc2", "size=1M"})
	require.NoError(t, err)
	require.Equal(t, POMPC().WithSize(Size1M), again, "a later size brings its own planner")

	c := POMPC()
	err = c.Set("planner", "huge")
	require.ErrorContains(t, err, `unknown planner "huge"; known planners: tiny`)
	require.Equal(t, POMPC(), c)
}
