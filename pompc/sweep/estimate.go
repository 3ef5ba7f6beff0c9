package sweep

import (
	"slices"
	"time"

	"github.com/pompc/pompc/pompc/rundir"
)

// Estimate is how long the jobs of a sweep not done yet will take on its machine.
type Estimate struct {
	// Running is the time left of the work items training now (their slowest run's).
	Running time.Duration
	// All is the time until every job ends, the later phase included: the pending items
	// scheduled on the free slots in the engine's order, the later phase once they all ended.
	All time.Duration
	// Unknown counts the jobs left out of All: their preset and size have trained on no task yet.
	Unknown int
}

// recentRate is a run's agent steps per second from (recent, recentStep) to (end, step), the
// window status.json keeps (rundir.RecentWindow), or 0 where there is no such window past the
// seed phase (which ends at seedEnd: its update burst would make a run look slow).
func recentRate(recent time.Time, recentStep, step int64, end time.Time, seedEnd int64) float64 {
	if recent.IsZero() || recentStep < seedEnd || step <= recentStep || !end.After(recent) {
		return 0
	}
	return float64(step-recentStep) / end.Sub(recent).Seconds()
}

// EstimateLeft estimates the time left of jobs (pts: their status, as JobsStatus gives) and
// of later, a phase that starts once jobs have ended (the ablation's prior ablation at the best
// λ), when work items (Items under l) run parallel at a time. A run's time left is its steps
// left at the rate of its kind (task, preset and size: the cost of a step): the mean rate of
// that kind's running runs over their last rundir.RecentWindow (PointStatus.Recent) once that
// window lies past the seed phase, else since their launch, counted from seedEnd(job) (the end
// of the seed phase, whose random steps cost next to nothing, though its pretraining burst
// does) when the launch began inside it; or else its finished runs' steps over their whole
// wall time; or else its stopped runs' rate over their last launch's recent window (or whole
// launch), counted as a running run's. A kind with none of these takes its preset's and size's
// on other tasks. An item lasts as long as its slowest run. The runs of a population share its
// slot, so each rate is kept as the slot's throughput, the run's rate times the size of the work
// item its latest launch trained in (PointStatus.Members; a finished run's whole wall time is
// counted at that size), and a run of an item of K is given 1/K of it: exact
// at the size it was measured at, and at another size at equal throughput, which leaves out
// what batching gains (a population of five runs faster than five runs alone: README,
// "Populations"), so it overstates a larger population's time and understates a smaller one's.
// The rates hold while the machine's load stays as it is.
func EstimateLeft(l Launcher, jobs []Job, pts []PointStatus, parallel int, seedEnd func(Job) int64, later []Job) Estimate {
	type acc struct{ sum, n float64 }
	runningRate, doneRate, pastRate := map[string]*acc{}, map[string]*acc{}, map[string]*acc{}
	add := func(m map[string]*acc, k string, r float64) {
		if m[k] == nil {
			m[k] = &acc{}
		}
		m[k].sum += r
		m[k].n++
	}
	now := time.Now()
	// add2 records a run's rate r, measured in an item of members runs, as its slot's throughput.
	add2 := func(m map[string]*acc, j Job, r float64, members int) {
		r *= float64(max(members, 1))
		add(m, kindOf(j), r)
		add(m, kindAnyTask(j), r)
	}
	for i, p := range pts {
		k := jobs[i]
		switch {
		case p.State == rundir.StateRunning && recentRate(p.Recent, p.RecentStep, p.Step, now, seedEnd(k)) > 0:
			// Its rate over the last rundir.RecentWindow, past the seed phase: the machine's
			// load as it is now.
			add2(runningRate, k, recentRate(p.Recent, p.RecentStep, p.Step, now, seedEnd(k)), p.Members)
		case p.State == rundir.StateRunning && !p.Since.IsZero():
			from := max(p.SinceStep, seedEnd(jobs[i]))
			if p.Step > from && now.After(p.Since) {
				add2(runningRate, k, float64(p.Step-from)/now.Sub(p.Since).Seconds(), p.Members)
			}
		case p.State == rundir.StateDone:
			if st, err := rundir.ReadStatus(jobs[i].Dir); err == nil && st.WallSeconds > 0 {
				add2(doneRate, k, float64(p.Target)/st.WallSeconds, st.Members)
			}
		default:
			// Stopped (or failed) after some training: its last launch's rate, as a running
			// run's (from the end of the seed phase), up to its last record.
			st, err := rundir.ReadStatus(jobs[i].Dir)
			if err != nil || st.Launched.IsZero() || !st.Updated.After(st.Launched) {
				continue
			}
			if r := recentRate(st.Recent, st.RecentStep, st.Step, st.Updated, seedEnd(k)); r > 0 && st.Recent.After(st.Launched) {
				add2(pastRate, k, r, st.Members)
				continue
			}
			if from := max(st.LaunchStep, seedEnd(jobs[i])); st.Step > from {
				add2(pastRate, k, float64(st.Step-from)/st.Updated.Sub(st.Launched).Seconds(), st.Members)
			}
		}
	}
	// A kind's slot throughput: its running runs', else its finished runs', else its stopped
	// runs'; a kind with none takes its preset's and size's on the other tasks (the networks cost
	// the same there; the simulators' share of a step is small).
	throughput := func(j Job) float64 {
		for _, k := range []string{kindOf(j), kindAnyTask(j)} {
			for _, m := range []map[string]*acc{runningRate, doneRate, pastRate} {
				if a := m[k]; a != nil {
					return a.sum / a.n
				}
			}
		}
		return 0
	}
	var est Estimate
	// left is an item's time left (its slowest run's, each at its share of the slot); false when
	// a run has no rate.
	left := func(js []Job, steps []int64) (time.Duration, bool) {
		var d time.Duration
		for n, j := range js {
			r := throughput(j) / float64(len(js))
			if r <= 0 {
				est.Unknown += len(js)
				return 0, false
			}
			d = max(d, durationOf(float64(j.Steps()-steps[n])/r))
		}
		return d, true
	}
	slots := make([]time.Duration, max(parallel, 1))
	// schedule puts an item on the slot free first (list scheduling, as the engine's workers).
	schedule := func(d time.Duration) {
		m := 0
		for s := range slots {
			if slots[s] < slots[m] {
				m = s
			}
		}
		slots[m] += d
	}
	var todo []int
	for i, p := range pts {
		if p.State != rundir.StateDone {
			todo = append(todo, i)
		}
	}
	var pending []time.Duration
	for _, item := range Items(l, jobs, todo) {
		js, steps := make([]Job, len(item)), make([]int64, len(item))
		running := false
		for n, i := range item {
			js[n], steps[n] = jobs[i], pts[i].Step
			running = running || pts[i].State == rundir.StateRunning
		}
		d, ok := left(js, steps)
		switch {
		case !ok:
		case running:
			est.Running = max(est.Running, d)
			schedule(d)
		default:
			pending = append(pending, d)
		}
	}
	for _, d := range pending {
		schedule(d)
	}
	end := slices.Max(slots)
	if len(later) > 0 {
		for s := range slots {
			slots[s] = end
		}
		for _, item := range Items(l, later, Indices(len(later))) {
			js := make([]Job, len(item))
			for n, i := range item {
				js[n] = later[i]
			}
			if d, ok := left(js, make([]int64, len(js))); ok {
				schedule(d)
			}
		}
	}
	est.All = slices.Max(slots)
	return est
}

// durationOf is sec seconds as a Duration, at most 100 years (a rate near 0 would overflow).
func durationOf(sec float64) time.Duration {
	return time.Duration(min(sec, 100*365*24*3600) * float64(time.Second))
}

// kindOf is what a job's step costs depend on: its task, preset and network size.
func kindOf(j Job) string { return j.Point.Task + "|" + j.Point.Preset + "|" + j.Config.Size.Name }

// kindAnyTask is a job's preset and size, on any task.
func kindAnyTask(j Job) string { return "*|" + j.Point.Preset + "|" + j.Config.Size.Name }

// Indices is 0..n-1: every job of a list, as Items takes them.
func Indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
