// Package pompc implements PO-MPC (KL-regularized policy optimization with an MPPI planner) in
// GoMLX: the TD-MPC2 world model, the MPPI planner, the KL-regularized critic, the intermediate
// prior, lazy reanalysis and a stepwise trainer. TD-MPC2 is the lambda = 0 member of the family
// and BMPC the lambda = +Inf member; see ../shared/design/algorithm.md (cited below as "alg §N").
package pompc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// PriorKind selects what pi_s is regularized towards (alg §4).
type PriorKind string

const (
	// PriorNone disables every KL term: only valid with lambda = 0 (TD-MPC2).
	PriorNone PriorKind = "none"
	// PriorLearned is the intermediate prior network pi_p fitted to the stored planner Gaussians.
	PriorLearned PriorKind = "learned"
	// PriorPlanner uses the planner Gaussian q_t stored with each transition directly.
	PriorPlanner PriorKind = "planner"
)

// KLDir is the direction of the KL with which pi_p is fitted to the planner Gaussians (alg §4).
type KLDir string

const (
	// KLForward fits pi_p by KL(q || pi_p): mass covering, explores more.
	KLForward KLDir = "forward"
	// KLReverse fits pi_p by KL(pi_p || q): mode seeking, more precise.
	KLReverse KLDir = "reverse"
)

// Size holds the network dimensions of a size preset (alg §2, TD-MPC2's model sizes).
type Size struct {
	// Name is the preset name: "tiny", "1M", "5M", "19M", "48M" or "custom".
	Name string `json:"name"`
	// EncDim is the hidden width of the encoder MLP.
	EncDim int `json:"enc_dim"`
	// MLPDim is the hidden width of the dynamics, reward, Q and policy MLPs.
	MLPDim int `json:"mlp_dim"`
	// Latent is the dimension of z (a multiple of SimNormDim).
	Latent int `json:"latent_dim"`
	// EncLayers is the number of hidden layers of the encoder.
	EncLayers int `json:"num_enc_layers"`
	// QHeads is the size of the Q (and Qk) ensembles.
	QHeads int `json:"num_q"`
}

// Size presets (alg §2). Tiny is ours, for tests and CPU runs.
var (
	SizeTiny = Size{Name: "tiny", EncDim: 64, MLPDim: 64, Latent: 32, EncLayers: 1, QHeads: 2}
	Size1M   = Size{Name: "1M", EncDim: 256, MLPDim: 384, Latent: 128, EncLayers: 2, QHeads: 2}
	Size5M   = Size{Name: "5M", EncDim: 256, MLPDim: 512, Latent: 512, EncLayers: 2, QHeads: 5}
	Size19M  = Size{Name: "19M", EncDim: 1024, MLPDim: 1024, Latent: 768, EncLayers: 3, QHeads: 5}
	Size48M  = Size{Name: "48M", EncDim: 1792, MLPDim: 1792, Latent: 768, EncLayers: 4, QHeads: 5}
)

