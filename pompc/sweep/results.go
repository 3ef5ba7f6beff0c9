package sweep

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Level is the confidence level of every interval in tables and figures.
const Level = 0.95

// Run is one point of a sweep with what its run directory holds.
type Run struct {
	Point
	Dir    string
	Status rundir.Status
	// Metrics are the run's series by key (nil if it has no metrics file yet).
	Metrics map[string][]pompc.Record
}

// Variant names the run's variant as Point.Variant does, except that a run whose λ changed
// while it trained (its config/lambda records: the initial value, then every change) is named by
// its λ history, e.g. "pompc λ=1→9@5000", not by its final λ; it is then a variant of its own.
func (r Run) Variant() string {
	h := pompc.LambdaHistory(r.Metrics[pompc.KeyLambda])
	if !strings.Contains(h, "→") {
		return r.Point.Variant()
	}
	return r.Point.variantWith(h)
}

// Load reads a sweep directory: its grid and, for every point, its status and metrics.
func Load(dir string) (Grid, []Run, error) {
	g, err := LoadGrid(dir)
	if err != nil {
		return g, nil, err
	}
	pts, err := g.Points()
	if err != nil {
		return g, nil, err
	}
	runs := make([]Run, 0, len(pts))
	for _, p := range pts {
		r := Run{Point: p, Dir: filepath.Join(dir, p.Name())}
		if r.Status, err = rundir.ReadStatus(r.Dir); err != nil {
			return g, nil, err
		}
		if rundir.Exists(r.Dir, rundir.MetricsFile) {
			if r.Metrics, err = pompc.ReadRunMetrics(r.Dir); err != nil {
				return g, nil, err
			}
		}
		runs = append(runs, r)
	}
	return g, runs, nil
}

// Row summarizes the finished seeds of one task and variant.
type Row struct {
	Task    string
	Variant string
	// Point is the variant's first run (its seed is meaningless here).
	Point Point
	// Seeds is the number of finished runs; Failed and Pending count the others.
	Seeds, Failed, Pending int
	// FinalMean ± FinalCI is the last evaluation return (mean over seeds, 95% Student-t half-width).
	FinalMean, FinalCI float64
	// AUCMean ± AUCCI is the normalized area under the evaluation curve (see AUC).
	AUCMean, AUCCI float64
	// WallMean is the mean wall time of a run in seconds.
	WallMean float64
}

// Summarize makes one row per task and variant, in grid order. Only finished runs count.
func Summarize(runs []Run) []Row {
	var rows []Row
	index := map[string]int{}
	finals := map[string][]float64{}
	aucs := map[string][]float64{}
	walls := map[string][]float64{}
	for _, r := range runs {
		k := r.Task + "\x00" + r.Variant()
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			rows = append(rows, Row{Task: r.Task, Variant: r.Variant(), Point: r.Point})
		}
		switch r.Status.State {
		case rundir.StateDone:
			rows[i].Seeds++
			ev := r.Metrics[pompc.KeyEvalReturn]
			finals[k] = append(finals[k], Final(ev))
			aucs[k] = append(aucs[k], AUC(ev))
			walls[k] = append(walls[k], r.Status.WallSeconds)
		case rundir.StateFailed:
			rows[i].Failed++
		default:
			rows[i].Pending++
		}
	}
	for k, i := range index {
		rows[i].FinalMean, rows[i].FinalCI = MeanCI(finals[k], Level)
		rows[i].AUCMean, rows[i].AUCCI = MeanCI(aucs[k], Level)
		rows[i].WallMean, _ = MeanCI(walls[k], Level)
	}
	return rows
}

func lambdaCell(p Point) string {
	if !math.IsNaN(p.Lambda) {
		return pompc.FormatLambda(p.Lambda)
	}
	if cfg, err := p.Config(); err == nil {
		return pompc.FormatLambda(cfg.Lambda)
	}
	return ""
}

func num(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// WriteCSV writes rows with a header line. Empty cells are undefined values (no finished seed,
// or one seed for an interval).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"task", "variant", "preset", "lambda", "prior_kl", "prior", "seeds", "failed", "pending",
		"final_mean", "final_ci95", "auc_mean", "auc_ci95", "wall_s_mean"})
	for _, r := range rows {
		cfg, _ := r.Point.Config()
		_ = cw.Write([]string{r.Task, r.Variant, r.Point.Preset, lambdaCell(r.Point), string(cfg.PriorKL), string(cfg.Prior),
			strconv.Itoa(r.Seeds), strconv.Itoa(r.Failed), strconv.Itoa(r.Pending),
			num(r.FinalMean), num(r.FinalCI), num(r.AUCMean), num(r.AUCCI), num(r.WallMean)})
	}
	cw.Flush()
	return cw.Error()
}

func pm(m, h float64) string {
	switch {
	case math.IsNaN(m):
		return "–"
	case math.IsNaN(h):
		return fmt.Sprintf("%.1f", m)
	}
	return fmt.Sprintf("%.1f ± %.1f", m, h)
}

// WriteMarkdown writes rows as a Markdown table (mean ± 95% CI half-width over seeds).
func WriteMarkdown(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| task | variant | seeds | final return | AUC | wall time (s) |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		seeds := strconv.Itoa(r.Seeds)
		if r.Failed > 0 {
			seeds += fmt.Sprintf(" (%d failed)", r.Failed)
		}
		if r.Pending > 0 {
			seeds += fmt.Sprintf(" (%d pending)", r.Pending)
		}
		wall := "–"
		if !math.IsNaN(r.WallMean) {
			wall = fmt.Sprintf("%.0f", r.WallMean)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Task, r.Variant, seeds, pm(r.FinalMean, r.FinalCI), pm(r.AUCMean, r.AUCCI), wall)
	}
	b.WriteString("\nFinal return: last evaluation return; AUC: area under the evaluation curve over its step span " +
		"(mean return during training). Mean ± half-width of the 95% Student-t interval over seeds.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTables writes dir/results.csv and dir/results.md.
func WriteTables(dir string, rows []Row) error {
	for name, write := range map[string]func(io.Writer, []Row) error{"results.csv": WriteCSV, "results.md": WriteMarkdown} {
		if err := rundir.WriteWith(filepath.Join(dir, name), 0o644, func(w io.Writer) error { return write(w, rows) }); err != nil {
			return err
		}
	}
	return nil
}
