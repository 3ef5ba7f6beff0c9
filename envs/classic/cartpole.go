package classic

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/pompc/pompc/envs"
)

// Cartpole, after dm_control/suite/cartpole.{py,xml} (envs.md §3.2, §3.3).
//
// Model. A cart of mass M = 1 kg slides along x on a rail, 1 m up; its slide joint is limited
// to ±1.8 m and damped (b_x = 5e-4 N·s/m). A pole hangs from a y-axis hinge at the cart's origin
// (damping b_θ = 2e-6 N·m·s/rad): a capsule of mass m = 0.1 kg and radius 0.045 m whose
// segment runs 1 m from the hinge, so its centre of mass sits l = 0.5 m from the hinge. The angle
// θ is 0 with the pole upright and grows as the tip moves towards +x. A motor pushes the cart
// with F = gear·u = 10·u N, u ∈ [-1, 1]. Gravity is g = 9.81 m/s²; contacts are disabled.
//
// Equations of motion. With q = (x, θ) the pole's centre of mass is at (x + l·sin θ, l·cos θ)
// above the hinge, so
//
//	T = ½(M+m)·ẋ² + m·l·cos θ·ẋ·θ̇ + ½·J·θ̇²,   J = I_c + m·l²   (pole inertia about the hinge)
//	V = m·g·l·cos θ
//
// and Lagrange's equations d/dt ∂T/∂q̇ − ∂T/∂q + ∂V/∂q = Q give the 2×2 system
//
//	⎡ M+m         m·l·cos θ ⎤ ⎡ẍ⎤   ⎡ F − b_x·ẋ + m·l·sin θ·θ̇² + F_lim ⎤
//	⎣ m·l·cos θ   J         ⎦ ⎣θ̈⎦ = ⎣ m·g·l·sin θ − b_θ·θ̇             ⎦
//
// solved in closed form (det = (M+m)·J − (m·l·cos θ)² > 0) at every stage of a classic RK4 step
// of dt = 0.01 s, as MuJoCo's RK4 integrator does (damping is explicit there).
//
// Pole inertia. MuJoCo computes a capsule's inertia as a cylinder (length h = 1, radius r) plus
// two hemispherical caps, splitting the mass by volume: m_s = m·4r/(4r + 3h) for the two caps,
// m_c = m − m_s for the cylinder. About the centre of mass, across the axis,
//
//	I_c = m_c·(3r² + h²)/12 + 2/5·m_s·r² + m_s·h·(3r + 2h)/8 ≈ 9.4246e-3 kg·m²
//
// (a thin rod would give m·h²/12 = 8.333e-3), so J = I_c + m·l² ≈ 3.4425e-2 kg·m².
//
// Joint limit. MuJoCo enforces the slider range with a soft unilateral constraint (solref
// timeconst 0.08 s, damping ratio 1; default solimp 0.9, 0.95, 0.001, 0.5, 2). It is active only
// beyond the limit, where its reference acceleration is a critically damped spring on the
// penetration: a_ref = −b·v − k·imp·dist, b = 2/(d_max·τ), k = 1/(d_max²·τ²·ζ²), with dist < 0 the
// signed distance into the limit, v the velocity away from it and imp ∈ [0.9, 0.95] the
// impedance, which ramps up over the first millimetre. For this single constraint row MuJoCo's
// convex solver has the closed form f = max(0, (a_ref − a₀)/(A + R)), with A = (M⁻¹)_xx the
// constraint's inverse inertia, a₀ the unconstrained acceleration along it and the regularizer
// R = (1 − imp)/imp·A₀ (A₀ = (M⁻¹)_xx at θ = 0, MuJoCo's dof_invweight0); the constraint force
// F_lim = ±f then enters the equations above at every RK4 stage. The resulting acceleration
// along the constraint is a blend ≈ imp·a_ref + (1 − imp)·a₀: a stiff, critically damped wall.
// A cart reaching it at 5.7 m/s overshoots by ≈ 0.17 m; a constant 10 N push holds it ≈ 3 mm
// past the limit. This follows MuJoCo's published constraint model (formulas checked against
// MJX's constraint code); compared step by step with MuJoCo 2.2.2 (the pure-Go state reset to
// MuJoCo's before each step), one step differs by about 1e-14 both away from the limit and at or
// beyond it, and whole episodes stay within envs/mujoco's cross-check tolerance.
//
// Tasks. The observation is [x, cos θ, sin θ, ẋ, θ̇] (DMC: cart position, pole zz, pole xz,
// qvel). Rewards and initial states are documented on cartpoleTask.

