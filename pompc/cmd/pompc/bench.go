package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/compute"
	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/pompc"
)

// backendUsage is the help text of every --backend flag.
const backendUsage = "compute backend: go (pure Go, the default), xla:cuda (XLA on an NVIDIA GPU; the PJRT plugin is " +
	"found offline: $PJRT_PLUGIN_LIBRARY_PATH, ~/.local/lib/go-xla, /usr/local/lib/go-xla, a JAX install), xla:cpu; " +
	"XLA options after a comma (xla:cuda,preallocate=true); precedence: this flag, the config field backend, $GOMLX_BACKEND"

// benchRow is one line of the bench table (and one object of --json).
type benchRow struct {
	Backend    string  `json:"backend"`
	Size       string  `json:"size"`
	Preset     string  `json:"preset"`
	Task       string  `json:"task"`
	ObsDim     int     `json:"obs_dim"`
	ActDim     int     `json:"act_dim"`
	Samples    int     `json:"num_samples"`
	Iterations int     `json:"iterations"`
	Batch      int     `json:"batch_size"`
	Horizon    int     `json:"horizon"`
	Calls      int     `json:"timed_calls"`
	PlanMedMS  float64 `json:"plan_median_ms"`
	PlanP90MS  float64 `json:"plan_p90_ms"`
	UpdMedMS   float64 `json:"update_median_ms"`
	UpdP90MS   float64 `json:"update_p90_ms"`
	SampleMS   float64 `json:"replay_sample_median_ms"`
	EnvSPS     float64 `json:"env_steps_per_s,omitempty"`
	AgentSPS   float64 `json:"agent_steps_per_s,omitempty"`
	// Population is the number of runs trained as one population for the end-to-end rate (1: a
	// single run); AgentSPS is then their summed rate, PerRunSPS the rate of each, and SingleSPS
	// the rate of one run trained alone, measured in the same invocation.
	Population int     `json:"population,omitempty"`
	PerRunSPS  float64 `json:"agent_steps_per_s_per_run,omitempty"`
	SingleSPS  float64 `json:"single_run_agent_steps_per_s,omitempty"`
	PeakHeapMB float64 `json:"peak_heap_mb"`
	PeakRSSMB  float64 `json:"peak_rss_mb,omitempty"`
	GPUMemMB   float64 `json:"gpu_mem_mb,omitempty"`
	RefName    string  `json:"ref_name,omitempty"`
	RefPlanMS  float64 `json:"ref_plan_ms,omitempty"`
	RefUpdMS   float64 `json:"ref_update_ms,omitempty"`
}

// torchRef is TD-MPC2 (PyTorch 1.13, 2 CPU cores) from gpu.md: plan and update ms by size and dims.
var torchRef = map[string][2]float64{
	"1M/5/1": {147, 118}, "1M/67/21": {200, 118}, "5M/5/1": {350, 355}, "5M/67/21": {485, 370},
}

// jaxRef is tdmpc2-jax (JAX 0.11.2) on an H100 from gpu.md: plan and update ms by size and dims.
var jaxRef = map[string][2]float64{
	"5M/5/1": {5.6, 7.7}, "5M/67/21": {7.1, 9.1}, "5M/223/38": {5.9, 8.0},
}

// benchTasks maps obs/act dims to the tasks they come from, tried in order; dims without a task
// in this build use a synthetic env of the same dims for the end-to-end rate.
var benchTasks = map[string][]string{
	"3/1":    {"pendulum-swingup"},
	"5/1":    {"cartpole-balance", "cartpole-swingup"},
	"67/21":  {"humanoid-walk", "humanoid-run", "humanoid-stand"},
	"223/38": {"dog-run", "dog-walk", "dog-trot", "dog-stand"},
}

type benchOpts struct {
	warmup, iters, e2eSteps int
	envSeconds              float64
	population              int
}

func runBench(ctx context.Context, args []string) error { return runBenchTo(ctx, args, os.Stdout) }

