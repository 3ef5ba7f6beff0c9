package sweep

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// TestEstimateLeft: a running run's rate counts from the end of the seed phase; a kind with
// no running run takes its finished runs' rate over their whole wall time; pending items go to
// the slot free first; the later phase starts when every item has ended; a kind with no rate
// is counted apart.
func TestEstimateLeft(t *testing.T) {
	job := func(task, preset string, steps int) Job {
		cfg := pompc.POMPC()
		cfg.Steps = steps
		return Job{Point: Point{Task: task, Preset: preset}, Dir: t.TempDir(), Config: cfg}
	}
	jobs := []Job{
		job("a", "pompc", 2000),  // running: 1000 steps since its launch 100 s ago, seed phase to 500
		job("a", "pompc", 2000),  // pending, same kind: 5 steps/s
		job("a", "tdmpc2", 1000), // done in 50 s of wall time: 20 steps/s
		job("a", "tdmpc2", 1000), // pending
		job("b", "bmpc", 1000),   // pending, no rate of its kind
	}
	require.NoError(t, rundir.WriteStatus(jobs[2].Dir, rundir.Status{State: rundir.StateDone, Step: 1000, WallSeconds: 50}))
	pts := []PointStatus{
		{State: rundir.StateRunning, Step: 1000, Target: 2000, Since: time.Now().Add(-100 * time.Second)},
		{State: "pending", Target: 2000},
		{State: rundir.StateDone, Step: 1000, Target: 1000},
		{State: "pending", Target: 1000},
		{State: "pending", Target: 1000},
	}
	seedEnd := func(j Job) int64 {
		if j.Point.Task == "a" {
			return 500
		}
		return 0
	}
	later := []Job{job("a", "pompc", 500)}
	est := EstimateLeft(ProcessLauncher{}, jobs, pts, 2, seedEnd, later)
	// Slot 0: the running run's 1000 steps at 5/s (200 s), then the pending tdmpc2 run (50 s);
	// slot 1: the pending pompc run (400 s). The later run starts at 400 s and takes 100 s.
	require.InDelta(t, 200, est.Running.Seconds(), 1)
	require.InDelta(t, 500, est.All.Seconds(), 2)
	require.Equal(t, 1, est.Unknown)

	// One slot: every item after the other.
	est = EstimateLeft(ProcessLauncher{}, jobs, pts, 1, seedEnd, nil)
	require.InDelta(t, 200+400+50, est.All.Seconds(), 2)

	// A kind with no run of its own takes its preset's rate on another task (task c's pompc run:
	// 1000 steps at task a's 5 steps/s); a stopped run's rate is its last launch's from the end
	// of the seed phase (task d's: launched at 100, stopped at 600 100 s later: 5 steps/s),
	// and a kind's own rate comes before its preset's elsewhere (task e's tdmpc2, 10 steps/s,
	// where task a's finished one did 20).
	more := []Job{jobs[0], job("c", "pompc", 1000), job("d", "sac", 1000), job("d", "sac", 1000),
		job("e", "tdmpc2", 1000), job("e", "tdmpc2", 1000), jobs[2]}
	launched := time.Now().Add(-time.Hour).UTC()
	stop := rundir.Status{State: rundir.StateStopped, Step: 600, LaunchStep: 100, Launched: launched}
	require.NoError(t, rundir.WriteStatus(more[2].Dir, stop))
	data, err := os.ReadFile(rundir.Path(more[2].Dir, rundir.StatusFile))
	require.NoError(t, err)
	// WriteStatus stamps Updated now; put it 100 s after the launch.
	data = []byte(strings.Replace(string(data), `"updated": "`, `"updated": "`+launched.Add(100*time.Second).Format(time.RFC3339Nano)+`", "x": "`, 1))
	require.NoError(t, os.WriteFile(rundir.Path(more[2].Dir, rundir.StatusFile), data, 0o644))
	mpts := []PointStatus{pts[0], {State: "pending", Target: 1000}, {State: rundir.StateStopped, Step: 600, Target: 1000},
		{State: "pending", Target: 1000},
		{State: rundir.StateRunning, Step: 500, Target: 1000, Since: time.Now().Add(-50 * time.Second)}, {State: "pending", Target: 1000},
		pts[2]}
	est = EstimateLeft(ProcessLauncher{}, more, mpts, 1, func(Job) int64 { return 0 }, nil)
	require.Equal(t, 0, est.Unknown)
	// a: 1000 left at 10/s (no seed phase here) = 100; c: 1000 at 10/s = 100; d: 400 and 1000
	// at 5/s = 80 + 200; e: 500 and 1000 at 10/s = 50 + 100.
	require.InDelta(t, 100+100+80+200+50+100, est.All.Seconds(), 3)
}

