package sweep

import (
	"math"
	"sort"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// The ablation the toolkit exists for (issue 17), one definition for the command line (pompc
// ablation), its benchmark and the ablations notebook.

// LambdaAblation is the λ ablation: TD-MPC2 (λ = 0) and BMPC (λ = ∞) as their presets, and
// PO-MPC at each of lambdas (the paper's 0.1, 1, 9).
func LambdaAblation(lambdas ...float64) []Grid {
	return []Grid{{Presets: []string{"tdmpc2", "bmpc"}}, {Presets: []string{"pompc"}, Lambdas: lambdas}}
}

// PriorAblation is the prior ablation at λ: PO-MPC with its default prior (the learned prior
// fitted with reverse KL: the λ ablation's run at that λ, the same run directory), with the
// planner's Gaussian as the prior, and with the learned prior fitted with forward KL.
func PriorAblation(lambda float64) []Grid {
	l := []float64{lambda}
	return []Grid{{Presets: []string{"pompc"}, Lambdas: l}, {Presets: []string{"pompc"}, Lambdas: l, Priors: []string{"planner"}},
		{Presets: []string{"pompc"}, Lambdas: l, KLs: []string{"forward"}}}
}

// AblationJobs are the jobs of grids on every task and seed, each run with trainArgs, under root,
// task by task (the populations of one task train before the next task's, so each task's
// answer comes whole as soon as it can) and, within a task, seed by seed: every variant's run
// of a seed before the next seed, so that an ablation trained one run per population
// (GroupRun) and stopped partway compares every variant over the same seeds. A point that
// several grids share (the default prior at λ) is one job.
func AblationJobs(root string, grids []Grid, tasks []string, seeds []int, trainArgs []string) ([]Job, error) {
	var out []Job
	seen := map[string]bool{}
	for _, task := range tasks {
		var taskJobs []Job
		for _, g := range grids {
			g.Tasks, g.Seeds, g.TrainArgs = []string{task}, seeds, trainArgs
			js, err := g.Jobs(root)
			if err != nil {
				return nil, err
			}
			for _, j := range js {
				if !seen[j.Dir] {
					seen[j.Dir] = true
					taskJobs = append(taskJobs, j)
				}
			}
		}
		rank := map[int]int{}
		for i, s := range seeds {
			if _, ok := rank[s]; !ok {
				rank[s] = i
			}
		}
		sort.SliceStable(taskJobs, func(a, b int) bool { return rank[taskJobs[a].Point.Seed] < rank[taskJobs[b].Point.Seed] })
		out = append(out, taskJobs...)
	}
	return out, nil
}

// RunsOf reads what the jobs' run directories hold (status, metrics), as Load does for a grid.
func RunsOf(jobs []Job) ([]Run, error) { return RunsOfKeys(jobs) }

// RunsOfKeys is RunsOf with only the metrics of keys (none: all of them), for views that need
// a few series of long runs (pompc.ReadMetricsKeys).
func RunsOfKeys(jobs []Job, keys ...string) ([]Run, error) {
	runs := make([]Run, 0, len(jobs))
	for _, j := range jobs {
		r := Run{Point: j.Point, Dir: j.Dir}
		var err error
		if r.Status, err = rundir.ReadStatus(j.Dir); err != nil {
			return nil, err
		}
		if rundir.Exists(j.Dir, rundir.MetricsFile) {
			if len(keys) == 0 {
				r.Metrics, err = pompc.ReadRunMetrics(j.Dir)
			} else {
				r.Metrics, err = pompc.ReadMetricsKeys(rundir.Path(j.Dir, rundir.MetricsFile), keys...)
			}
			if err != nil {
				return nil, err
			}
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// BestLambda is the λ among lambdas whose finished PO-MPC runs (preset pompc, the λ ablation's
// default prior) score the highest IQM of normalized final returns across tasks (the first on a
// tie), with that IQM. Only λ values with finished runs on every task any of them has compete
// (a λ whose hard task failed is not judged on the easy ones); ok is false when none does.
func BestLambda(runs []Run, lambdas []float64) (best, iqm float64, ok bool) {
	scores := map[float64]map[string][]float64{}
	tasks := map[string]bool{}
	for _, r := range runs {
		ev := r.Metrics[pompc.KeyEvalReturn]
		if r.Preset != "pompc" || r.KL != "" || r.Prior != "" || r.Status.State != rundir.StateDone || len(ev) == 0 {
			continue
		}
		if f := Final(ev); math.IsNaN(f) || math.IsInf(f, 0) {
			continue // a diverged run: no score (as Scores); a λ left without one on a task loses
		}
		if scores[r.Lambda] == nil {
			scores[r.Lambda] = map[string][]float64{}
		}
		scores[r.Lambda][r.Task] = append(scores[r.Lambda][r.Task], Final(ev)/TaskMax(r.Task))
		tasks[r.Task] = true
	}
	for _, l := range lambdas {
		var all []float64
		for t := range tasks {
			all = append(all, scores[l][t]...)
		}
		if len(scores[l]) != len(tasks) || len(all) == 0 {
			continue
		}
		if v := IQM(all); !ok || v > iqm {
			best, iqm, ok = l, v, true
		}
	}
	return best, iqm, ok
}
