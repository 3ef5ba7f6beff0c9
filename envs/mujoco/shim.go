//go:build mujoco

package mujoco

// The thin C layer over Debian's MuJoCo 2.2.2 (libmujoco-dev) and EGL.
//
// Error handling. MuJoCo reports fatal errors through mju_error, whose default handler prints the
// message, waits for Enter and calls exit(1). We install our own handler (mju_user_error). Every
// MuJoCo call that can fail runs inside a C wrapper that first sets a thread-local jmp_buf with
// setjmp; the handler copies the message into a thread-local buffer and longjmps back into that
// wrapper, which returns -1 with the message copied into a caller-supplied buffer. The jump never
// crosses a Go frame (the wrapper and everything it calls are C), so it is safe under cgo. An
// error raised outside any wrapper cannot be recovered; the handler then aborts with the message
// (no wrapper-free call path in this package can raise one).
//
// Warnings (mju_user_warning) may return; MuJoCo also counts them in d->warning. Like dm_control,
// a step after which the counters of bad qpos, qvel or qacc grew is an error: MuJoCo has already
// reset the state, so the episode must end.

/*
#cgo LDFLAGS: -lmujoco -lEGL -lm
#cgo CFLAGS: -O2
#include <mujoco/mujoco.h>
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POMPC_ERRLEN 1024

static __thread jmp_buf *pompc_jb;
static __thread char pompc_err[POMPC_ERRLEN];

static void pompc_on_error(const char *msg) {
	strncpy(pompc_err, msg, POMPC_ERRLEN - 1);
	pompc_err[POMPC_ERRLEN - 1] = 0;
	if (pompc_jb) longjmp(*pompc_jb, 1);
	fprintf(stderr, "pompc/envs/mujoco: MuJoCo error outside a guarded call: %s\n", msg);
	abort();
}

// Warnings are counted by MuJoCo in d->warning; the text is not needed (and not printed).
static void pompc_on_warning(const char *msg) { (void)msg; }

static void pompc_install(void) {
	mju_user_error = pompc_on_error;
	mju_user_warning = pompc_on_warning;
}

// POMPC_TRY / POMPC_CATCH bracket a guarded region of a wrapper returning int: 0 on success, -1
// with the MuJoCo message in err on error.
#define POMPC_TRY \
	jmp_buf jb; jmp_buf *prev = pompc_jb; \
	if (setjmp(jb) == 0) { pompc_jb = &jb;
#define POMPC_CATCH(err) \
		pompc_jb = prev; return 0; \
	} \
	pompc_jb = prev; strncpy(err, pompc_err, POMPC_ERRLEN - 1); err[POMPC_ERRLEN - 1] = 0; return -1;

static int pompc_load_vfs(const char *name, const mjVFS *vfs, mjModel **out, char *err) {
	POMPC_TRY
		*out = mj_loadXML(name, vfs, err, POMPC_ERRLEN);
		if (*out == NULL) { pompc_jb = prev; return -1; }
	POMPC_CATCH(err)
}

// Loads a model from an XML string through a one-file virtual file system.
int pompc_load_string(const char *name, const char *xml, int len, mjModel **out, char *err) {
	err[0] = 0;
	*out = NULL;
	mjVFS *vfs = (mjVFS *)malloc(sizeof(mjVFS));
	if (!vfs) { strcpy(err, "out of memory for the VFS"); return -1; }
	mj_defaultVFS(vfs);
	if (mj_makeEmptyFileVFS(vfs, name, len) != 0) {
		strcpy(err, "cannot create the VFS file");
		free(vfs);
		return -1;
	}
	memcpy(vfs->filedata[mj_findFileVFS(vfs, name)], xml, len);
	int rc = pompc_load_vfs(name, vfs, out, err);
	mj_deleteVFS(vfs);
	free(vfs);
	return rc;
}

int pompc_load_file(const char *path, mjModel **out, char *err) {
	err[0] = 0;
	*out = NULL;
	POMPC_TRY
		*out = mj_loadXML(path, NULL, err, POMPC_ERRLEN);
		if (*out == NULL) { pompc_jb = prev; return -1; }
	POMPC_CATCH(err)
}

int pompc_copy_model(const mjModel *m, mjModel **out, char *err) {
	*out = NULL;
	POMPC_TRY
		*out = mj_copyModel(NULL, m);
		if (*out == NULL) { pompc_jb = prev; strcpy(err, "mj_copyModel failed"); return -1; }
	POMPC_CATCH(err)
}

int pompc_make_data(const mjModel *m, mjData **out, char *err) {
	*out = NULL;
	POMPC_TRY
		*out = mj_makeData(m);
		if (*out == NULL) { pompc_jb = prev; strcpy(err, "mj_makeData failed"); return -1; }
	POMPC_CATCH(err)
}

int pompc_reset(const mjModel *m, mjData *d, char *err) {
	POMPC_TRY
		mj_resetData(m, d);
	POMPC_CATCH(err)
}

int pompc_set_const(mjModel *m, mjData *d, char *err) {
	POMPC_TRY
		mj_setConst(m, d);
	POMPC_CATCH(err)
}

// Reads the bad-state warning counters (qpos, qvel, qacc).
static int pompc_bad_count(const mjData *d) {
	return d->warning[mjWARN_BADQPOS].number + d->warning[mjWARN_BADQVEL].number +
		d->warning[mjWARN_BADQACC].number;
}

// Explains which bad-state warning fired.
static void pompc_bad_message(const mjData *d, const int before[3], char *err) {
	static const char *what[3] = {"QPOS", "QVEL", "QACC"};
	int ids[3] = {mjWARN_BADQPOS, mjWARN_BADQVEL, mjWARN_BADQACC};
	for (int k = 0; k < 3; k++) {
		if (d->warning[ids[k]].number > before[k]) {
			snprintf(err, POMPC_ERRLEN, "MuJoCo warning: NaN, Inf or huge value in %s at DOF %d (time %.4f); MuJoCo reset the state",
				what[k], d->warning[ids[k]].lastinfo, d->time);
			return;
		}
	}
}

// mj_forward with actuation disabled, as dm_control's reset_context. The model may be shared
// between goroutines, so instead of toggling its disable flags we zero the controls around the
// call: for the motor actuators of every model here (no activation dynamics, gain × ctrl) that
// yields the same zero actuator force as mjDSBL_ACTUATION.
int pompc_forward_noact(const mjModel *m, mjData *d, mjtNum *ctrlsave, char *err) {
	int before[3] = {d->warning[mjWARN_BADQPOS].number, d->warning[mjWARN_BADQVEL].number, d->warning[mjWARN_BADQACC].number};
	int n0 = pompc_bad_count(d);
	POMPC_TRY
		memcpy(ctrlsave, d->ctrl, sizeof(mjtNum) * m->nu);
		memset(d->ctrl, 0, sizeof(mjtNum) * m->nu);
		mj_forward(m, d);
		memcpy(d->ctrl, ctrlsave, sizeof(mjtNum) * m->nu);
		if (pompc_bad_count(d) > n0) { pompc_jb = prev; pompc_bad_message(d, before, err); return -2; }
	POMPC_CATCH(err)
}

int pompc_forward(const mjModel *m, mjData *d, char *err) {
	POMPC_TRY
		mj_forward(m, d);
	POMPC_CATCH(err)
}

// One control step with dm_control's legacy stepping: for Euler, mj_step2, then n-1 mj_step,
// then mj_step1 (so positions, velocities and the quantities derived from them are current when
// the task reads them); for RK4, n mj_step then mj_step1. Returns -2 when a bad-state warning
// fired (message in err), -1 on a MuJoCo error.
int pompc_step(const mjModel *m, mjData *d, int n, char *err) {
	int before[3] = {d->warning[mjWARN_BADQPOS].number, d->warning[mjWARN_BADQVEL].number, d->warning[mjWARN_BADQACC].number};
	int n0 = pompc_bad_count(d);
	POMPC_TRY
		if (m->opt.integrator == mjINT_RK4) {
			for (int i = 0; i < n; i++) mj_step(m, d);
		} else {
			mj_step2(m, d);
			for (int i = 1; i < n; i++) mj_step(m, d);
		}
		mj_step1(m, d);
		if (pompc_bad_count(d) > n0) { pompc_jb = prev; pompc_bad_message(d, before, err); return -2; }
	POMPC_CATCH(err)
}

// n plain mj_step calls (used to settle a model during initialization).
int pompc_plain_steps(const mjModel *m, mjData *d, int n, char *err) {
	int before[3] = {d->warning[mjWARN_BADQPOS].number, d->warning[mjWARN_BADQVEL].number, d->warning[mjWARN_BADQACC].number};
	int n0 = pompc_bad_count(d);
	POMPC_TRY
		for (int i = 0; i < n; i++) mj_step(m, d);
		if (pompc_bad_count(d) > n0) { pompc_jb = prev; pompc_bad_message(d, before, err); return -2; }
	POMPC_CATCH(err)
}

int pompc_step1(const mjModel *m, mjData *d, char *err) {
	POMPC_TRY
		mj_step1(m, d);
	POMPC_CATCH(err)
}

// Raises a MuJoCo error inside a guarded call (tests of the error path).
int pompc_raise(const char *msg, char *err) {
	POMPC_TRY
		mju_error(msg);
	POMPC_CATCH(err)
}

int pompc_subtree_vel(const mjModel *m, mjData *d, char *err) {
	POMPC_TRY
		mj_subtreeVel(m, d);
	POMPC_CATCH(err)
}

// ---------------------------------------------------------------------------------------------
// Offscreen rendering: EGL on Mesa's software device (llvmpipe), no window system.

static EGLDisplay pompc_dpy = EGL_NO_DISPLAY;
static EGLContext pompc_ctx = EGL_NO_CONTEXT;

// Creates the EGL context and makes it current on the calling thread (which Go has locked).
int pompc_egl_init(char *err) {
	EGLDisplay dpy = EGL_NO_DISPLAY;
	PFNEGLQUERYDEVICESEXTPROC queryDevices = (PFNEGLQUERYDEVICESEXTPROC)eglGetProcAddress("eglQueryDevicesEXT");
	PFNEGLGETPLATFORMDISPLAYEXTPROC getPlatformDisplay = (PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
	if (getPlatformDisplay && queryDevices) {
		EGLDeviceEXT devs[16];
		EGLint ndev = 0;
		if (queryDevices(16, devs, &ndev) && ndev > 0) {
			// Prefer the last device: with Mesa it is the software rasterizer.
			for (int i = ndev - 1; i >= 0 && dpy == EGL_NO_DISPLAY; i--) {
				EGLDisplay c = getPlatformDisplay(EGL_PLATFORM_DEVICE_EXT, devs[i], NULL);
				if (c != EGL_NO_DISPLAY && eglInitialize(c, NULL, NULL)) dpy = c;
			}
		}
	}
	if (dpy == EGL_NO_DISPLAY && getPlatformDisplay) {
		EGLDisplay c = getPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
		if (c != EGL_NO_DISPLAY && eglInitialize(c, NULL, NULL)) dpy = c;
	}
	if (dpy == EGL_NO_DISPLAY) {
		snprintf(err, POMPC_ERRLEN, "EGL: no display (install libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1); eglGetError 0x%x", eglGetError());
		return -1;
	}
	static const EGLint attrs[] = {
		EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_ALPHA_SIZE, 8,
		EGL_DEPTH_SIZE, 24, EGL_STENCIL_SIZE, 8, EGL_COLOR_BUFFER_TYPE, EGL_RGB_BUFFER,
		EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
	EGLConfig cfg;
	EGLint ncfg = 0;
	if (!eglChooseConfig(dpy, attrs, &cfg, 1, &ncfg) || ncfg < 1) {
		// Surfaceless displays may offer no pbuffer configs: drop that requirement.
		static const EGLint attrs2[] = {
			EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_ALPHA_SIZE, 8,
			EGL_DEPTH_SIZE, 24, EGL_STENCIL_SIZE, 8, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
		if (!eglChooseConfig(dpy, attrs2, &cfg, 1, &ncfg) || ncfg < 1) {
			snprintf(err, POMPC_ERRLEN, "EGL: no RGBA8/depth24/stencil8 OpenGL config; eglGetError 0x%x", eglGetError());
			eglTerminate(dpy);
			return -1;
		}
	}
	if (!eglBindAPI(EGL_OPENGL_API)) {
		snprintf(err, POMPC_ERRLEN, "EGL: eglBindAPI(OpenGL) failed: 0x%x", eglGetError());
		eglTerminate(dpy);
		return -1;
	}
	EGLContext ctx = eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, NULL);
	if (ctx == EGL_NO_CONTEXT) {
		snprintf(err, POMPC_ERRLEN, "EGL: eglCreateContext failed: 0x%x", eglGetError());
		eglTerminate(dpy);
		return -1;
	}
	if (!eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx)) {
		snprintf(err, POMPC_ERRLEN, "EGL: eglMakeCurrent failed: 0x%x", eglGetError());
		eglDestroyContext(dpy, ctx);
		eglTerminate(dpy);
		return -1;
	}
	pompc_dpy = dpy;
	pompc_ctx = ctx;
	return 0;
}

// The MuJoCo visualization state of one model on the render thread.
typedef struct {
	mjvScene scn;
	mjvOption opt;
	mjvCamera cam;
	mjvPerturb pert;
	mjrContext con;
	int ready;
} pompc_viz;

int pompc_viz_make(const mjModel *m, pompc_viz **out, char *err) {
	pompc_viz *v = (pompc_viz *)calloc(1, sizeof(pompc_viz));
	if (!v) { strcpy(err, "out of memory"); return -1; }
	*out = v;
	POMPC_TRY
		mjv_defaultScene(&v->scn);
		mjv_defaultOption(&v->opt);
		mjv_defaultCamera(&v->cam);
		mjv_defaultPerturb(&v->pert);
		mjr_defaultContext(&v->con);
		mjv_makeScene(m, &v->scn, 2000);
		// Shadows and reflections dominate software rendering time (the 4096² shadow map):
		// without them a 384² frame takes ~20 ms instead of ~80.
		v->scn.flags[mjRND_SHADOW] = 0;
		v->scn.flags[mjRND_REFLECTION] = 0;
		mjr_makeContext(m, &v->con, mjFONTSCALE_100);
		mjr_setBuffer(mjFB_OFFSCREEN, &v->con);
		if (v->con.currentBuffer != mjFB_OFFSCREEN) {
			pompc_jb = prev;
			strcpy(err, "MuJoCo could not select its offscreen framebuffer");
			return -1;
		}
		v->ready = 1;
	POMPC_CATCH(err)
}

void pompc_viz_free(pompc_viz *v) {
	if (!v) return;
	if (v->ready) mjr_freeContext(&v->con);  // GL functions exist only after a successful mjr_makeContext
	mjv_freeScene(&v->scn);
	free(v);
}

// Renders one frame of (m, d) from camera camid (-1: a free camera framing the model) into rgb
// (w*h*3 bytes, rows bottom-up as OpenGL returns them).
int pompc_render(const mjModel *m, mjData *d, pompc_viz *v, int camid, int w, int h, unsigned char *rgb, char *err) {
	POMPC_TRY
		if (camid >= 0) {
			v->cam.type = mjCAMERA_FIXED;
			v->cam.fixedcamid = camid;
		} else {
			mjv_defaultFreeCamera(m, &v->cam);
		}
		mjrRect vp = {0, 0, w, h};
		mjv_updateScene(m, d, &v->opt, &v->pert, &v->cam, mjCAT_ALL, &v->scn);
		mjr_setBuffer(mjFB_OFFSCREEN, &v->con);
		mjr_render(vp, &v->scn, &v->con);
		mjr_readPixels(rgb, NULL, vp, &v->con);
	POMPC_CATCH(err)
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Error is a MuJoCo error turned into a Go value: the operation that failed and MuJoCo's message.
type Error struct {
	// Op is the wrapper that caught the error ("mj_step", "mj_loadXML", ...).
	Op string
	// Msg is MuJoCo's message.
	Msg string
}

// Error formats the operation and MuJoCo's message.
func (e *Error) Error() string { return fmt.Sprintf("mujoco: %s: %s", e.Op, e.Msg) }

// ErrDiverged is wrapped by the error of a step after which MuJoCo flagged NaN, infinite or huge
// values in qpos, qvel or qacc (dm_control's PhysicsError): the episode cannot go on.
var ErrDiverged = errors.New("mujoco: physics diverged")

var installOnce sync.Once

// install sets MuJoCo's error and warning hooks once per process.
func install() { installOnce.Do(func() { C.pompc_install() }) }

// errBuf is a C buffer for wrapper messages.
type errBuf struct{ p *C.char }

func newErrBuf() errBuf { return errBuf{(*C.char)(C.calloc(C.POMPC_ERRLEN, 1))} }
func (b errBuf) free()  { C.free(unsafe.Pointer(b.p)) }
func (b errBuf) str() string {
	return C.GoString(b.p)
}

// check turns a wrapper return code into an error.
func check(op string, rc C.int, eb errBuf) error {
	switch rc {
	case 0:
		return nil
	case -2:
		return fmt.Errorf("%w: %s", ErrDiverged, eb.str())
	}
	msg := eb.str()
	if msg == "" {
		msg = "failed without a message"
	}
	return &Error{Op: op, Msg: msg}
}

// Model is a compiled MuJoCo model (mjModel). One Model may be shared read-only by many Physics
// on different goroutines, each with its own mjData.
type Model struct {
	m    *C.mjModel
	name string
	// Viz is keyed by the model pointer on the render thread; see render.go.
}

// LoadXML compiles a model from MJCF text; name is used as the virtual file name in messages.
func LoadXML(name, xml string) (*Model, error) {
	install()
	eb := newErrBuf()
	defer eb.free()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	cxml := C.CString(xml)
	defer C.free(unsafe.Pointer(cxml))
	var m *C.mjModel
	if err := check("mj_loadXML "+name, C.pompc_load_string(cname, cxml, C.int(len(xml)), &m, eb.p), eb); err != nil {
		return nil, err
	}
	return &Model{m: m, name: name}, nil
}

// LoadFile compiles a model from an MJCF file on disk.
func LoadFile(path string) (*Model, error) {
	install()
	eb := newErrBuf()
	defer eb.free()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var m *C.mjModel
	if err := check("mj_loadXML "+path, C.pompc_load_file(cpath, &m, eb.p), eb); err != nil {
		return nil, err
	}
	return &Model{m: m, name: path}, nil
}

// Copy returns an independent copy of the model (mj_copyModel), for tasks that write into it.
func (mo *Model) Copy() (*Model, error) {
	eb := newErrBuf()
	defer eb.free()
	var m *C.mjModel
	if err := check("mj_copyModel", C.pompc_copy_model(mo.m, &m, eb.p), eb); err != nil {
		return nil, err
	}
	return &Model{m: m, name: mo.name}, nil
}

// Free releases the model. Nothing may use it afterwards.
func (mo *Model) Free() {
	if mo.m != nil {
		releaseViz(mo)
		C.mj_deleteModel(mo.m)
		mo.m = nil
	}
}

// NQ is the number of position coordinates.
func (mo *Model) NQ() int { return int(mo.m.nq) }

// NV is the number of degrees of freedom.
func (mo *Model) NV() int { return int(mo.m.nv) }

// NU is the number of actuators.
func (mo *Model) NU() int { return int(mo.m.nu) }

// NA is the number of actuator activations.
func (mo *Model) NA() int { return int(mo.m.na) }

// Timestep is the physics timestep (opt.timestep) in seconds.
func (mo *Model) Timestep() float64 { return float64(mo.m.opt.timestep) }

// Object types for ID.
const (
	objBody   = int(C.mjOBJ_BODY)
	objJoint  = int(C.mjOBJ_JOINT)
	objGeom   = int(C.mjOBJ_GEOM)
	objSite   = int(C.mjOBJ_SITE)
	objCamera = int(C.mjOBJ_CAMERA)
	objSensor = int(C.mjOBJ_SENSOR)
)

// id returns the id of a named object, or an error naming what is missing.
func (mo *Model) id(typ int, kind, name string) (int, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	id := int(C.mj_name2id(mo.m, C.int(typ), cname))
	if id < 0 {
		return -1, fmt.Errorf("mujoco: model %s has no %s named %q", mo.name, kind, name)
	}
	return id, nil
}

// f64 views n doubles of C memory as a Go slice (the memory stays owned by MuJoCo).
func f64(p *C.mjtNum, n int) []float64 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(p)), n)
}

// i32 views n ints of C memory.
func i32(p *C.int, n int) []int32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(p)), n)
}

// raise provokes a MuJoCo error (mju_error) inside a guarded call, for tests.
func raise(msg string) error {
	install()
	eb := newErrBuf()
	defer eb.free()
	cmsg := C.CString(msg)
	defer C.free(unsafe.Pointer(cmsg))
	return check("mju_error", C.pompc_raise(cmsg, eb.p), eb)
}

// Model arrays (views of MuJoCo's memory) used by tasks and patches.

func (mo *Model) njnt() int           { return int(mo.m.njnt) }
func (mo *Model) jntType() []int32    { return i32(mo.m.jnt_type, mo.njnt()) }
func (mo *Model) jntQposAdr() []int32 { return i32(mo.m.jnt_qposadr, mo.njnt()) }
func (mo *Model) jntDofAdr() []int32  { return i32(mo.m.jnt_dofadr, mo.njnt()) }
func (mo *Model) jntRange() []float64 { return f64(mo.m.jnt_range, 2*mo.njnt()) }
func (mo *Model) bodyQuat() []float64 { return f64(mo.m.body_quat, 4*int(mo.m.nbody)) }
func (mo *Model) geomQuat() []float64 { return f64(mo.m.geom_quat, 4*int(mo.m.ngeom)) }
func (mo *Model) geomPos() []float64  { return f64(mo.m.geom_pos, 3*int(mo.m.ngeom)) }
func (mo *Model) geomSize() []float64 { return f64(mo.m.geom_size, 3*int(mo.m.ngeom)) }
func (mo *Model) nbody() int          { return int(mo.m.nbody) }
func (mo *Model) ncam() int           { return int(mo.m.ncam) }
func (mo *Model) jntLimited() []uint8 {
	return unsafe.Slice((*uint8)(unsafe.Pointer(mo.m.jnt_limited)), mo.njnt())
}
func (mo *Model) bodyIquat() []float64 { return f64(mo.m.body_iquat, 4*mo.nbody()) }
func (mo *Model) bodySameframe() []uint8 {
	return unsafe.Slice((*uint8)(unsafe.Pointer(mo.m.body_sameframe)), mo.nbody())
}
func (mo *Model) geomSameframe() []uint8 {
	return unsafe.Slice((*uint8)(unsafe.Pointer(mo.m.geom_sameframe)), int(mo.m.ngeom))
}

// Model arrays the tests compare with DMC's compiled models (models_test.go).

func (mo *Model) bodyMass() []float64      { return f64(mo.m.body_mass, mo.nbody()) }
func (mo *Model) geomFriction() []float64  { return f64(mo.m.geom_friction, 3*int(mo.m.ngeom)) }
func (mo *Model) geomConaffinity() []int32 { return i32(mo.m.geom_conaffinity, int(mo.m.ngeom)) }
func (mo *Model) jntSolimp() []float64     { return f64(mo.m.jnt_solimp, nImp*mo.njnt()) }
func (mo *Model) jntAxis() []float64       { return f64(mo.m.jnt_axis, 3*mo.njnt()) }
func (mo *Model) qpos0() []float64         { return f64(mo.m.qpos0, mo.NQ()) }
func (mo *Model) bodyInertia() []float64   { return f64(mo.m.body_inertia, 3*mo.nbody()) }

// nImp is the length of a solimp vector (mjNIMP).
const nImp = int(C.mjNIMP)

// Joint types (mjtJoint).
const (
	jntFree  = int32(C.mjJNT_FREE)
	jntBall  = int32(C.mjJNT_BALL)
	jntSlide = int32(C.mjJNT_SLIDE)
	jntHinge = int32(C.mjJNT_HINGE)
)

// setConst recomputes the model's derived constants (mj_setConst) after a patch, with a scratch
// mjData.
func (mo *Model) setConst() error {
	eb := newErrBuf()
	defer eb.free()
	var d *C.mjData
	if err := check("mj_makeData", C.pompc_make_data(mo.m, &d, eb.p), eb); err != nil {
		return err
	}
	defer C.mj_deleteData(d)
	return check("mj_setConst", C.pompc_set_const(mo.m, d, eb.p), eb)
}

// Render-thread primitives (render.go calls them on its locked OS thread only).

// eglInit creates the EGL context and makes it current on the calling thread.
func eglInit() error {
	eb := newErrBuf()
	defer eb.free()
	if C.pompc_egl_init(eb.p) != 0 {
		return fmt.Errorf("mujoco: offscreen rendering: %s", eb.str())
	}
	return nil
}

// vizMake builds the scene and the MuJoCo GL context (mjr_makeContext) of a model.
func vizMake(mo *Model) (unsafe.Pointer, error) {
	eb := newErrBuf()
	defer eb.free()
	var v *C.pompc_viz
	if err := check("mjr_makeContext", C.pompc_viz_make(mo.m, &v, eb.p), eb); err != nil {
		C.pompc_viz_free(v)
		return nil, err
	}
	return unsafe.Pointer(v), nil
}

// vizFree releases what vizMake built.
func vizFree(v unsafe.Pointer) { C.pompc_viz_free((*C.pompc_viz)(v)) }

// renderRGB renders p into rgb (w·h·3 bytes of C memory, rows bottom-up) from camera camid (−1:
// free camera).
func renderRGB(p *Physics, v unsafe.Pointer, camid, w, h int, rgb unsafe.Pointer) error {
	return check("mjr_render", C.pompc_render(p.model.m, p.d, (*C.pompc_viz)(v), C.int(camid), C.int(w), C.int(h),
		(*C.uchar)(rgb), p.eb.p), p.eb)
}

// offscreenSize is the model's offscreen buffer size (<visual><global offwidth offheight>).
func (mo *Model) offscreenSize() (w, h int) {
	return int(mo.m.vis.global.offwidth), int(mo.m.vis.global.offheight)
}

// cmalloc and cfree manage C memory for pixel buffers.
func cmalloc(n int) unsafe.Pointer { return C.malloc(C.size_t(n)) }
func cfree(p unsafe.Pointer)       { C.free(p) }

// setNstack overrides the size of the mjData arena (in mjtNums) for data made afterwards; tests
// use it to provoke a real stack overflow inside mj_step.
func (mo *Model) setNstack(n int) { mo.m.nstack = C.int(n) }