// TestEstimateRecentRate: a running run's rate is its recent window's once that window lies past
// the seed phase (the launch's average, pretraining burst included, would say five times
// slower), its launch's while the window reaches into the seed phase; a stopped run's is its
// last recent window's.
func TestEstimateRecentRate(t *testing.T) {
	job := func() Job {
		cfg := pompc.POMPC()
		cfg.Steps = 2000
		return Job{Point: Point{Task: "a", Preset: "pompc"}, Dir: t.TempDir(), Config: cfg}
	}
	now := time.Now()
	seedEnd := func(Job) int64 { return 500 }
	running := PointStatus{State: rundir.StateRunning, Step: 1500, Target: 2000, Since: now.Add(-1000 * time.Second),
		Recent: now.Add(-100 * time.Second), RecentStep: 1000}
	est := EstimateLeft(ProcessLauncher{}, []Job{job()}, []PointStatus{running}, 1, seedEnd, nil)
	require.InDelta(t, 100, est.Running.Seconds(), 1, "500 steps at the recent 5 steps/s")
	running.RecentStep = 400 // the window begins inside the seed phase: the launch's rate, 1/s
	est = EstimateLeft(ProcessLauncher{}, []Job{job()}, []PointStatus{running}, 1, seedEnd, nil)
	require.InDelta(t, 500, est.Running.Seconds(), 1)

	// A stopped run (kind known only from it) and a pending one of its kind.
	jobs := []Job{job(), job()}
	launched := now.Add(-time.Hour).UTC()
	stop := rundir.Status{State: rundir.StateStopped, Step: 1200, LaunchStep: 0, Launched: launched,
		Recent: launched.Add(900 * time.Second), RecentStep: 700}
	require.NoError(t, rundir.WriteStatus(jobs[0].Dir, stop))
	data, err := os.ReadFile(rundir.Path(jobs[0].Dir, rundir.StatusFile))
	require.NoError(t, err)
	// Updated 1000 s after the launch: 500 steps in its last 100 s (5/s; the launch's: 0.7/s).
	data = []byte(strings.Replace(string(data), `"updated": "`, `"updated": "`+launched.Add(1000*time.Second).Format(time.RFC3339Nano)+`", "x": "`, 1))
	require.NoError(t, os.WriteFile(rundir.Path(jobs[0].Dir, rundir.StatusFile), data, 0o644))
	pts := []PointStatus{{State: rundir.StateStopped, Step: 1200, Target: 2000}, {State: "pending", Target: 2000}}
	est = EstimateLeft(ProcessLauncher{}, jobs, pts, 1, seedEnd, nil)
	require.InDelta(t, 800/5.0+2000/5.0, est.All.Seconds(), 2)
}

// TestRecentMarks: the record's Recent is the latest mark at least the window old, or the
// launch's while none is; marks it no longer needs are dropped.
func TestRecentMarks(t *testing.T) {
	var r running
	t0 := time.Unix(0, 0)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	require.Equal(t, beat{at(0), 0}, r.mark(at(0), 0, 15*time.Minute))
	for m := 1; m <= 14; m++ {
		require.Equal(t, beat{at(0), 0}, r.mark(at(m), int64(100*m), 15*time.Minute), "minute %d", m)
	}
	require.Equal(t, beat{at(0), 0}, r.mark(at(15), 1500, 15*time.Minute))
	require.Equal(t, beat{at(1), 100}, r.mark(at(16), 1600, 15*time.Minute))
	require.Equal(t, beat{at(16), 1600}, r.mark(at(40), 4000, 15*time.Minute), "after a gap: the latest mark at least 15 min old")
	require.Len(t, r.beats, 2)
}

