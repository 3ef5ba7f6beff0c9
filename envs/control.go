package envs

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
)

// This file is dm_control's Physics / Task / Environment split (dm_control/rl/control.py):
//
//   - a Physics owns the simulator state and advances it by one physics timestep;
//   - a Task turns a Physics into an RL problem: it randomizes the initial state, writes the
//     agent's action into the physics' controls, and reads observations, rewards and termination
//     back out;
//   - Control glues the two into an Env: it owns the step loop (physics substeps, action repeat,
//     time limit), the RNG and the First/Mid/Last bookkeeping.
//
// The pure-Go tasks of envs/classic and, later, MuJoCo-backed tasks share this machinery: a
// MuJoCo Physics only has to implement the four methods of Physics (and Forwarder).

// ErrNeedsReset is wrapped by the error Step returns when no episode is running: before the first
// Reset, after a Last TimeStep, or after a step or reset that failed in the physics or the task.
var ErrNeedsReset = errors.New("envs: no episode running, call Reset")

// ErrClosed is wrapped by the error Reset and Step return after Close.
var ErrClosed = errors.New("envs: environment is closed")

// Physics is the simulator half of the split: it holds the state and integrates it. Accessors
// for named quantities (cart position, pole angle, the current control) live on the concrete
// type, which a Task sees through its type parameter, as dm_control adds them per domain.
type Physics interface {
	// Reset restores the default state (the model's reference configuration, zero velocity,
	// zero control, time 0). Task.InitEpisode randomizes it afterwards.
	Reset() error
	// Step advances the state by one physics timestep, holding the control the task set last.
	Step() error
	// Timestep is the physics timestep in seconds.
	Timestep() float64
	// Close releases what the physics holds (C memory for MuJoCo). It must be safe to call twice.
	Close() error
}

// Forwarder is implemented by a Physics whose derived quantities (body poses, sensor readings)
// must be recomputed after a task writes positions and velocities directly, like MuJoCo's
// mj_forward. Control calls Forward after Task.InitEpisode, as dm_control's reset_context does.
type Forwarder interface {
	// Forward recomputes the quantities derived from positions and velocities.
	Forward() error
}

// TaskSpec describes a Task per control step, before action repeat.
type TaskSpec struct {
	// ObsDim is the length of the observation Observe appends.
	ObsDim int
	// ActionDim is the length of the action BeforeStep receives; actions live in [-1, 1].
	ActionDim int
	// RewardMin and RewardMax bound Reward for one control step.
	RewardMin, RewardMax float64
}

// Task is the RL half of the split (dm_control's base.Task), written against a concrete physics
// type P. Control calls its methods in this order:
//
//	Reset:  physics.Reset, InitEpisode, [Forward], Observe
//	Step:   per control step: BeforeStep, SubSteps × physics.Step, Reward, Termination;
//	        then Observe once for the agent step
//
// A Task keeps no randomness of its own: InitEpisode draws from the rng Control owns.
type Task[P Physics] interface {
	// Spec gives the observation and action sizes and the per-control-step reward range.
	Spec() TaskSpec
	// InitEpisode randomizes the freshly reset physics for a new episode.
	InitEpisode(p P, rng *rand.Rand) error
	// BeforeStep writes the action into the physics' controls. Control has already checked the
	// action (right length, finite) and clipped it to [-1, 1]; the slice is Control's buffer and
	// must not be retained. An error for a domain-specific reason must leave the physics
	// unchanged: Control then reports it without touching the episode.
	BeforeStep(p P, action []float64) error
	// Observe appends the observation (ObsDim values) to dst and returns the extended slice.
	Observe(p P, dst []float32) []float32
	// Reward is the reward of the control step that just ran, read from the physics after it.
	Reward(p P) float64
	// Termination reports whether the episode ended early, and with which discount (usually 0).
	Termination(p P) (discount float64, done bool)
}

// ControlConfig sets the timing of a Control.
type ControlConfig struct {
	// Name is the registered task name reported by Spec.
	Name string
	// SubSteps is the number of physics steps per control step (dm_control's n_sub_steps), >= 1.
	// The control timestep is SubSteps × Physics.Timestep().
	SubSteps int
	// TimeLimit is the episode length in seconds; it must be a positive whole number of control
	// timesteps (up to rounding).
	TimeLimit float64
	// ActionRepeat is the task's default number of control steps per agent step (2 for DMC tasks
	// in TD-MPC2); Options.ActionRepeat overrides it.
	ActionRepeat int
}

