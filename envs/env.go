// Package envs defines the environment interface pompc trains on, a registry of named tasks, and
// the DeepMind-Control-style step semantics shared by every task: a TimeStep stream with
// First/Mid/Last step types, truncation at the time limit with discount 1, and TD-MPC2's action
// repeat (the rewards of the repeated control steps are summed).
//
// Tasks register themselves by name ("cartpole-balance", "pendulum-swingup", ...) and are made
// with Make. The embedded pure-Go tasks live in envs/classic; importing envs/all registers every
// task this build knows about.
package envs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// StepType tells where a TimeStep sits in its episode.
type StepType uint8

const (
	// First is the TimeStep returned by Reset: Reward is 0 and Discount is 1.
	First StepType = iota
	// Mid is every step of an episode that is neither the first nor the last.
	Mid
	// Last ends the episode, by time limit (Discount 1, truncation) or by termination
	// (Discount is the task's value, usually 0).
	Last
)

// String returns "first", "mid" or "last".
func (s StepType) String() string {
	switch s {
	case First:
		return "first"
	case Mid:
		return "mid"
	case Last:
		return "last"
	}
	return fmt.Sprintf("StepType(%d)", uint8(s))
}

// TimeStep is what an Env returns from Reset and Step.
type TimeStep struct {
	// Type is First (from Reset), Mid or Last.
	Type StepType
	// Reward of the agent step: the sum over the action-repeated control steps; 0 on First.
	Reward float64
	// Discount is 1 mid-episode and on truncation; the task's value on termination.
	Discount float64
	// Obs is a fresh slice on every call: it never aliases an earlier observation.
	Obs []float32
}

// Spec describes a task as the agent sees it (after action repeat).
type Spec struct {
	// Name is the registered name, e.g. "cartpole-balance".
	Name string
	// ObsDim is the length of TimeStep.Obs.
	ObsDim int
	// ActionDim is the length of the action passed to Step. Actions live in [-1, 1]^ActionDim.
	ActionDim int
	// ActionRepeat is how many control steps one agent step runs (2 for DMC-style tasks).
	ActionRepeat int
	// EpisodeLen is the number of agent steps of an episode that reaches its time limit.
	EpisodeLen int
	// RewardMin and RewardMax bound the reward of one agent step (the repeated sum).
	RewardMin, RewardMax float64
}

// Env is one running instance of a task. It is not safe for concurrent use; make one Env per
// goroutine.
type Env interface {
	// Spec describes the task.
	Spec() Spec
	// Reset starts a new episode with initial-state randomization drawn from the Env's own RNG
	// and returns its First TimeStep.
	Reset() (TimeStep, error)
	// Step applies action (length ActionDim, each entry finite; entries outside [-1, 1] are
	// clipped) for ActionRepeat control steps. A NaN, infinite or wrong-length action returns an
	// error and leaves the episode untouched. Stepping after Last, or before the first Reset,
	// returns an error.
	Step(action []float32) (TimeStep, error)
	// Close releases the Env's resources (C memory for MuJoCo tasks). Safe to call twice.
	Close() error
}

// Reseeder is implemented by envs whose initial-state randomization can be reseeded. Trainers
// reseed at every episode start from (run seed, episode index), so that a run resumed from a
// checkpoint draws exactly the initial states the uninterrupted run would have drawn.
type Reseeder interface {
	// Reseed replaces the Env's RNG with one seeded from seed; the next Reset draws from it.
	Reseed(seed uint64)
}

// Snapshotter is implemented by envs that can save and restore their complete in-episode state
// (physics state, control-step counter), so that a checkpoint taken in the middle of an episode
// resumes bit for bit. Randomness is not part of a snapshot: it is only drawn at Reset, and
// trainers reseed every episode (Reseeder).
type Snapshotter interface {
	// Snapshot returns the env's current state as bytes.
	Snapshot() ([]byte, error)
	// Restore returns the env to a state returned by Snapshot of an env of the same task.
	Restore(state []byte) error
}

// ErrNoSnapshot is returned (wrapped) by Snapshot and Restore of an env whose physics cannot
// expose its state; such envs resume at episode boundaries.
var ErrNoSnapshot = errors.New("env state cannot be snapshotted")

