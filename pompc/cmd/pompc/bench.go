package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/compute"
	"github.com/pompc/pompc/pompc"
)

// benchRow is one line of the bench table.
type benchRow struct {
	Size       string  `json:"size"`
	Preset     string  `json:"preset"`
	ObsDim     int     `json:"obs_dim"`
	ActDim     int     `json:"act_dim"`
	Samples    int     `json:"num_samples"`
	Iterations int     `json:"iterations"`
	Batch      int     `json:"batch_size"`
	PlanMedMS  float64 `json:"plan_median_ms"`
	PlanP90MS  float64 `json:"plan_p90_ms"`
	UpdMedMS   float64 `json:"update_median_ms"`
	UpdP90MS   float64 `json:"update_p90_ms"`
	RefPlanMS  float64 `json:"torch_plan_ms,omitempty"`
	RefUpdMS   float64 `json:"torch_update_ms,omitempty"`
	PeakHeapMB float64 `json:"peak_heap_mb"`
}

// torchRef is TD-MPC2 (PyTorch, 2 cores) from gpu.md: plan and update ms by size and dims.
var torchRef = map[string][2]float64{
	"1M/5/1": {147, 118}, "1M/67/21": {200, 118}, "5M/5/1": {350, 355}, "5M/67/21": {485, 370},
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "tiny,1M", "comma-separated size presets")
	dims := fs.String("dims", "5/1,67/21", "comma-separated obs/act dims (pendulum 3/1, cartpole 5/1, humanoid 67/21, dog 223/38)")
	preset := fs.String("preset", "pompc", "algorithm preset (the update cost depends on it)")
	iters := fs.Int("iters", 10, "timed calls per measurement, after warm-up")
	warmup := fs.Int("warmup", 2, "untimed warm-up calls")
	full := fs.Bool("full-planner", false, "use TD-MPC2's planner and batch (512 samples, 6 iterations, batch 256) for every size, as in the reference table")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	backendSpec := fs.String("backend", "", "compute backend: go (default) or $GOMLX_BACKEND")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *iters <= 0 || *warmup < 0 {
		return fmt.Errorf("bench: --iters must be > 0 and --warmup >= 0")
	}
	backend, err := pompc.NewBackend(*backendSpec)
	if err != nil {
		return err
	}
	warnNoSIMD()
	var rows []benchRow
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
			if ctx.Err() != nil {
				return ctx.Err()
			}
			cfg, err := pompc.PresetByName(*preset)
			if err != nil {
				return err
			}
			cfg = cfg.WithSize(size)
			if *full {
				full := pompc.POMPC()
				cfg.NumSamples, cfg.NumPiTrajs, cfg.NumElites = full.NumSamples, full.NumPiTrajs, full.NumElites
				cfg.Iterations, cfg.BatchSize = full.Iterations, full.BatchSize
			}
			row, err := benchOne(backend, cfg, o, a, *warmup, *iters)
			if err != nil {
				return err
			}
			if ref, ok := torchRef[fmt.Sprintf("%s/%d/%d", size.Name, o, a)]; ok && row.Samples == 512 && row.Batch == 256 {
				row.RefPlanMS, row.RefUpdMS = ref[0], ref[1]
			}
			rows = append(rows, row)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printBench(rows, pompc.BackendSpec(*backendSpec))
	return nil
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

// benchOne times planner calls and updates of a fresh agent on synthetic data.
func benchOne(backend compute.Backend, cfg pompc.Config, obsDim, actDim, warmup, iters int) (benchRow, error) {
	agent, err := pompc.NewAgent(backend, cfg, obsDim, actDim, 0.99)
	if err != nil {
		return benchRow{}, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf, err := pompc.NewBuffer(4096, obsDim, actDim)
	if err != nil {
		return benchRow{}, err
	}
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for e := 0; e < 8; e++ {
		for p := 0; p < 200; p++ {
			act := rnd(actDim)
			for i := range act {
				act[i] = max(-1, min(1, act[i]))
			}
			std := make([]float32, actDim)
			for i := range std {
				std[i] = 0.5
			}
			if err := buf.Add(pompc.Step{Episode: int64(e), Pos: p, Obs: rnd(obsDim), Action: act,
				Reward: rng.Float64(), Cont: 1, PlanMean: act, PlanStd: std}); err != nil {
				return benchRow{}, err
			}
		}
	}
	obs := rnd(obsDim)
	var planMS, updMS []float64
	var peak uint64
	var ms runtime.MemStats
	for i := 0; i < warmup+iters; i++ {
		t0 := time.Now()
		if _, err := agent.Act(obs, i == 0, false); err != nil {
			return benchRow{}, err
		}
		if i >= warmup {
			planMS = append(planMS, msSince(t0))
		}
		b, err := buf.Sample(rng, cfg.BatchSize, cfg.Horizon)
		if err != nil {
			return benchRow{}, err
		}
		t0 = time.Now()
		if _, err := agent.Update(b); err != nil {
			return benchRow{}, err
		}
		if i >= warmup {
			updMS = append(updMS, msSince(t0))
		}
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	pm, p9 := quantiles(planMS)
	um, u9 := quantiles(updMS)
	return benchRow{Size: cfg.Size.Name, Preset: cfg.Preset, ObsDim: obsDim, ActDim: actDim,
		Samples: cfg.NumSamples, Iterations: cfg.PlanIterations(actDim), Batch: cfg.BatchSize,
		PlanMedMS: pm, PlanP90MS: p9, UpdMedMS: um, UpdP90MS: u9, PeakHeapMB: float64(peak) / (1 << 20)}, nil
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// quantiles returns the median and the 90th percentile (nearest rank).
func quantiles(x []float64) (float64, float64) {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[min(len(s)-1, (len(s)*9+9)/10-1)]
}

func printBench(rows []benchRow, backend string) {
	fmt.Printf("pompc bench: backend %s, %d cores\n", backend, runtime.NumCPU())
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "size\tpreset\tobs/act\tsamples x iters\tbatch\tplan ms (med/p90)\tupdate ms (med/p90)\ttorch plan/update ms\tratio plan/update\theap MB\t")
	for _, r := range rows {
		ref, ratio := "-", "-"
		if r.RefPlanMS > 0 {
			ref = fmt.Sprintf("%.0f / %.0f", r.RefPlanMS, r.RefUpdMS)
			ratio = fmt.Sprintf("%.2f / %.2f", r.PlanMedMS/r.RefPlanMS, r.UpdMedMS/r.RefUpdMS)
		}
		fmt.Fprintf(w, "%s\t%s\t%d/%d\t%d x %d\t%d\t%.1f / %.1f\t%.1f / %.1f\t%s\t%s\t%.0f\t\n",
			r.Size, r.Preset, r.ObsDim, r.ActDim, r.Samples, r.Iterations, r.Batch,
			r.PlanMedMS, r.PlanP90MS, r.UpdMedMS, r.UpdP90MS, ref, ratio, r.PeakHeapMB)
	}
	w.Flush()
}
