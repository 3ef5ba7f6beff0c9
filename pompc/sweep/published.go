package sweep

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/pompc/pompc/pompc"
)

// Published is a published learning curve on the agent-step axis of pompc's runs: at each
// evaluation step, the mean return over the published seeds and its band (the 95% Student-t
// interval over the seeds, or the authors' own band where they publish one).
type Published struct {
	// Name says whose curve it is, e.g. "TD-MPC2 (published)".
	Name string
	// Seeds is how many runs the published curve averages.
	Seeds int
	// Steps are agent steps (published environment steps / DMC's action repeat of 2), in any
	// order; a step without a Mean, Lo and Hi (shorter slices) is ignored.
	Steps []int64
	// Mean is the published mean return at each step, [Lo, Hi] its band.
	Mean, Lo, Hi []float64
}

// PublishedFunc returns the published curve of a preset's algorithm on a task, if there is one
// (widgets.PublishedCurve serves the curves embedded in widgets/reference).
type PublishedFunc func(task, preset string) (Published, bool)

// PublishedRow compares one task and variant with its published curve at one agent step: ours as
// the mean and 95% Student-t half-width over the runs evaluated at that step, theirs as the
// published mean and band.
type PublishedRow struct {
	// Task and Variant name our runs (Run.Task, Run.Variant).
	Task, Variant string
	// Published names the curve (Published.Name).
	Published string
	// Step is the agent step compared.
	Step int64
	// Seeds counts our runs with a finite evaluation at Step; Mean ± CI is over them.
	Seeds    int
	Mean, CI float64
	// PubSeeds, PubMean and [PubLo, PubHi] are the published curve's at Step.
	PubSeeds              int
	PubMean, PubLo, PubHi float64
}

// Verdict places our mean against the published band: "inside", "below" or "above" ("–" when
// either is not a number). It is the mean's place, not a test: with few runs our own interval is
// wide, and the table shows it beside the verdict.
func (r PublishedRow) Verdict() string {
	switch {
	case math.IsNaN(r.Mean) || math.IsNaN(r.PubLo) || math.IsNaN(r.PubHi):
		return "–"
	case r.Mean < r.PubLo:
		return "below"
	case r.Mean > r.PubHi:
		return "above"
	}
	return "inside"
}

// ComparePublished compares every task and variant of runs whose variant is a preset's own (no
// λ, prior or KL changed: "tdmpc2", "bmpc"; with any Label) and whose task has a published curve of that
// preset's algorithm (pub, asked with the run's task name as it is) at each published step
// after 0 where at least two of the variant's runs have a finite evaluation at exactly that
// agent step (done or still training; a run evaluated elsewhere, e.g. every 3k steps, is not
// compared there), in the runs' order of tasks and variants and by step. A run of a different
// size or planner than the published one is still its algorithm: that comparison is the
// question (does the smaller setting reach the published band?).
func ComparePublished(runs []Run, pub PublishedFunc) []PublishedRow {
	if pub == nil {
		return nil
	}
	groups := groupEvals(runs, func(r Run) bool { return r.ownVariant() == r.Preset })
	var rows []PublishedRow
	for _, g := range groups {
		p, ok := pub(g.task, g.preset)
		if !ok {
			continue
		}
		var at []int // indices into p.Steps, by step, each step once
		seen := map[int64]bool{}
		for i, st := range p.Steps {
			if st > 0 && !seen[st] && len(g.evals[st]) >= 2 && i < len(p.Mean) && i < len(p.Lo) && i < len(p.Hi) {
				seen[st] = true
				at = append(at, i)
			}
		}
		sort.Slice(at, func(a, b int) bool { return p.Steps[at[a]] < p.Steps[at[b]] })
		for _, i := range at {
			st := p.Steps[i]
			m, ci := MeanCI(g.evals[st], Level)
			rows = append(rows, PublishedRow{Task: g.task, Variant: g.variant, Published: p.Name, Step: st,
				Seeds: len(g.evals[st]), Mean: m, CI: ci, PubSeeds: p.Seeds, PubMean: p.Mean[i], PubLo: p.Lo[i], PubHi: p.Hi[i]})
		}
	}
	return rows
}

// PublishedBand is the published band of seed curves: at every step all of them were evaluated,
// the mean and the 95% Student-t interval over the seeds (each seed's records by step); with a
// single seed there is no interval and the band is NaN.
func PublishedBand(name string, seeds [][]pompc.Record) Published {
	p := Published{Name: name, Seeds: len(seeds)}
	at := map[int64][]float64{}
	for _, s := range seeds {
		for _, r := range s {
			at[r.Step] = append(at[r.Step], r.Val)
		}
	}
	for st, vs := range at {
		if len(vs) == len(seeds) {
			p.Steps = append(p.Steps, st)
		}
	}
	sort.Slice(p.Steps, func(i, j int) bool { return p.Steps[i] < p.Steps[j] })
	for _, st := range p.Steps {
		m, h := MeanCI(at[st], Level)
		p.Mean, p.Lo, p.Hi = append(p.Mean, m), append(p.Lo, m-h), append(p.Hi, m+h)
	}
	return p
}

// writePublished writes the comparison with the published curves as Markdown.
func writePublished(b *strings.Builder, rows []PublishedRow) {
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n### Against the published curves\n\n")
	b.WriteString("| task | variant | agent step | ours | published | published mean | published band | verdict |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %d | %s (%d runs) | %s, %d seeds | %.1f | [%.1f, %.1f] | %s |\n", r.Task, r.Variant, r.Step,
			pm(r.Mean, r.CI), r.Seeds, strings.TrimSuffix(r.Published, " (published)"), r.PubSeeds, r.PubMean, r.PubLo, r.PubHi, r.Verdict())
	}
	b.WriteString("\nOurs: the evaluation return (each evaluation a mean over its episodes) at that agent step, mean ± 95% " +
		"Student-t half-width over the runs evaluated there (steps where fewer than 2 were are left out). Published: the " +
		"mean over the authors' seeds at the same agent step (their environment steps / DMC's action repeat of 2) and its " +
		"band (TD-MPC2: the 95% Student-t interval over its seeds; BMPC: the confidence band its authors publish). Verdict: " +
		"where our mean lies against that band, not a significance test. The published runs use the 5M networks, TD-MPC2's " +
		"planner (512 samples × 6 iterations) and batch 256, on DMC's own models under MuJoCo 3 (runs on this project's " +
		"cheetah, walker, hopper, finger or acrobot from before 2026-12-07, when they were matched to DMC, do not compare).\n")
}