// SizeByName returns a size preset by its name (case-insensitive).
func SizeByName(name string) (Size, error) {
	for _, s := range []Size{SizeTiny, Size1M, Size5M, Size19M, Size48M} {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	return Size{}, fmt.Errorf("pompc: unknown size %q; known sizes: tiny, 1M, 5M, 19M, 48M", name)
}

// Config holds every hyperparameter of an agent and its training run. Start from a preset
// (TDMPC2, BMPC, POMPC) and adjust; Validate reports every bad field.
type Config struct {
	// Preset names the algorithm preset the config started from (informational).
	Preset string `json:"preset"`
	// Size holds the network dimensions.
	Size Size `json:"size"`

	// --- PO-MPC (alg §4, §7) ---

	// Lambda is λ, the price per nat of KL(pi_s || prior); 0 = TD-MPC2, +Inf = BMPC. JSON writes
	// +Inf as the string "inf".
	Lambda float64 `json:"-"`
	// Prior selects the prior pi_s is regularized towards: none, learned (pi_p) or planner (q_t).
	Prior PriorKind `json:"prior"`
	// PriorKL is the direction of the KL fitting pi_p to the planner Gaussians.
	PriorKL KLDir `json:"prior_kl"`
	// KLCritic trains the KL-regularized critic Qk (alg §4) and uses it in the policy loss when
	// 0 < lambda < Inf; otherwise the policy uses the plain critic Q.
	KLCritic bool `json:"kl_critic"`
	// Reanalyze enables BMPC's lazy reanalysis of stored planner Gaussians (alg §5).
	Reanalyze bool `json:"reanalyze"`
	// ReanalyzeEvery is the number of updates between reanalyses.
	ReanalyzeEvery int `json:"reanalyze_every"`
	// ReanalyzeSeqs is how many sequences of the batch are re-planned (all H+1 steps of each).
	ReanalyzeSeqs int `json:"reanalyze_seqs"`

	// --- planning (alg §3) ---

	// Horizon is H, the planning and latent-rollout length.
	Horizon int `json:"horizon"`
	// Iterations is the number of MPPI iterations (+2 at action dim >= 20, see PlanIterations).
	Iterations int `json:"iterations"`
	// NumSamples is the number of trajectories per MPPI iteration, including NumPiTrajs.
	NumSamples int `json:"num_samples"`
	// NumPiTrajs is how many of the samples come from rolling out pi_s.
	NumPiTrajs int `json:"num_pi_trajs"`
	// NumElites is K, the number of elite trajectories refitting the Gaussian.
	NumElites int `json:"num_elites"`
	// Temperature scales elite values in the MPPI weights exp(T*(v - max v)).
	Temperature float64 `json:"temperature"`
	// MinStd and MaxStd clamp the MPPI standard deviation.
	MinStd float64 `json:"min_std"`
	// MaxStd is also the initial MPPI standard deviation.
	MaxStd float64 `json:"max_std"`

	// --- optimization (alg §4) ---

	// BatchSize is the number of sequences of length H+1 per update.
	BatchSize int `json:"batch_size"`
	// LR is the Adam learning rate.
	LR float64 `json:"lr"`
	// EncLRScale multiplies LR for the encoder.
	EncLRScale float64 `json:"enc_lr_scale"`
	// GradClipNorm is the global gradient-norm clip of each optimizer.
	GradClipNorm float64 `json:"grad_clip_norm"`
	// Rho is ρ, the per-step loss weight ρ^t.
	Rho float64 `json:"rho"`
	// Tau is τ, the Polyak rate of the target critics and of the running scales.
	Tau float64 `json:"tau"`
	// EntropyCoef is β, the entropy bonus of the policy loss.
	EntropyCoef float64 `json:"entropy_coef"`
	// ConsistencyCoef, RewardCoef and ValueCoef weight the world-model loss terms.
	ConsistencyCoef float64 `json:"consistency_coef"`
	// RewardCoef weights the reward cross-entropy.
	RewardCoef float64 `json:"reward_coef"`
	// ValueCoef weights the Q (and Qk) cross-entropies.
	ValueCoef float64 `json:"value_coef"`
	// Discount is γ; 0 means derived from the episode length (see DiscountFor).
	Discount float64 `json:"discount"`
	// NumBins, VMin and VMax define the two-hot support over symlog values.
	NumBins int `json:"num_bins"`
	// VMin is the lower end of the symlog support.
	VMin float64 `json:"vmin"`
	// VMax is the upper end of the symlog support.
	VMax float64 `json:"vmax"`
	// SimNormDim is the group size of SimNorm.
	SimNormDim int `json:"simnorm_dim"`
	// LogStdMin and LogStdMax bound the policies' log standard deviations.
	LogStdMin float64 `json:"log_std_min"`
	// LogStdMax is the upper bound of the policies' log std.
	LogStdMax float64 `json:"log_std_max"`
	// Dropout is the dropout rate on the first hidden layer of Q heads (online critics in
	// training graphs only: the TD targets' critics evaluate without it, as TD-MPC2's).
	Dropout float64 `json:"dropout"`

	// --- the forms of the two ends (issue 16; README "Presets and deviations") ---

	// PolicyForm is how pi_s and pi_p turn a Gaussian into an action: "clip" (alg §2 decided,
	// BMPC's: a = clip(tanh(μ) + σε, −1, 1), a Gaussian in action space, every KL closed form) or
	// "tanh" (TD-MPC2's: a = tanh(μ + σε), a Gaussian before the squash; KLs between the two
	// policies are closed form in that space, the KL to a planner Gaussian is sampled). "" is clip.
	PolicyForm string `json:"policy_form,omitempty"`
	// EntropyActionDim multiplies the policy's entropy bonus by the action dimension A, as both
	// official codes do (TD-MPC2: −β·A·log N(u; μ, σ); BMPC the same); false is β·H.
	EntropyActionDim bool `json:"entropy_x_action_dim,omitempty"`
	// KLReduce is how KL(pi_s || prior) of the policy loss reduces over action dimensions: "sum"
	// (the KL of the diagonal Gaussians) or "mean" (BMPC's: the sum / A). "" is sum.
	KLReduce string `json:"kl_reduce,omitempty"`
	// KLScale is how a finite λ's policy loss is normalized: "joint" ((−Qk + λ·KL)/S_Q, one
	// scale) or "separate" (−Qk/S_Q + λ·KL/S_KL, a running scale for each term, as the authors'
	// qbmpc precursor). "" is joint.
	KLScale string `json:"kl_scale,omitempty"`
	// PolicyStates is which rollout latents the policy and prior losses (and lazy reanalysis)
	// cover: "h+1" (z_0..z_H, TD-MPC2's update_pi) or "h" (z_0..z_{H−1}, BMPC's). "" is h+1.
	PolicyStates string `json:"policy_states,omitempty"`
	// SeedPrior is the planner Gaussian of a state without one (a seed-phase random action):
	// "mask" (no KL term there) or "normal" (N(0, 1), which BMPC imitates there). The last
	// rollout state z_H, where a final observation may sit, stays masked. "" is mask.
	SeedPrior string `json:"seed_prior,omitempty"`
	// PlanMean is the mean of the planner Gaussian stored with a transition: "mppi" (the final
	// iteration's weighted mean of the first action, alg §3 decided) or "elite" (the first
	// action of the elite the planner picked, BMPC's). The std is the MPPI std either way.
	PlanMean string `json:"plan_mean,omitempty"`
	// TDHeads is how the TD targets reduce the two random target-critic heads: "min" (TD-MPC2)
	// or "avg" (BMPC's Q variant). "" is min.
	TDHeads string `json:"td_heads,omitempty"`
	// BurstWorldModelOnly makes the seed-phase update burst train only the world model and the
	// critics: no policy or prior update and no reanalysis during it (BMPC's pretraining).
	BurstWorldModelOnly bool `json:"burst_world_model_only,omitempty"`
	// ReanalyzeLogStdMin and ReanalyzeLogStdMax are the log-std bounds of pi_s's proposals
	// when lazy reanalysis re-plans (BMPC's exploratory bounds); both 0 means the policy's own.
	ReanalyzeLogStdMin float64 `json:"reanalyze_log_std_min,omitempty"`
	// ReanalyzeLogStdMax is the upper exploratory bound (see ReanalyzeLogStdMin).
	ReanalyzeLogStdMax float64 `json:"reanalyze_log_std_max,omitempty"`

	// --- training schedule (alg §6) ---

	// Steps is the total number of agent steps of a training run.
	Steps int `json:"steps"`
	// SeedSteps is the number of random-action steps; 0 means max(1000, 5 * episode length).
	SeedSteps int `json:"seed_steps"`
	// UTDRatio is the number of updates per agent step after the seed phase (tdmpc2-jax's
	// utd_ratio; alg §6 has 1); 0 means 1. The seed phase's burst stays SeedSteps updates.
	UTDRatio int `json:"utd_ratio"`
	// NumEnvs is the number of environments a run steps together (tdmpc2-jax's num_envs); 0
	// means 1. One trainer step plans for all of them in one planner call, steps each once
	// (NumEnvs agent steps, each env in its own goroutine) and then runs NumEnvs·UTD updates, so
	// updates per agent step stay UTD. Every step count (Steps, SeedSteps, EvalEvery, save
	// intervals) stays in agent steps summed over the envs; Steps must be a multiple of it.
	NumEnvs int `json:"num_envs,omitempty"`
	// BufferSize is the replay capacity in transitions.
	BufferSize int `json:"buffer_size"`
	// EvalEvery is the number of agent steps between evaluations (0 disables).
	EvalEvery int `json:"eval_every"`
	// EvalEpisodes is the number of episodes per evaluation.
	EvalEpisodes int `json:"eval_episodes"`
	// SnapshotEvery is the number of planner calls between planner-vs-policy snapshots (0 disables).
	SnapshotEvery int `json:"snapshot_every"`
	// Seed seeds every RNG of the run.
	Seed int64 `json:"seed"`

	// --- compute ---

	// Backend is the compute backend spec: "go" (pure Go), "xla:cuda" or "xla:cpu" (see
	// BackendSpec). Empty means $GOMLX_BACKEND, else the pure-Go default; a command-line
	// --backend wins over it (ChooseBackend). It does not change results' meaning, only where
	// the graphs run.
	Backend string `json:"backend,omitempty"`
}

// base returns the fields shared by every preset (TD-MPC2's defaults, alg §3-§6).
func base() Config {
	return Config{
		Size:            Size5M,
		Prior:           PriorNone,
		PriorKL:         KLReverse,
		ReanalyzeEvery:  10,
		ReanalyzeSeqs:   20,
		Horizon:         3,
		Iterations:      6,
		NumSamples:      512,
		NumPiTrajs:      24,
		NumElites:       64,
		Temperature:     0.5,
		MinStd:          0.05,
		MaxStd:          2,
		BatchSize:       256,
		LR:              3e-4,
		EncLRScale:      0.3,
		GradClipNorm:    20,
		Rho:             0.5,
		Tau:             0.01,
		EntropyCoef:     1e-4,
		ConsistencyCoef: 20,
		RewardCoef:      0.1,
		ValueCoef:       0.1,
		NumBins:         101,
		VMin:            -10,
		VMax:            10,
		SimNormDim:      8,
		LogStdMin:       -5,
		LogStdMax:       1,
		Dropout:         0.01,
		Steps:           100_000,
		BufferSize:      1_000_000,
		EvalEvery:       10_000,
		EvalEpisodes:    10,
		SnapshotEvery:   50,
		Seed:            1,
	}
}

// TDMPC2 is lambda = 0, no prior, Q only: TD-MPC2 (alg §7) in TD-MPC2's own forms (tanh(μ + σε)
// with log σ in [−10, 2], entropy bonus × A), so that its update is TD-MPC2's (e9f5932).
func TDMPC2() Config {
	c := base()
	c.Preset = "tdmpc2"
	c.Lambda = 0
	c.Prior = PriorNone
	c.PolicyForm = FormTanh
	c.LogStdMin, c.LogStdMax = -10, 2
	c.EntropyActionDim = true
	return c
}

// BMPC is lambda = +Inf with the planner prior and a Q critic: BMPC with its Q critic (alg §7) in
// BMPC's own forms (d5dabc6): KL averaged over action dims, entropy × A, imitation over H
// states and of N(0, 1) at seed-phase states, the picked elite's first action as the stored
// mean, the average of two target heads, log σ in [−3, 1], a world-model-only seed burst, and
// reanalysis of H states with exploratory bounds [−2, 1].
func BMPC() Config {
	c := base()
	c.Preset = "bmpc"
	c.Lambda = math.Inf(1)
	c.Prior = PriorPlanner
	c.Reanalyze = true
	c.PolicyForm = FormClip
	c.LogStdMin, c.LogStdMax = -3, 1
	c.EntropyActionDim = true
	c.KLReduce = "mean"
	c.PolicyStates = "h"
	c.SeedPrior = "normal"
	c.PlanMean = "elite"
	c.TDHeads = "avg"
	c.BurstWorldModelOnly = true
	c.ReanalyzeLogStdMin, c.ReanalyzeLogStdMax = -2, 1
	return c
}

// POMPC is lambda = 1, learned prior fitted with reverse KL, Q + Qk critics (alg §7), in the
// family's forms: alg §2's clipped Gaussian (every KL closed form), the entropy bonus × A as at
// both ends, the rest as TD-MPC2 (README "Presets and deviations" gives each reason).
func POMPC() Config {
	c := base()
	c.Preset = "pompc"
	c.Lambda = 1
	c.Prior = PriorLearned
	c.PriorKL = KLReverse
	c.KLCritic = true
	c.Reanalyze = true
	c.EntropyActionDim = true
	return c
}

// Policy forms (Config.PolicyForm).
const (
	// FormClip is alg §2's a = clip(tanh(μ) + σε, −1, 1) (BMPC's).
	FormClip = "clip"
	// FormTanh is TD-MPC2's a = tanh(μ + σε).
	FormTanh = "tanh"
)

// TanhForm reports whether the policies sample tanh(μ + σε) (TD-MPC2's form).
func (c Config) TanhForm() bool { return c.PolicyForm == FormTanh }

// PolicyLatents is how many rollout latents the policy and prior losses cover: H+1, or H with
// policy_states "h".
func (c Config) PolicyLatents() int {
	if c.PolicyStates == "h" {
		return c.Horizon
	}
	return c.Horizon + 1
}

// DefaultPreset and DefaultSize are what `pompc train` builds without --preset and --size.
const (
	DefaultPreset = "pompc"
	DefaultSize   = "tiny"
)

// BuildConfig is the configuration `pompc train` builds from its flags, in this order: the
// preset, then the size preset (WithSize), then the config-key flags (flags: key → value, e.g.
// "batch_size" → "8"; each key once, so their order does not matter), then every --set
// key=value in sets, in order (later wins). Empty preset and size are DefaultPreset and
// DefaultSize. Every bad key or value is reported at once.
func BuildConfig(preset, size string, flags map[string]string, sets []string) (Config, error) {
	if preset == "" {
		preset = DefaultPreset
	}
	if size == "" {
		size = DefaultSize
	}
	cfg, err := PresetByName(preset)
	if err != nil {
		return cfg, err
	}
	sz, err := SizeByName(size)
	if err != nil {
		return cfg, err
	}
	cfg = cfg.WithSize(sz)
	var errs []error
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := cfg.Set(k, flags[k]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("pompc: --set wants key=value, got %q", kv))
			continue
		}
		if err := cfg.Set(k, v); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// PresetByName returns TDMPC2, BMPC or POMPC by name (case-insensitive).
func PresetByName(name string) (Config, error) {
	switch strings.ToLower(name) {
	case "tdmpc2", "td-mpc2":
		return TDMPC2(), nil
	case "bmpc":
		return BMPC(), nil
	case "pompc", "po-mpc":
		return POMPC(), nil
	}
	return Config{}, fmt.Errorf("pompc: unknown preset %q; known presets: tdmpc2, bmpc, pompc", name)
}

// WithSize returns a copy of c with the network dimensions of s. The tiny size also shrinks the
// batch, the planner and the run (15k agent steps, evaluation every 2.5k) so that a CPU run
// learns an embedded task in minutes; every other size restores TD-MPC2's values for those.
func (c Config) WithSize(s Size) Config {
	c.Size = s
	d := base()
	c.Steps, c.EvalEvery, c.EvalEpisodes = d.Steps, d.EvalEvery, d.EvalEpisodes
	planner := PlannerTDMPC2
	if s.Name == SizeTiny.Name {
		planner = PlannerTiny
		c.Steps = 15_000
		c.EvalEvery = 2_500
		c.EvalEpisodes = 5
	}
	c, _ = c.WithPlanner(planner)
	return c
}

// Planner bundles, the names Config.WithPlanner takes.
const (
	// PlannerTiny is the tiny size's planner and batch: 128 samples × 4 iterations, 8 π
	// trajectories, 16 elites, batch 64, 4 reanalysed sequences.
	PlannerTiny = "tiny"
	// PlannerTDMPC2 is TD-MPC2's: 512 samples × 6 iterations, 24 π trajectories, 64 elites,
	// batch 256 (and BMPC's 20 reanalysed sequences); every size but tiny has it.
	PlannerTDMPC2 = "tdmpc2"
)

// WithPlanner returns a copy of c with a planner-and-batch bundle (PlannerTiny, PlannerTDMPC2):
// the planner's samples, π trajectories, elites and iterations, the update's batch and the
// reanalysis' sequences: what a step costs apart from the networks. A size preset sets its own
// (WithSize), so a planner applies after the size: `--size 1M --set planner=tiny` is the 1M
// networks with the tiny preset's planner and batch.
func (c Config) WithPlanner(name string) (Config, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case PlannerTiny:
		c.BatchSize, c.NumSamples, c.NumPiTrajs, c.NumElites = 64, 128, 8, 16
		c.Iterations, c.ReanalyzeSeqs = 4, 4
	case PlannerTDMPC2, "td-mpc2":
		d := base()
		c.BatchSize, c.NumSamples, c.NumPiTrajs, c.NumElites = d.BatchSize, d.NumSamples, d.NumPiTrajs, d.NumElites
		c.Iterations, c.ReanalyzeSeqs = d.Iterations, d.ReanalyzeSeqs
	default:
		return c, fmt.Errorf("pompc: unknown planner %q; known planners: %s (128 samples × 4 iterations, batch 64), %s (TD-MPC2's 512 × 6, batch 256)", name, PlannerTiny, PlannerTDMPC2)
	}
	return c, nil
}

