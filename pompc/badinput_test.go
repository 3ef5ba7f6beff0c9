package pompc

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewAgentRejectsBadArguments(t *testing.T) {
	b := thBackend(t)
	cfg := thTinyConfig()
	cases := map[string]struct {
		obs, act int
		gamma    float64
	}{
		"zero obs":       {0, 1, 0.99},
		"negative act":   {3, -1, 0.99},
		"NaN gamma":      {3, 1, math.NaN()},
		"gamma 1":        {3, 1, 1},
		"gamma 0":        {3, 1, 0},
		"negative gamma": {3, 1, -0.5},
		"Inf gamma":      {3, 1, math.Inf(1)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = NewAgent(b, cfg, c.obs, c.act, c.gamma) })
			require.Error(t, err)
		})
	}
	_, err := NewAgent(nil, cfg, 3, 1, 0.9)
	assert.Error(t, err, "nil backend")
}

func TestNewAgentRejectsBadConfig(t *testing.T) {
	b := thBackend(t)
	mods := map[string]func(*Config){
		"negative lambda": func(c *Config) { c.Lambda = -1 },
		"NaN lambda":      func(c *Config) { c.Lambda = math.NaN() },
		"zero horizon":    func(c *Config) { c.Horizon = 0 },
		"lambda w/o prior": func(c *Config) {
			c.Prior = PriorNone
			c.Lambda = 2
		},
		"too many elites": func(c *Config) { c.NumElites = c.NumSamples + 1 },
		"one Q head":      func(c *Config) { c.Size.QHeads = 1 },
		"bad latent":      func(c *Config) { c.Size.Latent = 30 }, // not a multiple of 8
	}
	for name, mod := range mods {
		t.Run(name, func(t *testing.T) {
			cfg := thTinyConfig()
			mod(&cfg)
			var err error
			require.NotPanics(t, func() { _, err = NewAgent(b, cfg, 3, 1, 0.9) })
			require.Error(t, err)
		})
	}
	ag := thAgent(t, thTinyConfig(), 3, 1)
	assert.Error(t, ag.SetLambda(-1))
	assert.Error(t, ag.SetLambda(math.NaN()))
	assert.Equal(t, 1.0, ag.Config().Lambda, "a rejected SetLambda leaves the config alone")
	assert.Error(t, ag.SetPrior("bogus"))
	assert.Error(t, ag.SetPriorKL("sideways"))
}

func TestActRejectsBadObservation(t *testing.T) {
	ag := thAgent(t, thTinyConfig(), 3, 1)
	for name, obs := range map[string][]float32{
		"short": {1, 2}, "long": {1, 2, 3, 4}, "nil": nil,
		"NaN": {0, float32(math.NaN()), 1}, "Inf": {float32(math.Inf(-1)), 0, 1},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = ag.Act(obs, true, false) })
			require.Error(t, err)
		})
	}
	// The agent still works afterwards.
	_, err := ag.Act([]float32{0, 1, 2}, true, false)
	require.NoError(t, err)
}

func TestUpdateRejectsMismatchedBatch(t *testing.T) {
	cfg := thTinyConfig()
	const o, a = 4, 2
	ag := thAgent(t, cfg, o, a)
	good := thBatch(1, cfg.Horizon, 8, o, a, 1)
	bad := map[string]func(b *Batch){
		"obs dim":            func(b *Batch) { b.ObsDim = o + 1 },
		"act dim":            func(b *Batch) { b.ActDim = a + 1 },
		"horizon":            func(b *Batch) { b.H = cfg.Horizon + 1 },
		"short obs slice":    func(b *Batch) { b.Obs = b.Obs[:len(b.Obs)-1] },
		"B larger than data": func(b *Batch) { b.B = 9 },
		"short valid slice":  func(b *Batch) { b.Valid = b.Valid[:len(b.Valid)-1] },
	}
	for name, mod := range bad {
		t.Run(name, func(t *testing.T) {
			b := thCloneBatch(good)
			mod(b)
			var err error
			require.NotPanics(t, func() { _, err = ag.Update(b) })
			require.Error(t, err)
		})
	}
	assert.EqualValues(t, 0, ag.Updates(), "rejected batches do not count as updates")
	_, err := ag.Update(good)
	require.NoError(t, err)
}

// TestUpdateRejectsNonFiniteBatch: a batch with a NaN reward must be rejected before it is
// applied, so that one bad batch does not poison the agent's parameters.
func TestUpdateRejectsNonFiniteBatch(t *testing.T) {
	cfg := thTinyConfig()
	const o, a = 4, 2
	ag := thAgent(t, cfg, o, a)
	before := thParams(t, ag)
	b := thBatch(1, cfg.Horizon, 8, o, a, 1)
	b.Reward[3] = float32(math.NaN())
	var err error
	require.NotPanics(t, func() { _, err = ag.Update(b) })
	require.Error(t, err)
	// Parameters (and optimizer state) are untouched: a following good update behaves exactly
	// like the first update of a fresh agent.
	after := thParams(t, ag)
	var changed []string
	for _, p := range thParamsDiff(t, before, after) {
		if _, existed := before[p]; existed { // lazily created optimizer state is fine
			changed = append(changed, p)
		}
	}
	assert.Equalf(t, 0, len(changed), "a rejected batch must not change the agent's variables: %d changed, e.g. %v",
		len(changed), changed[:min(len(changed), 4)])
	good := thBatch(2, cfg.Horizon, 8, o, a, 1)
	m, err := ag.Update(good)
	require.NoError(t, err, "the agent must still work after a rejected batch")
	ref := thAgent(t, cfg, o, a)
	mRef, err := ref.Update(good)
	require.NoError(t, err)
	assert.Equal(t, mRef, m)
}

func TestNewBackendUnknownName(t *testing.T) {
	var err error
	require.NotPanics(t, func() { _, err = NewBackend("nosuch") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nosuch")
	require.NotPanics(t, func() { _, err = NewBackend("nosuch:opt=1") })
	require.Error(t, err)
	assert.Equal(t, DefaultBackend, BackendSpec("go"))
}