func runBenchTo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "tiny,1M,5M", "comma-separated size presets")
	dims := fs.String("dims", "3/1,5/1,67/21,223/38", "comma-separated obs/act dims (pendulum 3/1, cartpole 5/1, humanoid 67/21, dog 223/38)")
	preset := fs.String("preset", "pompc", "algorithm preset (the update cost depends on it)")
	iters := fs.Int("iters", 10, "timed planner calls and updates per row, after warm-up")
	warmup := fs.Int("warmup", 2, "untimed warm-up calls (compilation happens here)")
	e2e := fs.Int("e2e-steps", 10, "timed agent steps of the end-to-end rate (plan + env + update; 0 skips it)")
	envSecs := fs.Float64("env-seconds", 0.5, "seconds of pure env stepping for the env rate (0 skips it)")
	planner := fs.String("planner", pompc.PlannerTDMPC2, "planner and batch of every row (pompc.Config.WithPlanner): tdmpc2, TD-MPC2's (512 samples, 6 iterations (+2 at action dim >= 20), batch 256, 20 reanalysed sequences), as in the reference tables; tiny (128 samples, 4 iterations, batch 64, 4 sequences); own: each size preset's own")
	asJSON := fs.Bool("json", false, "print JSON (one object per row) instead of a table")
	progress := fs.Bool("progress", true, "print a line on stderr as each row finishes")
	backendSpec := fs.String("backend", "", backendUsage)
	population := fs.Int("population", 1, "train N runs of each row's configuration as one population for the end-to-end rate (their λ spread over the ablation's 0.1, 1, 9 for the pompc preset; seeds 1..N) and report the summed and per-run agent steps/s beside a single run's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	if *iters <= 0 || *warmup < 0 || *e2e < 0 || *envSecs < 0 {
		return fmt.Errorf("bench: need --iters > 0 and --warmup, --e2e-steps, --env-seconds >= 0")
	}
	if *population < 1 {
		return fmt.Errorf("bench: --population must be >= 1, got %d", *population)
	}
	if *population > 1 && *e2e == 0 {
		return fmt.Errorf("bench: --population measures the end-to-end rate: give --e2e-steps > 0")
	}
	type job struct {
		size     pompc.Size
		obs, act int
	}
	var jobs []job
	for _, sz := range strings.Split(*sizes, ",") {
		size, err := pompc.SizeByName(strings.TrimSpace(sz))
		if err != nil {
			return err
		}
		for _, d := range strings.Split(*dims, ",") {
			o, a, err := parseDims(d)
			if err != nil {
				return err
			}
			jobs = append(jobs, job{size, o, a})
		}
	}
	if _, err := pompc.PresetByName(*preset); err != nil {
		return err
	}
	if *planner != "own" {
		if _, err := pompc.POMPC().WithPlanner(*planner); err != nil {
			return fmt.Errorf("bench: %w (or own: each size's)", err)
		}
	}
	spec := pompc.ChooseBackend(*backendSpec, "")
	backend, err := pompc.NewBackend(spec)
	if err != nil {
		return err
	}
	warnNoSIMD()
	opts := benchOpts{warmup: *warmup, iters: *iters, e2eSteps: *e2e, envSeconds: *envSecs, population: *population}
	var rows []benchRow
	for _, j := range jobs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cfg, _ := pompc.PresetByName(*preset)
		cfg = cfg.WithSize(j.size)
		if *planner != "own" {
			cfg, _ = cfg.WithPlanner(*planner) // checked above
		}
		cfg.Backend = spec
		row, err := benchOne(ctx, backend, cfg, j.obs, j.act, opts)
		if err != nil {
			return fmt.Errorf("bench %s %d/%d: %w", j.size.Name, j.obs, j.act, err)
		}
		setRef(&row)
		rows = append(rows, row)
		if *progress {
			fmt.Fprintf(os.Stderr, "bench: %s %d/%d (%s): plan %s/%s ms, update %s/%s ms (med/p90), sample %.2f ms, env %s steps/s, agent %s steps/s, heap %.0f MB, RSS %.0f MB\n",
				row.Size, row.ObsDim, row.ActDim, row.Task, fmtMS(row.PlanMedMS), fmtMS(row.PlanP90MS), fmtMS(row.UpdMedMS), fmtMS(row.UpdP90MS),
				row.SampleMS, fmtRate(row.EnvSPS), fmtRate(row.AgentSPS), row.PeakHeapMB, row.PeakRSSMB)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printBench(out, rows, spec+" ("+backend.Description()+")")
	return nil
}

