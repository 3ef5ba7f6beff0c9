package classic

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/envs/envtest"
)

// TestConformance runs the envs conformance suite over every registered task.
func TestConformance(t *testing.T) { envtest.ConformanceAll(t) }

// makeEnv makes a registered task, closed at the end of the test.
func makeEnv(t *testing.T, name string, opts ...envs.Option) envs.Env {
	t.Helper()
	env, err := envs.Make(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	return env
}

func TestTasksRegistered(t *testing.T) {
	want := []string{"cartpole-balance", "cartpole-balance-sparse", "cartpole-swingup", "cartpole-swingup-sparse", "pendulum-swingup"}
	names := map[string]bool{}
	for _, n := range envs.Names() {
		names[n] = true
	}
	for _, n := range want {
		if !names[n] {
			t.Errorf("task %q not registered; have %v", n, envs.Names())
		}
	}
}

// TestSpecs checks the DMC timings: 1000 control steps, 500 agent steps at action repeat 2, and
// the episode ends at step 500 by truncation (discount 1).
func TestSpecs(t *testing.T) {
	for name, dims := range map[string][2]int{
		"cartpole-balance": {5, 1}, "cartpole-balance-sparse": {5, 1},
		"cartpole-swingup": {5, 1}, "cartpole-swingup-sparse": {5, 1},
		"pendulum-swingup": {3, 1},
	} {
		env := makeEnv(t, name, envs.WithSeed(3))
		want := envs.Spec{Name: name, ObsDim: dims[0], ActionDim: dims[1], ActionRepeat: 2, EpisodeLen: 500, RewardMin: 0, RewardMax: 2}
		if got := env.Spec(); got != want {
			t.Errorf("%s: Spec = %+v, want %+v", name, got, want)
		}
		if _, err := env.Reset(); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 500; i++ {
			ts, err := env.Step([]float32{0.3})
			if err != nil {
				t.Fatal(err)
			}
			if (ts.Type == envs.Last) != (i == 500) || ts.Discount != 1 {
				t.Fatalf("%s: step %d is %v with discount %v", name, i, ts.Type, ts.Discount)
			}
		}
		if got := makeEnv(t, name, envs.WithActionRepeat(1)).Spec(); got.EpisodeLen != 1000 || got.RewardMax != 1 {
			t.Errorf("%s: at action repeat 1, Spec = %+v", name, got)
		}
	}
}

// TestRewardsPerControlStep checks every control-step reward lies in [0, 1], and that the sparse
// rewards are 0 or 1.
func TestRewardsPerControlStep(t *testing.T) {
	for _, name := range envs.Names() {
		env := makeEnv(t, name, envs.WithSeed(5), envs.WithActionRepeat(1))
		rng := rand.New(rand.NewPCG(5, 5))
		if _, err := env.Reset(); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			ts, err := env.Step([]float32{float32(2*rng.Float64() - 1)})
			if err != nil {
				t.Fatal(err)
			}
			if ts.Reward < 0 || ts.Reward > 1 {
				t.Fatalf("%s step %d: reward %v not in [0, 1]", name, i, ts.Reward)
			}
			if name != "cartpole-balance" && name != "cartpole-swingup" && ts.Reward != 0 && ts.Reward != 1 {
				t.Fatalf("%s step %d: sparse reward %v", name, i, ts.Reward)
			}
			if ts.Type == envs.Last {
				break
			}
		}
	}
}

// TestCapsuleInertia checks MuJoCo's closed form for the pole against a numerical integral over
// thin discs of the uniform capsule, and logs the value.
func TestCapsuleInertia(t *testing.T) {
	const m, h, r = cartpolePoleMass, cartpolePoleLength, cartpolePoleRadius
	got := capsuleInertia(m, h, r)
	// A disc of radius ρ(z) at height z from the centre contributes dm·(ρ²/4 + z²) about a
	// transverse axis through the centre; density ∝ π ρ².
	const n = 200000
	lo, hi := -h/2-r, h/2+r
	dz := (hi - lo) / n
	var vol, inertia float64
	for i := range n {
		z := lo + (float64(i)+0.5)*dz
		rho2 := r * r
		if e := math.Abs(z) - h/2; e > 0 {
			rho2 = r*r - e*e
		}
		dv := math.Pi * rho2 * dz
		vol += dv
		inertia += dv * (rho2/4 + z*z)
	}
	want := m * inertia / vol
	if math.Abs(got-want) > 1e-6*want {
		t.Errorf("capsuleInertia = %.8g, numerical %.8g", got, want)
	}
	p := NewCartpolePhysics()
	t.Logf("pole: I_c = %.6e kg·m² (thin rod %.6e), J = I_c + m l² = %.6e, dof_invweight0 = %.6f", got, m*h*h/12, p.hingeInertia, p.invWeight0)
}

