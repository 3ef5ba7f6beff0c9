package sweep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/pompc/pompc/pompc/rundir"
)

// A sweep on a SLURM cluster (issue 18) is one job array: one array task per work item (a
// point, or a population of points with Batched, Items), each running
//
//	pompc sweep --dir D --submission N --point $SLURM_ARRAY_TASK_ID
//
// which trains its item into the ordinary run directories (resuming them), exactly as a local
// sweep would. The sweep directory must be on a filesystem every node sees. The script asks
// SLURM for SIGTERM SignalSeconds before the time limit (--signal=B:TERM@s); the task then
// checkpoints and, unless its runs finished meanwhile, requeues itself (--requeue, scontrol
// requeue) to continue from its checkpoint. Each submission lives in D/slurm/N/: its items
// (submission.json), its script (array.sbatch) and the tasks' output (task-<index>.out).

// SlurmDir is the sweep directory's folder of SLURM submissions.
const SlurmDir = "slurm"

// TaskStopped is the exit code of an array task that checkpointed before its runs finished (a
// signal): its script requeues it.
const TaskStopped = 3

// Slurm submits sweeps to a SLURM cluster.
type Slurm struct {
	// Exe is the pompc executable the tasks run, at a path valid on the compute nodes.
	Exe string
	// Env is added to sbatch's environment, which the tasks inherit (sbatch --export=ALL).
	Env []string
	// SbatchArgs are extra sbatch options (e.g. --partition=gpu --gres=gpu:1 --time=12:00:00);
	// given on sbatch's command line, they override the script's #SBATCH lines.
	SbatchArgs []string
	// ArrayParallelism caps how many of the array's tasks run at once (--array=…%N); 0: no cap.
	ArrayParallelism int
	// Batched makes one task per population (runs that share graphs, pompc.PopulationKey)
	// instead of one per point.
	Batched bool
	// Group says which runs share a population when Batched (GroupAuto: by the runs'
	// backend, GroupVariant on the pure-Go backend, GroupShared on XLA).
	Group Grouping
	// SignalSeconds is how long before its time limit a task gets SIGTERM to checkpoint (0: 120).
	SignalSeconds int
	// Command is the pompc command an array task runs, with --dir, --submission and --point
	// appended: "sweep" (the default) or "ablation".
	Command string
}

// Submission is one submitted job array of a sweep.
type Submission struct {
	// N numbers the sweep's submissions: its files are in D/slurm/N/.
	N int `json:"n"`
	// JobID is SLURM's array job id ("" until sbatch answered).
	JobID string `json:"job_id"`
	// Batched: each task trains its runs as one population.
	Batched bool `json:"batched"`
	// Items are the array's tasks, in array-index order: the run directories (relative to the
	// sweep directory) each trains.
	Items [][]string `json:"items"`
	// Submitted is when sbatch accepted it.
	Submitted time.Time `json:"submitted"`
}

// submissionDir is D/slurm/N.
func submissionDir(dir string, n int) string { return filepath.Join(dir, SlurmDir, strconv.Itoa(n)) }

// LoadSubmissions reads every submission of the sweep in dir, oldest first.
func LoadSubmissions(dir string) ([]Submission, error) {
	entries, err := os.ReadDir(filepath.Join(dir, SlurmDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var subs []Submission
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(submissionDir(dir, n), "submission.json"))
		if err != nil {
			continue // being written, or sbatch refused it
		}
		var s Submission
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("sweep: %s: %w", filepath.Join(submissionDir(dir, n), "submission.json"), err)
		}
		subs = append(subs, s)
	}
	slices.SortFunc(subs, func(a, b Submission) int { return a.N - b.N })
	return subs, nil
}