// setRef attaches the reference timing of the same configuration: tdmpc2-jax on an H100 for a
// CUDA backend, TD-MPC2 (PyTorch) on the 2-core CPU otherwise.
func setRef(r *benchRow) {
	if r.Samples != 512 || r.Batch != 256 || r.Horizon != 3 {
		return
	}
	key := fmt.Sprintf("%s/%d/%d", r.Size, r.ObsDim, r.ActDim)
	refs, name := torchRef, "torch-cpu-2core"
	if strings.HasPrefix(r.Backend, "xla") && strings.Contains(r.Backend, "cuda") {
		refs, name = jaxRef, "tdmpc2-jax-h100"
	}
	if ref, ok := refs[key]; ok {
		r.RefName, r.RefPlanMS, r.RefUpdMS = name, ref[0], ref[1]
	}
}

func parseDims(s string) (int, int, error) {
	o, a, ok := strings.Cut(strings.TrimSpace(s), "/")
	on, err1 := strconv.Atoi(o)
	an, err2 := strconv.Atoi(a)
	if !ok || err1 != nil || err2 != nil || on <= 0 || an <= 0 {
		return 0, 0, fmt.Errorf("bench: dims %q must look like OBS/ACT, e.g. 67/21", s)
	}
	return on, an, nil
}

