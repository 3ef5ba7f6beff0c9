package envs

import (
	"fmt"
	"image"
)

// Framer is implemented by a Physics that can draw its current state: the pure-Go tasks draw
// themselves in 2-D (envs/classic), the MuJoCo tasks render the model offscreen (envs/mujoco).
type Framer interface {
	// Frame draws the current state as a width×height image.
	Frame(width, height int) (*image.RGBA, error)
}

// Frame draws env's current state (a Control whose Physics is a Framer) as a width×height image;
// evaluation videos are made of these (pompc eval --video).
func Frame(env Env, width, height int) (*image.RGBA, error) {
	if width < 1 || height < 1 || width > 4096 || height > 4096 {
		return nil, fmt.Errorf("envs: frame size %d×%d outside 1×1..4096×4096", width, height)
	}
	f, ok := env.(interface {
		Frame(width, height int) (*image.RGBA, error)
	})
	if !ok {
		return nil, fmt.Errorf("envs: %s cannot draw itself", env.Spec().Name)
	}
	return f.Frame(width, height)
}

// Frame draws the physics' current state when it is a Framer.
func (c *Control[P]) Frame(width, height int) (*image.RGBA, error) {
	f, ok := any(c.physics).(Framer)
	if !ok {
		return nil, fmt.Errorf("envs: the physics of %s cannot draw itself", c.spec.Name)
	}
	return f.Frame(width, height)
}
