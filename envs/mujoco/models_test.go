//go:build mujoco

package mujoco

import (
	"math"
	"testing"

	"github.com/pompc/pompc/envs"
)

// dmcModel holds facts of a DeepMind Control Suite model as MuJoCo compiles dm_control's own
// XML (body masses in kg; the friction a body geom gets against the floor, which is the larger
// of the two geoms' sliding frictions; whether body geoms collide with each other; the joint
// limits' solimp). The numbers were read from dm_control's compiled models, not from ours, so
// a model of models.go that drifts from DMC's dynamics fails here.
type dmcModel struct {
	domain string
	floor  string             // the floor geom ("": no contact checks, e.g. constraints off)
	masses map[string]float64 // body name -> mass
	total  float64            // the whole model's mass
	// bodyGeom is one body geom, to read its floor friction and self-collision from.
	bodyGeom      string
	floorFriction float64
	selfCollide   bool // conaffinity 1 on body geoms (contype 1): non-adjacent bodies collide
	// limitJoint is one limited hinge whose solimplimit is checked against limitSolimp ("": none).
	limitJoint  string
	limitSolimp [3]float64
	// axisY is the y component of named hinges' axes (planar models bend about ±y; a flipped
	// axis mirrors an asymmetric joint range).
	axisY map[string]float64
	// qpos0 is named joints' reference position in radians (a hinge's ref).
	qpos0 map[string]float64
	// inertia is named bodies' principal moments of inertia (kg m²).
	inertia map[string][3]float64
}

// defaultSolimp is MuJoCo's default solimp of a joint limit.
var defaultSolimp = [3]float64{0.9, 0.95, 0.001}

// dmcModels: cheetah's settotalmass of 14 kg (a model at the default density weighs 21 kg and
// its actuators are then a third weaker), the ground's default friction of 1 (against the
// cheetah's 0.4 the contact takes the larger), its self-collision, and walker's soft joint
// limits (solimplimit 0 .99 .01, not MuJoCo's default 0.9 .95 .001); hopper's +y hinge axes
// (with −y its hip −170..10° and knee 5..150° bend the other way), self-collision and floor
// friction 1; finger's proximal ref of −90° (its ±110° range then reaches over the spinner)
// and its hinge decoration and hub; acrobot's upper-arm radius 0.05 (its inertia).
var dmcModels = []dmcModel{
	{
		domain: "cheetah", floor: "ground", total: 14,
		masses: map[string]float64{
			"torso": 6.250, "bthigh": 1.544, "bshin": 1.587, "bfoot": 1.095,
			"fthigh": 1.438, "fshin": 1.201, "ffoot": 0.885,
		},
		bodyGeom: "bshin", floorFriction: 1, selfCollide: true,
		limitJoint: "bthigh", limitSolimp: defaultSolimp,
		axisY: map[string]float64{"bthigh": 1, "ffoot": 1},
	},
	{
		domain: "walker", floor: "floor", total: 28.540,
		masses: map[string]float64{
			"torso": 10.673, "right_thigh": 4.058, "right_leg": 2.781, "right_foot": 2.094,
			"left_thigh": 4.058, "left_leg": 2.781, "left_foot": 2.094,
		},
		bodyGeom: "right_foot", floorFriction: 0.7, selfCollide: false,
		limitJoint: "right_knee", limitSolimp: [3]float64{0, 0.99, 0.01},
		axisY: map[string]float64{"right_knee": -1, "left_hip": -1},
	},
	{
		domain: "hopper", floor: "floor", total: 12.439,
		masses: map[string]float64{
			"torso": 4.828, "pelvis": 3.141, "thigh": 1.927, "calf": 1.018, "foot": 1.525,
		},
		bodyGeom: "calf", floorFriction: 1, selfCollide: true,
		limitJoint: "knee", limitSolimp: defaultSolimp,
		axisY: map[string]float64{"waist": 1, "hip": 1, "knee": 1, "ankle": 1},
	},
	{
		domain: "finger", floor: "ground", total: 3.979,
		masses:   map[string]float64{"proximal": 0.833, "distal": 0.687, "spinner": 2.459},
		bodyGeom: "fingertip", floorFriction: 1, selfCollide: true,
		limitJoint: "proximal", limitSolimp: defaultSolimp,
		qpos0: map[string]float64{"proximal": -math.Pi / 2, "distal": 0},
	},
	{
		// Constraints off and no joint limits: only masses and inertia matter.
		domain: "acrobot", total: 2,
		masses:  map[string]float64{"upper_arm": 1, "lower_arm": 1},
		inertia: map[string][3]float64{"upper_arm": {0.095570, 0.095570, 0.001234}},
	},
}

