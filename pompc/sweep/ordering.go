package sweep

import (
	"fmt"
	"math"
	"strings"

	"github.com/pompc/pompc/pompc"
)

// Claim is one comparison the PO-MPC paper makes (algorithm.md §1, §7), checked on a sweep's
// runs: P(X > Y), the probability that a run of variant X ends above a run of Y, of the final
// returns and of the AUCs, on one task or across all tasks (AllTasks), each with its 95%
// stratified bootstrap interval.
type Claim struct {
	// Text states the claim, X's side of it ("PO-MPC λ=1 beats TD-MPC2 (λ = 0)").
	Text       string
	Task       string
	X, Y       string
	Final, AUC Interval
	// Runs is the fewest finished runs either side has on a task of the comparison.
	Runs int
}

// Claim outcomes, from where a P(X > Y) interval lies.
const (
	ClaimHolds      = "holds"        // the interval is above ½: X ends above Y
	ClaimReversed   = "reversed"     // below ½: Y ends above X
	ClaimUnresolved = "not resolved" // it contains ½: these seeds cannot tell
	ClaimTooFew     = "too few runs" // fewer than MinClaimRuns a side on a task: no verdict
)

// MinClaimRuns is the fewest runs each side needs on every task for a claim to get a verdict.
// The bootstrap interval of P(X > Y) is [1, 1] whenever every run of X ends above every run
// of Y, however few they are; a complete separation is significant at 5% (two-sided exact
// Mann–Whitney test) only from 4 runs a side on (p = 2/70), not at 3 (p = 2/20).
const MinClaimRuns = 4

// Outcome says what a P(X > Y) interval shows: ClaimHolds, ClaimReversed or ClaimUnresolved
// ("" without runs to compare).
func Outcome(p Interval) string {
	switch {
	case math.IsNaN(p.Point):
		return ""
	case p.Lo > 0.5:
		return ClaimHolds
	case p.Hi < 0.5:
		return ClaimReversed
	}
	return ClaimUnresolved
}

// FinalOutcome is the claim's verdict on final returns: Outcome of its interval, or
// ClaimTooFew with fewer than MinClaimRuns runs a side.
func (c Claim) FinalOutcome() string { return c.outcome(c.Final) }

// AUCOutcome is FinalOutcome for the AUCs.
func (c Claim) AUCOutcome() string { return c.outcome(c.AUC) }

func (c Claim) outcome(p Interval) string {
	if o := Outcome(p); o == "" || c.Runs >= MinClaimRuns {
		return o
	}
	return ClaimTooFew
}

// variantRole is what a variant is in the paper's comparisons.
type variantRole struct {
	name    string
	lambda  float64
	kind    string // "tdmpc2", "bmpc", "pompc" (learned prior, reverse KL), "planner", "forward"
	ordered int    // first appearance, for a stable order
}

// roles classifies the variants of runs: TD-MPC2, BMPC, PO-MPC at a finite λ > 0 with the
// default prior (learned, reverse KL), and the planner prior and the forward KL at a λ. Runs
// whose λ changed while they trained, and other presets, are left out.
func roles(runs []Run) []variantRole {
	seen := map[string]bool{}
	var out []variantRole
	for _, r := range runs {
		v := r.Variant()
		if seen[v] {
			continue
		}
		seen[v] = true
		if v != r.Point.Variant() {
			continue // its λ changed during training
		}
		cfg, err := r.Point.Config()
		if err != nil {
			continue
		}
		lam := r.Point.Lambda
		if math.IsNaN(lam) {
			lam = cfg.Lambda
		}
		role := variantRole{name: v, lambda: lam, ordered: len(out)}
		switch {
		case r.Point.Preset == "tdmpc2":
			role.kind = "tdmpc2"
		case r.Point.Preset == "bmpc":
			role.kind = "bmpc"
		case r.Point.Preset != "pompc" || lam <= 0 || math.IsInf(lam, 1):
			continue
		case cfg.Prior == pompc.PriorPlanner && cfg.PriorKL == pompc.KLReverse:
			role.kind = "planner"
		case cfg.Prior == pompc.PriorLearned && cfg.PriorKL == pompc.KLForward:
			role.kind = "forward"
		case cfg.Prior == pompc.PriorLearned && cfg.PriorKL == pompc.KLReverse:
			role.kind = "pompc"
		default:
			continue
		}
		out = append(out, role)
	}
	return out
}

