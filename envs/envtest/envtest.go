// Package envtest is the conformance suite every registered task must pass: the Go counterpart
// of dm_control's suite/tests/domains_test.py. Call it from a test of the package that registers
// the tasks:
//
//	func TestConformance(t *testing.T) { envtest.ConformanceAll(t) }
//
// It checks the Env contract of package envs: a sane Spec; Reset returning First with reward 0,
// discount 1 and a finite observation of the right size; full episodes under random actions with
// finite observations, rewards within the Spec's bounds, discounts in [0, 1] and exactly one
// Last no later than EpisodeLen; determinism under a seed; fresh observation slices; clipping of
// out-of-range actions; rejection of NaN, infinite and wrong-length actions without any effect on
// the episode; errors for Step before Reset and after Last; and a Close that is safe to repeat.
package envtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pompc/pompc/envs"
)

// Seeds used by the suite; any values work.
const (
	seedA = 1
	seedB = 2
)

// ConformanceAll runs Conformance for every task in envs.Names(), one subtest per task. It fails
// if no task is registered (a missing blank import).
func ConformanceAll(t *testing.T) {
	names := envs.Names()
	if len(names) == 0 {
		t.Fatal("envtest: no task registered; import the package that registers them")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) { Conformance(t, name) })
	}
}

// Conformance runs the suite on the registered task name, one subtest per property.
func Conformance(t *testing.T, name string) {
	t.Run("Spec", func(t *testing.T) { checkSpec(t, name) })
	t.Run("Reset", func(t *testing.T) { checkReset(t, name) })
	t.Run("Episode", func(t *testing.T) { checkEpisode(t, name) })
	t.Run("Determinism", func(t *testing.T) { checkDeterminism(t, name) })
	t.Run("FreshObs", func(t *testing.T) { checkFreshObs(t, name) })
	t.Run("Clipping", func(t *testing.T) { checkClipping(t, name) })
	t.Run("BadActions", func(t *testing.T) { checkBadActions(t, name) })
	t.Run("Lifecycle", func(t *testing.T) { checkLifecycle(t, name) })
	t.Run("Snapshot", func(t *testing.T) { checkSnapshot(t, name) })
}

// makeEnv makes the task and closes it when the test ends.
func makeEnv(t *testing.T, name string, opts ...envs.Option) envs.Env {
	t.Helper()
	env, err := envs.Make(name, opts...)
	if err != nil {
		t.Fatalf("envs.Make(%q): %v", name, err)
	}
	if env == nil {
		t.Fatalf("envs.Make(%q) returned a nil Env and no error", name)
	}
	t.Cleanup(func() { _ = env.Close() })
	return env
}

// reset calls Reset and fails the test on error.
func reset(t *testing.T, env envs.Env) envs.TimeStep {
	t.Helper()
	ts, err := env.Reset()
	if err != nil {
		t.Fatalf("Reset: %v", err)
	}
	return ts
}

// step calls Step and fails the test on error.
func step(t *testing.T, env envs.Env, action []float32, i int) envs.TimeStep {
	t.Helper()
	ts, err := env.Step(action)
	if err != nil {
		t.Fatalf("Step %d: %v", i, err)
	}
	return ts
}

// randomAction draws an action uniformly in [-scale, scale]^dim.
func randomAction(rng *rand.Rand, dim int, scale float64) []float32 {
	a := make([]float32, dim)
	for i := range a {
		a[i] = float32(scale * (2*rng.Float64() - 1))
	}
	return a
}

// actionSequence draws n actions of size dim in [-1, 1].
func actionSequence(seed uint64, n, dim int) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	seq := make([][]float32, n)
	for i := range seq {
		seq[i] = randomAction(rng, dim, 1)
	}
	return seq
}