// DiscountFor is γ from the episode length L (alg §4): clip((L/5 - 1)/(L/5), 0.95, 0.995),
// unless Discount is set explicitly.
func (c Config) DiscountFor(episodeLen int) float64 {
	if c.Discount > 0 {
		return c.Discount
	}
	frac := float64(episodeLen) / 5
	return math.Min(math.Max((frac-1)/frac, 0.95), 0.995)
}

// UpdatesPerStep is UTDRatio with its default: the updates of one agent step after the seed phase.
func (c Config) UpdatesPerStep() int { return max(c.UTDRatio, 1) }

// WithLambda is c with λ changed as Trainer.SetLambda changes it: moving a TD-MPC2 config (prior
// none) to λ > 0 also selects the learned prior pi_p.
func (c Config) WithLambda(lambda float64) Config {
	c.Lambda = lambda
	if lambda != 0 && c.Prior == PriorNone {
		c.Prior = PriorLearned
	}
	return c
}

// Envs is NumEnvs with its default: the environments a run steps together.
func (c Config) Envs() int { return max(c.NumEnvs, 1) }

// SeedStepsFor is the seed phase length: max(1000, 5 * episode length) unless set (alg §6).
func (c Config) SeedStepsFor(episodeLen int) int {
	if c.SeedSteps > 0 {
		return c.SeedSteps
	}
	return max(1000, 5*episodeLen)
}