// Physical constants of DMC's cartpole.xml.
const (
	cartpoleTimestep       = 0.01  // s, RK4
	cartpoleCartMass       = 1.0   // kg, M
	cartpolePoleMass       = 0.1   // kg, m
	cartpolePoleLength     = 1.0   // m, capsule segment length h (hinge to far cap centre)
	cartpolePoleRadius     = 0.045 // m, capsule radius r
	cartpoleSliderDamping  = 5e-4  // N·s/m
	cartpoleHingeDamping   = 2e-6  // N·m·s/rad
	cartpoleGear           = 10.0  // N per unit of control
	cartpoleGravity        = 9.81  // m/s²
	cartpoleRailLimit      = 1.8   // m, slider range ±1.8
	cartpoleLimitTimeConst = 0.08  // s, solreflimit time constant
	cartpoleLimitDampRatio = 1.0   // solreflimit damping ratio
	cartpoleTimeLimit      = 10.0  // s, 1000 control steps
	mjMinVal               = 1e-15 // MuJoCo's mjMINVAL
	mjMinImp, mjMaxImp     = 1e-4, 0.9999
)

// mjDefaultSolimp is MuJoCo's default solimp: d0, dmax, width, midpoint, power.
var mjDefaultSolimp = [5]float64{0.9, 0.95, 0.001, 0.5, 2}

// capsuleInertia returns the moment of inertia about the centre of mass, across the axis, of a
// capsule of the given mass, cylinder length h and radius r, as MuJoCo computes it: the mass is
// split by volume between the cylinder (π r² h) and the two hemispherical caps (4/3 π r³); the
// cylinder contributes m_c(3r² + h²)/12, the caps 2/5 m_s r² about their own centre plus the
// parallel-axis shift of each hemisphere (centroid 3r/8 from its flat face at h/2), which sums
// to m_s h (3r + 2h)/8.
func capsuleInertia(mass, h, r float64) float64 {
	ms := mass * 4 * r / (4*r + 3*h)
	mc := mass - ms
	return mc*(3*r*r+h*h)/12 + 2*ms*r*r/5 + ms*h*(3*r+2*h)/8
}

// CartpolePhysics is the cart-pole of DMC's cartpole.xml integrated in closed form; the comment
// at the top of cartpole.go derives its equations. It implements envs.Physics.
type CartpolePhysics struct {
	x, theta, xdot, thetadot float64 // state: qpos = (x, θ), qvel = (ẋ, θ̇)
	u                        float64 // control in [-1, 1]; force = gear·u

	sliderDamping, hingeDamping float64 // zero in energy-conservation tests
	poleCoM                     float64 // l: hinge to pole centre of mass
	hingeInertia                float64 // J = I_c + m·l²
	invWeight0                  float64 // (M⁻¹)_xx at θ = 0, MuJoCo's dof_invweight0
	limitB, limitK              float64 // joint-limit reference-acceleration gains
}

// NewCartpolePhysics returns the cart-pole at rest, upright, centred, with DMC's parameters.
func NewCartpolePhysics() *CartpolePhysics {
	l := cartpolePoleLength / 2
	J := capsuleInertia(cartpolePoleMass, cartpolePoleLength, cartpolePoleRadius) + cartpolePoleMass*l*l
	m11 := cartpoleCartMass + cartpolePoleMass
	m12 := cartpolePoleMass * l
	dmax := mjDefaultSolimp[1]
	return &CartpolePhysics{
		sliderDamping: cartpoleSliderDamping,
		hingeDamping:  cartpoleHingeDamping,
		poleCoM:       l,
		hingeInertia:  J,
		invWeight0:    J / (m11*J - m12*m12),
		limitB:        2 / (dmax * cartpoleLimitTimeConst),
		limitK:        1 / (dmax * dmax * cartpoleLimitTimeConst * cartpoleLimitTimeConst * cartpoleLimitDampRatio * cartpoleLimitDampRatio),
	}
}

