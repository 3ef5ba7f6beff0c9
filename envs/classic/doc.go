// Package classic holds pure-Go (no cgo) re-implementations of the simplest DeepMind Control
// Suite tasks, with equations of motion derived from DMC's MuJoCo models so that their dynamics,
// observations and rewards match the suite's as closely as a closed-form model allows:
//
//	cartpole-balance, cartpole-balance-sparse, cartpole-swingup, cartpole-swingup-sparse
//	pendulum-swingup
//
// Importing the package registers the tasks with envs (the dm_control spellings
// "cartpole-balance_sparse" and "cartpole-swingup_sparse" are accepted as aliases):
//
//	import _ "github.com/pompc/pompc/envs/classic"
//	env, err := envs.Make("cartpole-swingup", envs.WithSeed(1))
//
// Every task is an envs.Control over a physics type of this package (CartpolePhysics,
// PendulumPhysics), whose state is reachable for rendering and tests through
// envs.Control.Physics.
package classic