// EpisodeSeed mixes a run seed and an episode index into one seed (SplitMix64 finalizer).
func EpisodeSeed(seed uint64, episode int64) uint64 {
	z := seed + 0x9e3779b97f4a7c15*uint64(episode+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Options configures Make.
type Options struct {
	// Seed seeds the Env's own RNG (initial-state randomization). Same seed, same trajectory.
	Seed uint64
	// ActionRepeat overrides the task's default action repeat when > 0.
	ActionRepeat int
}

// Option modifies Options.
type Option func(*Options)

// WithSeed sets the seed of the Env's RNG.
func WithSeed(seed uint64) Option { return func(o *Options) { o.Seed = seed } }

// WithActionRepeat overrides the task's action repeat (must be >= 1).
func WithActionRepeat(n int) Option { return func(o *Options) { o.ActionRepeat = n } }

// Factory makes an Env from resolved options.
type Factory func(opts Options) (Env, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
	// aliases maps an alternative spelling accepted by Make to a registered name, e.g. the
	// dm_control-style "cartpole-swingup_sparse" to "cartpole-swingup-sparse".
	aliases = map[string]string{}
	// unavailable maps a task this build knows by name but cannot run (a MuJoCo task in a build
	// without -tags mujoco) to the reason, which Make returns.
	unavailable = map[string]string{}
)

// ErrUnavailable is wrapped by the error Make returns for a task this build or machine cannot run,
// such as a MuJoCo task in a build without MuJoCo; the message says how to enable it.
var ErrUnavailable = errors.New("task unavailable")

// RegisterUnavailable records name as a task Make recognizes but cannot build here: Make returns
// an error wrapping ErrUnavailable with reason (which should say how to make the task available).
// Names does not list such tasks, so suites over Names only see tasks that run. It returns an
// error if the name is empty, the reason is empty, or the name is already taken.
func RegisterUnavailable(name, reason string) error {
	if name == "" || reason == "" {
		return fmt.Errorf("envs.RegisterUnavailable: empty name or reason")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[name]; ok {
		return fmt.Errorf("envs.RegisterUnavailable: task %q already registered", name)
	}
	if _, ok := unavailable[name]; ok {
		return fmt.Errorf("envs.RegisterUnavailable: task %q already registered as unavailable", name)
	}
	if target, ok := aliases[name]; ok {
		return fmt.Errorf("envs.RegisterUnavailable: %q is already an alias of task %q", name, target)
	}
	unavailable[name] = reason
	return nil
}

// MustRegisterUnavailable is RegisterUnavailable for package init functions.
func MustRegisterUnavailable(name, reason string) {
	if err := RegisterUnavailable(name, reason); err != nil {
		panic(err)
	}
}

// UnavailableNames lists, sorted, the tasks registered with RegisterUnavailable.
func UnavailableNames() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(unavailable))
	for n := range unavailable {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Register adds a task factory under name. It returns an error if the name is empty or taken.
func Register(name string, f Factory) error {
	if name == "" || f == nil {
		return fmt.Errorf("envs.Register: empty name or nil factory")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[name]; ok {
		return fmt.Errorf("envs.Register: task %q already registered", name)
	}
	if _, ok := unavailable[name]; ok {
		return fmt.Errorf("envs.Register: task %q already registered as unavailable", name)
	}
	if target, ok := aliases[name]; ok {
		return fmt.Errorf("envs.Register: %q is already an alias of task %q", name, target)
	}
	registry[name] = f
	return nil
}

// RegisterAlias makes Make accept alias as another name of the registered task target (for
// instance dm_control's "cartpole-balance_sparse" for "cartpole-balance-sparse"). Aliases are
// not listed by Names, and the Env's Spec reports the target name. It returns an error if alias
// is empty or already a task or alias name, or if target is not registered.
func RegisterAlias(alias, target string) error {
	if alias == "" {
		return fmt.Errorf("envs.RegisterAlias: empty alias")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[alias]; ok {
		return fmt.Errorf("envs.RegisterAlias: %q is already a registered task", alias)
	}
	if t, ok := aliases[alias]; ok {
		return fmt.Errorf("envs.RegisterAlias: %q is already an alias of task %q", alias, t)
	}
	_, known := registry[target]
	if _, ok := unavailable[target]; ok {
		known = true
	}
	if _, ok := unavailable[alias]; ok {
		return fmt.Errorf("envs.RegisterAlias: %q is already a registered (unavailable) task", alias)
	}
	if !known {
		return fmt.Errorf("envs.RegisterAlias: target task %q of alias %q is not registered", target, alias)
	}
	aliases[alias] = target
	return nil
}

// MustRegisterAlias is RegisterAlias for package init functions.
func MustRegisterAlias(alias, target string) {
	if err := RegisterAlias(alias, target); err != nil {
		panic(err)
	}
}

// MustRegister is Register for package init functions: a duplicate name is a programming error.
func MustRegister(name string, f Factory) {
	if err := Register(name, f); err != nil {
		panic(err)
	}
}

// Names lists the registered task names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownTaskError is returned by Make for a name that is not registered.
type UnknownTaskError struct {
	// Name is the name that was asked for.
	Name string
	// Known lists the registered task names, sorted (aliases are not listed).
	Known []string
}

// Error lists the known tasks so the caller can correct the name.
func (e *UnknownTaskError) Error() string {
	return fmt.Sprintf("envs: unknown task %q; known tasks: %s", e.Name, strings.Join(e.Known, ", "))
}

// Make builds a registered task by name ("cartpole-balance") or alias
// ("cartpole-balance_sparse"). An unknown name returns an *UnknownTaskError listing the known
// tasks.
func Make(name string, opts ...Option) (Env, error) {
	o := Options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.ActionRepeat < 0 {
		return nil, fmt.Errorf("envs: action repeat must be >= 1, got %d", o.ActionRepeat)
	}
	registryMu.RLock()
	if target, isAlias := aliases[name]; isAlias {
		name = target
	}
	f, ok := registry[name]
	reason, isUnavailable := unavailable[name]
	registryMu.RUnlock()
	if isUnavailable {
		return nil, fmt.Errorf("envs: %w: %s", ErrUnavailable, reason)
	}
	if !ok {
		return nil, &UnknownTaskError{Name: name, Known: Names()}
	}
	return f(o)
}

// Load is Make("domain-task"), in dm_control's (domain, task) form.
func Load(domain, task string, opts ...Option) (Env, error) {
	return Make(domain+"-"+task, opts...)
}

// CheckAction validates an agent action: the right length and every entry finite.
func CheckAction(action []float32, dim int) error {
	if len(action) != dim {
		return fmt.Errorf("envs: action has length %d, want %d", len(action), dim)
	}
	for i, a := range action {
		if math.IsNaN(float64(a)) || math.IsInf(float64(a), 0) {
			return fmt.Errorf("envs: action[%d] = %v is not finite", i, a)
		}
	}
	return nil
}

// NewRNG returns the deterministic RNG an Env draws its randomization from.
func NewRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
