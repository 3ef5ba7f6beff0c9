//go:build mujoco

package mujoco

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"

	"github.com/pompc/pompc/envs"
)

// This file holds the task definitions of envs.md §3 (observations, rewards, initial states) over
// the models of models.go and Debian's humanoid. Every reward is per control step and in [0, 1];
// no task terminates early (TD-MPC2 never does), so episodes run to their time limit: 500 agent
// steps at action repeat 2.

// tol is dm_control's rewards.tolerance with constant arguments.
func tol(x, lo, hi, margin float64, s envs.Sigmoid, v float64) float64 {
	return envs.MustTolerance(x, lo, hi, margin, s, v)
}

// gauss is tolerance with the default gaussian sigmoid and value 0.1 at the margin.
func gauss(x, lo, hi, margin float64) float64 {
	return tol(x, lo, hi, margin, envs.Gaussian, envs.DefaultValueAtMargin)
}

// smallControl is (4 + mean_i tol(u_i, 0, 0, 1, quadratic, 0))/5 = (4 + mean(1 − u_i²))/5: a
// factor in [0.8, 1] rewarding small controls.
func smallControl(ctrl []float64) float64 {
	s := 0.0
	for _, u := range ctrl {
		s += tol(u, 0, 0, 1, envs.Quadratic, 0)
	}
	return (4 + s/float64(len(ctrl))) / 5
}

// uniform draws from U[lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// randomizeJoints is dm_control's randomize_limited_and_rotational_joints: limited hinges and
// slides uniform in their range, unlimited hinges uniform in [−π, π), unlimited balls a random
// unit quaternion, free joints a random orientation (rand(4) normalized, as dm_control keeps
// for benchmark compatibility) at their current position. Unlimited slides are left alone.
func randomizeJoints(p *Physics, rng *rand.Rand) {
	mo := p.model
	qpos := p.Qpos()
	types, adrs, limited, rng2 := mo.jntType(), mo.jntQposAdr(), mo.jntLimited(), mo.jntRange()
	for j := range types {
		a := int(adrs[j])
		lo, hi := rng2[2*j], rng2[2*j+1]
		switch types[j] {
		case jntHinge, jntSlide:
			if limited[j] != 0 {
				qpos[a] = uniform(rng, lo, hi)
			} else if types[j] == jntHinge {
				qpos[a] = uniform(rng, -math.Pi, math.Pi)
			}
		case jntBall:
			randomQuat(qpos[a:a+4], rng.NormFloat64)
		case jntFree:
			randomQuat(qpos[a+3:a+7], rng.Float64)
		}
	}
}

// randomQuat fills q with a normalized quaternion of components drawn from draw.
func randomQuat(q []float64, draw func() float64) {
	n := 0.0
	for i := range q {
		q[i] = draw()
		n += q[i] * q[i]
	}
	n = math.Sqrt(n)
	if n == 0 {
		q[0], q[1], q[2], q[3] = 1, 0, 0, 0
		return
	}
	for i := range q {
		q[i] /= n
	}
}

// ids resolves named objects of a model, remembering the first error.
type ids struct {
	mo  *Model
	err error
}

func (r *ids) get(typ int, kind, name string) int {
	if r.err != nil {
		return 0
	}
	id, err := r.mo.id(typ, kind, name)
	if err != nil {
		r.err = err
		return 0
	}
	return id
}
func (r *ids) body(n string) int   { return r.get(objBody, "body", n) }
func (r *ids) geom(n string) int   { return r.get(objGeom, "geom", n) }
func (r *ids) site(n string) int   { return r.get(objSite, "site", n) }
func (r *ids) sensor(n string) int { return r.get(objSensor, "sensor", n) }

// qposAdr is the qpos address of a named joint.
func (r *ids) qposAdr(n string) int {
	j := r.get(objJoint, "joint", n)
	if r.err != nil {
		return 0
	}
	return int(r.mo.jntQposAdr()[j])
}

