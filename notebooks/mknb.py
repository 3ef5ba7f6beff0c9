#!/usr/bin/python3
"""Writes quickstart.ipynb and ablations.ipynb (the source of truth for their cells).

Run from this folder: /usr/bin/python3 mknb.py. Outputs are left empty: the notebooks are
executed by the Go tests (notebooks_test.go) and by you in Jupyter.
"""
import nbformat as nbf

KERNEL = {"name": "gonb", "display_name": "Go (gonb)", "language": "go"}
LANG = {"name": "go", "file_extension": ".go", "mimetype": "text/x-go"}

SETUP_SHELL = """%env GOTOOLCHAIN go1.27.3
%env GOEXPERIMENT simd
!*rm -f go.work && go work init . "${POMPC_MODULE:-$GONB_DIR/..}"
%goworkfix
!*go get github.com/janpfeifer/gonb@v0.11.5 gonum.org/v1/plot@v0.17.0 github.com/go-echarts/go-echarts/v2@v2.6.7"""


# FIRST_CELL_HEAD opens each notebook's first cell: the widgets and sweep imports (the budgets
# are sweep.Budgets) and the error helper.
FIRST_CELL_HEAD = """
import (
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
)

// must stops the cell with the error (GoNB shows it under the cell).
func must(err error) {
	if err != nil {
		panic(err)
	}
}
"""


def md(s):
    return nbf.v4.new_markdown_cell(s.strip("\n"))


def code(s):
    return nbf.v4.new_code_cell(s.strip("\n"))


def write(name, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = LANG
    nb.cells = cells
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name.split('.')[0]}-{i}"  # stable ids: regenerating gives a clean diff
    nbf.write(nb, name)