// TestCartpoleEnergyConservation drops the pole from horizontal with damping, control and the
// rail limit out of play: RK4 must conserve T + V over 1000 steps (10 s) to a tight tolerance.
func TestCartpoleEnergyConservation(t *testing.T) {
	p := NewCartpolePhysics()
	p.sliderDamping, p.hingeDamping = 0, 0
	p.SetState(0, math.Pi/2, 0, 0)
	e0 := p.Energy()
	scale := cartpolePoleMass * cartpoleGravity * p.poleCoM // m g l, the energy swing of the pole
	var drift, maxX float64
	for range 1000 {
		if err := p.Step(); err != nil {
			t.Fatal(err)
		}
		drift = max(drift, math.Abs(p.Energy()-e0))
		maxX = max(maxX, math.Abs(p.x))
	}
	t.Logf("max |E - E0| over 1000 RK4 steps: %.3e J (%.3e of m·g·l); max |x| = %.3f m", drift, drift/scale, maxX)
	if drift > 1e-6*scale {
		t.Errorf("energy drift %.3e J exceeds %.3e", drift, 1e-6*scale)
	}
	if maxX >= cartpoleRailLimit {
		t.Fatalf("cart reached the rail limit, the test no longer isolates the integrator")
	}
	// With damping on, the energy must decay instead.
	q := NewCartpolePhysics()
	q.SetState(0, math.Pi/2, 0, 0)
	for range 1000 {
		_ = q.Step()
	}
	if q.Energy() >= e0 {
		t.Errorf("damped energy %v did not decrease from %v", q.Energy(), e0)
	}
}

// TestCartpoleMomentum: without damping, control or the limit there is no horizontal external
// force, so the centre of mass of cart and pole does not move horizontally.
func TestCartpoleMomentum(t *testing.T) {
	p := NewCartpolePhysics()
	p.sliderDamping, p.hingeDamping = 0, 0
	p.SetState(0.3, 2.5, 0, 1)
	l, M, m := p.poleCoM, cartpoleCartMass, cartpolePoleMass
	com := func() float64 { return (M*p.x + m*(p.x+l*math.Sin(p.theta))) / (M + m) }
	px := func() float64 { return (M+m)*p.xdot + m*l*math.Cos(p.theta)*p.thetadot }
	c0, p0 := com(), px()
	for range 500 {
		_ = p.Step()
	}
	if math.Abs(px()-p0) > 1e-9 || math.Abs(com()-(c0+p0/(M+m)*5)) > 1e-7 {
		t.Errorf("horizontal momentum %v -> %v, centre of mass %v -> %v", p0, px(), c0, com())
	}
}

// TestCartpoleJointLimit pushes the cart into the rail limit. MuJoCo's limit is soft (time
// constant 0.08 s): a cart arriving at ≈ 5.7 m/s overshoots by about v/(e·ω) ≈ 0.16 m, ω ≈ 12.8/s,
// before the critically damped constraint pushes it back; then the 10 N push holds it ≈ 3 mm past
// 1.8 m.
func TestCartpoleJointLimit(t *testing.T) {
	p := NewCartpolePhysics()
	p.SetState(0, math.Pi, 0, 0) // hanging, so the pole swings but never flips over
	p.SetControl(1)
	var maxX float64
	for range 1000 {
		if err := p.Step(); err != nil {
			t.Fatal(err)
		}
		maxX = max(maxX, p.x)
	}
	t.Logf("pushed at 10 N: max x = %.4f m, final x = %.4f m", maxX, p.x)
	if maxX < cartpoleRailLimit+0.1 || maxX > cartpoleRailLimit+0.25 {
		t.Errorf("max x = %v, want a soft overshoot of 0.1-0.25 m past %v", maxX, cartpoleRailLimit)
	}
	if p.x < cartpoleRailLimit || p.x > cartpoleRailLimit+0.01 {
		t.Errorf("final x = %v, want pinned at the limit", p.x)
	}
	// The mirror image at the lower limit.
	p.SetState(0, math.Pi, 0, 0)
	p.SetControl(-1)
	for range 1000 {
		_ = p.Step()
	}
	if p.x > -cartpoleRailLimit || p.x < -cartpoleRailLimit-0.01 {
		t.Errorf("final x = %v, want pinned at the lower limit", p.x)
	}
}