// SubmittedNames are the run directories (names) every submission of dir has named.
func SubmittedNames(dir string) (map[string]bool, error) {
	subs, err := LoadSubmissions(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, sub := range subs {
		for _, item := range sub.Items {
			for _, name := range item {
				names[name] = true
			}
		}
	}
	return names, nil
}

// Submit submits the points of g under dir that are neither done nor in flight (pending or
// running in an earlier submission, per squeue) as one job array, and returns it. With nothing
// left to train it returns a Submission without items and submits nothing.
func (s Slurm) Submit(ctx context.Context, dir string, g Grid) (Submission, error) {
	if err := s.check(); err != nil {
		return Submission{}, err
	}
	jobs, err := g.Jobs(dir)
	if err != nil {
		return Submission{}, err
	}
	if err := SaveGrid(dir, g); err != nil {
		return Submission{}, err
	}
	return s.SubmitJobs(ctx, dir, jobs)
}

func (s Slurm) check() error {
	if s.Exe == "" {
		return errors.New("sweep: no pompc executable for the SLURM tasks")
	}
	if s.ArrayParallelism < 0 {
		return fmt.Errorf("sweep: --array-parallelism must be >= 0, got %d", s.ArrayParallelism)
	}
	return nil
}

// SubmitJobs submits the jobs under dir that are neither done nor in flight as one job array
// (Submit's, for any job list: the tasks run s.Command, which must rebuild the same list from
// dir), and returns it; with nothing left to train it submits nothing.
func (s Slurm) SubmitJobs(ctx context.Context, dir string, jobs []Job) (Submission, error) {
	if err := s.check(); err != nil {
		return Submission{}, err
	}
	lock, err := rundir.Acquire(dir)
	if err != nil {
		return Submission{}, fmt.Errorf("sweep: %w", err)
	}
	defer lock.Unlock()
	subs, err := LoadSubmissions(dir)
	if err != nil {
		return Submission{}, err
	}
	queued, err := queuedTasks(ctx, subs)
	if err != nil {
		// Without the queue, points still training would be submitted again.
		return Submission{}, fmt.Errorf("sweep: cannot tell which runs are still queued or running: %w", err)
	}
	inFlight := map[string]bool{}
	for name, st := range queued {
		if st != "" {
			inFlight[name] = true
		}
	}
	var todo []int
	for i, j := range jobs {
		st, err := rundir.ReadStatus(j.Dir)
		if err != nil {
			return Submission{}, err
		}
		if (st.State == rundir.StateDone && st.Step >= j.Steps()) || inFlight[filepath.Base(j.Dir)] {
			continue
		}
		todo = append(todo, i)
	}
	sub := Submission{Batched: s.Batched}
	for _, old := range subs {
		sub.N = max(sub.N, old.N+1)
	}
	if len(todo) == 0 {
		return sub, nil
	}
	var l Launcher = ProcessLauncher{}
	if s.Batched {
		l = PopulationLauncher{Group: s.Group}
	}
	for _, item := range Items(l, jobs, todo) {
		var names []string
		for _, i := range item {
			names = append(names, filepath.Base(jobs[i].Dir))
		}
		sub.Items = append(sub.Items, names)
	}
	sd := submissionDir(dir, sub.N)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return sub, err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return sub, err
	}
	script, err := s.script(absDir, sub)
	if err != nil {
		return sub, err
	}
	scriptPath := filepath.Join(sd, "array.sbatch")
	if err := rundir.WriteFile(scriptPath, script, 0o755); err != nil {
		return sub, err
	}
	if err := writeSubmission(dir, sub); err != nil {
		return sub, err
	}
	args := append([]string{"--parsable"}, s.SbatchArgs...)
	cmd := exec.CommandContext(ctx, "sbatch", append(args, scriptPath)...)
	cmd.Env = append(os.Environ(), s.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output() // the job id is on stdout; sites print notices on stderr
	if err != nil {
		return sub, fmt.Errorf("sweep: sbatch %s: %w: %s", scriptPath, err, strings.TrimSpace(stderr.String()))
	}
	// --parsable prints "jobid" or "jobid;cluster".
	sub.JobID, _, _ = strings.Cut(strings.TrimSpace(lastLine(string(out))), ";")
	if _, err := strconv.Atoi(sub.JobID); err != nil {
		return sub, fmt.Errorf("sweep: sbatch answered %q, not a job id", strings.TrimSpace(string(out)))
	}
	sub.Submitted = time.Now().UTC()
	return sub, writeSubmission(dir, sub)
}

func writeSubmission(dir string, sub Submission) error {
	return rundir.WriteJSON(filepath.Join(submissionDir(dir, sub.N), "submission.json"), sub, 0o644)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// sbatchScript is the job array's script. The task runs pompc in the background so that the
// shell can take SIGTERM (SLURM's warning before the time limit, a preemption, scancel
// --signal=TERM --batch) or SIGUSR1, pass it on (pompc checkpoints and stops, exit status
// TaskStopped), and requeue the task while SLURM still has it running. A cancelled job (scancel)
// gets the same SIGTERM, but SLURM no longer lists it as RUNNING: it is not requeued.
var sbatchScript = template.Must(template.New("sbatch").Parse(`#!/bin/bash
#SBATCH --job-name={{.Name}}
#SBATCH --array=0-{{.Last}}{{if .Parallel}}%{{.Parallel}}{{end}}
#SBATCH --output={{.Out}}/task-%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:TERM@{{.Signal}}
# pompc {{.Command}} {{.Dir}}: submission {{.N}}, {{.Tasks}} task(s). Written by pompc; resubmit with
# the same pompc {{.Command}} command (finished runs are skipped).
echo "pompc: task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID} on $(hostname), restart ${SLURM_RESTART_COUNT:-0}"
child=""
stop() {
	[ -n "$child" ] && kill -TERM "$child" 2>/dev/null
	[ -n "$child" ] && wait "$child"
	rc=$?
	state=$(squeue -h -j "${SLURM_JOB_ID}" -o %T 2>/dev/null)
	if [ "$rc" -eq {{.Stopped}} ] && [ "$state" = RUNNING ]; then
		echo "pompc: checkpointed; requeueing task ${SLURM_ARRAY_TASK_ID}"
		scontrol requeue "${SLURM_JOB_ID}"
	fi
	exit "$rc"
}
trap stop TERM USR1
{{.Exe}} {{.Command}} --dir {{.QDir}} --submission {{.N}} --point "${SLURM_ARRAY_TASK_ID}" &
child=$!
wait "$child"
exit $?
`))

// script is the submission's sbatch script.
func (s Slurm) script(absDir string, sub Submission) ([]byte, error) {
	signal := s.SignalSeconds
	if signal <= 0 {
		signal = 120
	}
	var b bytes.Buffer
	err := sbatchScript.Execute(&b, map[string]any{
		"Name": jobName(absDir), "Last": len(sub.Items) - 1, "Parallel": s.ArrayParallelism,
		// A % in the path is escaped: --output expands SLURM's filename patterns.
		"Out": shellQuote(strings.ReplaceAll(submissionDir(absDir, sub.N), "%", "%%")), "Signal": signal, "Dir": absDir, "QDir": shellQuote(absDir),
		"N": sub.N, "Tasks": len(sub.Items), "Exe": shellQuote(s.Exe), "Stopped": TaskStopped, "Command": s.command(),
	})
	return b.Bytes(), err
}

// command is the pompc command of the array tasks.
func (s Slurm) command() string {
	if s.Command == "" {
		return "sweep"
	}
	return s.Command
}

// jobName is the array's job name: "pompc-" and the sweep directory's name, letters, digits,
// '.', '_' and '-' only.
func jobName(absDir string) string {
	return "pompc-" + strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, filepath.Base(absDir))
}

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TaskJobs are the jobs of array task index of submission n of the sweep in dir, and whether
// they train as one population.
func TaskJobs(dir string, g Grid, n, index int) ([]Job, bool, error) {
	jobs, err := g.Jobs(dir)
	if err != nil {
		return nil, false, err
	}
	return SubmissionJobs(dir, jobs, n, index)
}

// SubmissionJobs are the jobs (of jobs, by run directory) of array task index of submission n
// under dir, and whether they train as one population.
func SubmissionJobs(dir string, jobs []Job, n, index int) ([]Job, bool, error) {
	subs, err := LoadSubmissions(dir)
	if err != nil {
		return nil, false, err
	}
	i := slices.IndexFunc(subs, func(s Submission) bool { return s.N == n })
	if i < 0 {
		return nil, false, fmt.Errorf("sweep: %s has no submission %d", dir, n)
	}
	sub := subs[i]
	if index < 0 || index >= len(sub.Items) {
		return nil, false, fmt.Errorf("sweep: submission %d has tasks 0..%d, not %d", n, len(sub.Items)-1, index)
	}
	var out []Job
	for _, name := range sub.Items[index] {
		k := slices.IndexFunc(jobs, func(j Job) bool { return filepath.Base(j.Dir) == name })
		if k < 0 {
			return nil, false, fmt.Errorf("sweep: submission %d names run %s, which %s does not have", n, name, dir)
		}
		out = append(out, jobs[k])
	}
	return out, sub.Batched, nil
}

// PointStatus is where one point of a sweep stands.
type PointStatus struct {
	// Name is the run directory's name.
	Name string
	// State is pending (never launched), running (with Step), done, failed or stopped.
	State string
	// Step is the run's latest agent step, Target its goal.
	Step, Target int64
	// Slurm is the state of the point's latest array task: in SLURM's queue (squeue: PENDING,
	// RUNNING, REQUEUED, ...) or, once it left it, its final state where the cluster keeps
	// accounting (sacct: COMPLETED, FAILED, TIMEOUT, ...); "" when unknown. Task is that task
	// (jobid_index).
	Slurm, Task string
	// LogTail holds the last lines of a failed run's train.log.
	LogTail string
	// Since is when a running run's current launch began (its status record), at SinceStep: its
	// rate so far is (Step − SinceStep) / (now − Since), seed phase included.
	Since     time.Time
	SinceStep int64
	// Recent and RecentStep are a running run's step about rundir.RecentWindow ago (its
	// status record's Recent; zero without one, or while the launch is younger).
	Recent     time.Time
	RecentStep int64
	// Members is how many runs its latest launch trained together (rundir.Status.Members; 0 in
	// older records, read as 1).
	Members int
}

// SweepStatus reports every point of the sweep in dir from its run directory (the status
// record, the latest metrics step) and, where squeue and sacct answer, from SLURM.
func SweepStatus(ctx context.Context, dir string) ([]PointStatus, error) {
	_, jobs, err := LoadJobs(dir)
	if err != nil {
		return nil, err
	}
	return StatusOf(ctx, dir, jobs)
}

// StatusOf reports jobs (of the sweep or ablation in dir) as SweepStatus does: from their run
// directories and, for the ones submitted to SLURM from dir, from squeue and sacct.
func StatusOf(ctx context.Context, dir string, jobs []Job) ([]PointStatus, error) {
	subs, err := LoadSubmissions(dir)
	if err != nil {
		return nil, err
	}
	queued, _ := queuedTasks(ctx, subs) // a status without SLURM's view is still the run directories'
	for name, st := range finishedTasks(ctx, subs) {
		if _, ok := queued[name]; !ok {
			queued[name] = st
		}
	}
	task := map[string]string{}
	for _, s := range subs {
		for i, item := range s.Items {
			for _, name := range item {
				if s.JobID != "" {
					task[name] = fmt.Sprintf("%s_%d", s.JobID, i)
				}
			}
		}
	}
	out, err := JobsStatus(jobs, len(subs) == 0)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Slurm, out[i].Task = queued[out[i].Name], task[out[i].Name]
	}
	return out, nil
}