// PlanIterations is Iterations + 2 when the action dimension is 20 or more (alg §3).
func (c Config) PlanIterations(actionDim int) int {
	if actionDim >= 20 {
		return c.Iterations + 2
	}
	return c.Iterations
}

// LambdaInf reports whether lambda is +Inf (the BMPC end of the family).
func (c Config) LambdaInf() bool { return math.IsInf(c.Lambda, 1) }

// UsesQk reports whether the KL-regularized critic is trained: with KLCritic at 0 < λ < ∞. At
// λ = 0 the run trains TD-MPC2's losses only (Qk and pi_p kept, frozen, for a later λ > 0).
func (c Config) UsesQk() bool { return c.KLCritic && !c.LambdaInf() && c.Lambda != 0 }

// UsesLearnedPrior reports whether the intermediate prior network pi_p is trained (λ > 0).
func (c Config) UsesLearnedPrior() bool { return c.Prior == PriorLearned && c.Lambda != 0 }

// Reanalyzes reports whether lazy reanalysis runs: on, with a prior, at λ > 0 (at λ = 0 the
// stored planner Gaussians feed no loss).
func (c Config) Reanalyzes() bool { return c.Reanalyze && c.Prior != PriorNone && c.Lambda != 0 }

// Validate reports every invalid field at once (errors.Join), never only the first.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if math.IsNaN(c.Lambda) || c.Lambda < 0 {
		bad("lambda must be >= 0 (or +Inf), got %v", c.Lambda)
	}
	switch c.Prior {
	case PriorNone:
		if c.Lambda != 0 {
			bad("prior %q needs lambda = 0, got %v (choose prior learned or planner)", c.Prior, c.Lambda)
		}
	case PriorLearned, PriorPlanner:
	default:
		bad("prior must be none, learned or planner, got %q", c.Prior)
	}
	if c.PriorKL != KLForward && c.PriorKL != KLReverse {
		bad("prior_kl must be forward or reverse, got %q", c.PriorKL)
	}
	s := c.Size
	if s.EncDim <= 0 || s.MLPDim <= 0 || s.Latent <= 0 || s.EncLayers <= 0 {
		bad("size dims must be > 0, got enc %d mlp %d latent %d layers %d", s.EncDim, s.MLPDim, s.Latent, s.EncLayers)
	}
	if s.QHeads < 2 {
		bad("num_q must be >= 2 (two random heads are drawn), got %d", s.QHeads)
	}
	if c.SimNormDim <= 0 || (s.Latent > 0 && s.Latent%max(c.SimNormDim, 1) != 0) {
		bad("latent_dim %d must be a positive multiple of simnorm_dim %d", s.Latent, c.SimNormDim)
	}
	if c.Horizon <= 0 {
		bad("horizon must be > 0, got %d", c.Horizon)
	}
	if c.Iterations <= 0 {
		bad("iterations must be > 0, got %d", c.Iterations)
	}
	if c.NumSamples <= 0 || c.NumPiTrajs < 0 || c.NumPiTrajs >= c.NumSamples {
		bad("need 0 <= num_pi_trajs < num_samples, got %d and %d", c.NumPiTrajs, c.NumSamples)
	}
	if c.NumElites <= 0 || c.NumElites > c.NumSamples {
		bad("need 0 < num_elites <= num_samples, got %d and %d", c.NumElites, c.NumSamples)
	}
	if !(c.Temperature > 0) {
		bad("temperature must be > 0, got %v", c.Temperature)
	}
	if !(c.MinStd > 0) || !(c.MaxStd >= c.MinStd) {
		bad("need 0 < min_std <= max_std, got %v and %v", c.MinStd, c.MaxStd)
	}
	if c.BatchSize <= 0 {
		bad("batch_size must be > 0, got %d", c.BatchSize)
	}
	if !(c.LR > 0) || !(c.EncLRScale > 0) {
		bad("lr and enc_lr_scale must be > 0, got %v and %v", c.LR, c.EncLRScale)
	}
	if !(c.GradClipNorm > 0) {
		bad("grad_clip_norm must be > 0, got %v", c.GradClipNorm)
	}
	if !(c.Rho > 0 && c.Rho <= 1) {
		bad("rho must be in (0, 1], got %v", c.Rho)
	}
	if !(c.Tau > 0 && c.Tau <= 1) {
		bad("tau must be in (0, 1], got %v", c.Tau)
	}
	if math.IsNaN(c.EntropyCoef) || c.EntropyCoef < 0 {
		bad("entropy_coef must be >= 0, got %v", c.EntropyCoef)
	}
	for name, v := range map[string]float64{"consistency_coef": c.ConsistencyCoef, "reward_coef": c.RewardCoef, "value_coef": c.ValueCoef} {
		if math.IsNaN(v) || v < 0 {
			bad("%s must be >= 0, got %v", name, v)
		}
	}
	if math.IsNaN(c.Discount) || c.Discount < 0 || c.Discount >= 1 {
		bad("discount must be in [0, 1) (0 = derived from the episode length), got %v", c.Discount)
	}
	if c.NumBins < 2 || !(c.VMax > c.VMin) {
		bad("need num_bins >= 2 and vmax > vmin, got %d, [%v, %v]", c.NumBins, c.VMin, c.VMax)
	}
	if !(c.LogStdMax > c.LogStdMin) {
		bad("need log_std_max > log_std_min, got %v and %v", c.LogStdMax, c.LogStdMin)
	}
	if math.IsNaN(c.Dropout) || c.Dropout < 0 || c.Dropout >= 1 {
		bad("dropout must be in [0, 1), got %v", c.Dropout)
	}
	for _, f := range []struct {
		key, v string
		ok     []string
	}{
		{"policy_form", c.PolicyForm, []string{FormClip, FormTanh}}, {"kl_reduce", c.KLReduce, []string{"sum", "mean"}},
		{"kl_scale", c.KLScale, []string{"joint", "separate"}}, {"policy_states", c.PolicyStates, []string{"h+1", "h"}},
		{"seed_prior", c.SeedPrior, []string{"mask", "normal"}}, {"plan_mean", c.PlanMean, []string{"mppi", "elite"}},
		{"td_heads", c.TDHeads, []string{"min", "avg"}},
	} {
		if f.v != "" && !slices.Contains(f.ok, f.v) {
			bad("%s must be %s (or empty for %s), got %q", f.key, strings.Join(f.ok, " or "), f.ok[0], f.v)
		}
	}
	if (c.ReanalyzeLogStdMin != 0 || c.ReanalyzeLogStdMax != 0) && !(c.ReanalyzeLogStdMax > c.ReanalyzeLogStdMin) {
		bad("need reanalyze_log_std_max > reanalyze_log_std_min (or both 0), got %v and %v", c.ReanalyzeLogStdMin, c.ReanalyzeLogStdMax)
	}
	if c.Reanalyze && (c.ReanalyzeEvery <= 0 || c.ReanalyzeSeqs <= 0 || c.ReanalyzeSeqs > c.BatchSize) {
		bad("reanalysis needs reanalyze_every > 0 and 0 < reanalyze_seqs <= batch_size, got %d and %d", c.ReanalyzeEvery, c.ReanalyzeSeqs)
	}
	if c.NumEnvs < 0 || c.NumEnvs > 4096 {
		bad("num_envs must be in [0, 4096] (0 means 1), got %d", c.NumEnvs)
	} else if e := c.Envs(); e > 1 && c.Steps%e != 0 {
		bad("steps (%d) must be a multiple of num_envs (%d): every trainer step takes one agent step in each env", c.Steps, e)
	}
	if c.Steps < 0 || c.SeedSteps < 0 || c.EvalEvery < 0 || c.EvalEpisodes < 0 || c.SnapshotEvery < 0 || c.UTDRatio < 0 {
		bad("steps, seed_steps, eval_every, eval_episodes, snapshot_every and utd_ratio must be >= 0")
	}
	if c.BufferSize <= 0 {
		bad("buffer_size must be > 0, got %d", c.BufferSize)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("pompc: invalid config: %w", errors.Join(errs...))
}

