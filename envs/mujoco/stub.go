//go:build !mujoco

package mujoco

import (
	"fmt"

	"github.com/pompc/pompc/envs"
)

// Available reports whether this build runs MuJoCo tasks; without the mujoco build tag it does not.
const Available = false

// In a build without the mujoco tag every MuJoCo task name is known but unavailable: envs.Make
// returns an error wrapping envs.ErrUnavailable that says how to enable it, and envs.Names does
// not list these tasks.
func init() {
	for _, t := range taskNames {
		envs.MustRegisterUnavailable(t.name, fmt.Sprintf("task %s needs MuJoCo: install libmujoco-dev libmujoco-samples "+
			"(bash docker/install.sh) and build with -tags mujoco", t.name))
		for _, a := range t.aliases {
			envs.MustRegisterAlias(a, t.name)
		}
	}
}