// launchGrace is how long after its launch began a run counts as running without holding its
// lock: a population child opens its runs one after another, each loading its checkpoint.
const launchGrace = 5 * time.Minute

// JobsStatus reports each job from its run directory: its state (pending when never
// launched; with local, the runs train on this machine, so a run marked running that no live
// process holds, launched longer than launchGrace ago, is reported stopped), its latest step (the status record's, or a running run's latest metrics record),
// its target, when its current launch began, and a failed run's log tail.
func JobsStatus(jobs []Job, local bool) ([]PointStatus, error) {
	out := make([]PointStatus, len(jobs))
	for i, j := range jobs {
		st, err := rundir.ReadStatus(j.Dir)
		if err != nil {
			return nil, err
		}
		p := PointStatus{Name: filepath.Base(j.Dir), State: st.State, Step: st.Step, Target: j.Steps(), Members: st.Members}
		if p.State == "" {
			p.State = "pending"
		}
		if p.State == rundir.StateRunning {
			launched, from := st.Launched, st.LaunchStep
			if launched.IsZero() { // a record from before Launched existed
				launched, from = st.Updated, st.Step
			}
			if !local || rundir.InUse(j.Dir) || time.Since(launched) < launchGrace {
				p.Since, p.SinceStep = launched, from
				if st.Recent.After(launched) {
					p.Recent, p.RecentStep = st.Recent, st.RecentStep
				}
			} else {
				p.State = rundir.StateStopped // its process died: run it again to resume
			}
		}
		if p.State != rundir.StateDone {
			p.Step = max(p.Step, lastStep(j.Dir))
		}
		if p.State == rundir.StateFailed {
			if data, err := os.ReadFile(rundir.Path(j.Dir, rundir.TrainLogFile)); err == nil {
				p.LogTail = lastLines(string(data), 5)
			}
		}
		out[i] = p
	}
	return out, nil
}