// allFinite reports whether no entry is NaN or infinite.
func allFinite(xs []float32) bool {
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// sameBits reports whether two observations are bitwise equal.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// sameStep reports whether two TimeSteps are identical, observation bits included.
func sameStep(a, b envs.TimeStep) bool {
	return a.Type == b.Type && math.Float64bits(a.Reward) == math.Float64bits(b.Reward) &&
		math.Float64bits(a.Discount) == math.Float64bits(b.Discount) && sameBits(a.Obs, b.Obs)
}

// checkTimeStep checks the properties every TimeStep of the task has.
func checkTimeStep(t *testing.T, spec envs.Spec, ts envs.TimeStep, i int) {
	t.Helper()
	if len(ts.Obs) != spec.ObsDim {
		t.Fatalf("step %d: len(Obs) = %d, want ObsDim %d", i, len(ts.Obs), spec.ObsDim)
	}
	if !allFinite(ts.Obs) {
		t.Fatalf("step %d: non-finite observation %v", i, ts.Obs)
	}
	if !(ts.Discount >= 0 && ts.Discount <= 1) {
		t.Fatalf("step %d: discount %v not in [0, 1]", i, ts.Discount)
	}
	if ts.Type == envs.First {
		if ts.Reward != 0 || ts.Discount != 1 {
			t.Fatalf("First TimeStep has reward %v and discount %v, want 0 and 1", ts.Reward, ts.Discount)
		}
		return
	}
	eps := 1e-9 * max(1, math.Abs(spec.RewardMin), math.Abs(spec.RewardMax))
	if !(ts.Reward >= spec.RewardMin-eps && ts.Reward <= spec.RewardMax+eps) {
		t.Fatalf("step %d: reward %v outside [%v, %v]", i, ts.Reward, spec.RewardMin, spec.RewardMax)
	}
	if ts.Type == envs.Mid && ts.Discount != 1 {
		t.Fatalf("step %d: Mid TimeStep with discount %v, want 1", i, ts.Discount)
	}
}

func checkSpec(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(seedA))
	s := env.Spec()
	if s.Name != name {
		t.Errorf("Spec().Name = %q, want %q", s.Name, name)
	}
	if s.ObsDim <= 0 || s.ActionDim <= 0 {
		t.Errorf("Spec dims ObsDim=%d ActionDim=%d, want > 0", s.ObsDim, s.ActionDim)
	}
	if s.ActionRepeat < 1 {
		t.Errorf("Spec().ActionRepeat = %d, want >= 1", s.ActionRepeat)
	}
	if s.EpisodeLen <= 0 {
		t.Errorf("Spec().EpisodeLen = %d, want > 0", s.EpisodeLen)
	}
	if !(s.RewardMin <= s.RewardMax) || math.IsInf(s.RewardMin, 0) || math.IsInf(s.RewardMax, 0) {
		t.Errorf("Spec reward range [%v, %v] is not a finite interval", s.RewardMin, s.RewardMax)
	}
	// The action-repeat override: one control step per agent step, and the same time limit.
	env1 := makeEnv(t, name, envs.WithSeed(seedA), envs.WithActionRepeat(1))
	s1 := env1.Spec()
	if s1.ActionRepeat != 1 {
		t.Errorf("WithActionRepeat(1): Spec().ActionRepeat = %d", s1.ActionRepeat)
	}
	if want := (s1.EpisodeLen + s.ActionRepeat - 1) / s.ActionRepeat; s.EpisodeLen != want {
		t.Errorf("EpisodeLen %d at action repeat %d, but %d at repeat 1 (want ceil = %d)", s.EpisodeLen, s.ActionRepeat, s1.EpisodeLen, want)
	}
	if s1.ObsDim != s.ObsDim || s1.ActionDim != s.ActionDim || s1.Name != s.Name {
		t.Errorf("WithActionRepeat changed the Spec beyond repeat: %+v vs %+v", s1, s)
	}
	if _, err := envs.Make(name, envs.WithActionRepeat(-1)); err == nil {
		t.Errorf("WithActionRepeat(-1) did not fail")
	}
}

func checkReset(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(seedA))
	spec := env.Spec()
	for i := range 3 {
		ts := reset(t, env)
		if ts.Type != envs.First {
			t.Fatalf("Reset %d returned a %v TimeStep", i, ts.Type)
		}
		checkTimeStep(t, spec, ts, 0)
	}
	if env.Spec() != spec {
		t.Errorf("Spec changed after Reset: %+v vs %+v", env.Spec(), spec)
	}
}

// runEpisode steps env from a fresh Reset with random actions until Last, checking every
// TimeStep, and returns how many agent steps the episode took.
func runEpisode(t *testing.T, env envs.Env, rng *rand.Rand, scale float64) int {
	t.Helper()
	spec := env.Spec()
	checkTimeStep(t, spec, reset(t, env), 0)
	for i := 1; i <= spec.EpisodeLen; i++ {
		ts := step(t, env, randomAction(rng, spec.ActionDim, scale), i)
		if ts.Type == envs.First {
			t.Fatalf("step %d returned a First TimeStep", i)
		}
		checkTimeStep(t, spec, ts, i)
		if ts.Type == envs.Last {
			return i
		}
	}
	t.Fatalf("no Last TimeStep within EpisodeLen = %d steps", spec.EpisodeLen)
	return 0
}

