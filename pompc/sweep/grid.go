// Package sweep expands a grid of PO-MPC training runs (tasks x presets x lambda x KL direction x
// prior kind x seeds), runs its points as child processes of the pompc command in parallel and
// resumably, and summarizes the finished runs (final return and AUC with Student-t confidence
// intervals, wall time) as CSV and Markdown tables. Figures are drawn by package widgets.
//
// A sweep directory holds sweep.json (the grid), one run directory per point (named by
// Point.Name, each a normal run directory with its status record, status.json, and, for the
// CLI's sweeps, train.log), results.csv, results.md and figures/.
package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Grid is the cross product to run. An empty axis (Lambdas, KLs, Priors) keeps each preset's own
// value. The tdmpc2 preset has no prior (lambda = 0 by definition), so it takes no part in the
// lambda, KL and prior axes: it contributes one point per task and seed.
type Grid struct {
	Tasks   []string  `json:"tasks"`
	Presets []string  `json:"presets"`
	Lambdas []float64 `json:"-"`
	KLs     []string  `json:"kls,omitempty"`
	Priors  []string  `json:"priors,omitempty"`
	Seeds   []int     `json:"seeds"`
	// TrainArgs are passed to every `pompc train` (size, steps, --set overrides, ...).
	TrainArgs []string `json:"train_args,omitempty"`
}

// Point is one run of the grid. Lambda is NaN, KL and Prior empty where the axis is empty (the
// preset's value).
type Point struct {
	Task   string  `json:"task"`
	Preset string  `json:"preset"`
	Lambda float64 `json:"-"`
	KL     string  `json:"prior_kl,omitempty"`
	Prior  string  `json:"prior,omitempty"`
	Seed   int     `json:"seed"`
}

