package sweep

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/require"
)

// SweepStatus reads each point from its run directory: never launched (pending), running with
// its latest metrics step (stopped once no process holds it), done, failed with the tail of
// its log; and the items of a submission
// group a batched sweep's points by population (one array task each), one point each otherwise.
func TestSweepStatusAndItems(t *testing.T) {
	dir := t.TempDir()
	g := Grid{Tasks: []string{"cartpole-balance"}, Presets: []string{"pompc"}, Lambdas: []float64{1, 9}, Seeds: []int{0, 1},
		TrainArgs: []string{"--size", "tiny", "--steps", "100"}}
	require.NoError(t, SaveGrid(dir, g))
	jobs, err := g.Jobs(dir)
	require.NoError(t, err)
	require.Len(t, jobs, 4)
	for _, j := range jobs {
		require.NoError(t, rundir.Ensure(j.Dir))
	}
	require.NoError(t, rundir.WriteStatus(jobs[0].Dir, rundir.Status{State: rundir.StateDone, Step: 100, TargetStep: 100}))
	require.NoError(t, rundir.WriteStatus(jobs[1].Dir, rundir.Status{State: rundir.StateFailed, Step: 40}))
	require.NoError(t, os.WriteFile(rundir.Path(jobs[1].Dir, rundir.TrainLogFile), []byte("a\nb\nc\nd\ne\nf\npompc: boom\n"), 0o644))
	require.NoError(t, rundir.WriteStatus(jobs[2].Dir, rundir.Status{State: rundir.StateRunning}))
	require.NoError(t, os.WriteFile(rundir.Path(jobs[2].Dir, rundir.MetricsFile),
		[]byte(`{"key":"loss/pi","step":55,"val":1}`+"\n"+`{"key":"loss/pi","step":57,"val":1}`+"\n"), 0o644))

	lock, err := rundir.Acquire(jobs[2].Dir) // its training process (here: this one)
	require.NoError(t, err)
	pts, err := SweepStatus(context.Background(), dir)
	require.NoError(t, err)
	require.Len(t, pts, 4)
	require.Equal(t, []string{"done", "failed", "running", "pending"}, []string{pts[0].State, pts[1].State, pts[2].State, pts[3].State})
	require.Equal(t, int64(57), pts[2].Step)
	require.False(t, pts[2].Since.IsZero(), "when its launch began")
	// Marked running, but no process holds it (killed with its machine): stopped, once its
	// launch is older than the time a population takes to open its runs.
	require.NoError(t, lock.Unlock())
	pts, err = SweepStatus(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, rundir.StateRunning, pts[2].State, "just launched: its process may not have opened it yet")
	st, err := rundir.ReadStatus(jobs[2].Dir)
	require.NoError(t, err)
	st.Updated = time.Now().Add(-2 * launchGrace)
	data, err := json.Marshal(st)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rundir.Path(jobs[2].Dir, rundir.StatusFile), data, 0o644))
	pts, err = SweepStatus(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, rundir.StateStopped, pts[2].State)
	// A record its launcher rewrote a minute ago (heartbeat) but launched long ago, with no
	// process holding it, is stopped too; held, its rate counts from its launch and launch step.
	launched := time.Now().Add(-2 * launchGrace).UTC()
	require.NoError(t, rundir.WriteStatus(jobs[2].Dir, rundir.Status{State: rundir.StateRunning, Step: 56,
		Launched: launched, LaunchStep: 50}))
	pts, err = SweepStatus(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, rundir.StateStopped, pts[2].State, "its heartbeat does not make a dead process live")
	lock, err = rundir.Acquire(jobs[2].Dir)
	require.NoError(t, err)
	pts, err = SweepStatus(context.Background(), dir)
	require.NoError(t, err)
	require.NoError(t, lock.Unlock())
	require.Equal(t, rundir.StateRunning, pts[2].State)
	require.True(t, pts[2].Since.Equal(launched), "since its launch, not its latest heartbeat")
	require.Equal(t, int64(50), pts[2].SinceStep)
	require.True(t, strings.HasSuffix(pts[1].LogTail, "pompc: boom"), pts[1].LogTail)
	require.NotContains(t, pts[1].LogTail, "a\n")

	todo := []int{1, 2, 3}
	require.Len(t, Items(ProcessLauncher{}, jobs, todo), 3, "one task per point")
	require.Equal(t, [][]int{{1, 2, 3}}, Items(PopulationLauncher{Group: GroupShared}, jobs, todo), "one task per population")
	// By variant (auto on the pure-Go backend): λ = 1's seed, then λ = 9's two seeds.
	require.Equal(t, [][]int{{1}, {2, 3}}, Items(PopulationLauncher{Group: GroupVariant}, jobs, todo))
	require.Equal(t, [][]int{{1}, {2}, {3}}, Items(PopulationLauncher{Group: GroupRun}, jobs, todo), "each run alone")
	t.Setenv("GOMLX_BACKEND", "")
	require.Equal(t, [][]int{{1}, {2, 3}}, Items(PopulationLauncher{}, jobs, todo), "auto on the pure-Go backend")
	jobs[1].Config.Backend, jobs[2].Config.Backend, jobs[3].Config.Backend = "xla:cuda", "xla:cuda", "xla:cuda"
	require.Equal(t, [][]int{{1, 2, 3}}, Items(PopulationLauncher{}, jobs, todo), "auto on XLA")
	_, err = ParseGrouping("by-task")
	require.ErrorContains(t, err, "want auto, shared, variant or run")
	// A cap splits a population into ones of at most N runs, in job order.
	for s, want := range map[string][][]int{"shared:2": {{1, 2}, {3}}, "variant:1": {{1}, {2}, {3}}, "variant:5": {{1}, {2, 3}}} {
		g, err := ParseGrouping(s)
		require.NoError(t, err, s)
		require.Equal(t, want, Items(PopulationLauncher{Group: g}, jobs, todo), s)
	}
	ac, err := ParseGrouping(":2")
	require.NoError(t, err)
	require.Equal(t, Grouping("auto:2"), ac)
	require.Equal(t, 2, ac.MaxRuns())
	require.Equal(t, [][]int{{1, 2}, {3}}, Items(PopulationLauncher{Group: ac}, jobs, todo), "auto:2 on XLA: shared, capped")
	for _, bad := range []string{"variant:0", "variant:x", "run:2", "task:2"} {
		_, err := ParseGrouping(bad)
		require.Error(t, err, bad)
	}

	// A submission's task names its runs; TaskJobs finds them.
	sub := Submission{N: 0, JobID: "7", Items: [][]string{{filepath.Base(jobs[3].Dir)}}}
	require.NoError(t, os.MkdirAll(submissionDir(dir, 0), 0o755))
	require.NoError(t, writeSubmission(dir, sub))
	got, batched, err := TaskJobs(dir, g, 0, 0)
	require.NoError(t, err)
	require.False(t, batched)
	require.Equal(t, jobs[3].Dir, got[0].Dir)
	_, _, err = TaskJobs(dir, g, 0, 1)
	require.ErrorContains(t, err, "tasks 0..0")
	_, _, err = TaskJobs(dir, g, 3, 0)
	require.ErrorContains(t, err, "no submission 3")
}

// The array's script: every field filled in, the paths quoted, a % escaped for --output, the job
// name kept to safe characters, the signal SLURM sends before the time limit.
func TestSlurmScript(t *testing.T) {
	b, err := Slurm{Exe: "/opt/my pompc", ArrayParallelism: 3, SignalSeconds: 90}.script("/data/100% sure#1", Submission{N: 2, Items: [][]string{{"a"}, {"b"}}})
	require.NoError(t, err)
	s := string(b)
	require.NotContains(t, s, "<no value>")
	for _, want := range []string{"#SBATCH --job-name=pompc-100--sure-1\n", "#SBATCH --array=0-1%3\n", "#SBATCH --signal=B:TERM@90\n",
		"#SBATCH --output='/data/100%% sure#1/slurm/2'/task-%a.out", "'/opt/my pompc' sweep --dir '/data/100% sure#1' --submission 2",
		"#SBATCH --requeue", "trap stop TERM USR1", `[ "$state" = RUNNING ]`} {
		require.Contains(t, s, want)
	}
}
