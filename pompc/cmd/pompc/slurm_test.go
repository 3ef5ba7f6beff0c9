package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// slurmTool finds a SLURM or munge program (the daemons live in /usr/sbin, often off PATH).
func slurmTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found: bash docker/install.sh installs slurm-wlm and munge", name)
	if toolsRequired() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// freePort is a TCP port free on loopback now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// slurmCluster starts a one-node SLURM cluster on loopback (munged, slurmctld and slurmd in the
// foreground, config and state in a temp dir, free ports) and stops the daemons at cleanup. It
// sets SLURM_CONF for the test process, so sbatch, squeue and scontrol (and the array tasks,
// which inherit the environment) talk to it.
func slurmCluster(t *testing.T) {
	t.Helper()
	munged, ctld, slurmd := slurmTool(t, "munged"), slurmTool(t, "slurmctld"), slurmTool(t, "slurmd")
	for _, c := range []string{"sbatch", "squeue", "scontrol", "scancel", "sinfo"} {
		slurmTool(t, c)
	}
	// Short paths: the munge socket's path must fit a unix socket address.
	dir, err := os.MkdirTemp("", "slurm")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"state", "spool", "log", "munge"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	u, err := user.Current()
	require.NoError(t, err)
	host, err := os.Hostname()
	require.NoError(t, err)
	host, _, _ = strings.Cut(host, ".")
	key := filepath.Join(dir, "munge", "munge.key")
	keyData := bytes.Repeat([]byte("pompc-slurm-test-key-0123456789."), 32) // 1 KiB, this test's own
	require.NoError(t, os.WriteFile(key, keyData, 0o400))
	socket := filepath.Join(dir, "munge", "munge.socket")
	conf := fmt.Sprintf(`ClusterName=pompctest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
SlurmUser=%[4]s
SlurmdUser=%[4]s
AuthType=auth/munge
AuthInfo=socket=%[5]s
CredType=cred/munge
StateSaveLocation=%[6]s/state
SlurmdSpoolDir=%[6]s/spool
SlurmctldPidFile=%[6]s/slurmctld.pid
SlurmdPidFile=%[6]s/slurmd.pid
SlurmctldLogFile=%[6]s/log/slurmctld.log
SlurmdLogFile=%[6]s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=%[7]d RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, freePort(t), freePort(t), u.Username, socket, dir, max(2, runtime.NumCPU()))
	confPath := filepath.Join(dir, "slurm.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o644))
	t.Setenv("SLURM_CONF", confPath)

	start := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start(), name)
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", filepath.Base(name), out.String())
			}
		})
	}
	// Foreground daemons (-F, -D), so that the test owns and stops them.
	start(munged, "-F", "--force", "--socket="+socket, "--key-file="+key, "--pid-file="+filepath.Join(dir, "munge", "munged.pid"),
		"--log-file="+filepath.Join(dir, "munge", "munged.log"), "--seed-file="+filepath.Join(dir, "munge", "seed"))
	waitFor(t, 10*time.Second, "munged's socket", func() bool { _, err := os.Stat(socket); return err == nil })
	start(ctld, "-D", "-i", "-f", confPath)
	start(slurmd, "-D", "-f", confPath, "-N", host)
	waitFor(t, 60*time.Second, "an idle SLURM node", func() bool {
		out, err := exec.Command("sinfo", "-h", "-o", "%T").Output()
		return err == nil && strings.Contains(string(out), "idle")
	})
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"slurmctld.log", "slurmd.log"} {
				data, _ := os.ReadFile(filepath.Join(dir, "log", f))
				t.Logf("%s:\n%s", f, lastLinesOf(string(data), 30))
			}
		}
	})
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitFor polls cond every 200 ms until it holds or the timeout passes (then fails the test).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// queueEmpty reports whether SLURM's queue holds no job.
func queueEmpty(t *testing.T) bool {
	out, err := exec.Command("squeue", "-h", "-r").Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out)) == ""
}

// TestSlurmSweepArray submits a 2 λ × 2 seeds sweep to a real (one-node) SLURM cluster as a job
// array, one task per point, two at a time; waits for it; checks the tables and figures the
// last task writes and the status; submits again and checks that nothing reruns.
func TestSlurmSweepArray(t *testing.T) {
	slurmCluster(t)
	dir := filepath.Join(t.TempDir(), "sweep")
	args := append([]string{"sweep", "--dir", dir, "--tasks", "cartpole-balance", "--presets", "pompc",
		"--lambdas", "1,9", "--seeds", "0,1", "--steps", "60", "--batched=false", "--launcher", "slurm",
		"--array-parallelism", "2", "--slurm-args", "--cpus-per-task=1"}, sweepTrainArgs...)
	out, err := pompcCmd(t, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "submitted job array")
	waitFor(t, 4*time.Minute, "the array to finish", func() bool { return countDone(t, dir) == 4 && queueEmpty(t) })

	rows := readResults(t, dir)
	require.Len(t, rows, 2, "one results row per λ")
	for _, f := range []string{"results.md", "results.csv", filepath.Join("figures", "learning-cartpole-balance.png"), filepath.Join("figures", "lambda-cartpole-balance.png")} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	status, err := pompcCmd(t, "sweep", "--dir", dir, "--status").CombinedOutput()
	require.NoError(t, err, string(status))
	require.Contains(t, string(status), "4 points: 4 done")

	// Submitting again trains nothing: every point is done.
	before := map[string]rundir.Status{}
	for _, p := range sweepPoints(t, dir) {
		st, err := rundir.ReadStatus(p)
		require.NoError(t, err)
		before[p] = st
	}
	out, err = pompcCmd(t, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "nothing submitted")
	require.True(t, queueEmpty(t))
	for p, st := range before {
		now, err := rundir.ReadStatus(p)
		require.NoError(t, err)
		require.Equal(t, st, now, "%s was launched again", p)
	}
}

// TestSlurmAblation submits an ablation to a real (one-node) SLURM cluster: one array of the λ
// ablation's populations, whose last task submits the prior ablation at the best λ as a second
// array (once); the last task of that one writes the report with the paper's ordering.
// Submitting again trains nothing.
func TestSlurmAblation(t *testing.T) {
	slurmCluster(t)
	dir := filepath.Join(t.TempDir(), "abl")
	args := append([]string{"ablation", "--dir", dir, "--tasks", "cartpole-balance", "--seeds", "1", "--steps", "60",
		"--launcher", "slurm", "--array-parallelism", "2", "--slurm-args", "--cpus-per-task=1"}, sweepTrainArgs...)
	out, err := pompcCmd(t, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "submitted job array")
	require.Contains(t, string(out), "the λ ablation's last task submits it")
	waitFor(t, 5*time.Minute, "both arrays to finish", func() bool { return countDone(t, dir) == 7 && queueEmpty(t) })

	subs, err := sweep.LoadSubmissions(dir)
	require.NoError(t, err)
	require.Len(t, subs, 2, "the λ ablation, then the prior ablation")
	names := func(s sweep.Submission) []string {
		var out []string
		for _, it := range s.Items {
			out = append(out, it...)
		}
		slices.Sort(out)
		return out
	}
	require.Len(t, names(subs[0]), 5, "TD-MPC2, three λ, BMPC")
	prior := names(subs[1])
	require.Len(t, prior, 2, "the planner prior and the forward KL at the best λ")
	require.Contains(t, prior[0]+prior[1], "planner")
	require.Contains(t, prior[0]+prior[1], "forward")
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err, "the last task writes the report")
	require.Contains(t, string(md), "### The paper's ordering")
	require.Contains(t, string(md), "the learned prior beats the planner prior")
	status, err := pompcCmd(t, "ablation", "--dir", dir, "--status").CombinedOutput()
	require.NoError(t, err, string(status))
	require.Contains(t, string(status), "7 points: 7 done")
	require.Contains(t, string(status), "slurm "+subs[1].JobID+"_")

	out, err = pompcCmd(t, "ablation", "--dir", dir, "--launcher", "slurm").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "nothing submitted")
	require.True(t, queueEmpty(t))
	subs, err = sweep.LoadSubmissions(dir)
	require.NoError(t, err)
	require.Len(t, subs, 2)
}

// sweepPoints are the run directories of the sweep in dir.
func sweepPoints(t *testing.T, dir string) []string {
	g, err := sweep.LoadGrid(dir)
	require.NoError(t, err)
	jobs, err := g.Jobs(dir)
	require.NoError(t, err)
	var out []string
	for _, j := range jobs {
		out = append(out, j.Dir)
	}
	return out
}

// readResults reads the sweep's per-task results.csv rows (without the header and the
// aggregate rows across tasks).
func readResults(t *testing.T, dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	require.NoError(t, err)
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		if !strings.HasPrefix(line, sweep.AllTasks+",") {
			rows = append(rows, line)
		}
	}
	return rows
}

// TestSlurmTaskRequeuesAndResumes signals a running array task as SLURM does before a time
// limit or a preemption (scancel --signal=TERM --batch): the run checkpoints, the task requeues
// itself, the requeued task resumes from the checkpoint, and the run ends exactly as an
// uninterrupted one (same metrics, same final checkpoint, byte for byte).
func TestSlurmTaskRequeuesAndResumes(t *testing.T) {
	slurmCluster(t)
	grid := func(dir string, extra ...string) []string {
		a := []string{"sweep", "--dir", dir, "--tasks", "cartpole-balance", "--presets", "pompc", "--seeds", "0",
			"--steps", "400", "--no-figures"}
		a = append(append(a, extra...), sweepTrainArgs...)
		return a
	}
	ref := filepath.Join(t.TempDir(), "ref")
	out, err := pompcCmd(t, grid(ref, "--launcher", "local")...).CombinedOutput()
	require.NoError(t, err, string(out))

	dir := filepath.Join(t.TempDir(), "sweep")
	jobID, run := submitOneAndCheckpoint(t, grid(dir, "--launcher", "slurm"), 60)
	require.NoError(t, exec.Command("scancel", "--signal=TERM", "--batch", jobID+"_0").Run())
	// The task checkpoints and requeues; SLURM holds a requeued job back a while: release it.
	waitFor(t, time.Minute, "the task to be requeued", func() bool {
		out, _ := exec.Command("squeue", "-h", "-r", "-j", jobID, "-o", "%T %r").Output()
		return strings.HasPrefix(strings.TrimSpace(string(out)), "PENDING")
	})
	st, err := rundir.ReadStatus(run)
	require.NoError(t, err)
	require.Equal(t, rundir.StateStopped, st.State, "the signalled run checkpointed and stopped")
	require.Less(t, st.Step, int64(400))
	// SLURM's hold is there for a reason: a job started again within the second of its requeue
	// carries a credential slurmd still counts as revoked. Release it a few seconds later.
	time.Sleep(3 * time.Second)
	require.NoError(t, exec.Command("scontrol", "update", "jobid="+jobID+"_0", "StartTime=now").Run())
	waitFor(t, 3*time.Minute, "the requeued task to finish", func() bool { return countDone(t, dir) == 1 && queueEmpty(t) })

	taskLog, err := os.ReadFile(filepath.Join(dir, sweep.SlurmDir, "0", "task-0.out"))
	require.NoError(t, err)
	require.Contains(t, string(taskLog), "requeueing task 0", string(taskLog))
	require.Contains(t, string(taskLog), "restart 1", string(taskLog))

	refRun := sweepPoints(t, ref)[0]
	want, err := pompc.ReadMetrics(filepath.Join(refRun, rundir.MetricsFile))
	require.NoError(t, err)
	got, err := pompc.ReadMetrics(filepath.Join(run, rundir.MetricsFile))
	require.NoError(t, err)
	require.Equal(t, want, got, "metrics of the requeued run")
	a, err := os.ReadFile(filepath.Join(refRun, rundir.CheckpointFile))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(run, rundir.CheckpointFile))
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "final checkpoints differ")
}

// TestSlurmCancelStopsTask: a cancelled task (scancel) checkpoints its run and stays cancelled:
// only a signal to a task SLURM still runs (the time-limit warning) requeues it.
func TestSlurmCancelStopsTask(t *testing.T) {
	slurmCluster(t)
	dir := filepath.Join(t.TempDir(), "sweep")
	args := append([]string{"sweep", "--dir", dir, "--tasks", "cartpole-balance", "--presets", "pompc", "--seeds", "0",
		"--steps", "4000", "--no-figures", "--launcher", "slurm"}, sweepTrainArgs...)
	jobID, run := submitOneAndCheckpoint(t, args, 40)
	require.NoError(t, exec.Command("scancel", jobID).Run())
	waitFor(t, time.Minute, "the cancelled task to leave the queue", func() bool { return queueEmpty(t) })
	time.Sleep(3 * time.Second)
	require.True(t, queueEmpty(t), "a cancelled task came back")
	st, err := rundir.ReadStatus(run)
	require.NoError(t, err)
	require.NotEqual(t, rundir.StateDone, st.State)
	step, err := pompc.CheckpointStep(run)
	require.NoError(t, err)
	require.Greater(t, step, int64(40), "the run checkpointed when cancelled")
}

// submitOneAndCheckpoint submits a one-point sweep (`pompc` args with --launcher slurm) and waits
// until its run has a checkpoint at step >= step; it returns the array's job id and the run.
func submitOneAndCheckpoint(t *testing.T, args []string, step int64) (jobID, run string) {
	t.Helper()
	out, err := pompcCmd(t, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	lines := strings.Fields(strings.TrimSpace(string(out)))
	jobID = lines[len(lines)-1]
	dir := args[slices.Index(args, "--dir")+1]
	run = sweepPoints(t, dir)[0]
	waitFor(t, 3*time.Minute, "a checkpoint past the seed phase", func() bool {
		s, err := pompc.CheckpointStep(run)
		return err == nil && s >= step
	})
	return jobID, run
}

// TestSlurmRefusesArchive: --archive archives what this process trains, so with the SLURM
// launcher both commands refuse it before anything is written or submitted.
func TestSlurmRefusesArchive(t *testing.T) {
	for _, cmd := range []string{"sweep", "ablation"} {
		dir := filepath.Join(t.TempDir(), "d")
		args := []string{"--dir", dir, "--launcher", "slurm", "--archive", filepath.Join(t.TempDir(), "a"), "--tasks", "cartpole-balance"}
		var err error
		if cmd == "sweep" {
			err = runSweep(context.Background(), args)
		} else {
			err = runAblation(context.Background(), args)
		}
		require.ErrorContains(t, err, cmd+": --archive archives the runs this process trains; on SLURM run `pompc archive`")
		_, statErr := os.Stat(dir)
		require.True(t, os.IsNotExist(statErr), "%s wrote %s before refusing", cmd, dir)
	}
}