// dofAdr is the qvel address of a named joint.
func (r *ids) dofAdr(n string) int {
	j := r.get(objJoint, "joint", n)
	if r.err != nil {
		return 0
	}
	return int(r.mo.jntDofAdr()[j])
}

// setCtrl writes the action into the controls (every actuator here has ctrlrange [−1, 1], the
// agent's action range, so no scaling is needed).
func setCtrl(p *Physics, action []float64) error {
	copy(p.Ctrl(), action)
	return nil
}

// appendF64 appends values as float32.
func appendF64(dst []float32, xs ...float64) []float32 {
	for _, x := range xs {
		dst = append(dst, float32(x))
	}
	return dst
}

// ---------------------------------------------------------------------------------------------
// Cartpole (RK4, dt 0.01, 1 substep, 10 s).

type cartpoleTask struct {
	swingUp, sparse     bool
	slider, hinge, pole int // qpos addresses (= dof addresses) and the pole body
	sliderDof, hingeDof int
}

func newCartpoleTask(swingUp, sparse bool) func(p *Physics) (envs.Task[*Physics], error) {
	return func(p *Physics) (envs.Task[*Physics], error) {
		r := &ids{mo: p.model}
		t := &cartpoleTask{swingUp: swingUp, sparse: sparse, slider: r.qposAdr("slider"), hinge: r.qposAdr("hinge"),
			sliderDof: r.dofAdr("slider"), hingeDof: r.dofAdr("hinge"), pole: r.body("pole")}
		return t, r.err
	}
}

// Spec: obs [x, pole zz, pole xz, ẋ, θ̇], 1 action, reward in [0, 1].
func (t *cartpoleTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 5, ActionDim: 1, RewardMin: 0, RewardMax: 1}
}

// InitEpisode draws the initial state in the same order as envs/classic, so that the same seed
// gives the same start state on both physics: swing-up x = 0.01·N, θ = π + 0.01·N; balance
// x ~ U(±0.1), θ ~ U(±0.034); then ẋ, θ̇ = 0.01·N each.
func (t *cartpoleTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	q, v := p.Qpos(), p.Qvel()
	if t.swingUp {
		q[t.slider] = 0.01 * rng.NormFloat64()
		q[t.hinge] = math.Pi + 0.01*rng.NormFloat64()
	} else {
		q[t.slider] = uniform(rng, -0.1, 0.1)
		q[t.hinge] = uniform(rng, -0.034, 0.034)
	}
	v[t.sliderDof] = 0.01 * rng.NormFloat64()
	v[t.hingeDof] = 0.01 * rng.NormFloat64()
	return nil
}

// BeforeStep writes the action into the controls.
func (t *cartpoleTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *cartpoleTask) Observe(p *Physics, dst []float32) []float32 {
	R := p.xmat(t.pole)
	v := p.Qvel()
	return appendF64(dst, p.Qpos()[t.slider], R[8], R[2], v[t.sliderDof], v[t.hingeDof])
}

// Reward is DMC's smooth reward upright·centered·small_control·small_velocity or the sparse
// tol(x, ±0.25)·tol(zz, 0.995..1).
func (t *cartpoleTask) Reward(p *Physics) float64 {
	cos := p.xmat(t.pole)[8]
	x := p.Qpos()[t.slider]
	if t.sparse {
		return tol(x, -0.25, 0.25, 0, envs.Gaussian, 0.1) * tol(cos, 0.995, 1, 0, envs.Gaussian, 0.1)
	}
	upright := (cos + 1) / 2
	centered := (1 + gauss(x, 0, 0, 2)) / 2
	small := (4 + tol(p.Ctrl()[0], 0, 0, 1, envs.Quadratic, 0)) / 5
	smallVel := (1 + gauss(p.Qvel()[t.hingeDof], 0, 0, 5)) / 2
	return upright * small * smallVel * centered
}