// MarshalJSON writes Lambdas with "inf" for +Inf.
func (g Grid) MarshalJSON() ([]byte, error) {
	type plain Grid
	ls := make([]string, len(g.Lambdas))
	for i, l := range g.Lambdas {
		ls[i] = pompc.FormatLambda(l)
	}
	return json.Marshal(struct {
		plain
		Lambdas []string `json:"lambdas,omitempty"`
	}{plain(g), ls})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (g *Grid) UnmarshalJSON(data []byte) error {
	type plain Grid
	var aux struct {
		plain
		Lambdas []string `json:"lambdas,omitempty"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*g = Grid(aux.plain)
	g.Lambdas = nil
	for _, s := range aux.Lambdas {
		l, err := pompc.ParseLambda(s)
		if err != nil {
			return err
		}
		g.Lambdas = append(g.Lambdas, l)
	}
	return nil
}

// Config is the run's configuration (preset, then the point's lambda, KL and prior). TrainArgs are
// not applied here: they are flags for the child process.
func (p Point) Config() (pompc.Config, error) {
	cfg, err := pompc.PresetByName(p.Preset)
	if err != nil {
		return cfg, err
	}
	if !math.IsNaN(p.Lambda) {
		if err := cfg.Set("lambda", pompc.FormatLambda(p.Lambda)); err != nil {
			return cfg, err
		}
	}
	if p.KL != "" {
		if err := cfg.Set("prior_kl", p.KL); err != nil {
			return cfg, err
		}
	}
	if p.Prior != "" {
		if err := cfg.Set("prior", p.Prior); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

// Variant names the point without its seed: the runs that are averaged together. It reads as a
// legend entry, e.g. "pompc λ=1", "bmpc", "pompc λ=9 kl=forward prior=planner".
func (p Point) Variant() string {
	if p.Preset == "tdmpc2" {
		return "tdmpc2" // λ = 0 by definition
	}
	lam := ""
	if !math.IsNaN(p.Lambda) {
		lam = pompc.FormatLambda(p.Lambda)
	} else if p.Preset == "pompc" {
		lam = "1"
	}
	return p.variantWith(lam)
}

// variantWith is Variant with lam as the λ part ("" for none).
func (p Point) variantWith(lam string) string {
	s := p.Preset
	if lam != "" {
		s += " λ=" + lam
	}
	if p.KL != "" {
		s += " kl=" + p.KL
	}
	if p.Prior != "" {
		s += " prior=" + p.Prior
	}
	return s
}

// Name is the point's run-directory name: task, preset, the set axes, seed.
func (p Point) Name() string {
	parts := []string{p.Task, p.Preset}
	if !math.IsNaN(p.Lambda) {
		parts = append(parts, "lam"+pompc.FormatLambda(p.Lambda))
	}
	if p.KL != "" {
		parts = append(parts, p.KL)
	}
	if p.Prior != "" {
		parts = append(parts, p.Prior)
	}
	parts = append(parts, "s"+strconv.Itoa(p.Seed))
	return strings.Join(parts, "_")
}

// TrainArgs are the `pompc train` arguments of the point, writing into runDir.
func (p Point) TrainArgs(g Grid, runDir string) []string {
	args := []string{"train", "--quiet", "--task", p.Task, "--preset", p.Preset, "--run-dir", runDir}
	args = append(args, g.TrainArgs...)
	args = append(args, "--seed", strconv.Itoa(p.Seed))
	if !math.IsNaN(p.Lambda) {
		args = append(args, "--set", "lambda="+pompc.FormatLambda(p.Lambda))
	}
	if p.KL != "" {
		args = append(args, "--set", "prior_kl="+p.KL)
	}
	if p.Prior != "" {
		args = append(args, "--set", "prior="+p.Prior)
	}
	return args
}

// Jobs are the grid's points as sweep jobs under dir: each point's run directory, its
// configuration (the preset, the point's axes, TrainArgs' --set and --steps applied) and its
// `pompc train` flags.
func (g Grid) Jobs(dir string) ([]Job, error) {
	pts, err := g.Points()
	if err != nil {
		return nil, err
	}
	jobs := make([]Job, len(pts))
	for i, p := range pts {
		runDir := filepath.Join(dir, p.Name())
		cfg, err := p.ConfigIn(g)
		if err != nil {
			return nil, err
		}
		jobs[i] = Job{Point: p, Name: p.Name(), Dir: runDir, Config: cfg, Args: p.TrainArgs(g, runDir)}
	}
	return jobs, nil
}

// ConfigIn is the point's configuration in g: what its `pompc train` child builds from its
// flags (TrainArgs: the grid's flags, then the point's seed and axes), through the same
// pompc.BuildConfig: --preset, --size, the config-key flags (the last of each), then every
// --set in order. Other flags only steer the child process.
func (p Point) ConfigIn(g Grid) (pompc.Config, error) {
	keys := map[string]bool{}
	for _, k := range pompc.ConfigKeys() {
		keys[k] = true
	}
	var preset, size string
	flags := map[string]string{}
	var sets []string
	args := p.TrainArgs(g, "")
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			continue
		}
		key, val, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if key != "set" && key != "preset" && key != "size" && !keys[key] {
			continue
		}
		if !inline {
			if i+1 >= len(args) {
				return pompc.Config{}, fmt.Errorf("sweep: train flag %s has no value", args[i])
			}
			i++
			val = args[i]
		}
		switch key {
		case "set":
			if !strings.Contains(val, "=") {
				return pompc.Config{}, fmt.Errorf("sweep: --set %q is not key=value", val)
			}
			sets = append(sets, val)
		case "preset":
			preset = val
		case "size":
			size = val
		default:
			flags[key] = val
		}
	}
	cfg, err := pompc.BuildConfig(preset, size, flags, sets)
	if err != nil {
		return cfg, fmt.Errorf("sweep: %s: %w", p.Name(), err)
	}
	return cfg, nil
}

// Points expands the grid in a fixed order (task, preset, lambda, KL, prior, seed), checking each
// configuration; every bad value is reported at once.
func (g Grid) Points() ([]Point, error) {
	var errs []error
	if len(g.Tasks) == 0 {
		errs = append(errs, errors.New("sweep: no tasks"))
	}
	if len(g.Presets) == 0 {
		errs = append(errs, errors.New("sweep: no presets"))
	}
	if len(g.Seeds) == 0 {
		errs = append(errs, errors.New("sweep: no seeds"))
	}
	axisF := func(v []float64) []float64 {
		if len(v) == 0 {
			return []float64{math.NaN()}
		}
		return v
	}
	axisS := func(v []string) []string {
		if len(v) == 0 {
			return []string{""}
		}
		return v
	}
	var pts []Point
	seen := map[string]bool{}
	for _, task := range g.Tasks {
		for _, preset := range g.Presets {
			preset = strings.ToLower(preset)
			lambdas, kls, priors := axisF(g.Lambdas), axisS(g.KLs), axisS(g.Priors)
			if preset == "tdmpc2" {
				lambdas, kls, priors = []float64{math.NaN()}, []string{""}, []string{""}
			}
			for _, l := range lambdas {
				for _, kl := range kls {
					for _, pr := range priors {
						for _, seed := range g.Seeds {
							p := Point{Task: task, Preset: preset, Lambda: l, KL: kl, Prior: pr, Seed: seed}
							if seen[p.Name()] {
								continue
							}
							seen[p.Name()] = true
							if _, err := p.Config(); err != nil {
								errs = append(errs, fmt.Errorf("sweep: %s: %w", p.Name(), err))
								continue
							}
							pts = append(pts, p)
						}
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pts, nil
}

// GridFile is the name of the grid file in a sweep directory.
const GridFile = "sweep.json"

// SaveGrid writes the grid to dir/sweep.json. A directory that already holds a different grid is
// an error: a sweep is resumed with the grid it was started with.
func SaveGrid(dir string, g Grid) error {
	if err := rundir.Ensure(dir); err != nil {
		return err
	}
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, GridFile)
	if old, err := os.ReadFile(path); err == nil {
		if string(old) != string(data)+"\n" {
			return fmt.Errorf("sweep: %s holds a different grid; resume it with no grid flags (or use another directory)", path)
		}
		return nil
	}
	return rundir.WriteFile(path, append(data, '\n'), 0o644)
}

// LoadGrid reads dir/sweep.json.
func LoadGrid(dir string) (Grid, error) {
	var g Grid
	data, err := os.ReadFile(filepath.Join(dir, GridFile))
	if err != nil {
		return g, fmt.Errorf("sweep: %s is not a sweep directory: %w", dir, err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return g, fmt.Errorf("sweep: %s: %w", filepath.Join(dir, GridFile), err)
	}
	return g, nil
}

// Variants lists the distinct variants of pts in grid order.
func Variants(pts []Point) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range pts {
		if v := p.Variant(); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Tasks lists the distinct tasks of pts, sorted.
func Tasks(pts []Point) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pts {
		if !seen[p.Task] {
			seen[p.Task] = true
			out = append(out, p.Task)
		}
	}
	sort.Strings(out)
	return out
}
