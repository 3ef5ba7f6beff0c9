//go:build mujoco

package mujoco

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/envs/classic"
)

// cartpoleTolerance bounds the difference between the MuJoCo and the pure-Go cartpole over the
// cross-check, in the float64 state (x, θ, ẋ, θ̇), in every observation entry and in the reward.
// Both integrate the same equations with RK4 at dt 0.01, joint-limit constraint included; they
// differ only in floating-point rounding (MuJoCo factorizes the mass matrix, the pure-Go model
// solves it in closed form), which the swinging pole amplifies: measured over 3 tasks × 8 seeds
// × 500 agent steps (slider limits hit in several runs), the largest state difference was
// 1.5e-8 and most runs stay below 1e-12; bang-bang control held for up to 60 agent steps (the
// cart hitting the limit at up to 9 m/s) reached 1.8e-7.
const cartpoleTolerance = 1e-6

// TestCartpoleMatchesClassic: the MuJoCo cartpole and the pure-Go one of envs/classic start from
// the same state under the same seed and, under the same actions, stay within cartpoleTolerance
// for a whole episode (500 agent steps, 1000 control steps), with rewards equally close.
func TestCartpoleMatchesClassic(t *testing.T) {
	for _, task := range []string{"cartpole-balance", "cartpole-swingup", "cartpole-swingup-sparse"} {
		for seed := uint64(1); seed <= 8; seed++ {
			goEnv, err := envs.Make(task, envs.WithSeed(seed))
			if err != nil {
				t.Fatal(err)
			}
			mjEnv, err := envs.Make("mj-"+task, envs.WithSeed(seed))
			if err != nil {
				t.Fatal(err)
			}
			a, err := goEnv.Reset()
			if err != nil {
				t.Fatal(err)
			}
			b, err := mjEnv.Reset()
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 3))
			gp := goEnv.(*envs.Control[*classic.CartpolePhysics]).Physics()
			mp := mjEnv.(*envs.Control[*Physics]).Physics()
			worst, worstR, worstS := maxDiff(a.Obs, b.Obs), 0.0, stateDiff(gp, mp)
			u := 0.0
			for i := 0; i < 500; i++ {
				// A smooth random walk of actions (a bang-bang policy would do too).
				u = max(-1, min(1, u+0.3*rng.NormFloat64()))
				act := []float32{float32(u)}
				if a, err = goEnv.Step(act); err != nil {
					t.Fatal(err)
				}
				if b, err = mjEnv.Step(act); err != nil {
					t.Fatal(err)
				}
				worst = max(worst, maxDiff(a.Obs, b.Obs))
				worstS = max(worstS, stateDiff(gp, mp))
				worstR = max(worstR, math.Abs(a.Reward-b.Reward))
			}
			t.Logf("%s seed %d: max |Δstate| = %.3g, |Δobs| = %.3g, |Δreward| = %.3g over 500 agent steps; final x %.3f cos θ %.3f",
				task, seed, worstS, worst, worstR, b.Obs[0], b.Obs[1])
			if worstS > cartpoleTolerance || worst > cartpoleTolerance || worstR > cartpoleTolerance {
				t.Errorf("%s seed %d: MuJoCo and pure-Go cartpole differ by %.3g (state) / %.3g (obs) / %.3g (reward), tolerance %g",
					task, seed, worstS, worst, worstR, cartpoleTolerance)
			}
			goEnv.Close()
			mjEnv.Close()
		}
	}
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// stateDiff is the largest difference between the (x, θ, ẋ, θ̇) of the two physics.
func stateDiff(g *classic.CartpolePhysics, m *Physics) float64 {
	x, th, xd, thd := g.State()
	q, v := m.Qpos(), m.Qvel()
	return max(math.Abs(x-q[0]), math.Abs(th-q[1]), math.Abs(xd-v[0]), math.Abs(thd-v[1]))
}

// TestPendulumMatchesClassic: the MuJoCo pendulum (Euler with MuJoCo's implicit damping) and
// the pure-Go one of envs/classic, same seed and actions, over whole episodes.
func TestPendulumMatchesClassic(t *testing.T) {
	worst := 0.0
	for seed := uint64(1); seed <= 4; seed++ {
		goEnv, err := envs.Make("pendulum-swingup", envs.WithSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		mjEnv, err := envs.Make("mj-pendulum-swingup", envs.WithSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := goEnv.Reset(); err != nil {
			t.Fatal(err)
		}
		if _, err := mjEnv.Reset(); err != nil {
			t.Fatal(err)
		}
		gp := goEnv.(*envs.Control[*classic.PendulumPhysics]).Physics()
		mp := mjEnv.(*envs.Control[*Physics]).Physics()
		rng := rand.New(rand.NewPCG(seed, 5))
		for i := 0; i < 500; i++ {
			act := []float32{float32(2*rng.Float64() - 1)}
			a, err := goEnv.Step(act)
			if err != nil {
				t.Fatal(err)
			}
			b, err := mjEnv.Step(act)
			if err != nil {
				t.Fatal(err)
			}
			th, thd := gp.State()
			worst = max(worst, math.Abs(th-mp.Qpos()[0]), math.Abs(thd-mp.Qvel()[0]), maxDiff(a.Obs, b.Obs))
			if a.Reward != b.Reward {
				t.Fatalf("seed %d step %d: rewards %v vs %v", seed, i, a.Reward, b.Reward)
			}
		}
		goEnv.Close()
		mjEnv.Close()
	}
	t.Logf("pendulum: max |Δstate|, |Δobs| = %.3g over 4 × 500 agent steps", worst)
	if worst > cartpoleTolerance {
		t.Fatalf("MuJoCo and pure-Go pendulum differ by %.3g, tolerance %g", worst, cartpoleTolerance)
	}
}