// TestEstimatePopulationSize: a rate is its slot's throughput shared by the runs of an item. A
// run that trained in a population of five at 2 steps/s (its slot did 10) gives a run alone 10
// steps/s and each run of a population of five 2; a run alone at 8 steps/s (an older record
// without Members counts as alone) gives each of a population of four 2 steps/s.
func TestEstimatePopulationSize(t *testing.T) {
	job := func(task string, seed int) Job {
		cfg := pompc.POMPC()
		cfg.Steps, cfg.Seed = 1000, int64(seed)
		return Job{Point: Point{Task: task, Preset: "pompc", Seed: seed}, Dir: t.TempDir(), Config: cfg}
	}
	noSeed := func(Job) int64 { return 0 }
	done := job("a", 1)
	require.NoError(t, rundir.WriteStatus(done.Dir, rundir.Status{State: rundir.StateDone, Step: 1000, WallSeconds: 500, Members: 5}))
	jobs := []Job{done}
	pts := []PointStatus{{State: rundir.StateDone, Step: 1000, Target: 1000}}
	for s := 2; s <= 6; s++ {
		jobs = append(jobs, job("a", s))
		pts = append(pts, PointStatus{State: "pending", Target: 1000})
	}
	// Alone (ProcessLauncher) on two slots: five runs of 1000 steps at 10/s, 100 s each: 300 s
	// (read as a run's own 2 steps/s, the five would take 1,500 s).
	est := EstimateLeft(ProcessLauncher{}, jobs, pts, 2, noSeed, nil)
	require.InDelta(t, 300, est.All.Seconds(), 1)
	// One population of the five: each at 2/s, 500 s, the second slot idle.
	est = EstimateLeft(PopulationLauncher{Group: GroupVariant}, jobs, pts, 2, noSeed, nil)
	require.InDelta(t, 500, est.All.Seconds(), 1)
	// Populations of at most two (items of 2, 2 and 1 runs: 200, 200 and 100 s) on two slots.
	est = EstimateLeft(PopulationLauncher{Group: "variant:2"}, jobs, pts, 2, noSeed, nil)
	require.InDelta(t, 300, est.All.Seconds(), 1)

	// An older record (no Members) is a run alone: 8 steps/s, a population of four 2 each (500 s,
	// where the run's own rate would say 125).
	old := job("b", 1)
	require.NoError(t, rundir.WriteStatus(old.Dir, rundir.Status{State: rundir.StateDone, Step: 1000, WallSeconds: 125}))
	bjobs, bpts := []Job{old}, []PointStatus{{State: rundir.StateDone, Step: 1000, Target: 1000}}
	for s := 2; s <= 5; s++ {
		bjobs = append(bjobs, job("b", s))
		bpts = append(bpts, PointStatus{State: "pending", Target: 1000})
	}
	est = EstimateLeft(PopulationLauncher{Group: GroupVariant}, bjobs, bpts, 1, noSeed, nil)
	require.InDelta(t, 500, est.All.Seconds(), 1)

	// A running member of a population of three at 1 step/s (its Members from the record): a
	// pending run alone of its kind goes at 3/s.
	cjobs := []Job{job("c", 1), job("c", 2)}
	cpts := []PointStatus{{State: rundir.StateRunning, Step: 400, Target: 1000, Since: time.Now().Add(-400 * time.Second), Members: 3},
		{State: "pending", Target: 900}}
	cjobs[1].Config.Steps = 900
	est = EstimateLeft(ProcessLauncher{}, cjobs, cpts, 1, noSeed, nil)
	require.InDelta(t, 600/3.0+900/3.0, est.All.Seconds(), 2)
}