quickstart = [
    md("""
# PO-MPC quickstart

Train a PO-MPC agent on the pure-Go `cartpole-balance` task, cell by cell, with live plots and
controls. Open this notebook in Jupyter with the **Go (gonb)** kernel.

GoNB compiles every cell into a new process: declarations carry over between cells, values do
not. The run therefore lives in a server process that owns the trainer, its compiled graphs
and its replay buffer (`pompc/session`); every cell re-attaches to it with `openRun()` in
milliseconds.

The first cell holds the notebook's parameters: `--budget=tiny` is a smoke run (150 steps with
a shrunken planner and batch, about a minute on two cores, what CI runs), `--budget=full` a real
one (50k agent steps, 100k environment steps at action repeat 2: the ablation's budget, where
the published curves have their first point). `--steps=N` makes the training cell train to
step N instead of the budget's length.
"""),
    code(FIRST_CELL_HEAD + """
var (
	flagBudget = flag.String("budget", "tiny", "run length: tiny (CI smoke run) or full (a real run)")
	flagSteps  = flag.Int("steps", 0, "agent steps of the training cell (0: the budget's)")
)

%% --budget=tiny
""" + SETUP_SHELL + """
b, err := sweep.BudgetByName(*flagBudget)
must(err)
must(widgets.SetParam("budget", b.Name))
must(widgets.SetParam("steps", strconv.Itoa(*flagSteps)))
seed := "the config's seed phase of random actions"
if b.SeedSteps > 0 {
	seed = fmt.Sprintf("%d of random seed actions", b.SeedSteps)
}
fmt.Printf("budget %q: %d agent steps (%s)\\n", b.Name, b.Steps, seed)
"""),
    md("""
Declarations shared by the cells below: where the run lives and how to open it.
"""),
    code("""
import (
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/session"
	"github.com/pompc/pompc/widgets"
)

// budget is the run length chosen by the first cell.
func budget() sweep.Budget {
	b, err := sweep.BudgetByName(widgets.Param("budget", "tiny"))
	must(err)
	return b
}

// trainSteps is the step the training cell trains to: --steps, else the budget's.
func trainSteps() int {
	if n, _ := strconv.Atoi(widgets.Param("steps", "0")); n > 0 {
		return n
	}
	return budget().Steps
}

// openRun attaches to the quickstart run's server, starting it (and creating the run) if needed.
func openRun() *session.Run {
	dir, err := widgets.OutDir("runs")
	must(err)
	cfg, err := budget().Apply(pompc.POMPC().WithSize(pompc.SizeTiny))
	must(err)
	run, err := session.Open(context.Background(), session.Options{
		Dir:    filepath.Join(dir, "quickstart-cartpole-"+budget().Name),
		Task:   "cartpole-balance",
		Config: cfg,
	})
	must(err)
	return run
}
"""),
    md("""
## Train with live plots and controls

The dashboard shows a λ slider (0 = TD-MPC2's losses from the next update, in the run's own policy form … ∞ = BMPC's imitation; the slider's tooltip says what each end changes), the KL direction that fits the prior
π_p to the planner, the prior kind, and a stop button; the status line reports what the run
itself uses. Below it, the plots (returns, each loss, KL(π_s‖prior), KL(π_p‖planner),
entropy, and the planner's action distribution next to π_s and π_p) redraw while it trains.

Widget events reach only a running cell, so the controls act while this cell runs. Without a
browser (nbconvert) they show the run's state as static HTML and training proceeds.
"""),
    code("""
%%
run := openRun()
defer run.Close()
dash, err := widgets.NewDashboard(run, widgets.DashboardOptions{Title: "quickstart: POMPC on cartpole-balance"})
must(err)
defer dash.Close()
st, err := run.Status()
must(err)
if remaining := trainSteps() - int(st.Step); remaining > 0 {
	must(dash.Train(context.Background(), remaining))
}
st, err = run.Status()
must(err)
fmt.Printf("step %d, λ = %s, last episode return %.1f\\n", st.Step, pompc.FormatLambda(st.Lambda), st.LastEpisodeReturn)
"""),
    md("""
## Evaluate

An evaluation episode plans every step without exploration noise (500 planner calls on
cartpole). It runs in the server, between training steps if training is in progress.
"""),
    code("""
%%
run := openRun()
defer run.Close()
ret, err := run.Evaluate(1)
must(err)
fmt.Printf("evaluation return: %.1f\\n", ret)
"""),
    md("""
## Watch it

The run's latest checkpoint plays one evaluation episode, drawn every fifth agent step and shown
as an animated GIF (`widgets.ShowEpisode`; `pompc eval --run DIR --video episode.gif` does the
same from the command line, `.mp4` with ffmpeg installed).
"""),
    code("""
%%
run := openRun()
defer run.Close()
must(run.Save()) // the checkpoint the episode starts from
must(widgets.ShowEpisode(run.Dir(), widgets.VideoOptions{Width: 200, Height: 150, Every: 5}))
"""),
    md("""
## Keep training in the background

`run.Start(n)` hands n more steps to the server and returns at once: the run trains while you
work in other cells, and survives this cell's process. A dashboard in any later cell follows
it (`Watch`), with live controls again: the controls of the cell above stopped acting when its
cell finished.
"""),
    code("""
%%
run := openRun()
defer run.Close()
extra := budget().Steps / 3
must(run.Start(extra))
fmt.Printf("training %d more steps in the background\\n", extra)
"""),
    code("""
%%
run := openRun()
defer run.Close()
dash, err := widgets.NewDashboard(run, widgets.DashboardOptions{Title: "quickstart: following the background training"})
must(err)
defer dash.Close()
must(dash.Watch(context.Background()))
st, err := run.Status()
must(err)
fmt.Printf("background training done: step %d\\n", st.Step)
"""),
    md("""
## A figure

The learning curve from the run's `metrics.jsonl`, saved as PDF, SVG and PNG under `out/`.
"""),
    code("""
%%
run := openRun()
defer run.Close()
metrics, err := pompc.ReadMetrics(filepath.Join(run.Dir(), "metrics.jsonl"))
must(err)
p, err := widgets.LearningCurve("POMPC, cartpole-balance", metrics)
must(err)
dir, err := widgets.OutDir("figures")
must(err)
for _, ext := range []string{"pdf", "svg", "png"} {
	must(p.Save(5*vg.Inch, 3.5*vg.Inch, filepath.Join(dir, "quickstart-curve."+ext)))
}
svg, err := os.ReadFile(filepath.Join(dir, "quickstart-curve.svg"))
must(err)
gonbui.DisplaySVG(string(svg))
gonbui.Sync() // flush the figure before the cell ends
fmt.Println("saved", filepath.Join(dir, "quickstart-curve.{pdf,svg,png}"))
"""),
    md("""
The run's server stays up (idle timeout 30 minutes) so the next cell attaches instantly;
`run.Shutdown()` ends it now.
"""),
]