func checkEpisode(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(seedA))
	rng := rand.New(rand.NewPCG(seedA, 11))
	spec := env.Spec()
	for ep := range 2 {
		n := runEpisode(t, env, rng, 1.2)
		if n > spec.EpisodeLen {
			t.Fatalf("episode %d: %d steps > EpisodeLen %d", ep, n, spec.EpisodeLen)
		}
		// Exactly one Last: stepping on is an error.
		if _, err := env.Step(make([]float32, spec.ActionDim)); err == nil {
			t.Fatalf("episode %d: Step after Last did not fail", ep)
		}
	}
	// The repeat-1 variant ends too.
	env1 := makeEnv(t, name, envs.WithSeed(seedA), envs.WithActionRepeat(1))
	runEpisode(t, env1, rng, 1)
}

func checkDeterminism(t *testing.T, name string) {
	a := makeEnv(t, name, envs.WithSeed(seedA))
	b := makeEnv(t, name, envs.WithSeed(seedA))
	spec := a.Spec()
	actions := actionSequence(3, spec.EpisodeLen, spec.ActionDim)
	for ep := range 2 {
		ta, tb := reset(t, a), reset(t, b)
		if !sameStep(ta, tb) {
			t.Fatalf("episode %d: same seed, different First: %v vs %v", ep, ta.Obs, tb.Obs)
		}
		for i, act := range actions {
			ta, tb = step(t, a, act, i), step(t, b, act, i)
			if !sameStep(ta, tb) {
				t.Fatalf("episode %d step %d: same seed and actions, different TimeSteps:\n%+v\n%+v", ep, i, ta, tb)
			}
			if ta.Type == envs.Last {
				break
			}
		}
		if ep == 0 {
			// The second episode draws a new initial state.
			actions = actionSequence(4, 20, spec.ActionDim)
		}
	}
	c := makeEnv(t, name, envs.WithSeed(seedB))
	a2 := makeEnv(t, name, envs.WithSeed(seedA))
	if oa, oc := reset(t, a2).Obs, reset(t, c).Obs; sameBits(oa, oc) {
		t.Errorf("seeds %d and %d give the same initial observation %v", seedA, seedB, oa)
	}
}

func checkFreshObs(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(seedA))
	twin := makeEnv(t, name, envs.WithSeed(seedA))
	spec := env.Spec()
	actions := actionSequence(5, 30, spec.ActionDim)
	prev, want := reset(t, env), reset(t, twin)
	if !sameStep(prev, want) {
		t.Fatal("same seed, different First")
	}
	fill := float32(1e6)
	// scribble overwrites an observation up to its capacity with values no task produces.
	scribble := func(obs []float32) {
		full := obs[:cap(obs)]
		for j := range full {
			fill++
			full[j] = fill
		}
	}
	scribble(prev.Obs)
	for i, act := range actions {
		cur := step(t, env, act, i)
		want = step(t, twin, act, i)
		// The env must not read back an observation it handed out.
		if !sameStep(cur, want) {
			t.Fatalf("step %d: mutating earlier observations changed the trajectory:\n%+v\n%+v", i, cur, want)
		}
		// Consecutive observations must not share memory.
		saved := slices.Clone(cur.Obs)
		scribble(prev.Obs)
		if !sameBits(cur.Obs, saved) {
			t.Fatalf("step %d: writing to the previous Obs changed the current one: they share memory", i)
		}
		if cur.Type == envs.Last {
			break
		}
		scribble(cur.Obs)
		prev = cur
	}
}

func checkClipping(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(seedA))
	twin := makeEnv(t, name, envs.WithSeed(seedA))
	spec := env.Spec()
	reset(t, env)
	reset(t, twin)
	rng := rand.New(rand.NewPCG(seedA, 13))
	for i := range 30 {
		big := randomAction(rng, spec.ActionDim, 4)
		clipped := make([]float32, len(big))
		for j, a := range big {
			clipped[j] = max(-1, min(1, a))
		}
		a, b := step(t, env, big, i), step(t, twin, clipped, i)
		if !sameStep(a, b) {
			t.Fatalf("step %d: action %v and its clipped %v give different TimeSteps", i, big, clipped)
		}
		if a.Type == envs.Last {
			break
		}
	}
}

