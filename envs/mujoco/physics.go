//go:build mujoco

package mujoco

/*
#include <mujoco/mujoco.h>
#include <stdlib.h>
#include <string.h>

// Defined in shim.go.
int pompc_make_data(const mjModel *m, mjData **out, char *err);
int pompc_reset(const mjModel *m, mjData *d, char *err);
int pompc_forward_noact(const mjModel *m, mjData *d, mjtNum *ctrlsave, char *err);
int pompc_forward(const mjModel *m, mjData *d, char *err);
int pompc_step(const mjModel *m, mjData *d, int n, char *err);
int pompc_plain_steps(const mjModel *m, mjData *d, int n, char *err);
int pompc_step1(const mjModel *m, mjData *d, char *err);
int pompc_subtree_vel(const mjModel *m, mjData *d, char *err);
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/pompc/pompc/envs"
)

// Physics is one MuJoCo simulation: a model (shared read-only between the envs of a task, or
// an own copy for tasks that write into it) and its own mjData. It implements envs.Physics,
// envs.Forwarder and envs.StatefulPhysics.
//
// One Physics.Step is one control step with dm_control's legacy stepping (see pompc_step in
// shim.go): SubSteps physics steps such that, on return, positions, velocities and everything
// derived from them (body poses, sensors of position and velocity stage) are current.
type Physics struct {
	model    *Model
	ownModel bool
	d        *C.mjData
	subSteps int
	eb       errBuf
	ctrlSave *C.mjtNum
	closed   bool

	// mutable lists model arrays the task writes into (its own copy of the model); they are
	// part of the snapshot state.
	mutable [][]float64
	// subtreeVel asks for mj_subtreeVel after every step and forward (tasks that read the
	// centre-of-mass velocity of a subtree, dm_control's subtreelinvel sensor).
	subtreeVel bool
	// camera is the default camera for rendering ("" for a free camera).
	camera string
}

var (
	_ envs.Physics         = (*Physics)(nil)
	_ envs.Forwarder       = (*Physics)(nil)
	_ envs.StatefulPhysics = (*Physics)(nil)
)

// NewPhysics makes an mjData for model and returns a Physics stepping subSteps physics steps per
// control step. With copyModel the Physics works on (and owns) its own copy of the model, for tasks
// that write into the model.
func NewPhysics(model *Model, subSteps int, copyModel bool) (*Physics, error) {
	if model == nil || model.m == nil {
		return nil, fmt.Errorf("mujoco: NewPhysics: nil or freed model")
	}
	if subSteps < 1 {
		return nil, fmt.Errorf("mujoco: NewPhysics: subSteps must be >= 1, got %d", subSteps)
	}
	p := &Physics{model: model, subSteps: subSteps, eb: newErrBuf()}
	if copyModel {
		m, err := model.Copy()
		if err != nil {
			p.eb.free()
			return nil, err
		}
		p.model, p.ownModel = m, true
	}
	var d *C.mjData
	if err := check("mj_makeData", C.pompc_make_data(p.model.m, &d, p.eb.p), p.eb); err != nil {
		p.Close()
		return nil, err
	}
	p.d = d
	p.ctrlSave = (*C.mjtNum)(C.calloc(C.size_t(max(1, p.model.NU())), C.size_t(unsafe.Sizeof(C.mjtNum(0)))))
	return p, nil
}

// Model returns the model this physics steps (its own copy for model-mutating tasks).
func (p *Physics) Model() *Model { return p.model }

// Reset is mj_resetData: the model's reference configuration qpos0, zero velocity, zero control,
// time 0, warning counters cleared.
func (p *Physics) Reset() error {
	if p.closed {
		return envs.ErrClosed
	}
	return check("mj_resetData", C.pompc_reset(p.model.m, p.d, p.eb.p), p.eb)
}

// Forward is mj_forward with actuation disabled, as dm_control runs it after a task has
// randomized the initial state.
func (p *Physics) Forward() error {
	if p.closed {
		return envs.ErrClosed
	}
	if err := check("mj_forward", C.pompc_forward_noact(p.model.m, p.d, p.ctrlSave, p.eb.p), p.eb); err != nil {
		return err
	}
	return p.derived()
}

// derived computes the extra derived quantities the task asked for.
func (p *Physics) derived() error {
	if p.subtreeVel {
		return check("mj_subtreeVel", C.pompc_subtree_vel(p.model.m, p.d, p.eb.p), p.eb)
	}
	return nil
}

// forwardWithActuation is plain mj_forward.
func (p *Physics) forwardWithActuation() error {
	return check("mj_forward", C.pompc_forward(p.model.m, p.d, p.eb.p), p.eb)
}

// Step runs one control step (SubSteps physics steps, legacy stepping). A MuJoCo error returns an
// *Error; NaN, infinite or huge values in qpos, qvel or qacc return an error wrapping
// ErrDiverged. Either way the state is unusable until the next Reset.
func (p *Physics) Step() error {
	if p.closed {
		return envs.ErrClosed
	}
	if err := check("mj_step", C.pompc_step(p.model.m, p.d, C.int(p.subSteps), p.eb.p), p.eb); err != nil {
		return err
	}
	return p.derived()
}

// settle runs n plain mj_step calls at the current control (initial-state stabilization).
func (p *Physics) settle(n int) error {
	return check("mj_step", C.pompc_plain_steps(p.model.m, p.d, C.int(n), p.eb.p), p.eb)
}

// Timestep is the control timestep: SubSteps × the model's physics timestep.
func (p *Physics) Timestep() float64 { return float64(p.subSteps) * p.model.Timestep() }

// Close frees the mjData (and the model copy, if any). Safe to call twice.
func (p *Physics) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.d != nil {
		C.mj_deleteData(p.d)
		p.d = nil
	}
	if p.ownModel {
		p.model.Free()
	}
	if p.ctrlSave != nil {
		C.free(unsafe.Pointer(p.ctrlSave))
		p.ctrlSave = nil
	}
	p.eb.free()
	return nil
}

// Time is the simulation time in seconds (NaN after Close).
func (p *Physics) Time() float64 {
	if p.closed {
		return math.NaN()
	}
	return float64(p.d.time)
}

// Qpos is the position vector, a view of MuJoCo's memory, valid until Close (nil afterwards).
func (p *Physics) Qpos() []float64 {
	if p.closed {
		return nil
	}
	return f64(p.d.qpos, p.model.NQ())
}

// Qvel is the velocity vector, a view of MuJoCo's memory, valid until Close (nil afterwards).
func (p *Physics) Qvel() []float64 {
	if p.closed {
		return nil
	}
	return f64(p.d.qvel, p.model.NV())
}

// Ctrl is the control vector, a view of MuJoCo's memory, valid until Close (nil afterwards).
func (p *Physics) Ctrl() []float64 {
	if p.closed {
		return nil
	}
	return f64(p.d.ctrl, p.model.NU())
}

// act, warmstart: the rest of the integration state.
func (p *Physics) act() []float64       { return f64(p.d.act, p.model.NA()) }
func (p *Physics) warmstart() []float64 { return f64(p.d.qacc_warmstart, p.model.NV()) }

// xpos is the world position of body b.
func (p *Physics) xpos(b int) []float64 { return f64(p.d.xpos, 3*int(p.model.m.nbody))[3*b : 3*b+3] }

// xipos is the world position of body b's centre of mass.
func (p *Physics) xipos(b int) []float64 {
	return f64(p.d.xipos, 3*int(p.model.m.nbody))[3*b : 3*b+3]
}

// xmat is the orientation of body b, a row-major 3×3 matrix (columns: the body axes in world).
func (p *Physics) xmat(b int) []float64 { return f64(p.d.xmat, 9*int(p.model.m.nbody))[9*b : 9*b+9] }

// siteXpos is the world position of site s.
func (p *Physics) siteXpos(s int) []float64 {
	return f64(p.d.site_xpos, 3*int(p.model.m.nsite))[3*s : 3*s+3]
}

// geomXpos is the world position of geom g.
func (p *Physics) geomXpos(g int) []float64 {
	return f64(p.d.geom_xpos, 3*int(p.model.m.ngeom))[3*g : 3*g+3]
}

// sensor returns the value of sensor id (its dim entries of sensordata).
func (p *Physics) sensor(id int) []float64 {
	m := p.model.m
	adr := int(i32(m.sensor_adr, int(m.nsensor))[id])
	dim := int(i32(m.sensor_dim, int(m.nsensor))[id])
	return f64(p.d.sensordata, int(m.nsensordata))[adr : adr+dim]
}

// ncon is the number of active contacts.
func (p *Physics) ncon() int { return int(p.d.ncon) }

// subtreeLinvel returns the linear velocity of the centre of mass of body b's subtree, in world
// coordinates (dm_control's subtreelinvel sensor), as of the last step or forward. It needs
// p.subtreeVel.
func (p *Physics) subtreeLinvel(b int) []float64 {
	return f64(p.d.subtree_linvel, 3*int(p.model.m.nbody))[3*b : 3*b+3]
}

// setTime sets the simulation time.
func (p *Physics) setTime(t float64) { p.d.time = C.mjtNum(t) }

// PhysicsState returns [time, qpos, qvel, act, ctrl, qacc_warmstart, mutable model arrays]: with
// it a restored physics continues bit for bit (the warm start of the constraint solver included).
// After Close it returns nil.
func (p *Physics) PhysicsState() []float64 {
	if p.closed {
		return nil
	}
	s := []float64{p.Time()}
	s = append(s, p.Qpos()...)
	s = append(s, p.Qvel()...)
	s = append(s, p.act()...)
	s = append(s, p.Ctrl()...)
	s = append(s, p.warmstart()...)
	for _, m := range p.mutable {
		s = append(s, m...)
	}
	return s
}

// stateLen is the length of PhysicsState.
func (p *Physics) stateLen() int {
	n := 1 + p.model.NQ() + 2*p.model.NV() + p.model.NA() + p.model.NU()
	for _, m := range p.mutable {
		n += len(m)
	}
	return n
}

// SetPhysicsState restores a state returned by PhysicsState and recomputes the quantities derived
// from positions and velocities (mj_step1), as they were after the step that produced the state.
func (p *Physics) SetPhysicsState(s []float64) error {
	if p.closed {
		return envs.ErrClosed
	}
	if len(s) != p.stateLen() {
		return fmt.Errorf("mujoco: physics state has %d values, want %d", len(s), p.stateLen())
	}
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("mujoco: physics state has a non-finite value")
		}
	}
	p.setTime(s[0])
	s = s[1:]
	for _, dst := range [][]float64{p.Qpos(), p.Qvel(), p.act(), p.Ctrl(), p.warmstart()} {
		s = s[copy(dst, s):]
	}
	for _, m := range p.mutable {
		s = s[copy(m, s):]
	}
	warm := append([]float64(nil), p.warmstart()...)
	if err := check("mj_step1", C.pompc_step1(p.model.m, p.d, p.eb.p), p.eb); err != nil {
		return err
	}
	copy(p.warmstart(), warm)
	return p.derived()
}
