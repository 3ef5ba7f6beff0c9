//go:build mujoco

package mujoco

import (
	"fmt"

	"github.com/pompc/pompc/envs"
)

// Available reports whether this build runs MuJoCo tasks: built with the mujoco tag, it does.
const Available = true

// taskDef is how to build one task: its domain model, control timing and task.
type taskDef struct {
	domain    string
	subSteps  int     // physics steps per control step
	timeLimit float64 // seconds
	copyModel bool    // the task writes into the model: each env gets its own copy
	camera    string  // default camera for Render ("" for a free camera)
	newTask   func(p *Physics) (envs.Task[*Physics], error)
}

// defaultActionRepeat is TD-MPC2's action repeat for DMC tasks.
const defaultActionRepeat = 2

// taskDefs gives the physics timing of envs.md §3.2: control timestep = subSteps × the model's
// timestep; every episode is 1000 control steps, 500 agent steps.
var taskDefs = map[string]taskDef{
	"mj-cartpole-balance":        {"cartpole", 1, 10, false, "fixed", newCartpoleTask(false, false)},
	"mj-cartpole-balance-sparse": {"cartpole", 1, 10, false, "fixed", newCartpoleTask(false, true)},
	"mj-cartpole-swingup":        {"cartpole", 1, 10, false, "fixed", newCartpoleTask(true, false)},
	"mj-cartpole-swingup-sparse": {"cartpole", 1, 10, false, "fixed", newCartpoleTask(true, true)},
	"mj-pendulum-swingup":        {"pendulum", 1, 20, false, "fixed", newPendulumTask},
	"acrobot-swingup":            {"acrobot", 1, 10, false, "fixed", newAcrobotTask(false)},
	"acrobot-swingup-sparse":     {"acrobot", 1, 10, false, "fixed", newAcrobotTask(true)},
	"reacher-easy":               {"reacher", 1, 20, true, "fixed", newReacherTask(0.05)},
	"reacher-hard":               {"reacher", 1, 20, true, "fixed", newReacherTask(0.015)},
	"finger-spin":                {"finger", 2, 20, false, "fixed", newFingerTask},
	"cheetah-run":                {"cheetah", 1, 10, false, "track", newCheetahTask},
	"walker-stand":               {"walker", 10, 25, false, "track", newWalkerTask(0)},
	"walker-walk":                {"walker", 10, 25, false, "track", newWalkerTask(1)},
	"walker-run":                 {"walker", 10, 25, false, "track", newWalkerTask(8)},
	"hopper-stand":               {"hopper", 4, 20, false, "track", newHopperTask(false)},
	"hopper-hop":                 {"hopper", 4, 20, false, "track", newHopperTask(true)},
	"humanoid-stand":             {"humanoid", 5, 25, false, "side", newHumanoidTask(0)},
	"humanoid-walk":              {"humanoid", 5, 25, false, "side", newHumanoidTask(1)},
	"humanoid-run":               {"humanoid", 5, 25, false, "side", newHumanoidTask(10)},
}

// Make builds a MuJoCo task directly (envs.Make does the same through the registry); the result
// is an *envs.Control[*Physics], whose Physics method reaches the simulation.
func Make(name string, opts envs.Options) (*envs.Control[*Physics], error) {
	def, ok := taskDefs[name]
	if !ok {
		return nil, fmt.Errorf("mujoco: unknown task %q", name)
	}
	model, err := sharedModel(def.domain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p, err := NewPhysics(model, def.subSteps, def.copyModel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.camera = def.camera
	task, err := def.newTask(p)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	env, err := envs.NewControl[*Physics](p, task, envs.ControlConfig{Name: name, SubSteps: 1,
		TimeLimit: def.timeLimit, ActionRepeat: defaultActionRepeat}, opts)
	if err != nil {
		p.Close()
		return nil, err
	}
	return env, nil
}

func init() {
	for _, t := range taskNames {
		if _, ok := taskDefs[t.name]; !ok {
			panic("mujoco: no definition for task " + t.name)
		}
		envs.MustRegister(t.name, func(o envs.Options) (envs.Env, error) {
			env, err := Make(t.name, o)
			if err != nil {
				return nil, err // not env: a nil *Control in an Env interface would not be nil
			}
			return env, nil
		})
		for _, a := range t.aliases {
			envs.MustRegisterAlias(a, t.name)
		}
	}
}
