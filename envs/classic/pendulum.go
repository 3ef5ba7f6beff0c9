package classic

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/pompc/pompc/envs"
)

// Pendulum, after dm_control/suite/pendulum.{py,xml} (envs.md §3.2, §3.3).
//
// Model. A point mass m = 1 kg sits l = 0.5 m from a y-axis hinge on a massless rod (the rod and
// base geoms of the XML have mass 0). DMC's mass is a sphere of radius r = 0.05 m, so MuJoCo adds
// its own inertia 2/5·m·r² = 0.001 kg·m² to the point-mass m·l² = 0.25:
//
//	I = m·l² + 2/5·m·r² = 0.251 kg·m²
//
// The angle θ is 0 with the mass straight up. The hinge has damping b = 0.1 N·m·s/rad and a motor
// of gear 1, τ_u = u N·m with u ∈ [-1, 1], too weak to lift the mass directly (m·g·l ≈ 4.9 N·m),
// so it must be pumped up. Gravity is g = 9.81 m/s²; contacts are disabled. The equation of
// motion is
//
//	I·θ̈ = m·g·l·sin θ + u − b·θ̇
//
// Integrator. DMC uses MuJoCo's Euler integrator with dt = 0.02 s, which (MuJoCo 2.2) treats the
// joint damping implicitly: it solves (M + dt·B)·q̈ = f(q, q̇) with f including −B·q̇, which is
// the same as taking the damping at the new velocity,
//
//	θ̇' = θ̇ + dt·(m·g·l·sin θ + u − b·θ̇')/I   ⇒   θ̇' = (I·θ̇ + dt·(m·g·l·sin θ + u))/(I + dt·b)
//
// and then advances the position with the new velocity (semi-implicit Euler):
//
//	θ' = θ + dt·θ̇'
//
// Task. The observation is [cos θ, sin θ, θ̇] (DMC: pole zz, pole xz, angular velocity). The
// episode starts at θ ~ U[−π, π) at rest; the reward of a control step is 1 when the pole is
// within 8° of upright, cos θ >= cos 8°, else 0. Episodes last 20 s (1000 control steps).

// Physical constants of DMC's pendulum.xml.
const (
	pendulumTimestep     = 0.02 // s, Euler with implicit damping
	pendulumMass         = 1.0  // kg
	pendulumLength       = 0.5  // m, hinge to the mass
	pendulumSphereRadius = 0.05 // m, radius of the mass's sphere
	pendulumDamping      = 0.1  // N·m·s/rad
	pendulumGear         = 1.0  // N·m per unit of control
	pendulumGravity      = 9.81 // m/s²
	pendulumTimeLimit    = 20.0 // s, 1000 control steps
)

// pendulumCosineBound is cos 8°, the uprightness threshold of the reward.
var pendulumCosineBound = math.Cos(8 * math.Pi / 180)

// PendulumPhysics is the pendulum of DMC's pendulum.xml; the comment at the top of pendulum.go
// derives its update. It implements envs.Physics.
type PendulumPhysics struct {
	theta, thetadot float64 // qpos, qvel
	u               float64 // control in [-1, 1]; torque = gear·u

	damping float64 // hinge damping; zero in period tests
	inertia float64 // I = m·l² + 2/5·m·r²
}

// NewPendulumPhysics returns the pendulum upright at rest, with DMC's parameters.
func NewPendulumPhysics() *PendulumPhysics {
	return &PendulumPhysics{
		damping: pendulumDamping,
		inertia: pendulumMass*pendulumLength*pendulumLength + 0.4*pendulumMass*pendulumSphereRadius*pendulumSphereRadius,
	}
}

// Reset puts the pendulum upright (θ = 0) at rest with zero control.
func (p *PendulumPhysics) Reset() error {
	p.theta, p.thetadot, p.u = 0, 0, 0
	return nil
}

// Timestep is the Euler step, 0.02 s.
func (p *PendulumPhysics) Timestep() float64 { return pendulumTimestep }

// Close does nothing: the physics holds no resources.
func (p *PendulumPhysics) Close() error { return nil }

// State returns the angle θ (rad, 0 upright, not wrapped) and the angular velocity θ̇.
func (p *PendulumPhysics) State() (theta, thetadot float64) { return p.theta, p.thetadot }

