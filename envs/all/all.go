// Package all registers every task this build knows about: import it for its side effect,
//
//	import _ "github.com/pompc/pompc/envs/all"
//
// and envs.Make / envs.Names see them all: the pure-Go tasks of envs/classic and the MuJoCo-backed
// DMC tasks of envs/mujoco (mujoco.go). The MuJoCo tasks run in builds with -tags mujoco; in
// other builds envs.Make names them unavailable, with instructions to enable them.
package all

import (
	// Pure-Go cartpole and pendulum tasks.
	_ "github.com/pompc/pompc/envs/classic"
)