// StatefulPhysics is a Physics whose complete state (positions, velocities, the control held
// between steps, ...) is a vector of float64. Control implements Snapshotter for it.
type StatefulPhysics interface {
	Physics
	// PhysicsState returns a copy of the complete state.
	PhysicsState() []float64
	// SetPhysicsState restores a state returned by PhysicsState; a wrong length is an error.
	SetPhysicsState(state []float64) error
}

// Control implements Env for a Physics and a Task of that physics type.
type Control[P Physics] struct {
	physics P
	task    Task[P]
	tspec   TaskSpec
	spec    Spec
	rng     *rand.Rand

	subSteps  int
	stepLimit int       // control steps per episode
	steps     int       // control steps taken in the current episode
	running   bool      // an episode is under way: Step may run
	everReset bool      // Reset was called at least once
	closed    bool      // Close was called
	lastErr   error     // why the last episode broke off, for the ErrNeedsReset message
	actBuf    []float64 // clipped action handed to BeforeStep
}

var _ Env = (*Control[Physics])(nil)

// NewControl builds an Env from a physics, a task and the timing in cfg, applying the seed and the
// action-repeat override of opts. The Control takes ownership of physics: its Close closes it.
// If NewControl returns an error, physics is left open and still belongs to the caller.
func NewControl[P Physics](physics P, task Task[P], cfg ControlConfig, opts Options) (*Control[P], error) {
	ts := task.Spec()
	if ts.ObsDim <= 0 || ts.ActionDim <= 0 {
		return nil, fmt.Errorf("envs.NewControl(%s): ObsDim %d and ActionDim %d must be positive", cfg.Name, ts.ObsDim, ts.ActionDim)
	}
	if !(ts.RewardMin <= ts.RewardMax) || math.IsInf(ts.RewardMin, 0) || math.IsInf(ts.RewardMax, 0) {
		return nil, fmt.Errorf("envs.NewControl(%s): bad reward range [%v, %v]", cfg.Name, ts.RewardMin, ts.RewardMax)
	}
	if cfg.SubSteps < 1 {
		return nil, fmt.Errorf("envs.NewControl(%s): SubSteps must be >= 1, got %d", cfg.Name, cfg.SubSteps)
	}
	dt := physics.Timestep()
	if !(dt > 0) || math.IsInf(dt, 0) {
		return nil, fmt.Errorf("envs.NewControl(%s): physics timestep must be positive, got %v", cfg.Name, dt)
	}
	// The time limit counts control steps, as dm_control's step_limit = time_limit / control_timestep.
	controlDt := float64(cfg.SubSteps) * dt
	limit := math.Round(cfg.TimeLimit / controlDt)
	if !(limit >= 1) || math.IsInf(limit, 0) || math.Abs(limit*controlDt-cfg.TimeLimit) > 1e-6*cfg.TimeLimit {
		return nil, fmt.Errorf("envs.NewControl(%s): time limit %v s is not a positive multiple of the control timestep %v s", cfg.Name, cfg.TimeLimit, controlDt)
	}
	repeat := cfg.ActionRepeat
	if opts.ActionRepeat > 0 {
		repeat = opts.ActionRepeat
	}
	if repeat < 1 {
		return nil, fmt.Errorf("envs.NewControl(%s): action repeat must be >= 1, got %d", cfg.Name, repeat)
	}
	stepLimit := int(limit)
	// An agent step sums k control rewards, 1 <= k <= repeat (k < repeat only when the episode
	// ends inside the repeat), so it lies in [min over k of k·RewardMin, max over k of
	// k·RewardMax], and the extremes sit at k = 1 or k = repeat.
	n := float64(repeat)
	c := &Control[P]{
		physics: physics,
		task:    task,
		tspec:   ts,
		spec: Spec{
			Name:         cfg.Name,
			ObsDim:       ts.ObsDim,
			ActionDim:    ts.ActionDim,
			ActionRepeat: repeat,
			EpisodeLen:   (stepLimit + repeat - 1) / repeat,
			RewardMin:    math.Min(ts.RewardMin, n*ts.RewardMin),
			RewardMax:    math.Max(ts.RewardMax, n*ts.RewardMax),
		},
		rng:       NewRNG(opts.Seed),
		subSteps:  cfg.SubSteps,
		stepLimit: stepLimit,
		actBuf:    make([]float64, ts.ActionDim),
	}
	return c, nil
}