// MarshalJSON writes the config with lambda = +Inf as "inf" (JSON has no infinity).
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // drops the methods, so no recursion
	return json.Marshal(struct {
		plain
		Lambda JSONFloat `json:"lambda"`
	}{plain(c), JSONFloat(c.Lambda)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Config) UnmarshalJSON(data []byte) error {
	type plain Config
	aux := struct {
		*plain
		Lambda json.RawMessage `json:"lambda"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if len(aux.Lambda) > 0 {
		l, err := ParseLambda(strings.Trim(string(aux.Lambda), `"`))
		if err != nil {
			return err
		}
		c.Lambda = l
	}
	return nil
}

// Set assigns one field by its JSON name ("lambda=9", "size.mlp_dim=128", "prior=planner"), or a
// preset of several: "size=1M" (WithSize: the networks, and that size's planner, batch and run
// length) and "planner=tiny" (WithPlanner: the planner and batch). It is what `--set key=value`
// uses, in order, so a later key overrides what an earlier preset set.
func (c *Config) Set(key, value string) error {
	key = strings.TrimSpace(key)
	switch key {
	case "lambda":
		l, err := ParseLambda(value)
		if err != nil {
			return err
		}
		c.Lambda = l
		return nil
	case "size":
		s, err := SizeByName(value)
		if err != nil {
			return err
		}
		*c = c.WithSize(s)
		return nil
	case "planner":
		p, err := c.WithPlanner(value)
		if err != nil {
			return err
		}
		*c = p
		return nil
	}
	target := reflect.ValueOf(c).Elem()
	parts := strings.Split(key, ".")
	for i, p := range parts {
		f, ok := fieldByJSON(target, p)
		if !ok {
			return fmt.Errorf("pompc: unknown config key %q; known keys: %s", key, strings.Join(ConfigKeys(), ", "))
		}
		if i < len(parts)-1 {
			if f.Kind() != reflect.Struct {
				return fmt.Errorf("pompc: config key %q: %q is not a group", key, p)
			}
			target = f
			continue
		}
		if err := setValue(f, value); err != nil {
			return fmt.Errorf("pompc: config key %q: %w", key, err)
		}
		if i > 0 && parts[0] == "size" {
			c.Size.Name = "custom"
		}
	}
	return nil
}

// ConfigKeys lists every key Set accepts, sorted.
func ConfigKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				keys = append(keys, prefix+name)
				walk(f.Type, prefix+name+".")
				continue
			}
			keys = append(keys, prefix+name)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	keys = append(keys, "lambda")
	sort.Strings(keys)
	return keys
}