// Reset puts the cart at x = 0 with the pole upright, at rest, with zero control.
func (p *CartpolePhysics) Reset() error {
	p.x, p.theta, p.xdot, p.thetadot, p.u = 0, 0, 0, 0, 0
	return nil
}

// Timestep is the RK4 step, 0.01 s.
func (p *CartpolePhysics) Timestep() float64 { return cartpoleTimestep }

// Close does nothing: the physics holds no resources.
func (p *CartpolePhysics) Close() error { return nil }

// State returns the cart position x (m), pole angle θ (rad, 0 upright, not wrapped), cart
// velocity ẋ and pole angular velocity θ̇.
func (p *CartpolePhysics) State() (x, theta, xdot, thetadot float64) {
	return p.x, p.theta, p.xdot, p.thetadot
}

// SetState sets the cart position, pole angle and their velocities.
func (p *CartpolePhysics) SetState(x, theta, xdot, thetadot float64) {
	p.x, p.theta, p.xdot, p.thetadot = x, theta, xdot, thetadot
}

// Control returns the current control u ∈ [-1, 1] (the cart force is 10·u N).
func (p *CartpolePhysics) Control() float64 { return p.u }

// PhysicsState returns [x, θ, ẋ, θ̇, u] (envs.StatefulPhysics).
func (p *CartpolePhysics) PhysicsState() []float64 {
	return []float64{p.x, p.theta, p.xdot, p.thetadot, p.u}
}

// SetPhysicsState restores a state returned by PhysicsState.
func (p *CartpolePhysics) SetPhysicsState(s []float64) error {
	if len(s) != 5 {
		return fmt.Errorf("cartpole: state has %d values, want 5", len(s))
	}
	p.x, p.theta, p.xdot, p.thetadot, p.u = s[0], s[1], s[2], s[3], s[4]
	return nil
}

// SetControl sets the control, clipped to [-1, 1] like MuJoCo's ctrlrange.
func (p *CartpolePhysics) SetControl(u float64) { p.u = max(-1, min(1, u)) }

// Energy returns the mechanical energy T + V (J), with the potential energy of the pole's centre
// of mass measured from the hinge height. Without damping, control or the joint limit it is
// conserved.
func (p *CartpolePhysics) Energy() float64 {
	c := math.Cos(p.theta)
	ml := cartpolePoleMass * p.poleCoM
	T := 0.5*(cartpoleCartMass+cartpolePoleMass)*p.xdot*p.xdot + ml*c*p.xdot*p.thetadot +
		0.5*p.hingeInertia*p.thetadot*p.thetadot
	return T + ml*cartpoleGravity*c
}

// accel solves the equations of motion for (ẍ, θ̈) at the state (x, θ, ẋ, θ̇).
func (p *CartpolePhysics) accel(x, theta, xdot, thetadot float64) (xacc, thetaacc float64) {
	s, c := math.Sincos(theta)
	ml := cartpolePoleMass * p.poleCoM
	m11 := cartpoleCartMass + cartpolePoleMass
	m12 := ml * c
	m22 := p.hingeInertia
	det := m11*m22 - m12*m12
	// Generalized forces: motor, damping, the pole's centrifugal pull on the cart, gravity.
	f1 := cartpoleGear*p.u - p.sliderDamping*xdot + ml*s*thetadot*thetadot
	f2 := ml*cartpoleGravity*s - p.hingeDamping*thetadot
	xacc = (m22*f1 - m12*f2) / det
	thetaacc = (m11*f2 - m12*f1) / det

	// Joint limit: constraint row J·q̇ with J = +1 at the lower limit, −1 at the upper one, and
	// dist = J·(x − limit) < 0 when violated.
	var jac, dist float64
	switch {
	case x < -cartpoleRailLimit:
		jac, dist = 1, x+cartpoleRailLimit
	case x > cartpoleRailLimit:
		jac, dist = -1, cartpoleRailLimit-x
	default:
		return xacc, thetaacc
	}
	imp := impedance(mjDefaultSolimp, dist)
	A := m22 / det // (M⁻¹)_xx: how the constraint force accelerates the cart
	R := max(mjMinVal, (1-imp)/imp*p.invWeight0)
	aref := -p.limitB*jac*xdot - p.limitK*imp*dist
	f := (aref - jac*xacc) / (A + R)
	if f <= 0 {
		return xacc, thetaacc // a limit only pushes
	}
	// Add M⁻¹·(jac·f, 0).
	F := jac * f
	return xacc + m22*F/det, thetaacc - m12*F/det
}