ablations = [
    md("""
# PO-MPC ablations: λ, the prior, and the KL direction

This notebook trains, on a pure-Go task (`--task`, default `cartpole-swingup`: a task where
the variants can differ; several, comma-separated, train one ablation across them, as
`pompc ablation --tasks`) and for several seeds:

* **the λ ablation**: TD-MPC2 (λ = 0), PO-MPC at λ ∈ {0.1, 1, 9}, and BMPC (λ = ∞);
* **the prior ablation** at the λ ablation's best λ: the learned intermediate prior π_p against the planner's own
  Gaussian as the prior, and π_p fitted with forward KL(q‖π_p) against reverse KL(π_p‖q).

The ablations are sweep grids (`pompc/sweep`), run by the same sweep engine as `pompc sweep`.
By default (`--batched=true`) the runs train as **populations** (`pompc.NewPopulation`), each
in one background process (`session.PopulationLauncher`): on the pure-Go backend one per variant
(its seeds: on a CPU batching gains nothing, and a mixed graph would compute every variant's
branches for every run), on a GPU (XLA) one for the whole ablation, one batched planner and
update graph for TD-MPC2, PO-MPC at every λ, BMPC and the prior and KL variants (each run
keeps the terms of its own variant). While it trains,
`session.Open` on one of its run directories attaches to that run: its λ and the other knobs
can be changed from another kernel's dashboard. `--batched=false` gives every run its own
session server instead. Either
way every run is an ordinary run directory, so a cell can be interrupted and re-run: finished
runs are kept (each run directory's `status.json` says so), unfinished ones resume from their
checkpoints. The live figure compares the variants (mean ± std over seeds) while they train.
The last cell exports the paper figures as PDF, SVG and PNG under
`out/ablations-<budget>/figures/` (`out/ablations-<budget>-<size>[-planner-<planner>]/` at a
`--size` other than tiny or with a `--planner`).

Parameters (first cell): `--budget=tiny` is CI's smoke run (seconds per run, a shrunken planner
and batch, one evaluation episode); `--budget=full` is the real experiment, the same ablation
as `pompc ablation` (README "The ablation"): 5 seeds × 50k agent steps per variant, an evaluation
of 5 episodes every 5k steps, 35 runs in two phases (the λ ablation's 25, then the prior
ablation's 10 at the best λ), each variant's seeds one population, two at a time: on a 2-core
CPU about 10 hours for one task, 18 for two (a task is 18 hours of one core: TD-MPC2's
population about 1 h 50 min, each other one about 2 h 45 min; README "The ablation"). `--size`
is every run's network size: `tiny` (the default and the benchmark's) is what these times are
for; on cheetah-run and walker-walk the tiny TD-MPC2 preset learns below the published 5M curves
while the 1M networks learn faster (README "Measured"); `5M` is the paper's size, with TD-MPC2's
planner and batch (512 samples × 6 iterations, batch 256), a GPU's job (`GOMLX_BACKEND=xla:cuda`);
`--planner=tiny|tdmpc2` puts either planner and batch on any size (`--size=1M --planner=tiny`:
the 1M networks at the tiny preset's compute per step, about three times its time per agent
step); `--from` restores only runs of the same setting. `--parallel=N` sets how many
populations (or runs) train at once (default: one per CPU, at most one per population); they
share the cores evenly (`sweep.Threads`). `--from=results/ablation` (with `--budget=full`)
starts from the benchmark README reports, archived in this repository (`pompc archive`): the
runs it has finished are copied into `out/` and not trained, so the tables and figures of the
full ablation come in minutes and only what the archive lacks trains. Give `--task` the
archive's tasks, `--task=cheetah-run,cartpole-swingup`: the best λ, and so the prior
ablation's runs, are chosen across the tasks. cheetah-run is a MuJoCo task: run GoNB's
`%goflags -tags=mujoco` in a cell before the first one (libmujoco-dev comes with
`docker/install.sh`); every later cell, and the training processes it starts (they re-execute
the cell's program), then has the MuJoCo tasks (`TestMuJoCoInACell`). Archived runs
keep their evaluations, episodes and knob records whole and their update metrics as 1,000-step
means, and have no checkpoint (the last cell plays an episode only of a run trained here).
"""),
    code('import "github.com/pompc/pompc/pompc"\n' + FIRST_CELL_HEAD + """
var (
	flagBudget   = flag.String("budget", "tiny", "run length: tiny (CI smoke run) or full (the real experiment)")
	flagTask     = flag.String("task", "cartpole-swingup", "the tasks of the ablation, comma-separated (pure-Go tasks, or MuJoCo ones in a -tags mujoco build); the best λ is chosen across them")
	flagSize     = flag.String("size", "tiny", "network size preset of every run: tiny (the benchmark's, for a CPU), 1M, 5M (the paper's, for a GPU), 19M, 48M; every size but tiny plans with TD-MPC2's 512 samples × 6 iterations and batch 256")
	flagPlanner  = flag.String("planner", "", "the planner and batch of every run: tiny (128 samples × 4 iterations, batch 64) or tdmpc2 (512 × 6, batch 256); empty: the size's own (pompc.Config.WithPlanner)")
	flagParallel = flag.Int("parallel", 0, "populations (or runs) training at once (0: one per CPU)")
	flagBatched  = flag.Bool("batched", true, "train the runs as populations (per variant on a CPU, the whole ablation on a GPU); false: one session server per run")
	flagFrom     = flag.String("from", "", "a directory of finished runs to start from (the committed benchmark: results/ablation, with --budget=full): the runs of this ablation it has finished are copied in and not trained")
)

%% --budget=tiny
""" + SETUP_SHELL + """
b, err := sweep.BudgetByName(*flagBudget)
must(err)
must(widgets.SetParam("budget", b.Name))
must(widgets.SetParam("task", *flagTask))
size, err := pompc.SizeByName(*flagSize) // a size preset (pompc.SizeByName)
must(err)
must(widgets.SetParam("size", size.Name))
if *flagPlanner != "" {
	_, err = pompc.POMPC().WithPlanner(*flagPlanner)
	must(err)
}
must(widgets.SetParam("planner", *flagPlanner))
must(widgets.SetParam("parallel", strconv.Itoa(*flagParallel)))
must(widgets.SetParam("batched", strconv.FormatBool(*flagBatched)))
must(widgets.SetParam("from", *flagFrom))
fmt.Printf("budget %q on %s: %d seeds × %d agent steps per run, size %s%s\\n", b.Name, strings.ReplaceAll(*flagTask, ",", ", "), b.Seeds, b.Steps, size.Name,
	map[bool]string{true: ", planner " + *flagPlanner}[*flagPlanner != ""])
"""),
    code("""
import (
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/session"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/pompc/pompc/widgets"
)

// tasks are the ablation's tasks (the first cell's --task, comma-separated), task their names
// for titles.
var (
	tasks = strings.FieldsFunc(widgets.Param("task", "cartpole-swingup"), func(r rune) bool { return r == ',' || r == ' ' })
	task  = strings.Join(tasks, ", ")
)

// The ablations (the same definitions as pompc ablation): λ: TD-MPC2 (λ = 0), PO-MPC at
// λ ∈ {0.1, 1, 9}, BMPC (λ = ∞); the prior at the λ ablation's best λ: the learned prior fitted
// with reverse KL (PO-MPC's default, the same run as the λ ablation's), the planner's Gaussian
// as the prior, and the learned prior fitted with forward KL.
var (
	lambdas        = []float64{0.1, 1, 9}
	lambdaAblation = sweep.LambdaAblation(lambdas...)
)

// priorAblation is the prior/KL ablation at the λ ablation's winner (sweep.BestLambda: the
// highest IQM of normalized final returns, as pompc ablation --prior-lambda best chooses it,
// once every run of the λ ablation is done: finished trains the unfinished ones first); ok is
// false when a run of it did not finish (failed or interrupted).
func priorAblation() (grids []sweep.Grid, lambda float64, ok bool) {
	rs := finished(lambdaAblation)
	for _, r := range rs {
		if r.Status.State != rundir.StateDone {
			return nil, 0, false
		}
	}
	lambda, iqm, ok := sweep.BestLambda(rs, lambdas)
	if !ok {
		return nil, 0, false
	}
	fmt.Printf("best λ = %s (IQM of normalized final returns %.3f)\\n", pompc.FormatLambda(lambda), iqm)
	return sweep.PriorAblation(lambda), lambda, true
}

func budget() sweep.Budget {
	b, err := sweep.BudgetByName(widgets.Param("budget", "tiny"))
	must(err)
	return b
}

func parallel() int {
	n, _ := strconv.Atoi(widgets.Param("parallel", "0"))
	return n
}

// outDir is the folder sub of this ablation's output: out/ablations-<budget>/sub at the tiny
// size and its own planner, out/ablations-<budget>-<size>[-<planner>]/sub otherwise (runs,
// figures and tables of two settings never mix).
func outDir(sub string) string {
	name := "ablations-" + budget().Name
	size, planner := widgets.Param("size", "tiny"), widgets.Param("planner", "")
	if size != "tiny" || planner != "" {
		name += "-" + size
	}
	if planner != "" {
		name += "-planner-" + planner
	}
	dir, err := widgets.OutDir(name, sub)
	must(err)
	return dir
}

// jobs are the grids' runs on this notebook's task, budget, size and seeds, one run directory
// each (named by the grid point, so a run two ablations share is trained once).
func jobs(grids []sweep.Grid) []sweep.Job {
	// The size, the budget's keys, then the planner (a --set, applied after them), as pompc
	// ablation --size S --set planner=P builds its runs.
	args := append([]string{"--size", widgets.Param("size", "tiny")}, budget().TrainArgs()...)
	if planner := widgets.Param("planner", ""); planner != "" {
		args = append(args, "--set", "planner="+planner)
	}
	js, err := sweep.AblationJobs(outDir("runs"), grids, tasks, budget().SeedList(), args)
	must(err)
	if from := widgets.Param("from", ""); from != "" {
		// The runs --from has finished (an archive: no checkpoints) are copied in, not trained.
		restored, err := sweep.Restore(from, js)
		must(err)
		if len(restored) > 0 {
			fmt.Printf("%d finished runs copied from %s\\n", len(restored), from)
		}
	}
	return js
}

// train runs (or resumes) a sweep on session servers with its live figure and returns its runs.
func train(title string, grids []sweep.Grid) []sweep.Run {
	return sweepOf(grids, widgets.SweepOptions{Title: title, Parallel: parallel()})
}

// finished returns the runs of a sweep trained by an earlier cell, without showing it again
// (runs that did not finish are trained first).
func finished(grids []sweep.Grid) []sweep.Run {
	return sweepOf(grids, widgets.SweepOptions{Parallel: parallel(), Hide: true})
}

// launcher trains the runs as populations (session.PopulationLauncher: per variant on the
// pure-Go backend, every run that can share graphs on XLA),
// or, with --batched=false, every run on its own session server (session.Launcher).
func launcher() sweep.Launcher {
	if widgets.Param("batched", "true") == "false" {
		return session.Launcher{}
	}
	l, err := session.PopulationLauncher(0)
	must(err)
	return l
}

func sweepOf(grids []sweep.Grid, opts widgets.SweepOptions) []sweep.Run {
	rs, err := widgets.Sweep(context.Background(), jobs(grids), launcher(), opts)
	must(err)
	return rs
}

// report shows the summary table and the figures of a set of runs, and exports the figures.
func report(prefix string, rs []sweep.Run) {
	var md strings.Builder
	rep := sweep.NewReport(rs)
	// The TD-MPC2 and BMPC presets against their published curves, at the published steps
	// (50k agent steps first: the full budget's end).
	rep.Published = sweep.ComparePublished(rs, widgets.PublishedCurve)
	must(sweep.WriteMarkdown(&md, rep))
	gonbui.DisplayMarkdown(md.String())
	figs, err := widgets.SweepFigures(rs, widgets.SetOptions{Reference: budget().Name == "full"})
	must(err)
	for i := range figs {
		figs[i].Name = prefix + "-" + figs[i].Name
		must(widgets.ShowFigure(figs[i].Figure))
	}
	dir := outDir("figures")
	paths, err := widgets.ExportFigures(figs, dir, "pdf", "svg", "png")
	must(err)
	fmt.Printf("exported %d files to %s\\n", len(paths), dir)
	tables := outDir(prefix)
	must(sweep.WriteTables(tables, rep))
	fmt.Printf("tables (results.md, results.csv, results_curves.csv) in %s\\n", tables)
}
"""),
    md("""
## The λ ablation

Five variants × seeds, trained in the background as populations. The figure redraws about
every second: episode and evaluation return, the two KL terms, the policy entropy and the value
loss, each as the mean ± std over the seeds that have data.
"""),
    code("""
%%
rs := train("λ ablation on "+task, lambdaAblation)
fmt.Printf("%d runs\\n", len(rs))
"""),
    md("""
## Learned vs planner prior, forward vs reverse KL (at the best λ)

At the λ the λ ablation found best (the highest interquartile mean of final returns normalized
by the task's maximum, `sweep.BestLambda`, as `pompc ablation` chooses it). The baseline
(learned prior, reverse KL) is that λ's run of the λ ablation: it is not trained again, only
drawn.
"""),
    code("""
%%
grids, lambda, ok := priorAblation()
if !ok {
	fmt.Println("no λ yet: the λ ablation's runs must all finish first (its cell above)")
	return
}
rs := train("prior and KL direction at λ = "+pompc.FormatLambda(lambda)+" on "+task, grids)
fmt.Printf("%d runs\\n", len(rs))
"""),
    md("""
## Figures

Summary tables (final evaluation return and normalized AUC, mean ± 95% Student-t half-width
over seeds; the learning curves as numbers at up to ten evaluation steps, with each seed's final
return; written as Markdown and CSV under `out/ablations-<budget>/lambda/` and `prior-kl/`,
`results_curves.csv` with every step) and the paper figures: learning curves, the final return and AUC against λ, the KL
terms over training, and the planner's action distribution next to π_s and π_p. Each is
exported as PDF, SVG and PNG.
"""),
    code("""
%%
report("lambda", finished(lambdaAblation))
if grids, _, ok := priorAblation(); ok {
	report("prior-kl", finished(grids))
}
"""),
    md("""
## Watch the best run

One evaluation episode of the λ ablation's best run (the highest final evaluation return),
played from its last checkpoint (`widgets.ShowEpisode`).
"""),
    code("""
%%
rs := finished(lambdaAblation)
best, bestRet := -1, 0.0
for i, r := range rs {
	// A run copied from an archive (--from) has no checkpoint to play.
	if ev := r.Metrics["eval/return"]; len(ev) > 0 && rundir.HasCheckpoint(r.Dir) && (best < 0 || sweep.Final(ev) > bestRet) {
		best, bestRet = i, sweep.Final(ev)
	}
}
if best < 0 {
	fmt.Println("no run with a checkpoint has evaluated yet (runs copied from an archive have none)")
	return
}
fmt.Printf("%s, seed %d: final evaluation return %.1f\\n", rs[best].Variant(), rs[best].Seed, bestRet)
must(widgets.ShowEpisode(rs[best].Dir, widgets.VideoOptions{Width: 200, Height: 150, Every: 5}))
"""),
]


if __name__ == "__main__":
    write("quickstart.ipynb", quickstart)
    write("ablations.ipynb", ablations)