// badActions lists invalid actions for an action of size dim.
func badActions(dim int) map[string][]float32 {
	bad := map[string][]float32{
		"nil":       nil,
		"too short": make([]float32, dim-1),
		"too long":  make([]float32, dim+1),
	}
	for _, v := range []struct {
		name string
		x    float32
	}{{"NaN", float32(math.NaN())}, {"+Inf", float32(math.Inf(1))}, {"-Inf", float32(math.Inf(-1))}} {
		for _, j := range []int{0, dim - 1} {
			a := make([]float32, dim)
			for k := range a {
				a[k] = 0.5
			}
			a[j] = v.x
			bad[fmt.Sprintf("%s at %d", v.name, j)] = a
		}
	}
	return bad
}

func checkBadActions(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(seedA))
	twin := makeEnv(t, name, envs.WithSeed(seedA))
	spec := env.Spec()
	bad := badActions(spec.ActionDim)
	actions := actionSequence(6, spec.EpisodeLen, spec.ActionDim)
	if !sameStep(reset(t, env), reset(t, twin)) {
		t.Fatal("same seed, different First")
	}
	for i, act := range actions {
		if i < 3 || i%50 == 0 {
			for what, a := range bad {
				if _, err := env.Step(a); err == nil {
					t.Fatalf("step %d: Step with a %s action %v did not fail", i, what, a)
				}
			}
		}
		a, b := step(t, env, act, i), step(t, twin, act, i)
		if !sameStep(a, b) {
			t.Fatalf("step %d: rejected actions changed the episode:\n%+v\n%+v", i, a, b)
		}
		if a.Type == envs.Last {
			for what, x := range bad {
				if _, err := env.Step(x); err == nil {
					t.Fatalf("after Last: Step with a %s action did not fail", what)
				}
			}
			return
		}
	}
	t.Fatalf("no Last within EpisodeLen = %d", spec.EpisodeLen)
}

func checkLifecycle(t *testing.T, name string) {
	env, err := envs.Make(name, envs.WithSeed(seedA))
	if err != nil {
		t.Fatal(err)
	}
	spec := env.Spec()
	if _, err := env.Step(make([]float32, spec.ActionDim)); err == nil {
		t.Error("Step before Reset did not fail")
	}
	// After that error the env still works.
	reset(t, env)
	step(t, env, make([]float32, spec.ActionDim), 0)
	if err := env.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := env.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A fresh env can be closed without ever being reset.
	env2, err := envs.Make(name, envs.WithSeed(seedB))
	if err != nil {
		t.Fatal(err)
	}
	if err := env2.Close(); err != nil {
		t.Errorf("Close before Reset: %v", err)
	}
}

// checkSnapshot: for envs that implement envs.Snapshotter, restoring a mid-episode snapshot into
// a twin env (made with another seed) continues the episode bit for bit, also across the end of
// the episode; a snapshot of another task is rejected. Envs without snapshots are skipped here by
// design (they resume at episode boundaries).
func checkSnapshot(t *testing.T, name string) {
	env := makeEnv(t, name, envs.WithSeed(11))
	snap, ok := env.(envs.Snapshotter)
	if !ok {
		return
	}
	spec := env.Spec()
	reset(t, env)
	acts := actionSequence(5, spec.EpisodeLen+2, spec.ActionDim)
	k := spec.EpisodeLen / 3
	for i := 0; i < k; i++ {
		step(t, env, acts[i], i)
	}
	state, err := snap.Snapshot()
	if errors.Is(err, envs.ErrNoSnapshot) {
		return
	}
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	twin := makeEnv(t, name, envs.WithSeed(999))
	if err := twin.(envs.Snapshotter).Restore(state); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for i := k; ; i++ {
		a, b := step(t, env, acts[i], i), step(t, twin, acts[i], i)
		if !sameStep(a, b) {
			t.Fatalf("step %d after Restore differs: %+v vs %+v", i, a, b)
		}
		if a.Type == envs.Last {
			break
		}
	}
	if err := twin.(envs.Snapshotter).Restore([]byte("not a snapshot")); err == nil {
		t.Fatalf("Restore accepted garbage")
	}
	for _, other := range envs.Names() {
		if other == name {
			continue
		}
		o := makeEnv(t, other)
		if osnap, ok := o.(envs.Snapshotter); ok {
			if err := osnap.Restore(state); err == nil {
				t.Fatalf("task %s accepted a snapshot of %s", other, name)
			}
		}
	}
}