// Termination never ends the episode early.
func (t *cartpoleTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Pendulum swing-up (dt 0.02, 1 substep, 20 s).

type pendulumTask struct{ hinge, dof, pole int }

func newPendulumTask(p *Physics) (envs.Task[*Physics], error) {
	r := &ids{mo: p.model}
	t := &pendulumTask{hinge: r.qposAdr("hinge"), dof: r.dofAdr("hinge"), pole: r.body("pole")}
	return t, r.err
}

// Spec: obs [zz, xz, ω], 1 action, sparse reward.
func (t *pendulumTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 3, ActionDim: 1, RewardMin: 0, RewardMax: 1}
}

// InitEpisode: hinge angle ~ U[−π, π), at rest.
func (t *pendulumTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	p.Qpos()[t.hinge] = uniform(rng, -math.Pi, math.Pi)
	return nil
}

// BeforeStep writes the action into the controls.
func (t *pendulumTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *pendulumTask) Observe(p *Physics, dst []float32) []float32 {
	R := p.xmat(t.pole)
	return appendF64(dst, R[8], R[2], p.Qvel()[t.dof])
}

// Reward is 1 while the pole is within 8° of upright (zz ≥ cos 8°).
func (t *pendulumTask) Reward(p *Physics) float64 {
	return tol(p.xmat(t.pole)[8], math.Cos(8*math.Pi/180), 1, 0, envs.Gaussian, 0.1)
}

// Termination never ends the episode early.
func (t *pendulumTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Acrobot swing-up (RK4, dt 0.01, 1 substep, 10 s).

type acrobotTask struct {
	sparse                    bool
	shoulder, elbow           int
	upper, lower, tip, target int
}

func newAcrobotTask(sparse bool) func(p *Physics) (envs.Task[*Physics], error) {
	return func(p *Physics) (envs.Task[*Physics], error) {
		r := &ids{mo: p.model}
		t := &acrobotTask{sparse: sparse, shoulder: r.qposAdr("shoulder"), elbow: r.qposAdr("elbow"),
			upper: r.body("upper_arm"), lower: r.body("lower_arm"), tip: r.site("tip"), target: r.site("target")}
		return t, r.err
	}
}

// Spec: obs [upper xz, lower xz, upper zz, lower zz, qvel(2)], 1 action (the elbow).
func (t *acrobotTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 6, ActionDim: 1, RewardMin: 0, RewardMax: 1}
}

// InitEpisode: both angles ~ U[−π, π), at rest.
func (t *acrobotTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	q := p.Qpos()
	q[t.shoulder] = uniform(rng, -math.Pi, math.Pi)
	q[t.elbow] = uniform(rng, -math.Pi, math.Pi)
	return nil
}

// BeforeStep writes the action into the controls.
func (t *acrobotTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *acrobotTask) Observe(p *Physics, dst []float32) []float32 {
	U, L := p.xmat(t.upper), p.xmat(t.lower)
	v := p.Qvel()
	return appendF64(dst, U[2], L[2], U[8], L[8], v[0], v[1])
}

// Reward is tol(|tip − target|, 0, 0.2, margin 1) (margin 0 for the sparse variant).
func (t *acrobotTask) Reward(p *Physics) float64 {
	a, b := p.siteXpos(t.tip), p.siteXpos(t.target)
	d := math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
	margin := 1.0
	if t.sparse {
		margin = 0
	}
	return gauss(d, 0, 0.2, margin)
}

