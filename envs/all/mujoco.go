package all

import (
	// MuJoCo-backed DMC tasks. The package is imported in every build: with -tags mujoco it
	// registers the real tasks; without it, the same names as unavailable, so that asking for
	// one gives an error saying how to enable MuJoCo.
	_ "github.com/pompc/pompc/envs/mujoco"
)