func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("json"), ",")[0] == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func setValue(f reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a bool", s)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}

// FieldDiff is one configuration field in which two configurations differ: its JSON key (a
// size field as "size.mlp_dim") and its two values as JSON writes them ("unset" where a field
// left out when empty is empty).
type FieldDiff struct {
	Key  string
	A, B string
}

// ConfigDiff lists the fields in which a and b differ, by key. Every comparison of two
// configurations (a population's runs, a notebook reattaching to a run, an archive restored
// into an ablation) goes through it, each leaving out the fields that may differ there.
func ConfigDiff(a, b Config) []FieldDiff {
	fa, fb := flatConfig(a), flatConfig(b)
	var out []FieldDiff
	for k, va := range fa {
		if vb, ok := fb[k]; !ok {
			out = append(out, FieldDiff{Key: k, A: va, B: "unset"})
		} else if vb != va {
			out = append(out, FieldDiff{Key: k, A: va, B: vb})
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, FieldDiff{Key: k, A: "unset", B: vb})
		}
	}
	slices.SortFunc(out, func(x, y FieldDiff) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// flatConfig is c's JSON form as key -> value, nested objects' keys joined by dots.
func flatConfig(c Config) map[string]string {
	b, err := json.Marshal(c)
	if err != nil {
		return map[string]string{"": err.Error()} // not reached: Config marshals
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]string{"": err.Error()}
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if mm, ok := v.(map[string]any); ok {
			for k, x := range mm {
				walk(prefix+k+".", x)
			}
			return
		}
		out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(v)
	}
	walk("", m)
	return out
}
