// Package all registers every task this build knows about: import it for its side effect,
//
//	import _ "github.com/pompc/pompc/envs/all"
//
// and envs.Make / envs.Names see them all. Today that is the pure-Go tasks of envs/classic;
// packages of further tasks (the MuJoCo-backed DMC tasks) are added here as they arrive.
package all

import (
	// Pure-Go cartpole and pendulum tasks.
	_ "github.com/pompc/pompc/envs/classic"
)
