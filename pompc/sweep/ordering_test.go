package sweep

import (
	"math"
	"slices"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// TestClaimsAndOrdering: the paper's comparisons on runs whose probabilities of improvement are
// known by hand: on the first task PO-MPC λ=1 ends above both ends (the ordering appears), on
// the second every λ ends below TD-MPC2 (it does not), and across the two tasks λ=1 is above
// one end on each (not resolved).
func TestClaimsAndOrdering(t *testing.T) {
	run := func(task, preset string, lambda float64, kl, prior string, state string, final float64) Run {
		return Run{Point: Point{Task: task, Preset: preset, Lambda: lambda, KL: kl, Prior: prior},
			Status: rundir.Status{State: state}, Metrics: map[string][]pompc.Record{pompc.KeyEvalReturn: evalCurve(0, final)}}
	}
	var runs []Run
	add := func(task, preset string, lambda float64, kl, prior string, finals ...float64) {
		for _, f := range finals {
			runs = append(runs, run(task, preset, lambda, kl, prior, rundir.StateDone, f))
		}
	}
	nan := math.NaN()
	const a, b = "cartpole-swingup", "cheetah-run"
	add(a, "tdmpc2", nan, "", "", 100, 200, 300, 400)
	add(a, "bmpc", nan, "", "", 110, 210, 310, 410)
	add(a, "pompc", 1, "", "", 800, 900, 950, 990)
	add(a, "pompc", 9, "", "", 150, 250, 350, 450)
	add(a, "pompc", 1, "", "planner", 1000, 1000, 1000, 1000)
	add(a, "pompc", 1, "forward", "", 800, 900, 950, 990)
	add(b, "tdmpc2", nan, "", "", 900, 910, 920, 930)
	add(b, "bmpc", nan, "", "", 10, 20, 30, 40)
	add(b, "pompc", 1, "", "", 500, 510, 520, 530)
	add(b, "pompc", 9, "", "", 0, 1, 2, 3)
	// Not finished: no part in any claim.
	runs = append(runs, run(b, "pompc", 9, "", "", rundir.StateRunning, 1000))

	claims := Claims(runs)
	find := func(text, task string) Claim {
		for _, c := range claims {
			if c.Text == text && c.Task == task {
				return c
			}
		}
		t.Fatalf("no claim %q on %s in %+v", text, task, claims)
		return Claim{}
	}
	// 4 comparisons with the ends × (2 tasks + all); the prior and KL comparisons only where
	// both sides have runs (the first task; no row across tasks, which would be that task's).
	require.Len(t, claims, 4*3+2*1)
	// Each interval is its own bootstrap: without the λ=9 runs, λ=1's claims are the same.
	var noNine []Run
	for _, r := range runs {
		if r.Point.Lambda != 9 {
			noNine = append(noNine, r)
		}
	}
	for _, c := range Claims(noNine) {
		require.Equal(t, c, find(c.Text, c.Task), "%s on %s", c.Text, c.Task)
	}

	c := find("PO-MPC λ=1 beats TD-MPC2 (λ = 0)", a)
	require.Equal(t, "pompc λ=1", c.X)
	require.Equal(t, "tdmpc2", c.Y)
	require.Equal(t, Interval{1, 1, 1}, c.Final, "every run of λ=1 above every TD-MPC2 run, in every resample")
	require.Equal(t, ClaimHolds, Outcome(c.Final))
	require.Equal(t, ClaimHolds, Outcome(c.AUC), "the AUCs (final/2 here) rank the same")
	// λ=9 over TD-MPC2: 150 > 100; 250 > 100, 200; 350 > three; 450 > four: 10 of 16 pairs.
	c = find("PO-MPC λ=9 beats TD-MPC2 (λ = 0)", a)
	require.InDelta(t, 10.0/16, c.Final.Point, 1e-12)
	require.InDelta(t, 10.0/16, c.AUC.Point, 1e-12)
	require.LessOrEqual(t, c.Final.Lo, c.Final.Point)
	require.GreaterOrEqual(t, c.Final.Hi, c.Final.Point)
	c = find("the learned prior beats the planner prior at λ=1", a)
	require.Equal(t, "pompc λ=1", c.X)
	require.Equal(t, "pompc λ=1 prior=planner", c.Y)
	require.Equal(t, ClaimReversed, Outcome(c.Final))
	c = find("the forward KL beats the reverse KL at λ=1", a)
	require.Equal(t, "pompc λ=1 kl=forward", c.X)
	require.InDelta(t, 0.5, c.Final.Point, 1e-12, "the same returns: every tie counts ½")
	require.Equal(t, ClaimUnresolved, Outcome(c.Final))
	c = find("PO-MPC λ=1 beats TD-MPC2 (λ = 0)", b)
	require.Equal(t, ClaimReversed, Outcome(c.Final))
	c = find("PO-MPC λ=1 beats BMPC (λ = ∞)", b)
	require.Equal(t, ClaimHolds, Outcome(c.Final))
	c = find("PO-MPC λ=1 beats TD-MPC2 (λ = 0)", AllTasks)
	require.InDelta(t, 0.5, c.Final.Point, 1e-12, "1 on one task, 0 on the other")
	require.Equal(t, ClaimUnresolved, Outcome(c.Final))
	require.Equal(t, "", Outcome(Interval{nan, nan, nan}))

	ans := OrderingAnswer(claims)
	require.Equal(t, []string{
		a + ": the ordering appears (λ=1 above both ends: 1 of 2 λ, no correction for trying several); λ=1 above TD-MPC2, above BMPC; λ=9 not resolved against TD-MPC2, not resolved against BMPC",
		b + ": the ordering does not appear (every PO-MPC λ ends below an end); λ=1 below TD-MPC2, above BMPC; λ=9 below TD-MPC2, below BMPC",
		AllTasks + ": the ordering is not resolved by these seeds; λ=1 not resolved against TD-MPC2, above BMPC; λ=9 not resolved against TD-MPC2, not resolved against BMPC",
	}, ans)

	// Three runs a side: even a complete separation gets no verdict.
	var few []Run
	kept := map[string]int{}
	for _, r := range runs {
		if r.Task == a && r.Status.State == rundir.StateDone && kept[r.Variant()] < 3 {
			few = append(few, r)
			kept[r.Variant()]++
		}
	}
	claims = Claims(few)
	for _, c := range claims {
		if c.Text == "PO-MPC λ=1 beats TD-MPC2 (λ = 0)" {
			require.Equal(t, 3, c.Runs)
			require.Equal(t, Interval{1, 1, 1}, c.Final)
			require.Equal(t, ClaimHolds, Outcome(c.Final))
			require.Equal(t, ClaimTooFew, c.FinalOutcome(), "3 against 3")
		}
	}
	require.Equal(t, []string{a + ": the ordering cannot be told from fewer than 4 runs a side"}, OrderingAnswer(claims))

	// Without BMPC runs the ordering cannot be checked (whatever the seeds).
	noB := slices.DeleteFunc(slices.Clone(runs), func(r Run) bool { return r.Preset == "bmpc" })
	require.Equal(t, []string{a + ": the ordering cannot be checked: no BMPC runs", b + ": the ordering cannot be checked: no BMPC runs",
		AllTasks + ": the ordering cannot be checked: no BMPC runs"}, OrderingAnswer(Claims(noB)))
}
