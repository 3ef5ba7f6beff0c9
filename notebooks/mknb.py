#!/usr/bin/python3
"""Writes quickstart.ipynb and ablations.ipynb (the source of truth for their cells).

Run from this folder: /usr/bin/python3 mknb.py. Outputs are left empty: the notebooks are
executed by the Go tests (notebooks_test.go) and by you in Jupyter.
"""
import nbformat as nbf

KERNEL = {"name": "gonb", "display_name": "Go (gonb)", "language": "go"}
LANG = {"name": "go", "file_extension": ".go", "mimetype": "text/x-go"}

SETUP_SHELL = """%env GOEXPERIMENT simd
!*rm -f go.work && go work init . "${POMPC_MODULE:-$GONB_DIR/..}"
%goworkfix
!*go get github.com/janpfeifer/gonb@v0.11.5 gonum.org/v1/plot@v0.17.0 github.com/go-echarts/go-echarts/v2@v2.6.7"""


def md(s):
    return nbf.v4.new_markdown_cell(s.strip("\n"))


def code(s):
    return nbf.v4.new_code_cell(s.strip("\n"))


def write(name, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = LANG
    nb.cells = cells
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

The first cell is the notebook's parameter: `--budget=tiny` trains 600 steps (a CI smoke run,
about a minute on two cores), `--budget=full` trains 100k steps. `--steps=N` overrides the
number of steps of the training cell.
"""),
    code("""
import "github.com/pompc/pompc/widgets"

// must stops the cell with the error (GoNB shows it under the cell).
func must(err error) {
	if err != nil {
		panic(err)
	}
}

var (
	flagBudget = flag.String("budget", "tiny", "run length: tiny (CI smoke run) or full (a real run)")
	flagSteps  = flag.Int("steps", 0, "agent steps of the training cell (0: the budget's)")
)

%% --budget=tiny
""" + SETUP_SHELL + """
b, err := widgets.BudgetByName(*flagBudget)
must(err)
must(widgets.SetParam("budget", b.Name))
must(widgets.SetParam("steps", strconv.Itoa(*flagSteps)))
fmt.Printf("budget %q: %d agent steps (%d of random seed actions)\\n", b.Name, b.Steps, b.SeedSteps)
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
func budget() widgets.Budget {
	b, err := widgets.BudgetByName(widgets.Param("budget", "tiny"))
	must(err)
	if n, _ := strconv.Atoi(widgets.Param("steps", "0")); n > 0 {
		b.Steps = n
	}
	return b
}

// openRun attaches to the quickstart run's server, starting it (and creating the run) if needed.
func openRun() *session.Run {
	dir, err := widgets.OutDir("runs")
	must(err)
	cfg := budget().Apply(pompc.POMPC().WithSize(pompc.SizeTiny))
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

The dashboard shows a λ slider (0 = TD-MPC2 … ∞ = BMPC), the KL direction that fits the prior
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
if remaining := budget().Steps - int(st.Step); remaining > 0 {
	must(dash.Train(context.Background(), remaining))
}
st, err = run.Status()
must(err)
fmt.Printf("step %d, λ = %s, last episode return %.1f\\n", st.Step, widgets.FormatLambda(st.Lambda), st.LastEpisodeReturn)
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
fmt.Println("saved", filepath.Join(dir, "quickstart-curve.{pdf,svg,png}"))
"""),
    md("""
The run's server stays up (idle timeout 30 minutes) so the next cell attaches instantly;
`run.Shutdown()` ends it now.
"""),
]

if __name__ == "__main__":
    write("quickstart.ipynb", quickstart)
