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