// TestModelsMatchDMC compares the compiled models of models.go with dmcModels.
func TestModelsMatchDMC(t *testing.T) {
	for _, want := range dmcModels {
		t.Run(want.domain, func(t *testing.T) {
			mo, err := sharedModel(want.domain)
			if err != nil {
				t.Fatal(err)
			}
			r := &ids{mo: mo}
			floor, geom, joint := -1, -1, -1
			if want.floor != "" {
				floor, geom = r.geom(want.floor), r.geom(want.bodyGeom)
			}
			if want.limitJoint != "" {
				joint = r.get(objJoint, "joint", want.limitJoint)
			}
			bodies := map[string]int{}
			for name := range want.masses {
				bodies[name] = r.body(name)
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			mass := mo.bodyMass()
			total := 0.0
			for _, m := range mass {
				total += m
			}
			if math.Abs(total-want.total) > 5e-3 {
				t.Errorf("total mass %.4f kg, want DMC's %.3f", total, want.total)
			}
			for name, id := range bodies {
				if math.Abs(mass[id]-want.masses[name]) > 1e-3 {
					t.Errorf("body %s: mass %.4f kg, want DMC's %.3f", name, mass[id], want.masses[name])
				}
			}
			if floor >= 0 {
				fr := mo.geomFriction()
				if got := max(fr[3*floor], fr[3*geom]); got != want.floorFriction {
					t.Errorf("%s against %s: sliding friction %v, want %v", want.bodyGeom, want.floor, got, want.floorFriction)
				}
				if got := mo.geomConaffinity()[geom] != 0; got != want.selfCollide {
					t.Errorf("%s: self-collision %v, want %v", want.bodyGeom, got, want.selfCollide)
				}
			}
			joints := map[string]int{}
			for name := range want.axisY {
				joints[name] = r.get(objJoint, "joint", name)
			}
			for name := range want.qpos0 {
				joints[name] = r.qposAdr(name)
			}
			for name := range want.inertia {
				bodies[name] = r.body(name)
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			for name, y := range want.axisY {
				if got := mo.jntAxis()[3*joints[name]+1]; got != y {
					t.Errorf("joint %s: axis y %v, want %v", name, got, y)
				}
			}
			for name, q := range want.qpos0 {
				if got := mo.qpos0()[joints[name]]; math.Abs(got-q) > 1e-12 {
					t.Errorf("joint %s: qpos0 %v, want %v", name, got, q)
				}
			}
			for name, in := range want.inertia {
				got := mo.bodyInertia()[3*bodies[name] : 3*bodies[name]+3]
				for i := range 3 {
					if math.Abs(got[i]-in[i]) > 1e-6 {
						t.Errorf("body %s: inertia %v, want %v", name, got, in)
						break
					}
				}
			}
			if joint >= 0 {
				imp := mo.jntSolimp()[nImp*joint : nImp*joint+3]
				for i := range 3 {
					if math.Abs(imp[i]-want.limitSolimp[i]) > 1e-12 {
						t.Errorf("%s: solimplimit %v, want %v", want.limitJoint, imp, want.limitSolimp)
						break
					}
				}
			}
		})
	}
}

// TestFingerObservesSpinner: finger-spin observes the spinner's angle, as DMC's "tip" site
// (0.13 m from the spinner's hinge, on the spinner) relative to the hinge: turning the spinner by
// θ about its −y axis moves that point to (−0.13 sin θ, 0.13 cos θ) in (x, z), whatever the
// finger does. Reading a site on the finger instead left the spinner's angle unobserved.
func TestFingerObservesSpinner(t *testing.T) {
	env, err := envs.Make("finger-spin", envs.WithSeed(3))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(); err != nil {
		t.Fatal(err)
	}
	c := env.(*envs.Control[*Physics])
	p := c.Physics()
	hinge := (&ids{mo: p.Model()}).qposAdr("hinge")
	for _, theta := range []float64{0, 0.7, math.Pi / 2, -2.5} {
		p.Qpos()[hinge] = theta
		if err := p.Forward(); err != nil {
			t.Fatal(err)
		}
		obs, err := c.Observation()
		if err != nil {
			t.Fatal(err)
		}
		wx, wz := -0.13*math.Sin(theta), 0.13*math.Cos(theta)
		if math.Abs(float64(obs[2])-wx) > 1e-6 || math.Abs(float64(obs[3])-wz) > 1e-6 {
			t.Errorf("spinner at %.2f rad: observed tip (%.4f, %.4f), want (%.4f, %.4f)", theta, obs[2], obs[3], wx, wz)
		}
	}
}