// benchOne measures one size and dims: planner calls and updates of a fresh agent on synthetic
// replay data, the pure env rate of the matching task, and the end-to-end agent rate of a
// Trainer (plan, env step, replay insert and sample, update, reanalysis when due).
func benchOne(ctx context.Context, backend compute.Backend, cfg pompc.Config, obsDim, actDim int, o benchOpts) (benchRow, error) {
	mem := startMemWatch()
	row := benchRow{Backend: cfg.Backend, Size: cfg.Size.Name, Preset: cfg.Preset, ObsDim: obsDim, ActDim: actDim,
		Samples: cfg.NumSamples, Iterations: cfg.PlanIterations(actDim), Batch: cfg.BatchSize, Horizon: cfg.Horizon, Calls: o.iters}
	agent, err := pompc.NewAgent(backend, cfg, obsDim, actDim, 0.99)
	if err != nil {
		return row, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf, err := syntheticBuffer(rng, obsDim, actDim)
	if err != nil {
		return row, err
	}
	obs := randn(rng, obsDim)
	var planMS, updMS, sampleMS []float64
	for i := 0; i < o.warmup+o.iters; i++ {
		if ctx.Err() != nil {
			return row, ctx.Err()
		}
		t0 := time.Now()
		if _, err := agent.Act(obs, i == 0, false); err != nil {
			return row, err
		}
		dPlan := msSince(t0)
		t0 = time.Now()
		b, err := buf.Sample(rng, cfg.BatchSize, cfg.Horizon)
		if err != nil {
			return row, err
		}
		dSample := msSince(t0)
		t0 = time.Now()
		if _, err := agent.Update(b); err != nil {
			return row, err
		}
		if i >= o.warmup {
			planMS = append(planMS, dPlan)
			sampleMS = append(sampleMS, dSample)
			updMS = append(updMS, msSince(t0))
		}
	}
	row.PlanMedMS, row.PlanP90MS = quantiles(planMS)
	row.UpdMedMS, row.UpdP90MS = quantiles(updMS)
	row.SampleMS, _ = quantiles(sampleMS)

	task, synthetic, err := benchTask(obsDim, actDim)
	if err != nil {
		return row, err
	}
	row.Task = task
	if synthetic {
		row.Task = "synthetic"
	}
	if o.envSeconds > 0 && !synthetic {
		if row.EnvSPS, err = envRate(task, o.envSeconds); err != nil {
			return row, err
		}
	}
	if o.e2eSteps > 0 {
		if row.AgentSPS, err = agentRate(ctx, backend, cfg, task, o.e2eSteps); err != nil {
			return row, err
		}
	}
	if o.population > 1 {
		row.Population, row.SingleSPS = o.population, row.AgentSPS
		if row.AgentSPS, err = populationRate(ctx, backend, cfg, task, o.e2eSteps, o.population); err != nil {
			return row, err
		}
		row.PerRunSPS = row.AgentSPS / float64(o.population)
	}
	row.PeakHeapMB, row.PeakRSSMB = mem.stop()
	row.GPUMemMB = gpuMemMB(cfg.Backend)
	return row, nil
}

// syntheticBuffer fills a replay buffer with 8 episodes of 200 random transitions (with stored
// planner Gaussians, so the prior and reanalysis paths run).
func syntheticBuffer(rng *rand.Rand, obsDim, actDim int) (*pompc.Buffer, error) {
	buf, err := pompc.NewBuffer(4096, obsDim, actDim)
	if err != nil {
		return nil, err
	}
	std := make([]float32, actDim)
	for i := range std {
		std[i] = 0.5
	}
	for e := 0; e < 8; e++ {
		for p := 0; p < 200; p++ {
			act := randn(rng, actDim)
			for i := range act {
				act[i] = max(-1, min(1, act[i]))
			}
			if err := buf.Add(pompc.Step{Episode: int64(e), Pos: p, Obs: randn(rng, obsDim), Action: act,
				Reward: rng.Float64(), Cont: 1, PlanMean: act, PlanStd: std}); err != nil {
				return nil, err
			}
		}
	}
	return buf, nil
}

func randn(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// benchTask returns the registered task with these dims, or registers (once) and returns a
// synthetic task of these dims (random observations and rewards, 500-step episodes).
func benchTask(obsDim, actDim int) (string, bool, error) {
	for _, name := range benchTasks[fmt.Sprintf("%d/%d", obsDim, actDim)] {
		env, err := envs.Make(name)
		if err != nil {
			continue
		}
		s := env.Spec()
		env.Close()
		if s.ObsDim == obsDim && s.ActionDim == actDim {
			return name, false, nil
		}
	}
	name := fmt.Sprintf("bench-synthetic-%dx%d", obsDim, actDim)
	if _, err := envs.Make(name); err == nil {
		return name, true, nil
	}
	err := envs.Register(name, func(o envs.Options) (envs.Env, error) {
		return &synthEnv{spec: envs.Spec{Name: name, ObsDim: obsDim, ActionDim: actDim, ActionRepeat: 1,
			EpisodeLen: 500, RewardMin: 0, RewardMax: 1}, rng: rand.New(rand.NewPCG(o.Seed, 7))}, nil
	})
	return name, true, err
}

// synthEnv is a stand-in task of given dims whose step costs nearly nothing, so that the
// end-to-end rate at dims without a task in this build measures the agent alone.
type synthEnv struct {
	spec envs.Spec
	rng  *rand.Rand
	t    int
}

func (e *synthEnv) Spec() envs.Spec { return e.spec }

func (e *synthEnv) Reset() (envs.TimeStep, error) {
	e.t = 0
	return envs.TimeStep{Type: envs.First, Discount: 1, Obs: randn(e.rng, e.spec.ObsDim)}, nil
}

func (e *synthEnv) Step(action []float32) (envs.TimeStep, error) {
	if err := envs.CheckAction(action, e.spec.ActionDim); err != nil {
		return envs.TimeStep{}, err
	}
	e.t++
	typ := envs.Mid
	if e.t >= e.spec.EpisodeLen {
		typ = envs.Last
	}
	return envs.TimeStep{Type: typ, Reward: e.rng.Float64(), Discount: 1, Obs: randn(e.rng, e.spec.ObsDim)}, nil
}

func (e *synthEnv) Close() error { return nil }

// envRate steps the task with uniform random actions for about secs seconds and returns agent
// steps per second (each agent step runs the task's action repeat of physics steps).
func envRate(task string, secs float64) (float64, error) {
	env, err := envs.Make(task, envs.WithSeed(1))
	if err != nil {
		return 0, err
	}
	defer env.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	act := make([]float32, env.Spec().ActionDim)
	if _, err := env.Reset(); err != nil {
		return 0, err
	}
	n := 0
	t0 := time.Now()
	for time.Since(t0).Seconds() < secs || n < 10 {
		for i := range act {
			act[i] = float32(2*rng.Float64() - 1)
		}
		ts, err := env.Step(act)
		if err != nil {
			return 0, err
		}
		n++
		if ts.Type == envs.Last {
			if _, err := env.Reset(); err != nil {
				return 0, err
			}
		}
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// agentRate runs a Trainer past a short seed phase (whose end runs seed-steps updates; this and
// one more step are the warm-up, compilation included) and returns agent steps per second over
// n further steps: planner call, env step, replay insert, sample and update, reanalysis when due.
func agentRate(ctx context.Context, backend compute.Backend, cfg pompc.Config, task string, n int) (float64, error) {
	cfg.SeedSteps = cfg.Horizon + 3
	cfg.EvalEvery, cfg.SnapshotEvery = 0, 0
	cfg.Steps = cfg.SeedSteps + n + 2
	tr, err := pompc.NewTrainer(backend, cfg, task)
	if err != nil {
		return 0, err
	}
	defer tr.Close()
	return stepRate(ctx, tr.Step, func() bool { return tr.StepCount() > tr.SeedSteps() }, n, 1)
}

// stepRate takes steps until warm (past the seed phase and its burst, compilation included),
// then times n more and returns runs·n agent steps per second.
func stepRate(ctx context.Context, step func() error, warm func() bool, n, runs int) (float64, error) {
	for !warm() {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err := step(); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err := step(); err != nil {
			return 0, err
		}
	}
	return float64(n*runs) / time.Since(t0).Seconds(), nil
}

// ablationLambdas are the finite λ of the paper's sweep, spread over a benchmark population.
var ablationLambdas = []float64{0.1, 1, 9}

// populationRate is agentRate for k runs of cfg trained as one population (seeds 1..k; for a
// finite λ > 0, λ cycling through ablationLambdas): agent steps per second summed over the runs.
func populationRate(ctx context.Context, backend compute.Backend, cfg pompc.Config, task string, n, k int) (float64, error) {
	cfg.SeedSteps = cfg.Horizon + 3
	cfg.EvalEvery, cfg.SnapshotEvery = 0, 0
	cfg.Steps = cfg.SeedSteps + n + 2
	trs := make([]*pompc.Trainer, k)
	defer func() {
		for _, t := range trs {
			if t != nil {
				t.Close()
			}
		}
	}()
	for i := range trs {
		c := cfg
		c.Seed = int64(i + 1)
		if c.Lambda > 0 && !c.LambdaInf() {
			c.Lambda = ablationLambdas[i%len(ablationLambdas)]
		}
		var err error
		if trs[i], err = pompc.NewTrainer(backend, c, task); err != nil {
			return 0, err
		}
	}
	pop, err := pompc.NewPopulation(backend, trs)
	if err != nil {
		return 0, err
	}
	defer pop.Close()
	return stepRate(ctx, pop.Step, func() bool { return trs[0].StepCount() > trs[0].SeedSteps() }, n, k)
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// quantiles returns the median and the 90th percentile (nearest rank).
func quantiles(x []float64) (float64, float64) {
	if len(x) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[min(len(s)-1, (len(s)*9+9)/10-1)]
}

func printBench(w io.Writer, rows []benchRow, backend string) {
	fmt.Fprintf(w, "pompc bench: backend %s, %d cores, %s; medians and p90 of timed calls after warm-up\n",
		backend, runtime.NumCPU(), runtime.Version())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pop := false
	for _, r := range rows {
		pop = pop || r.Population > 1
	}
	if pop {
		fmt.Fprintln(tw, "size\tobs/act\tsamples x iters\tbatch\tplan ms (med/p90)\tupdate ms (med/p90)\tagent steps/s (1 run)\truns\tagent steps/s (sum)\tper run\tspeed-up\theap MB\tRSS MB\t")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d/%d\t%d x %d\t%d\t%s / %s\t%s / %s\t%s\t%d\t%s\t%s\t%.1fx\t%.0f\t%.0f\t\n",
				r.Size, r.ObsDim, r.ActDim, r.Samples, r.Iterations, r.Batch,
				fmtMS(r.PlanMedMS), fmtMS(r.PlanP90MS), fmtMS(r.UpdMedMS), fmtMS(r.UpdP90MS),
				fmtRate(r.SingleSPS), r.Population, fmtRate(r.AgentSPS), fmtRate(r.PerRunSPS), r.AgentSPS/r.SingleSPS, r.PeakHeapMB, r.PeakRSSMB)
		}
		tw.Flush()
		fmt.Fprintln(w, "runs: one population (one batched planner and update graph for all runs); speed-up: summed agent steps/s over one run's, same invocation")
		return
	}
	fmt.Fprintln(tw, "size\tobs/act\tsamples x iters\tbatch\tplan ms (med/p90)\tupdate ms (med/p90)\tsample ms\tenv steps/s\tagent steps/s\tref plan/update ms\tratio plan/update\theap MB\tRSS MB\t")
	refs := map[string]bool{}
	for _, r := range rows {
		ref, ratio := "-", "-"
		if r.RefPlanMS > 0 {
			ref = fmt.Sprintf("%s / %s", fmtMS(r.RefPlanMS), fmtMS(r.RefUpdMS))
			ratio = fmt.Sprintf("%.2f / %.2f", r.PlanMedMS/r.RefPlanMS, r.UpdMedMS/r.RefUpdMS)
			refs[r.RefName] = true
		}
		rss := "-"
		if r.PeakRSSMB > 0 {
			rss = fmt.Sprintf("%.0f", r.PeakRSSMB)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%d x %d\t%d\t%s / %s\t%s / %s\t%.2f\t%s\t%s\t%s\t%s\t%.0f\t%s\t\n",
			r.Size, r.ObsDim, r.ActDim, r.Samples, r.Iterations, r.Batch,
			fmtMS(r.PlanMedMS), fmtMS(r.PlanP90MS), fmtMS(r.UpdMedMS), fmtMS(r.UpdP90MS), r.SampleMS,
			fmtRate(r.EnvSPS), fmtRate(r.AgentSPS), ref, ratio, r.PeakHeapMB, rss)
	}
	tw.Flush()
	tasks := map[string]bool{}
	for _, r := range rows {
		tasks[fmt.Sprintf("%d/%d %s", r.ObsDim, r.ActDim, r.Task)] = true
	}
	fmt.Fprintf(w, "tasks (env and end-to-end rates): %s\n", strings.Join(sortedKeys(tasks), ", "))
	for _, name := range sortedKeys(refs) {
		switch name {
		case "torch-cpu-2core":
			fmt.Fprintln(w, "ref: official TD-MPC2 (PyTorch 1.13, 2 CPU cores), gpu.md; ratio < 1 is faster than it")
		case "tdmpc2-jax-h100":
			fmt.Fprintln(w, "ref: tdmpc2-jax on an H100 (JAX 0.11.2), gpu.md; goal at 5M humanoid: plan <= 3.5 ms, update <= 4.5 ms")
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func fmtMS(x float64) string {
	if x < 10 {
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func fmtRate(x float64) string {
	switch {
	case x <= 0:
		return "-"
	case x < 10:
		return strconv.FormatFloat(x, 'f', 2, 64)
	default:
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
}

// memWatch tracks the peak Go heap objects (sampled every 5 ms and at stop) and the peak resident set
// (the kernel's VmHWM, reset at start through /proc/self/clear_refs where Linux allows it).
type memWatch struct {
	done     chan struct{}
	finished chan uint64
	rssReset bool
}

func startMemWatch() *memWatch {
	debug.FreeOSMemory()
	m := &memWatch{done: make(chan struct{}), finished: make(chan uint64)}
	m.rssReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	go func() {
		// runtime/metrics does not stop the world (runtime.ReadMemStats would, every tick).
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				peak = max(peak, sample[0].Value.Uint64())
			}
			select {
			case <-m.done:
				m.finished <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// stop returns the peak heap and (if it could be reset at start) the peak RSS, in MiB.
func (m *memWatch) stop() (heapMB, rssMB float64) {
	close(m.done)
	heap := <-m.finished
	heapMB = float64(heap) / (1 << 20)
	if m.rssReset {
		rssMB = float64(procStatusKB("VmHWM")) / 1024
	}
	return heapMB, rssMB
}

// procStatusKB reads a "Key: N kB" line of /proc/self/status (0 if absent).
func procStatusKB(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
