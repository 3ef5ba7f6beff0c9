//go:build mujoco

package mujoco

import (
	"math"
	"testing"
)

// dmcModel holds facts of a DeepMind Control Suite model as MuJoCo compiles dm_control's own
// XML (body masses in kg; the friction a body geom gets against the floor, which is the larger
// of the two geoms' sliding frictions; whether body geoms collide with each other; the joint
// limits' solimp). The numbers were read from dm_control's compiled models, not from ours, so
// a model of models.go that drifts from DMC's dynamics fails here.
type dmcModel struct {
	domain string
	floor  string             // the floor geom
	masses map[string]float64 // body name -> mass
	total  float64            // the whole model's mass
	// bodyGeom is one body geom, to read its floor friction and self-collision from.
	bodyGeom      string
	floorFriction float64
	selfCollide   bool // conaffinity 1 on body geoms (contype 1): non-adjacent bodies collide
	// limitJoint is one limited hinge whose solimplimit is checked against limitSolimp.
	limitJoint  string
	limitSolimp [3]float64
}

// dmcModels: cheetah's settotalmass of 14 kg (a model at the default density weighs 21 kg and
// its actuators are then a third weaker), the ground's default friction of 1 (against the
// cheetah's 0.4 the contact takes the larger), its self-collision, and walker's soft joint
// limits (solimplimit 0 .99 .01, not MuJoCo's default 0.9 .95 .001).
var dmcModels = []dmcModel{
	{
		domain: "cheetah", floor: "ground", total: 14,
		masses: map[string]float64{
			"torso": 6.250, "bthigh": 1.544, "bshin": 1.587, "bfoot": 1.095,
			"fthigh": 1.438, "fshin": 1.201, "ffoot": 0.885,
		},
		bodyGeom: "bshin", floorFriction: 1, selfCollide: true,
		limitJoint: "bthigh", limitSolimp: [3]float64{0.9, 0.95, 0.001},
	},
	{
		domain: "walker", floor: "floor", total: 28.540,
		masses: map[string]float64{
			"torso": 10.673, "right_thigh": 4.058, "right_leg": 2.781, "right_foot": 2.094,
			"left_thigh": 4.058, "left_leg": 2.781, "left_foot": 2.094,
		},
		bodyGeom: "right_foot", floorFriction: 0.7, selfCollide: false,
		limitJoint: "right_knee", limitSolimp: [3]float64{0, 0.99, 0.01},
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
			floor, geom := r.geom(want.floor), r.geom(want.bodyGeom)
			joint := r.get(objJoint, "joint", want.limitJoint)
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
			fr := mo.geomFriction()
			if got := max(fr[3*floor], fr[3*geom]); got != want.floorFriction {
				t.Errorf("%s against %s: sliding friction %v, want %v", want.bodyGeom, want.floor, got, want.floorFriction)
			}
			if got := mo.geomConaffinity()[geom] != 0; got != want.selfCollide {
				t.Errorf("%s: self-collision %v, want %v", want.bodyGeom, got, want.selfCollide)
			}
			imp := mo.jntSolimp()[nImp*joint : nImp*joint+3]
			for i := range 3 {
				if math.Abs(imp[i]-want.limitSolimp[i]) > 1e-12 {
					t.Errorf("%s: solimplimit %v, want %v", want.limitJoint, imp, want.limitSolimp)
					break
				}
			}
		})
	}
}