// SetState sets the angle and the angular velocity.
func (p *PendulumPhysics) SetState(theta, thetadot float64) { p.theta, p.thetadot = theta, thetadot }

// Control returns the current control u ∈ [-1, 1] (the hinge torque is u N·m).
func (p *PendulumPhysics) Control() float64 { return p.u }

// PhysicsState returns [θ, θ̇, u] (envs.StatefulPhysics).
func (p *PendulumPhysics) PhysicsState() []float64 { return []float64{p.theta, p.thetadot, p.u} }

// SetPhysicsState restores a state returned by PhysicsState.
func (p *PendulumPhysics) SetPhysicsState(s []float64) error {
	if len(s) != 3 {
		return fmt.Errorf("pendulum: state has %d values, want 3", len(s))
	}
	p.theta, p.thetadot, p.u = s[0], s[1], s[2]
	return nil
}

// SetControl sets the control, clipped to [-1, 1] like MuJoCo's ctrlrange.
func (p *PendulumPhysics) SetControl(u float64) { p.u = max(-1, min(1, u)) }

// Inertia returns the pendulum's moment of inertia about the hinge, I = 0.251 kg·m².
func (p *PendulumPhysics) Inertia() float64 { return p.inertia }

// Step advances one semi-implicit Euler step of 0.02 s: velocity first, with gravity and motor
// taken at the current angle and damping at the new velocity, then the angle with the new
// velocity.
func (p *PendulumPhysics) Step() error {
	const h = pendulumTimestep
	tau := pendulumMass*pendulumGravity*pendulumLength*math.Sin(p.theta) + pendulumGear*p.u
	p.thetadot = (p.inertia*p.thetadot + h*tau) / (p.inertia + h*p.damping)
	p.theta += h * p.thetadot
	if !finite(p.theta, p.thetadot) {
		return fmt.Errorf("pendulum: simulation diverged: θ=%v θ̇=%v", p.theta, p.thetadot)
	}
	return nil
}

// pendulumTask is DMC's pendulum SwingUp task: start anywhere at rest, reward 1 within 8° of
// upright.
type pendulumTask struct{}

// Spec is 3 observations, 1 action, and a reward in {0, 1} per control step.
func (pendulumTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 3, ActionDim: 1, RewardMin: 0, RewardMax: 1}
}

// InitEpisode draws θ ~ U[−π, π) with θ̇ = 0.
func (pendulumTask) InitEpisode(p *PendulumPhysics, rng *rand.Rand) error {
	p.theta = uniform(rng, -math.Pi, math.Pi)
	p.thetadot = 0
	return nil
}

// BeforeStep sets the hinge motor's control.
func (pendulumTask) BeforeStep(p *PendulumPhysics, action []float64) error {
	p.SetControl(action[0])
	return nil
}

// Observe appends [cos θ, sin θ, θ̇].
func (pendulumTask) Observe(p *PendulumPhysics, dst []float32) []float32 {
	s, c := math.Sincos(p.theta)
	return append(dst, float32(c), float32(s), float32(p.thetadot))
}

// Reward is tol(cos θ, cos 8°, 1) with margin 0: 1 within 8° of upright, else 0.
func (pendulumTask) Reward(p *PendulumPhysics) float64 {
	return envs.MustTolerance(math.Cos(p.theta), pendulumCosineBound, 1, 0, envs.Gaussian, envs.DefaultValueAtMargin)
}

// Termination never ends a pendulum episode early: it only ends at the time limit.
func (pendulumTask) Termination(p *PendulumPhysics) (float64, bool) { return 1, false }

// newPendulum builds the pendulum-swingup task as an envs.Env.
func newPendulum(name string, opts envs.Options) (envs.Env, error) {
	env, err := envs.NewControl[*PendulumPhysics](NewPendulumPhysics(), pendulumTask{},
		envs.ControlConfig{Name: name, SubSteps: 1, TimeLimit: pendulumTimeLimit, ActionRepeat: defaultActionRepeat}, opts)
	if err != nil {
		return nil, err
	}
	return env, nil
}

func init() {
	envs.MustRegister("pendulum-swingup", func(o envs.Options) (envs.Env, error) {
		return newPendulum("pendulum-swingup", o)
	})
}
