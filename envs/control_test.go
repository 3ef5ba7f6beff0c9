package envs_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/envs/envtest"
)

func float32NaN() float32         { return float32(math.NaN()) }
func float32Inf(sign int) float32 { return float32(math.Inf(sign)) }

// pointPhysics is a unit point mass on a line pushed by u, integrated with semi-implicit Euler
// at dt = 0.1 s. It counts steps, resets, forwards and closes, and can fail on a given step.
type pointPhysics struct {
	pos, vel, u float64
	steps       int // physics steps since creation
	failAt      int // Step fails when steps reaches failAt (0: never)
	forwards    int
	closes      int
}

func (p *pointPhysics) Reset() error      { p.pos, p.vel, p.u = 0, 0, 0; return nil }
func (p *pointPhysics) Timestep() float64 { return 0.1 }
func (p *pointPhysics) Close() error      { p.closes++; return nil }
func (p *pointPhysics) Forward() error    { p.forwards++; return nil }
func (p *pointPhysics) Step() error {
	p.steps++
	if p.steps == p.failAt {
		return errors.New("point: boom")
	}
	p.vel += 0.1 * p.u
	p.pos += 0.1 * p.vel
	return nil
}

// pointTask observes (pos, vel), rewards the first action entry (so rewards are in [-1, 1]),
// and terminates with discount 0 once |pos| >= bound (never if bound is 0).
type pointTask struct {
	spread   float64 // initial pos ~ U(-spread, spread)
	bound    float64
	reject   bool // BeforeStep rejects a second action entry below -0.5
	badObs   bool // Observe appends one value too many
	rewardLo float64
}

func (t *pointTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 2, ActionDim: 2, RewardMin: -1, RewardMax: 1}
}
func (t *pointTask) InitEpisode(p *pointPhysics, rng *rand.Rand) error {
	p.pos = t.spread * (2*rng.Float64() - 1)
	return nil
}
func (t *pointTask) BeforeStep(p *pointPhysics, a []float64) error {
	if t.reject && a[1] < -0.5 {
		return errors.New("point: second action entry below -0.5")
	}
	p.u = a[0]
	return nil
}
func (t *pointTask) Observe(p *pointPhysics, dst []float32) []float32 {
	dst = append(dst, float32(p.pos), float32(p.vel))
	if t.badObs {
		dst = append(dst, 0)
	}
	return dst
}
func (t *pointTask) Reward(p *pointPhysics) float64 { return p.u }
func (t *pointTask) Termination(p *pointPhysics) (float64, bool) {
	if t.bound > 0 && math.Abs(p.pos) >= t.bound {
		return 0, true
	}
	return 1, false
}

// pointConfig: control timestep 2 × 0.1 s, 3 s = 15 control steps, 8 agent steps at repeat 2
// (the last one a single control step).
var pointConfig = envs.ControlConfig{Name: "test-point", SubSteps: 2, TimeLimit: 3, ActionRepeat: 2}