// Termination never ends the episode early.
func (t *acrobotTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Reacher easy / hard (dt 0.02, 1 substep, 20 s). The target lives in the model (geom_pos,
// geom_size of geom "target"), so each env works on its own model copy, and those two model
// arrays are part of its snapshot state.

type reacherTask struct {
	targetSize        float64
	target, finger    int
	shoulder, wrist   int
	targetPos, tgSize []float64 // views of the env's own model
}

func newReacherTask(targetSize float64) func(p *Physics) (envs.Task[*Physics], error) {
	return func(p *Physics) (envs.Task[*Physics], error) {
		r := &ids{mo: p.model}
		t := &reacherTask{targetSize: targetSize, target: r.geom("target"), finger: r.geom("finger"),
			shoulder: r.qposAdr("shoulder"), wrist: r.qposAdr("wrist")}
		if r.err != nil {
			return nil, r.err
		}
		t.targetPos = p.model.geomPos()[3*t.target : 3*t.target+3]
		t.tgSize = p.model.geomSize()[3*t.target : 3*t.target+3]
		p.mutable = [][]float64{t.targetPos, t.tgSize}
		return t, nil
	}
}

// Spec: obs [qpos(2), (target − finger).xy, qvel(2)], 2 actions, sparse reward.
func (t *reacherTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 6, ActionDim: 2, RewardMin: 0, RewardMax: 1}
}

// InitEpisode sets the target radius, randomizes the arm (shoulder U[−π, π), wrist uniform in
// ±160°) and puts the target at (r·sin θ, r·cos θ), r ~ U[0.05, 0.20), θ ~ U[0, 2π).
func (t *reacherTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	t.tgSize[0] = t.targetSize
	randomizeJoints(p, rng)
	angle := uniform(rng, 0, 2*math.Pi)
	radius := uniform(rng, 0.05, 0.20)
	t.targetPos[0] = radius * math.Sin(angle)
	t.targetPos[1] = radius * math.Cos(angle)
	return nil
}

// BeforeStep writes the action into the controls.
func (t *reacherTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

func (t *reacherTask) toTarget(p *Physics) (dx, dy float64) {
	a, b := p.geomXpos(t.target), p.geomXpos(t.finger)
	return a[0] - b[0], a[1] - b[1]
}

// Observe appends the observation described by Spec.
func (t *reacherTask) Observe(p *Physics, dst []float32) []float32 {
	q, v := p.Qpos(), p.Qvel()
	dx, dy := t.toTarget(p)
	return appendF64(dst, q[0], q[1], dx, dy, v[0], v[1])
}

// Reward is 1 while the finger touches the target: |target − finger|_xy ≤ r_target + r_finger.
func (t *reacherTask) Reward(p *Physics) float64 {
	dx, dy := t.toTarget(p)
	radii := t.tgSize[0] + p.model.geomSize()[3*t.finger]
	return tol(math.Hypot(dx, dy), 0, radii, 0, envs.Gaussian, 0.1)
}

// Termination never ends the episode early.
func (t *reacherTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Finger spin (dt 0.01, 2 substeps, 20 s).

type fingerTask struct {
	proximal, distal, hingeDof int
	tip, spinner               int
	touchTop, touchBottom      int
}

func newFingerTask(p *Physics) (envs.Task[*Physics], error) {
	r := &ids{mo: p.model}
	t := &fingerTask{proximal: r.qposAdr("proximal"), distal: r.qposAdr("distal"), hingeDof: r.dofAdr("hinge"),
		tip: r.site("spinner_tip"), spinner: r.body("spinner"), touchTop: r.sensor("touchtop"), touchBottom: r.sensor("touchbottom")}
	return t, r.err
}

// Spec: obs [proximal, distal, (tip − spinner).x, (tip − spinner).z, qvel(3), log1p(touch)(2)].
func (t *fingerTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 9, ActionDim: 2, RewardMin: 0, RewardMax: 1}
}

// InitEpisode randomizes the joints until the finger and the spinner do not touch (dm_control's
// _set_random_joint_angles, at most 1000 attempts).
func (t *fingerTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	return randomizeUntilFree(p, rng, "finger: no contact-free initial state")
}

// BeforeStep writes the action into the controls.
func (t *fingerTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *fingerTask) Observe(p *Physics, dst []float32) []float32 {
	q, v := p.Qpos(), p.Qvel()
	tip, sp := p.siteXpos(t.tip), p.xpos(t.spinner)
	dst = appendF64(dst, q[t.proximal], q[t.distal], tip[0]-sp[0], tip[2]-sp[2], v[0], v[1], v[2])
	return appendF64(dst, math.Log1p(p.sensor(t.touchTop)[0]), math.Log1p(p.sensor(t.touchBottom)[0]))
}

// Reward is 1 while the spinner turns at ≤ −15 rad/s.
func (t *fingerTask) Reward(p *Physics) float64 {
	if p.Qvel()[t.hingeDof] <= -15 {
		return 1
	}
	return 0
}

// Termination never ends the episode early.
func (t *fingerTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Cheetah run (dt 0.01, 1 substep, 10 s).

type cheetahTask struct{ torso int }

func newCheetahTask(p *Physics) (envs.Task[*Physics], error) {
	r := &ids{mo: p.model}
	t := &cheetahTask{torso: r.body("torso")}
	p.subtreeVel = true
	return t, r.err
}

// Spec: obs qpos[1:] (8) + qvel (9), 6 actions.
func (t *cheetahTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 17, ActionDim: 6, RewardMin: 0, RewardMax: 1}
}

// InitEpisode draws the limited joints uniformly, lets the model settle for 200 physics steps at
// zero control and resets the clock.
func (t *cheetahTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	q := p.Qpos()
	types, adrs, limited, rg := p.model.jntType(), p.model.jntQposAdr(), p.model.jntLimited(), p.model.jntRange()
	for j := range types {
		if limited[j] != 0 {
			q[adrs[j]] = uniform(rng, rg[2*j], rg[2*j+1])
		}
	}
	if err := p.settle(200); err != nil {
		return err
	}
	p.setTime(0)
	return nil
}

// BeforeStep writes the action into the controls.
func (t *cheetahTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *cheetahTask) Observe(p *Physics, dst []float32) []float32 {
	return appendF64(appendF64(dst, p.Qpos()[1:]...), p.Qvel()...)
}

// Reward is lin(vx, 10, ∞, 10, 0) = clip(vx/10, 0, 1), vx the torso subtree's forward velocity.
func (t *cheetahTask) Reward(p *Physics) float64 {
	return tol(p.subtreeLinvel(t.torso)[0], 10, math.Inf(1), 10, envs.Linear, 0)
}

// Termination never ends the episode early.
func (t *cheetahTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Walker stand / walk / run (dt 0.0025, 10 substeps, 25 s).

type walkerTask struct {
	speed float64 // 0: stand
	torso int
}

func newWalkerTask(speed float64) func(p *Physics) (envs.Task[*Physics], error) {
	return func(p *Physics) (envs.Task[*Physics], error) {
		r := &ids{mo: p.model}
		t := &walkerTask{speed: speed, torso: r.body("torso")}
		p.subtreeVel = true
		return t, r.err
	}
}

// Spec: obs (xx, xz) of the 7 bodies (14) + torso height + qvel (9), 6 actions.
func (t *walkerTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 24, ActionDim: 6, RewardMin: 0, RewardMax: 1}
}

// InitEpisode: limited hinges uniform, the root pitch uniform in [−π, π); no collision check.
func (t *walkerTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	randomizeJoints(p, rng)
	return nil
}

// BeforeStep writes the action into the controls.
func (t *walkerTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *walkerTask) Observe(p *Physics, dst []float32) []float32 {
	for b := 1; b < p.model.nbody(); b++ {
		R := p.xmat(b)
		dst = appendF64(dst, R[0], R[2])
	}
	dst = appendF64(dst, p.xpos(t.torso)[2])
	return appendF64(dst, p.Qvel()...)
}

// Reward: stand = (3·gauss(torso z, 1.2, ∞, 0.6) + (1 + torso zz)/2)/4; walk and run multiply
// by (5·lin(vx, s, ∞, s/2, 0.5) + 1)/6.
func (t *walkerTask) Reward(p *Physics) float64 {
	standing := gauss(p.xpos(t.torso)[2], 1.2, math.Inf(1), 0.6)
	upright := (1 + p.xmat(t.torso)[8]) / 2
	stand := (3*standing + upright) / 4
	if t.speed == 0 {
		return stand
	}
	move := tol(p.subtreeLinvel(t.torso)[0], t.speed, math.Inf(1), t.speed/2, envs.Linear, 0.5)
	return stand * (5*move + 1) / 6
}

// Termination never ends the episode early.
func (t *walkerTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Hopper stand / hop (dt 0.005, 4 substeps, 20 s).

type hopperTask struct {
	hop         bool
	torso, foot int
	toe, heel   int
}

func newHopperTask(hop bool) func(p *Physics) (envs.Task[*Physics], error) {
	return func(p *Physics) (envs.Task[*Physics], error) {
		r := &ids{mo: p.model}
		t := &hopperTask{hop: hop, torso: r.body("torso"), foot: r.body("foot"), toe: r.sensor("touch_toe"), heel: r.sensor("touch_heel")}
		p.subtreeVel = true
		return t, r.err
	}
}

// Spec: obs qpos[1:] (6) + qvel (7) + log1p(toe, heel touch) (2), 4 actions.
func (t *hopperTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 15, ActionDim: 4, RewardMin: 0, RewardMax: 1}
}

// InitEpisode: as walker.
func (t *hopperTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	randomizeJoints(p, rng)
	return nil
}

// BeforeStep writes the action into the controls.
func (t *hopperTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *hopperTask) Observe(p *Physics, dst []float32) []float32 {
	dst = appendF64(appendF64(dst, p.Qpos()[1:]...), p.Qvel()...)
	return appendF64(dst, math.Log1p(p.sensor(t.toe)[0]), math.Log1p(p.sensor(t.heel)[0]))
}

// Reward: standing = [0.6 ≤ torso CoM z − foot CoM z ≤ 2]; hop: standing·lin(vx, 2, ∞, 1, 0.5);
// stand: standing·small_control.
func (t *hopperTask) Reward(p *Physics) float64 {
	h := p.xipos(t.torso)[2] - p.xipos(t.foot)[2]
	standing := tol(h, 0.6, 2, 0, envs.Gaussian, 0.1)
	if t.hop {
		return standing * tol(p.subtreeLinvel(t.torso)[0], 2, math.Inf(1), 1, envs.Linear, 0.5)
	}
	return standing * smallControl(p.Ctrl())
}

// Termination never ends the episode early.
func (t *hopperTask) Termination(*Physics) (float64, bool) { return 1, false }

// ---------------------------------------------------------------------------------------------
// Humanoid stand / walk / run (Debian's model patched to DMC's, dt 0.005, 5 substeps, 25 s).

// HumanoidPath is where Debian's libmujoco-samples installs the humanoid model.
var HumanoidPath = "/usr/share/mujoco/model/humanoid/humanoid.xml"

type humanoidTask struct {
	speed       float64
	torso, head int
	extremities [4]int // left_hand, left_foot, right_hand, right_foot
}

func newHumanoidTask(speed float64) func(p *Physics) (envs.Task[*Physics], error) {
	return func(p *Physics) (envs.Task[*Physics], error) {
		r := &ids{mo: p.model}
		t := &humanoidTask{speed: speed, torso: r.body("torso"), head: r.body("head")}
		for i, n := range []string{"left_hand", "left_foot", "right_hand", "right_foot"} {
			t.extremities[i] = r.body(n)
		}
		p.subtreeVel = true
		return t, r.err
	}
}

// Spec: obs joint angles (21), head height, extremities in the torso frame (12), torso z axis
// (3), CoM velocity (3), qvel (27) = 67; 21 actions.
func (t *humanoidTask) Spec() envs.TaskSpec {
	return envs.TaskSpec{ObsDim: 67, ActionDim: 21, RewardMin: 0, RewardMax: 1}
}

// InitEpisode randomizes the joints (root orientation included, root position kept) until no
// geom penetrates another.
func (t *humanoidTask) InitEpisode(p *Physics, rng *rand.Rand) error {
	return randomizeUntilFree(p, rng, "humanoid: no penetration-free initial state")
}

// BeforeStep writes the action into the controls.
func (t *humanoidTask) BeforeStep(p *Physics, a []float64) error { return setCtrl(p, a) }

// Observe appends the observation described by Spec.
func (t *humanoidTask) Observe(p *Physics, dst []float32) []float32 {
	dst = appendF64(dst, p.Qpos()[7:]...)
	dst = appendF64(dst, p.xpos(t.head)[2])
	tp, R := p.xpos(t.torso), p.xmat(t.torso)
	for _, b := range t.extremities {
		x := p.xpos(b)
		d0, d1, d2 := x[0]-tp[0], x[1]-tp[1], x[2]-tp[2]
		// (x − torso)ᵀ·R: the offset in the torso's frame.
		dst = appendF64(dst, d0*R[0]+d1*R[3]+d2*R[6], d0*R[1]+d1*R[4]+d2*R[7], d0*R[2]+d1*R[5]+d2*R[8])
	}
	dst = appendF64(dst, R[6], R[7], R[8])
	dst = appendF64(dst, p.subtreeLinvel(t.torso)...)
	return appendF64(dst, p.Qvel()...)
}

// Reward: small_control·standing·upright·move, with standing = gauss(head z, 1.4, ∞, 0.35),
// upright = lin(torso zz, 0.9, ∞, 1.9, 0), and move = mean(gauss(vx, 0, 0, 2), gauss(vy, 0, 0,
// 2)) for stand, (5·lin(|v_xy|, s, ∞, s, 0) + 1)/6 for walk (s = 1) and run (s = 10).
func (t *humanoidTask) Reward(p *Physics) float64 {
	standing := gauss(p.xpos(t.head)[2], 1.4, math.Inf(1), 0.35)
	upright := tol(p.xmat(t.torso)[8], 0.9, math.Inf(1), 1.9, envs.Linear, 0)
	sc := smallControl(p.Ctrl())
	v := p.subtreeLinvel(t.torso)
	var move float64
	if t.speed == 0 {
		move = (gauss(v[0], 0, 0, 2) + gauss(v[1], 0, 0, 2)) / 2
	} else {
		move = (5*tol(math.Hypot(v[0], v[1]), t.speed, math.Inf(1), t.speed, envs.Linear, 0) + 1) / 6
	}
	return sc * standing * upright * move
}

// Termination never ends the episode early.
func (t *humanoidTask) Termination(*Physics) (float64, bool) { return 1, false }

// loadHumanoid loads Debian's humanoid and applies the three patches that make it dm_control's
// (envs.md §2): left_hip_y range −120..20°, lower_waist and pelvis frames pitched by
// quat (1, 0, −0.002, 0) normalized, and identity hand-sphere frames; then mj_setConst.
func loadHumanoid() (*Model, error) {
	if _, err := os.Stat(HumanoidPath); err != nil {
		return nil, fmt.Errorf("mujoco: the humanoid tasks load Debian's %s, which is missing (%v): install libmujoco-samples (bash docker/install.sh)", HumanoidPath, err)
	}
	mo, err := LoadFile(HumanoidPath)
	if err != nil {
		return nil, err
	}
	r := &ids{mo: mo}
	hip := r.get(objJoint, "joint", "left_hip_y")
	waist, pelvis := r.body("lower_waist"), r.body("pelvis")
	lh, rh := r.geom("left_hand"), r.geom("right_hand")
	lhb, rhb := r.body("left_hand"), r.body("right_hand")
	if r.err != nil {
		mo.Free()
		return nil, fmt.Errorf("mujoco: %s is not the expected humanoid: %w", HumanoidPath, r.err)
	}
	// MuJoCo's compiler converts degrees as value·(π/180) at run time; Go's constant arithmetic
	// would round −120π/180 once, one ulp away from DMC's compiled limit.
	deg := math.Pi / 180
	mo.jntRange()[2*hip] = -120 * deg
	n := math.Hypot(1, 0.002)
	for _, b := range []int{waist, pelvis} {
		copy(mo.bodyQuat()[4*b:4*b+4], []float64{1 / n, 0, -0.002 / n, 0})
	}
	// The hand spheres: Debian's zaxis rotated their geom frame and, through it, the hand
	// bodies' inertial frame (body_iquat), and MuJoCo then places the geoms at the inertial frame
	// (geom_sameframe 2), so the geom quat alone does nothing. DMC's hands have identity frames,
	// the inertial frame is the body frame (body_sameframe 1, geom_sameframe 1).
	for i, g := range []int{lh, rh} {
		b := []int{lhb, rhb}[i]
		copy(mo.geomQuat()[4*g:4*g+4], []float64{1, 0, 0, 0})
		copy(mo.bodyIquat()[4*b:4*b+4], []float64{1, 0, 0, 0})
		mo.bodySameframe()[b], mo.geomSameframe()[g] = 1, 1
	}
	if err := mo.setConst(); err != nil {
		mo.Free()
		return nil, err
	}
	return mo, nil
}

// ---------------------------------------------------------------------------------------------
// Shared models: compiled once per process (successful loads are cached; a failure is retried
// on the next Make), shared read-only by every env of the domain.

var (
	modelMu    sync.Mutex
	modelCache = map[string]*Model{}
)

// modelSources compiles each domain's model.
var modelSources = map[string]func() (*Model, error){
	"cartpole": func() (*Model, error) { return LoadXML("cartpole.xml", cartpoleXML) },
	"pendulum": func() (*Model, error) { return LoadXML("pendulum.xml", pendulumXML) },
	"acrobot":  func() (*Model, error) { return LoadXML("acrobot.xml", acrobotXML) },
	"reacher":  func() (*Model, error) { return LoadXML("reacher.xml", reacherXML) },
	"finger":   func() (*Model, error) { return LoadXML("finger.xml", fingerXML) },
	"cheetah":  func() (*Model, error) { return LoadXML("cheetah.xml", cheetahXML) },
	"walker":   func() (*Model, error) { return LoadXML("walker.xml", walkerXML) },
	"hopper":   func() (*Model, error) { return LoadXML("hopper.xml", hopperXML) },
	"humanoid": loadHumanoid,
}

// sharedModel returns the compiled model of a domain.
func sharedModel(domain string) (*Model, error) {
	modelMu.Lock()
	defer modelMu.Unlock()
	if m, ok := modelCache[domain]; ok {
		return m, nil
	}
	src, ok := modelSources[domain]
	if !ok {
		return nil, fmt.Errorf("mujoco: no model for domain %q", domain)
	}
	m, err := src()
	if err != nil {
		return nil, err
	}
	modelCache[domain] = m
	return m, nil
}

// randomizeUntilFree draws random joint angles (randomizeJoints) until the state has no contact,
// at most 1000 times (dm_control's _set_random_joint_angles with its penetration check); after
// that it fails with the message what.
func randomizeUntilFree(p *Physics, rng *rand.Rand, what string) error {
	for range 1000 {
		randomizeJoints(p, rng)
		if err := p.Forward(); err != nil {
			return err
		}
		if p.ncon() == 0 {
			return nil
		}
	}
	return fmt.Errorf("%s in 1000 attempts", what)
}