// TestCartpoleRewardUpright: upright, centred, still and without control the smooth reward is 1
// and the sparse one too; hanging both are 0.
func TestCartpoleRewardUpright(t *testing.T) {
	p := NewCartpolePhysics()
	smooth, sparse := &cartpoleTask{}, &cartpoleTask{sparse: true}
	if r := smooth.Reward(p); math.Abs(r-1) > 1e-12 {
		t.Errorf("smooth reward upright = %v, want 1", r)
	}
	if r := sparse.Reward(p); r != 1 {
		t.Errorf("sparse reward upright = %v, want 1", r)
	}
	p.SetState(0, math.Pi, 0, 0)
	if r := smooth.Reward(p); r > 1e-12 {
		t.Errorf("smooth reward hanging = %v, want 0", r)
	}
	if r := sparse.Reward(p); r != 0 {
		t.Errorf("sparse reward hanging = %v, want 0", r)
	}
	// Full control costs a fifth; one margin of velocity costs (1 - 0.1)/2; two metres off centre
	// costs (1 - 0.1)/2.
	p.SetState(2, 0, 0, 5)
	p.SetControl(1)
	if r, want := smooth.Reward(p), 0.8*0.55*0.55; math.Abs(r-want) > 1e-12 {
		t.Errorf("smooth reward at the margins = %v, want %v", r, want)
	}
	p.SetState(0.26, 0, 0, 0)
	if r := sparse.Reward(p); r != 0 {
		t.Errorf("sparse reward off centre = %v, want 0", r)
	}
}

// TestCartpoleSwingupStartsHanging: swing-up episodes start with the pole down, near the centre.
func TestCartpoleSwingupStartsHanging(t *testing.T) {
	for _, name := range []string{"cartpole-swingup", "cartpole-swingup-sparse"} {
		env := makeEnv(t, name, envs.WithSeed(9))
		for range 20 {
			ts, err := env.Reset()
			if err != nil {
				t.Fatal(err)
			}
			if x, cos := ts.Obs[0], ts.Obs[1]; cos > -0.99 || math.Abs(float64(x)) > 0.05 {
				t.Fatalf("%s: initial obs %v, want the pole hanging (cos ≈ -1) near x = 0", name, ts.Obs)
			}
		}
	}
}

// TestCartpoleBalanceFalls: from balance's near-upright start, with no control, the pole stays
// up for a while and then falls.
func TestCartpoleBalanceFalls(t *testing.T) {
	env := makeEnv(t, "cartpole-balance", envs.WithSeed(4), envs.WithActionRepeat(1))
	ts, err := env.Reset()
	if err != nil {
		t.Fatal(err)
	}
	if cos := float64(ts.Obs[1]); cos < math.Cos(0.035) {
		t.Fatalf("initial cos θ = %v, want within 0.034 rad of upright", cos)
	}
	fell := -1
	for i := 1; ts.Type != envs.Last; i++ {
		if ts, err = env.Step([]float32{0}); err != nil {
			t.Fatal(err)
		}
		if i <= 10 && ts.Obs[1] < 0.99 {
			t.Fatalf("step %d: cos θ = %v: fell within 0.1 s", i, ts.Obs[1])
		}
		if fell < 0 && ts.Obs[1] < 0 {
			fell = i
		}
	}
	if fell < 0 {
		t.Fatal("the unactuated pole never fell below horizontal")
	}
	t.Logf("unactuated pole passed horizontal after %.2f s", float64(fell)*cartpoleTimestep)
}