// Claims checks the paper's ordering on runs (only finished runs count), on every task and,
// with more than one task, across them: every PO-MPC λ against TD-MPC2 and against BMPC (an
// intermediate λ beats both ends), and at each λ that has them the learned prior against the
// planner prior and the forward KL against the reverse KL (which the paper finds helps some
// tasks and hurts others). The bootstrap is seeded: a report is reproducible. Each interval is
// of its own comparison, with no correction for the several made.
func Claims(runs []Run) []Claim {
	rs := roles(runs)
	byKind := func(kind string, lam float64) (variantRole, bool) {
		for _, r := range rs {
			if r.kind == kind && (math.IsNaN(lam) || r.lambda == lam) {
				return r, true
			}
		}
		return variantRole{}, false
	}
	type pair struct {
		text string
		x, y string
	}
	var pairs []pair
	tdmpc2, hasT := byKind("tdmpc2", math.NaN())
	bmpc, hasB := byKind("bmpc", math.NaN())
	for _, r := range rs {
		if r.kind != "pompc" {
			continue
		}
		lam := pompc.FormatLambda(r.lambda)
		if hasT {
			pairs = append(pairs, pair{"PO-MPC λ=" + lam + " beats TD-MPC2 (λ = 0)", r.name, tdmpc2.name})
		}
		if hasB {
			pairs = append(pairs, pair{"PO-MPC λ=" + lam + " beats BMPC (λ = ∞)", r.name, bmpc.name})
		}
	}
	for _, r := range rs {
		if r.kind != "pompc" {
			continue
		}
		lam := pompc.FormatLambda(r.lambda)
		if p, ok := byKind("planner", r.lambda); ok {
			pairs = append(pairs, pair{"the learned prior beats the planner prior at λ=" + lam, r.name, p.name})
		}
		if f, ok := byKind("forward", r.lambda); ok {
			pairs = append(pairs, pair{"the forward KL beats the reverse KL at λ=" + lam, f.name, r.name})
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	tasks, vs := Scores(runs)
	scores := map[string]VariantScores{}
	for _, v := range vs {
		scores[v.Variant] = v
	}
	aucs := func(v VariantScores) [][]float64 {
		out := make([][]float64, len(v.Curves))
		for t, runs := range v.Curves {
			for _, c := range runs {
				out[t] = append(out[t], AUC(c))
			}
		}
		return out
	}
	var out []Claim
	for _, p := range pairs {
		x, y := scores[p.x], scores[p.y]
		xa, ya := aucs(x), aucs(y)
		fewest, both := math.MaxInt, 0
		for t, task := range tasks {
			if len(x.Final[t]) == 0 || len(y.Final[t]) == 0 {
				continue
			}
			runs := min(len(x.Final[t]), len(y.Final[t]))
			fewest, both = min(fewest, runs), both+1
			one := []string{task}
			final, _ := pairPOI("final", p.x, p.y, one, x.Final[t:t+1], y.Final[t:t+1])
			auc, _ := pairPOI("auc", p.x, p.y, one, xa[t:t+1], ya[t:t+1])
			out = append(out, Claim{Text: p.text, Task: task, X: p.x, Y: p.y, Runs: runs, Final: final, AUC: auc})
		}
		// Across tasks once two or more have runs of both (with one it is that task's claim).
		if both > 1 {
			final, _ := pairPOI("final", p.x, p.y, tasks, x.Final, y.Final)
			auc, _ := pairPOI("auc", p.x, p.y, tasks, xa, ya)
			out = append(out, Claim{Text: p.text, Task: AllTasks, X: p.x, Y: p.y, Runs: fewest, Final: final, AUC: auc})
		}
	}
	return out
}

// OrderingAnswer says, for each task of claims (and across tasks), whether the paper's
// ordering appears, from the final returns: it appears when some PO-MPC λ ends above both
// TD-MPC2 and BMPC (both verdicts hold; with several λ, one of them, with no correction for
// the several tried), it does not when every λ ends below one of them, it cannot be told with
// fewer than MinClaimRuns runs a side, or without one of the ends; otherwise these seeds cannot
// tell. Each λ's outcomes follow.
func OrderingAnswer(claims []Claim) []string {
	type outcomes struct{ vsT, vsB string }
	var tasks []string
	lams := map[string][]string{}
	by := map[string]map[string]*outcomes{}
	for _, c := range claims {
		vsT, vsB := strings.HasSuffix(c.Text, "beats TD-MPC2 (λ = 0)"), strings.HasSuffix(c.Text, "beats BMPC (λ = ∞)")
		if !vsT && !vsB {
			continue
		}
		if by[c.Task] == nil {
			by[c.Task] = map[string]*outcomes{}
			tasks = append(tasks, c.Task)
		}
		lam := strings.TrimPrefix(c.X, "pompc ")
		o := by[c.Task][lam]
		if o == nil {
			o = &outcomes{}
			by[c.Task][lam] = o
			lams[c.Task] = append(lams[c.Task], lam)
		}
		if vsT {
			o.vsT = c.FinalOutcome()
		} else {
			o.vsB = c.FinalOutcome()
		}
	}
	side := func(o, end string) string {
		switch o {
		case ClaimHolds:
			return "above " + end
		case ClaimReversed:
			return "below " + end
		case ClaimUnresolved:
			return "not resolved against " + end
		}
		return ""
	}
	var out []string
	for _, task := range tasks {
		var above, details []string
		below, tooFew, noT, noB := 0, false, true, true
		for _, lam := range lams[task] {
			o := by[task][lam]
			noT, noB = noT && o.vsT == "", noB && o.vsB == ""
			tooFew = tooFew || o.vsT == ClaimTooFew || o.vsB == ClaimTooFew
			if o.vsT == ClaimHolds && o.vsB == ClaimHolds {
				above = append(above, lam)
			}
			if o.vsT == ClaimReversed || o.vsB == ClaimReversed {
				below++
			}
			var sides []string
			for _, s := range []string{side(o.vsT, "TD-MPC2"), side(o.vsB, "BMPC")} {
				if s != "" {
					sides = append(sides, s)
				}
			}
			if len(sides) > 0 {
				details = append(details, lam+" "+strings.Join(sides, ", "))
			}
		}
		var answer string
		switch {
		case noT || noB:
			end := "TD-MPC2"
			if noB {
				end = "BMPC"
			}
			out = append(out, fmt.Sprintf("%s: the ordering cannot be checked: no %s runs", task, end))
			continue
		case tooFew:
			out = append(out, fmt.Sprintf("%s: the ordering cannot be told from fewer than %d runs a side", task, MinClaimRuns))
			continue
		case len(above) > 0 && len(lams[task]) > 1:
			answer = fmt.Sprintf("appears (%s above both ends: %d of %d λ, no correction for trying several)",
				strings.Join(above, ", "), len(above), len(lams[task]))
		case len(above) > 0:
			answer = "appears (" + above[0] + " above both ends)"
		case below == len(lams[task]):
			answer = "does not appear (every PO-MPC λ ends below an end)"
		default:
			answer = "is not resolved by these seeds"
		}
		out = append(out, fmt.Sprintf("%s: the ordering %s; %s", task, answer, strings.Join(details, "; ")))
	}
	return out
}
