// Package mujoco provides the DeepMind Control Suite tasks on MuJoCo 2.2.2 (Debian's
// libmujoco-dev) through a thin cgo layer, and offscreen rendering of them with EGL and Mesa's
// software rasterizer.
//
// The package compiles in two ways. Built with -tags mujoco it links libmujoco and libEGL and
// registers real tasks: mj-cartpole-balance[-sparse], mj-cartpole-swingup[-sparse],
// mj-pendulum-swingup (the "mj-" prefix because envs/classic owns the pure-Go versions of those
// names), acrobot-swingup[-sparse], reacher-easy, reacher-hard, finger-spin, cheetah-run,
// walker-stand, walker-walk, walker-run, hopper-stand, hopper-hop, humanoid-stand, humanoid-walk
// and humanoid-run, plus dm_control spellings with underscores (cheetah_run) as aliases. Built
// without the tag it needs no C toolchain and registers the same names as unavailable: envs.Make
// returns an error wrapping envs.ErrUnavailable saying how to install MuJoCo and enable the tag.
//
// Every task is an envs.Control over a Physics (one mjData; the compiled model is shared
// read-only by every env of a domain, except for reacher, which writes its target into its own
// copy). Stepping follows dm_control's legacy stepping, reset runs mj_forward with actuation
// disabled, and MuJoCo errors come back as Go errors: the package installs an error handler that
// longjmps back into the C wrapper of the failing call, so no MuJoCo error ends the process.
// Warnings of NaN, infinite or huge values in the state end the episode with an error wrapping
// ErrDiverged, as dm_control's PhysicsError does.
//
// Models are our own MJCF written from the physical parameters of the suite (models.go); the
// humanoid is Debian's sample model (libmujoco-samples) with three run-time patches that make it
// the suite's.
package mujoco