// lastStep is the step of the last record of a run's metrics (0 without any).
func lastStep(runDir string) int64 {
	f, err := os.Open(rundir.Path(runDir, rundir.MetricsFile))
	if err != nil {
		return 0
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 4096 {
		_, _ = f.Seek(-4096, io.SeekEnd)
	}
	var step int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Step int64 `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Step > step {
			step = r.Step
		}
	}
	return step
}

// queuedTasks maps the run directory names of the submissions' tasks still in SLURM's queue
// to their state: all of this user's tasks, one line each (asking squeue for finished job ids
// by -j fails). It fails when a submission has a job id and squeue cannot answer.
func queuedTasks(ctx context.Context, subs []Submission) (map[string]string, error) {
	return taskStates(ctx, subs, " ", "squeue", "-h", "-r", "--me", "-o", "%i %T")
}

// finishedTasks maps the run directory names of the submissions' tasks that left the queue to
// their final SLURM state (COMPLETED, FAILED, TIMEOUT, ...) from sacct, on clusters that keep
// accounting (an empty map elsewhere).
func finishedTasks(ctx context.Context, subs []Submission) map[string]string {
	var ids []string
	for _, s := range subs {
		if s.JobID != "" {
			ids = append(ids, s.JobID)
		}
	}
	m, _ := taskStates(ctx, subs, "|", "sacct", "-n", "-X", "-P", "-j", strings.Join(ids, ","), "-o", "JobID,State")
	return m
}

// taskStates runs a SLURM query that prints "jobid_index<sep>STATE" lines and maps the run
// directory names of the submissions' tasks to their states (an empty map when no submission
// has a job id; an error when the command is missing or fails).
func taskStates(ctx context.Context, subs []Submission, sep, name string, args ...string) (map[string]string, error) {
	if !slices.ContainsFunc(subs, func(s Submission) bool { return s.JobID != "" }) {
		return map[string]string{}, nil
	}
	data, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return map[string]string{}, fmt.Errorf("%s: %w", name, err)
	}
	state := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if id, st, ok := strings.Cut(strings.TrimSpace(line), sep); ok {
			state[id], _, _ = strings.Cut(st, " ") // "CANCELLED by 0" → CANCELLED
		}
	}
	out := map[string]string{}
	for _, s := range subs {
		for i, item := range s.Items {
			if st, ok := state[fmt.Sprintf("%s_%d", s.JobID, i)]; ok {
				for _, name := range item {
					out[name] = st
				}
			}
		}
	}
	return out, nil
}