// Spec describes the task as the agent sees it (after action repeat).
func (c *Control[P]) Spec() Spec { return c.spec }

// controlSnapshot is the serialized form of a Control's episode state.
type controlSnapshot struct {
	Name      string
	Steps     int
	Running   bool
	EverReset bool
	Physics   []float64
}

// gob numbers types in the order a process first encodes or decodes them, and writes the
// numbers into its output; using the snapshot type at init gives it the same number in every
// process of a binary, so that equal states give equal bytes (a resumed run's checkpoint is
// byte-identical to an uninterrupted one's, whatever the resumed process decoded first).
func init() { _ = gob.NewEncoder(io.Discard).Encode(controlSnapshot{}) }

// Snapshot saves the episode state (envs.Snapshotter); it needs a StatefulPhysics.
func (c *Control[P]) Snapshot() ([]byte, error) {
	sp, ok := any(c.physics).(StatefulPhysics)
	if !ok {
		return nil, fmt.Errorf("%s: Snapshot: %w", c.spec.Name, ErrNoSnapshot)
	}
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(controlSnapshot{Name: c.spec.Name, Steps: c.steps,
		Running: c.running, EverReset: c.everReset, Physics: sp.PhysicsState()})
	return buf.Bytes(), err
}

// Restore returns the env to a state saved by Snapshot (envs.Snapshotter).
func (c *Control[P]) Restore(state []byte) error {
	sp, ok := any(c.physics).(StatefulPhysics)
	if !ok {
		return fmt.Errorf("%s: Restore: %w", c.spec.Name, ErrNoSnapshot)
	}
	if c.closed {
		return fmt.Errorf("%s: Restore: %w", c.spec.Name, ErrClosed)
	}
	var snap controlSnapshot
	if err := gob.NewDecoder(bytes.NewReader(state)).Decode(&snap); err != nil {
		return fmt.Errorf("%s: Restore: %w", c.spec.Name, err)
	}
	if snap.Name != c.spec.Name {
		return fmt.Errorf("%s: Restore: the snapshot is of task %q", c.spec.Name, snap.Name)
	}
	if snap.Steps < 0 || snap.Steps > c.stepLimit {
		return fmt.Errorf("%s: Restore: step %d outside the episode's %d steps", c.spec.Name, snap.Steps, c.stepLimit)
	}
	if err := sp.SetPhysicsState(snap.Physics); err != nil {
		return fmt.Errorf("%s: Restore: %w", c.spec.Name, err)
	}
	c.steps, c.running, c.everReset, c.lastErr = snap.Steps, snap.Running, snap.EverReset, nil
	return nil
}

// Observation returns a fresh observation of the current state (after Restore, the observation
// the restored episode would see next).
func (c *Control[P]) Observation() ([]float32, error) { return c.observe() }

// Reseed replaces the randomization RNG; the next Reset draws from it (envs.Reseeder).
func (c *Control[P]) Reseed(seed uint64) { c.rng = NewRNG(seed) }

// Physics returns the physics the Control steps, for tests, rendering and diagnostics. Writing to
// it mid-episode changes the episode.
func (c *Control[P]) Physics() P { return c.physics }

// Task returns the task.
func (c *Control[P]) Task() Task[P] { return c.task }

// Reset starts a new episode: it resets the physics, lets the task randomize it with the
// Control's RNG, and returns the First TimeStep (reward 0, discount 1).
func (c *Control[P]) Reset() (TimeStep, error) {
	if c.closed {
		return TimeStep{}, fmt.Errorf("%s: Reset: %w", c.spec.Name, ErrClosed)
	}
	c.running = false
	c.everReset = true
	c.steps = 0
	if err := c.physics.Reset(); err != nil {
		return c.fail("Reset: physics", err)
	}
	if err := c.task.InitEpisode(c.physics, c.rng); err != nil {
		return c.fail("Reset: InitEpisode", err)
	}
	if f, ok := any(c.physics).(Forwarder); ok {
		if err := f.Forward(); err != nil {
			return c.fail("Reset: Forward", err)
		}
	}
	obs, err := c.observe()
	if err != nil {
		return c.fail("Reset", err)
	}
	c.running = true
	c.lastErr = nil
	return TimeStep{Type: First, Reward: 0, Discount: 1, Obs: obs}, nil
}