func newPoint(t *testing.T, task *pointTask, opts envs.Options) (*envs.Control[*pointPhysics], *pointPhysics) {
	t.Helper()
	p := &pointPhysics{}
	c, err := envs.NewControl(p, task, pointConfig, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func init() {
	// Registered for the conformance suite: one that never terminates, one that sometimes does.
	register := func(name string, task *pointTask) {
		envs.MustRegister(name, func(o envs.Options) (envs.Env, error) {
			cfg := pointConfig
			cfg.Name = name
			c, err := envs.NewControl(&pointPhysics{}, task, cfg, o)
			if err != nil {
				return nil, err // a nil *Control in an Env would not be nil
			}
			return c, nil
		})
	}
	register("test-point", &pointTask{spread: 0.2})
	register("test-point-terminating", &pointTask{spread: 0.2, bound: 0.25})
}

// TestControlConformance runs the suite over the toy tasks (the classic ones run in their package).
func TestControlConformance(t *testing.T) {
	envtest.Conformance(t, "test-point")
	envtest.Conformance(t, "test-point-terminating")
}

func TestControlSpec(t *testing.T) {
	c, _ := newPoint(t, &pointTask{}, envs.Options{})
	want := envs.Spec{Name: "test-point", ObsDim: 2, ActionDim: 2, ActionRepeat: 2, EpisodeLen: 8, RewardMin: -2, RewardMax: 2}
	if got := c.Spec(); got != want {
		t.Errorf("Spec = %+v, want %+v", got, want)
	}
	c3, _ := newPoint(t, &pointTask{}, envs.Options{ActionRepeat: 4})
	if got := c3.Spec(); got.ActionRepeat != 4 || got.EpisodeLen != 4 || got.RewardMax != 4 {
		t.Errorf("repeat 4: Spec = %+v", got)
	}
}

// TestControlTimeLimit: 15 control steps in 8 agent steps; the last one runs a single control
// step, so its reward is 1·u, and ends with discount 1.
func TestControlTimeLimit(t *testing.T) {
	c, p := newPoint(t, &pointTask{}, envs.Options{})
	if _, err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if p.forwards != 1 {
		t.Errorf("Forward called %d times on Reset, want 1", p.forwards)
	}
	for i := 1; i <= 8; i++ {
		ts, err := c.Step([]float32{0.5, 0})
		if err != nil {
			t.Fatal(err)
		}
		wantR, wantT := 1.0, envs.Mid
		if i == 8 {
			wantR, wantT = 0.5, envs.Last
		}
		if ts.Reward != wantR || ts.Type != wantT || ts.Discount != 1 {
			t.Errorf("step %d: %v reward %v discount %v, want %v reward %v discount 1", i, ts.Type, ts.Reward, ts.Discount, wantT, wantR)
		}
	}
	if p.steps != 30 {
		t.Errorf("%d physics steps, want 15 control steps × 2 substeps", p.steps)
	}
	_, err := c.Step([]float32{0, 0})
	if !errors.Is(err, envs.ErrNeedsReset) {
		t.Errorf("Step after Last: %v, want ErrNeedsReset", err)
	}
}

// TestControlTermination: pushed at u = 1 from 0, pos after n substeps is 0.005·n(n+1), which
// first reaches 0.5 at n = 10, the 5th control step: the 3rd agent step ends after one control
// step with discount 0.
func TestControlTermination(t *testing.T) {
	c, p := newPoint(t, &pointTask{bound: 0.5}, envs.Options{})
	if _, err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		ts, err := c.Step([]float32{1, 0})
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && (ts.Type != envs.Mid || ts.Reward != 2) {
			t.Fatalf("step %d: %+v", i, ts)
		}
		if i == 3 && (ts.Type != envs.Last || ts.Discount != 0 || ts.Reward != 1 || p.steps != 10) {
			t.Fatalf("step 3: %+v after %d physics steps, want Last, discount 0, reward 1 after 10", ts, p.steps)
		}
	}
}

// TestControlTimeLimitWinsOverTermination: both on the same control step gives discount 1, as in
// dm_control.
func TestControlTimeLimitWinsOverTermination(t *testing.T) {
	cfg := pointConfig
	cfg.TimeLimit = 0.2 // one control step
	c, err := envs.NewControl(&pointPhysics{}, &pointTask{bound: 0.01}, cfg, envs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	ts, err := c.Step([]float32{1, 0})
	if err != nil || ts.Type != envs.Last || ts.Discount != 1 || ts.Reward != 1 {
		t.Fatalf("Step = %+v, %v; want Last with discount 1 and reward 1", ts, err)
	}
}

// TestControlBeforeStepError: a task's rejection leaves the episode untouched.
func TestControlBeforeStepError(t *testing.T) {
	c, p := newPoint(t, &pointTask{reject: true, spread: 0.2}, envs.Options{Seed: 3})
	twin, _ := newPoint(t, &pointTask{reject: true, spread: 0.2}, envs.Options{Seed: 3})
	_, _ = c.Reset()
	_, _ = twin.Reset()
	if _, err := c.Step([]float32{0.3, -1}); err == nil || errors.Is(err, envs.ErrNeedsReset) {
		t.Fatalf("rejected action: err = %v", err)
	}
	if p.steps != 0 {
		t.Fatalf("rejected action ran %d physics steps", p.steps)
	}
	a, err1 := c.Step([]float32{0.3, 0})
	b, err2 := twin.Step([]float32{0.3, 0})
	if err1 != nil || err2 != nil || a.Reward != b.Reward || a.Obs[0] != b.Obs[0] || a.Obs[1] != b.Obs[1] {
		t.Fatalf("after a rejected action: %+v %v vs twin %+v %v", a, err1, b, err2)
	}
}

// TestControlPhysicsError: a failing physics step ends the episode until Reset.
func TestControlPhysicsError(t *testing.T) {
	c, p := newPoint(t, &pointTask{}, envs.Options{})
	p.failAt = 3 // first substep of the 2nd control step
	_, _ = c.Reset()
	if _, err := c.Step([]float32{0, 0}); err == nil {
		t.Fatal("physics failure not reported")
	}
	if _, err := c.Step([]float32{0, 0}); !errors.Is(err, envs.ErrNeedsReset) {
		t.Fatalf("Step after a physics failure: %v, want ErrNeedsReset", err)
	}
	if _, err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step([]float32{0, 0}); err != nil {
		t.Fatalf("Step after Reset: %v", err)
	}
}

func TestControlLifecycleErrors(t *testing.T) {
	c, p := newPoint(t, &pointTask{}, envs.Options{})
	if _, err := c.Step([]float32{0, 0}); !errors.Is(err, envs.ErrNeedsReset) {
		t.Errorf("Step before Reset: %v, want ErrNeedsReset", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil || p.closes != 1 {
		t.Errorf("second Close: %v, physics closed %d times", err, p.closes)
	}
	if _, err := c.Reset(); !errors.Is(err, envs.ErrClosed) {
		t.Errorf("Reset after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Step([]float32{0, 0}); !errors.Is(err, envs.ErrClosed) {
		t.Errorf("Step after Close: %v, want ErrClosed", err)
	}
	bad, _ := newPoint(t, &pointTask{badObs: true}, envs.Options{})
	if _, err := bad.Reset(); err == nil {
		t.Error("an observation of the wrong size was not reported")
	}
}

func TestNewControlValidates(t *testing.T) {
	for name, c := range map[string]struct {
		cfg  envs.ControlConfig
		opts envs.Options
	}{
		"zero substeps":        {envs.ControlConfig{Name: "x", SubSteps: 0, TimeLimit: 3, ActionRepeat: 2}, envs.Options{}},
		"zero time limit":      {envs.ControlConfig{Name: "x", SubSteps: 2, TimeLimit: 0, ActionRepeat: 2}, envs.Options{}},
		"fractional limit":     {envs.ControlConfig{Name: "x", SubSteps: 2, TimeLimit: 3.1, ActionRepeat: 2}, envs.Options{}},
		"infinite limit":       {envs.ControlConfig{Name: "x", SubSteps: 2, TimeLimit: math.Inf(1), ActionRepeat: 2}, envs.Options{}},
		"zero repeat":          {envs.ControlConfig{Name: "x", SubSteps: 2, TimeLimit: 3, ActionRepeat: 0}, envs.Options{}},
		"zero repeat override": {envs.ControlConfig{Name: "x", SubSteps: 2, TimeLimit: 3, ActionRepeat: 0}, envs.Options{ActionRepeat: 0}},
	} {
		if _, err := envs.NewControl(&pointPhysics{}, &pointTask{}, c.cfg, c.opts); err == nil {
			t.Errorf("%s: NewControl did not fail", name)
		}
	}
	if _, err := envs.NewControl(&pointPhysics{}, &pointTask{}, envs.ControlConfig{Name: "x", SubSteps: 2, TimeLimit: 3}, envs.Options{ActionRepeat: 3}); err != nil {
		t.Errorf("repeat from options only: %v", err)
	}
}