// impedance is MuJoCo's constraint impedance imp(dist) ∈ (0, 1): it rises from d0 at the
// constraint surface to dmax at |dist| >= width along a two-piece power curve.
func impedance(solimp [5]float64, dist float64) float64 {
	d0, dmax, width, mid, power := solimp[0], solimp[1], solimp[2], solimp[3], solimp[4]
	if d0 == dmax || width <= mjMinVal {
		return 0.5 * (d0 + dmax)
	}
	x := math.Abs(dist) / width
	var imp float64
	switch {
	case x >= 1:
		imp = dmax
	case x <= 0:
		imp = d0
	default:
		var y float64
		if x <= mid {
			y = math.Pow(x, power) / math.Pow(mid, power-1)
		} else {
			y = 1 - math.Pow(1-x, power)/math.Pow(1-mid, power-1)
		}
		imp = d0 + y*(dmax-d0)
	}
	return max(mjMinImp, min(mjMaxImp, imp))
}

// Step advances the state by one classic 4th-order Runge-Kutta step of 0.01 s with the control
// held, evaluating accel (limit force included) at each stage, as MuJoCo's RK4 does.
func (p *CartpolePhysics) Step() error {
	const h = cartpoleTimestep
	x1, t1, v1, w1 := p.x, p.theta, p.xdot, p.thetadot
	a1, b1 := p.accel(x1, t1, v1, w1)
	x2, t2, v2, w2 := x1+h/2*v1, t1+h/2*w1, v1+h/2*a1, w1+h/2*b1
	a2, b2 := p.accel(x2, t2, v2, w2)
	x3, t3, v3, w3 := x1+h/2*v2, t1+h/2*w2, v1+h/2*a2, w1+h/2*b2
	a3, b3 := p.accel(x3, t3, v3, w3)
	x4, t4, v4, w4 := x1+h*v3, t1+h*w3, v1+h*a3, w1+h*b3
	a4, b4 := p.accel(x4, t4, v4, w4)
	p.x += h / 6 * (v1 + 2*v2 + 2*v3 + v4)
	p.theta += h / 6 * (w1 + 2*w2 + 2*w3 + w4)
	p.xdot += h / 6 * (a1 + 2*a2 + 2*a3 + a4)
	p.thetadot += h / 6 * (b1 + 2*b2 + 2*b3 + b4)
	if !finite(p.x, p.theta, p.xdot, p.thetadot) {
		return fmt.Errorf("cartpole: simulation diverged: x=%v θ=%v ẋ=%v θ̇=%v", p.x, p.theta, p.xdot, p.thetadot)
	}
	return nil
}

// finite reports whether every value is neither NaN nor infinite.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// cartpoleTask is DMC's cartpole Balance task, in its four variants.
//
// Initial state: swing-up starts hanging, x = 0.01·N(0,1), θ = π + 0.01·N(0,1); balance starts
// near upright, x ~ U(−0.1, 0.1), θ ~ U(−0.034, 0.034). Both draw (ẋ, θ̇) = 0.01·N(0,1) each.
//
// Smooth reward, per control step, each factor in [0, 1] and all equal to 1 upright, centred,
// still and without control:
//
//	upright        = (cos θ + 1)/2
//	centered       = (1 + tol(x, 0, 0, margin 2, gaussian))/2
//	small_control  = (4 + tol(u, 0, 0, margin 1, quadratic, v=0))/5 = (4 + 1 − u²)/5
//	small_velocity = (1 + tol(θ̇, 0, 0, margin 5, gaussian))/2
//	reward         = upright · centered · small_control · small_velocity
//
// Sparse reward: tol(x, −0.25, 0.25) · tol(cos θ, 0.995, 1), both hard indicators (margin 0).
// The task never terminates early.
type cartpoleTask struct {
	swingUp, sparse bool
}