// Step runs ActionRepeat control steps with the action clipped to [-1, 1] and returns the summed
// reward. It stops early when the episode ends inside the repeat: at the time limit the TimeStep
// is Last with discount 1 (truncation; the time limit wins if both happen on the same control
// step, as in dm_control), on termination it is Last with the task's discount.
//
// An action of the wrong length or with a NaN or infinite entry returns an error and leaves the
// episode exactly as it was. Step before Reset or after Last returns an error wrapping
// ErrNeedsReset. An error from the physics in the middle of a step (a diverged simulation) ends
// the episode: the next call must be Reset.
func (c *Control[P]) Step(action []float32) (TimeStep, error) {
	if c.closed {
		return TimeStep{}, fmt.Errorf("%s: Step: %w", c.spec.Name, ErrClosed)
	}
	if !c.running {
		return TimeStep{}, c.needsReset()
	}
	if err := CheckAction(action, c.spec.ActionDim); err != nil {
		return TimeStep{}, fmt.Errorf("%s: Step: %w", c.spec.Name, err)
	}
	for i, a := range action {
		c.actBuf[i] = max(-1, min(1, float64(a)))
	}
	ts := TimeStep{Type: Mid, Discount: 1}
	for k := 0; k < c.spec.ActionRepeat; k++ {
		if err := c.task.BeforeStep(c.physics, c.actBuf); err != nil {
			if k == 0 {
				// Nothing has moved yet: the task promises an erroring BeforeStep leaves the
				// physics unchanged, so the episode goes on.
				return TimeStep{}, fmt.Errorf("%s: Step: %w", c.spec.Name, err)
			}
			return c.fail("Step: BeforeStep", err)
		}
		for s := 0; s < c.subSteps; s++ {
			if err := c.physics.Step(); err != nil {
				return c.fail(fmt.Sprintf("Step: physics at control step %d", c.steps), err)
			}
		}
		c.steps++
		ts.Reward += c.task.Reward(c.physics)
		if c.steps >= c.stepLimit {
			ts.Type, ts.Discount = Last, 1
			break
		}
		if disc, done := c.task.Termination(c.physics); done {
			ts.Type, ts.Discount = Last, disc
			break
		}
	}
	obs, err := c.observe()
	if err != nil {
		return c.fail("Step", err)
	}
	ts.Obs = obs
	if ts.Type == Last {
		c.running = false
	}
	return ts, nil
}

// Close closes the physics. It is safe to call twice; later Reset and Step calls return ErrClosed.
func (c *Control[P]) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.running = false
	return c.physics.Close()
}

// observe asks the task for a freshly allocated observation and checks its size.
func (c *Control[P]) observe() ([]float32, error) {
	obs := c.task.Observe(c.physics, make([]float32, 0, c.tspec.ObsDim))
	if len(obs) != c.tspec.ObsDim {
		return nil, fmt.Errorf("task observation has length %d, want %d", len(obs), c.tspec.ObsDim)
	}
	return obs, nil
}

// fail ends the episode after an error in the physics or the task.
func (c *Control[P]) fail(where string, err error) (TimeStep, error) {
	c.running = false
	c.lastErr = fmt.Errorf("%s: %s: %w", c.spec.Name, where, err)
	return TimeStep{}, c.lastErr
}

// needsReset explains why Step cannot run.
func (c *Control[P]) needsReset() error {
	switch {
	case c.lastErr != nil:
		return fmt.Errorf("%s: Step after a failed step (%v): %w", c.spec.Name, c.lastErr, ErrNeedsReset)
	case !c.everReset:
		return fmt.Errorf("%s: Step before Reset: %w", c.spec.Name, ErrNeedsReset)
	default:
		return fmt.Errorf("%s: Step after the Last TimeStep of the episode: %w", c.spec.Name, ErrNeedsReset)
	}
}