// TestPendulumPeriod: without damping, small oscillations about the hanging position have period
// 2π·sqrt(I/(m·g·l)).
func TestPendulumPeriod(t *testing.T) {
	p := NewPendulumPhysics()
	p.damping = 0
	p.SetState(math.Pi+0.05, 0)
	want := 2 * math.Pi * math.Sqrt(p.inertia/(pendulumMass*pendulumGravity*pendulumLength))
	// Times at which φ = θ − π crosses 0 upwards, interpolated linearly.
	var crossings []float64
	prev := p.theta - math.Pi
	for i := 1; i <= 1000; i++ {
		if err := p.Step(); err != nil {
			t.Fatal(err)
		}
		phi := p.theta - math.Pi
		if prev < 0 && phi >= 0 {
			crossings = append(crossings, pendulumTimestep*(float64(i-1)+prev/(prev-phi)))
		}
		prev = phi
	}
	if len(crossings) < 3 {
		t.Fatalf("only %d upward crossings in 20 s", len(crossings))
	}
	got := (crossings[len(crossings)-1] - crossings[0]) / float64(len(crossings)-1)
	relErr := (got - want) / want
	t.Logf("period %.5f s, 2π·sqrt(I/(m·g·l)) = %.5f s, relative error %.2e", got, want, relErr)
	if math.Abs(relErr) > 0.01 {
		t.Errorf("period %v, want %v within 1%%", got, want)
	}
}

// TestPendulumImplicitDamping checks one step against the semi-implicit update: hanging straight
// down (no gravity torque) with velocity ω, θ̇' = I·ω/(I + dt·b) and θ' = θ + dt·θ̇'.
func TestPendulumImplicitDamping(t *testing.T) {
	p := NewPendulumPhysics()
	if math.Abs(p.Inertia()-0.251) > 1e-15 {
		t.Errorf("inertia %v, want 0.251", p.Inertia())
	}
	p.SetState(math.Pi, 2)
	if err := p.Step(); err != nil {
		t.Fatal(err)
	}
	wantV := 0.251 * 2 / (0.251 + 0.02*0.1)
	// sin(π) is 1.2e-16, not 0: allow for its torque.
	if math.Abs(p.thetadot-wantV) > 1e-12 || math.Abs(p.theta-(math.Pi+0.02*p.thetadot)) > 1e-15 {
		t.Errorf("after one step θ̇ = %v (want %v), θ = %v", p.thetadot, wantV, p.theta)
	}
}

// TestPendulumReward: 1 within 8° of upright, else 0.
func TestPendulumReward(t *testing.T) {
	p := NewPendulumPhysics()
	task := pendulumTask{}
	for _, c := range []struct {
		deg  float64
		want float64
	}{{0, 1}, {7.9, 1}, {-7.9, 1}, {8.1, 0}, {-8.1, 0}, {90, 0}, {180, 0}, {360, 1}} {
		p.SetState(c.deg*math.Pi/180, 0)
		if r := task.Reward(p); r != c.want {
			t.Errorf("reward at %v° = %v, want %v", c.deg, r, c.want)
		}
	}
}

// TestPendulumInit: episodes start at rest at angles spread over the circle.
func TestPendulumInit(t *testing.T) {
	env := makeEnv(t, "pendulum-swingup", envs.WithSeed(2))
	var up, down int
	for range 200 {
		ts, err := env.Reset()
		if err != nil {
			t.Fatal(err)
		}
		if ts.Obs[2] != 0 {
			t.Fatalf("initial angular velocity %v, want 0", ts.Obs[2])
		}
		if ts.Obs[0] > 0 {
			up++
		} else {
			down++
		}
	}
	if up < 60 || down < 60 {
		t.Errorf("initial angles not spread: %d above horizontal, %d below", up, down)
	}
}

// BenchmarkStep measures agent steps per second (each 2 control steps) of every task.
func BenchmarkStep(b *testing.B) {
	for _, name := range envs.Names() {
		b.Run(name, func(b *testing.B) {
			env, err := envs.Make(name, envs.WithSeed(1))
			if err != nil {
				b.Fatal(err)
			}
			defer env.Close()
			if _, err := env.Reset(); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			actions := make([][]float32, 1024)
			for i := range actions {
				actions[i] = []float32{float32(2*rng.Float64() - 1)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts, err := env.Step(actions[i%len(actions)])
				if err != nil {
					b.Fatal(err)
				}
				if ts.Type == envs.Last {
					if _, err := env.Reset(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}