// Spec is 5 observations, 1 action, and a reward in [0, 1] per control step.
func (t *cartpoleTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 5, ActionDim: 1, RewardMin: 0, RewardMax: 1}
}

// InitEpisode draws the initial state (see cartpoleTask).
func (t *cartpoleTask) InitEpisode(p *CartpolePhysics, rng *rand.Rand) error {
	if t.swingUp {
		p.x = 0.01 * rng.NormFloat64()
		p.theta = math.Pi + 0.01*rng.NormFloat64()
	} else {
		p.x = uniform(rng, -0.1, 0.1)
		p.theta = uniform(rng, -0.034, 0.034)
	}
	p.xdot = 0.01 * rng.NormFloat64()
	p.thetadot = 0.01 * rng.NormFloat64()
	return nil
}

// BeforeStep sets the cart motor's control.
func (t *cartpoleTask) BeforeStep(p *CartpolePhysics, action []float64) error {
	p.SetControl(action[0])
	return nil
}

// Observe appends [x, cos θ, sin θ, ẋ, θ̇].
func (t *cartpoleTask) Observe(p *CartpolePhysics, dst []float32) []float32 {
	s, c := math.Sincos(p.theta)
	return append(dst, float32(p.x), float32(c), float32(s), float32(p.xdot), float32(p.thetadot))
}

// Reward is the smooth or sparse reward of cartpoleTask.
func (t *cartpoleTask) Reward(p *CartpolePhysics) float64 {
	cos := math.Cos(p.theta)
	if t.sparse {
		cartInBounds := envs.MustTolerance(p.x, -0.25, 0.25, 0, envs.Gaussian, envs.DefaultValueAtMargin)
		angleInBounds := envs.MustTolerance(cos, 0.995, 1, 0, envs.Gaussian, envs.DefaultValueAtMargin)
		return cartInBounds * angleInBounds
	}
	upright := (cos + 1) / 2
	centered := (1 + envs.MustTolerance(p.x, 0, 0, 2, envs.Gaussian, envs.DefaultValueAtMargin)) / 2
	smallControl := (4 + envs.MustTolerance(p.u, 0, 0, 1, envs.Quadratic, 0)) / 5
	smallVelocity := (1 + envs.MustTolerance(p.thetadot, 0, 0, 5, envs.Gaussian, envs.DefaultValueAtMargin)) / 2
	return upright * smallControl * smallVelocity * centered
}

// Termination never ends a cartpole episode early: it only ends at the time limit.
func (t *cartpoleTask) Termination(p *CartpolePhysics) (float64, bool) { return 1, false }

// newCartpole builds one cartpole task as an envs.Env.
func newCartpole(name string, swingUp, sparse bool, opts envs.Options) (envs.Env, error) {
	env, err := envs.NewControl[*CartpolePhysics](NewCartpolePhysics(), &cartpoleTask{swingUp: swingUp, sparse: sparse},
		envs.ControlConfig{Name: name, SubSteps: 1, TimeLimit: cartpoleTimeLimit, ActionRepeat: defaultActionRepeat}, opts)
	if err != nil {
		return nil, err // not env: a nil *Control in an Env interface would not be nil
	}
	return env, nil
}

// uniform draws from U[lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// defaultActionRepeat is TD-MPC2's action repeat for DMC tasks.
const defaultActionRepeat = 2

func init() {
	for _, t := range []struct {
		name            string
		swingUp, sparse bool
	}{
		{"cartpole-balance", false, false},
		{"cartpole-balance-sparse", false, true},
		{"cartpole-swingup", true, false},
		{"cartpole-swingup-sparse", true, true},
	} {
		envs.MustRegister(t.name, func(o envs.Options) (envs.Env, error) {
			return newCartpole(t.name, t.swingUp, t.sparse, o)
		})
	}
	envs.MustRegisterAlias("cartpole-balance_sparse", "cartpole-balance-sparse")
	envs.MustRegisterAlias("cartpole-swingup_sparse", "cartpole-swingup-sparse")
}
