package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// DefaultArchiveEvery is Archive's window, in agent steps, for the update's metrics.
const DefaultArchiveEvery = 1000

// ArchiveSummary is what one Archive call did.
type ArchiveSummary struct {
	// Runs are the finished runs written to the archive; Skipped the run directories left out
	// because they had not finished (they train from the start when the archive is resumed).
	Runs, Skipped []string
	// Bytes is the size of the metrics written, Source the size of the metrics they came from.
	Bytes, Source int64
}

// Archive writes into dst what the sweep or ablation directory src has finished, without what
// only training needs: its settings and results files (ablation.json, sweep.json,
// results.*), and for every finished run (status done at its target step) its config.json,
// status.json and a compact metrics.jsonl; no checkpoints, logs or figures. A run's evaluations
// (eval/*), training episodes (episode/*) and knob records (config/*) are kept as they are, so
// every table and the learning-curve, λ, AUC and aggregate figures come out of the archive
// exactly as out of src; each update metric (losses, KL terms, gradients) becomes its mean over
// windows of every agent steps (one record per window, at the window's last step), and of the
// planner snapshots the last one of each evaluation interval (the run's eval_every, or every if
// larger) is kept, the run's last snapshot among them.
//
// The archive is an ordinary sweep or ablation directory: `pompc sweep|ablation --report`,
// `pompc plot` and `--status` read it, and a copy of it resumes: its runs count as done and the
// others train from the start. dst may hold an earlier archive of the same directory: files are
// replaced (atomically) and runs that only dst has are kept, so an ablation that outlives its
// machine is archived after each stretch of training and resumed from the archive on the next
// machine.
func Archive(src, dst string, every int64) (ArchiveSummary, error) {
	var sum ArchiveSummary
	if err := checkArchivePair(src, dst, every); err != nil {
		return sum, err
	}
	// What to write, found before anything is: the top-level files and the finished runs.
	entries, err := os.ReadDir(src)
	if err != nil {
		return sum, fmt.Errorf("sweep: archive: %w", err)
	}
	var runs []string
	seen := 0 // run directories, finished or not
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(src, name)
		if !rundir.Exists(dir, rundir.ConfigFile) || !rundir.Exists(dir, rundir.StatusFile) {
			continue // figures/, slurm/: not a run
		}
		seen++
		st, err := rundir.ReadStatus(dir)
		if err != nil {
			return sum, err // a damaged status is an error, not an unfinished run
		}
		if !doneAtTarget(st) {
			if !finished(filepath.Join(dst, name)) { // an earlier archive's run is kept
				sum.Skipped = append(sum.Skipped, name)
			}
			continue
		}
		runs = append(runs, name)
	}
	if seen == 0 {
		return sum, fmt.Errorf("sweep: archive: %s holds no run directories (config.json and status.json): not a sweep or ablation directory", src)
	}
	if err := openArchive(src, dst); err != nil {
		return sum, err
	}
	for _, name := range runs {
		n, m, err := archiveRun(filepath.Join(src, name), filepath.Join(dst, name), every)
		if err != nil {
			return sum, err
		}
		sum.Runs = append(sum.Runs, name)
		sum.Bytes += n
		sum.Source += m
	}
	return sum, nil
}

// ArchiveRun adds one run of the sweep or ablation directory src, name its run directory, to
// the archive dst as Archive would, with src's settings and results files, when the run has
// finished and dst does not hold it finished yet: what `pompc ablation --archive` does as each
// run ends, so that the archive follows the training.
func ArchiveRun(src, dst, name string, every int64) error {
	if err := checkArchivePair(src, dst, every); err != nil {
		return err
	}
	dir := filepath.Join(src, name)
	if !finished(dir) || finished(filepath.Join(dst, name)) {
		return nil
	}
	if err := openArchive(src, dst); err != nil {
		return err
	}
	_, _, err := archiveRun(dir, filepath.Join(dst, name), every)
	return err
}

// checkArchivePair refuses an archive window that is not positive and an archive into its own
// source.
func checkArchivePair(src, dst string, every int64) error {
	if every <= 0 {
		return fmt.Errorf("sweep: archive window %d: want a positive number of agent steps", every)
	}
	if same, err := sameDir(src, dst); err != nil {
		return err
	} else if same {
		return fmt.Errorf("sweep: archive %s into itself", src)
	}
	return nil
}

// openArchive makes dst ready to receive runs (CheckArchiveDir, then created) and copies src's
// settings and results files into it.
func openArchive(src, dst string) error {
	if err := CheckArchiveDir(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("sweep: archive: %w", err)
	}
	return copyTopFiles(src, dst)
}

// copyTopFiles copies the top-level files of the sweep or ablation directory src that belong in
// its archive dst (archivedTopFile).
func copyTopFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("sweep: archive: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && e.Type().IsRegular() && archivedTopFile(e.Name()) {
			if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// ArchiveEach is an Engine.OnUpdate that archives each of jobs (run directories of src) into
// dst (ArchiveRun) as it finishes; a failure is logged to log (nil: discarded), not returned:
// the training goes on.
func ArchiveEach(src, dst string, jobs []Job, log io.Writer) func(Update) {
	var mu sync.Mutex
	return func(u Update) {
		if u.State != rundir.StateDone || u.Job < 0 || u.Job >= len(jobs) {
			return
		}
		if err := ArchiveRun(src, dst, filepath.Base(jobs[u.Job].Dir), DefaultArchiveEvery); err != nil && log != nil {
			mu.Lock()
			fmt.Fprintf(log, "%s archive: %v\n", time.Now().UTC().Format(LogTimeFormat), err)
			mu.Unlock()
		}
	}
}

// CheckArchiveDir refuses a destination that is not an archive: a directory a live process
// trains, or one whose runs have checkpoints or training logs (a real sweep directory, whose
// full metrics the archive's means would replace: --dir and --out swapped). A directory that
// does not exist yet is fine.
func CheckArchiveDir(dst string) error {
	if rundir.InUse(dst) {
		return fmt.Errorf("sweep: archive: a process trains in %s: not an archive", dst)
	}
	entries, err := os.ReadDir(dst)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("sweep: archive: %w", err)
	}
	for _, e := range entries {
		d := filepath.Join(dst, e.Name())
		if e.IsDir() && (rundir.HasCheckpoint(d) || rundir.Exists(d, rundir.TrainLogFile)) {
			return fmt.Errorf("sweep: archive: %s has checkpoints or training logs: a sweep's directory, not an archive (--dir and --out swapped?)", d)
		}
	}
	return nil
}

// finished reports whether dir holds a run done at its target step.
func finished(dir string) bool {
	st, err := rundir.ReadStatus(dir)
	return err == nil && doneAtTarget(st)
}

// doneAtTarget reports whether a run's status record says it is done at its target step.
func doneAtTarget(st rundir.Status) bool {
	return st.State == rundir.StateDone && st.TargetStep > 0 && st.Step >= st.TargetStep
}

// archivedTopFile reports whether a top-level file of a sweep or ablation directory belongs in
// its archive: its settings and results, not its lock, logs or the record of this machine's
// launch (LocalLaunchFile).
func archivedTopFile(name string) bool {
	return strings.HasSuffix(name, ".json") && name != LocalLaunchFile || strings.HasPrefix(name, "results") && (strings.HasSuffix(name, ".csv") || strings.HasSuffix(name, ".md"))
}

// archiveRun writes one finished run's archive into dst and returns the bytes of metrics
// written and read.
func archiveRun(src, dst string, every int64) (written, read int64, err error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, 0, fmt.Errorf("sweep: archive: %w", err)
	}
	if err := copyFile(rundir.Path(src, rundir.ConfigFile), rundir.Path(dst, rundir.ConfigFile)); err != nil {
		return 0, 0, err
	}
	// The status last: an archived run counts as done only once its metrics are in place.
	defer func() {
		if err == nil {
			err = copyFile(rundir.Path(src, rundir.StatusFile), rundir.Path(dst, rundir.StatusFile))
		}
	}()
	path := rundir.Path(src, rundir.MetricsFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	} else if err != nil {
		return 0, 0, fmt.Errorf("sweep: archive: %w", err)
	}
	m, err := pompc.ReadRunMetrics(src)
	if err != nil {
		return 0, 0, err
	}
	var cfg struct {
		EvalEvery int64 `json:"eval_every"`
	}
	if data, err := os.ReadFile(rundir.Path(src, rundir.ConfigFile)); err != nil {
		return 0, 0, fmt.Errorf("sweep: archive: %w", err)
	} else if err := json.Unmarshal(data, &cfg); err != nil {
		return 0, 0, fmt.Errorf("sweep: archive %s: %w", rundir.Path(src, rundir.ConfigFile), err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range CompactMetrics(m, every, max(every, cfg.EvalEvery)) {
		if err := enc.Encode(r); err != nil {
			return 0, 0, fmt.Errorf("sweep: archive %s: %w", src, err)
		}
	}
	if err := rundir.WriteFile(rundir.Path(dst, rundir.MetricsFile), buf.Bytes(), 0o644); err != nil {
		return 0, 0, err
	}
	return int64(buf.Len()), fi.Size(), nil
}

// CompactMetrics is Archive's reduction of a run's metrics (key -> records in step order), in
// step order (keys in name order within a step): evaluation, training-episode and knob records
// as they are; every other key's records averaged over windows of every agent steps, steps
// (k-1)·every+1 … k·every making window k, the mean recorded at the last step that had a record;
// planner snapshots (pompc.IsSnapshotKey) reduced to the last snapshot step of each window of
// snapEvery steps.
func CompactMetrics(m map[string][]pompc.Record, every, snapEvery int64) []pompc.Record {
	window := func(step int64) int64 { return (step + every - 1) / every }
	// The snapshot steps kept: the last of each snapshot window.
	lastSnap := map[int64]int64{}
	snapWindow := func(step int64) int64 { return (step + snapEvery - 1) / snapEvery }
	for key, recs := range m {
		if pompc.IsSnapshotKey(key) {
			for _, r := range recs {
				w := snapWindow(r.Step)
				lastSnap[w] = max(lastSnap[w], r.Step)
			}
		}
	}
	var out []pompc.Record
	for key, recs := range m {
		switch {
		case keptAsIs(key):
			out = append(out, recs...)
		case pompc.IsSnapshotKey(key):
			for _, r := range recs {
				if lastSnap[snapWindow(r.Step)] == r.Step {
					out = append(out, r)
				}
			}
		default:
			for i := 0; i < len(recs); {
				w, sum, n := window(recs[i].Step), 0.0, 0
				j := i
				for ; j < len(recs) && window(recs[j].Step) == w; j++ {
					sum += recs[j].Val
					n++
				}
				out = append(out, pompc.Record{Key: key, Step: recs[j-1].Step, Val: sum / float64(n)})
				i = j
			}
		}
	}
	slices.SortStableFunc(out, func(a, b pompc.Record) int {
		if a.Step != b.Step {
			return int(min(max(a.Step-b.Step, -1), 1))
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// keptAsIs are the keys Archive keeps record for record: evaluations, training episodes and
// knob changes, which tables and figures read one by one.
func keptAsIs(key string) bool {
	for _, p := range []string{"eval/", "episode/", "config/"} {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// copyFile copies src to dst atomically.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("sweep: archive: %w", err)
	}
	return rundir.WriteFile(dst, data, 0o644)
}

// sameDir reports whether a and b name one directory (b may not exist yet).
func sameDir(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, fmt.Errorf("sweep: archive: %w", err)
	}
	sb, err := os.Stat(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("sweep: archive: %w", err)
	}
	return os.SameFile(sa, sb), nil
}

// Restore copies into the jobs' run directories the runs that from (an archive, or another
// sweep's or ablation's directory of run directories) has finished under the same names, so
// that they count as done and are not trained again: their config.json, status.json and
// metrics.jsonl (an archived run has no checkpoint: it can be reported and drawn, not
// evaluated or resumed). A job already done, or one a live process trains, is left alone. A run
// of from whose configuration differs from its job's (another budget, size or planner, a field
// added to Config since the archive was written, a λ changed while it trained) is an error
// naming the fields, and nothing of it is copied: an archive restores only the runs it was made
// of. It returns the names of the runs restored.
func Restore(from string, jobs []Job) ([]string, error) {
	if fi, err := os.Stat(from); err != nil {
		return nil, fmt.Errorf("sweep: restore: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sweep: restore: %s is not a directory", from)
	}
	var restored []string
	for _, j := range jobs {
		if st, err := rundir.ReadStatus(j.Dir); err != nil {
			return restored, err
		} else if st.State == rundir.StateDone && st.Step >= j.Steps() {
			continue
		}
		if rundir.InUse(j.Dir) {
			continue // a process still trains it (a population an earlier cell started)
		}
		name := filepath.Base(j.Dir)
		src := filepath.Join(from, name)
		if !rundir.Exists(src, rundir.StatusFile) {
			continue
		}
		st, err := rundir.ReadStatus(src)
		if err != nil {
			return restored, err
		}
		if st.State != rundir.StateDone || st.Step < j.Steps() {
			continue
		}
		if diff, err := archivedConfigDiff(j.Config, rundir.Path(src, rundir.ConfigFile)); err != nil {
			return restored, err
		} else if len(diff) > 0 {
			return restored, fmt.Errorf("sweep: restore: %s has another configuration than this run (%s): a run of another budget, size or planner", src, strings.Join(diff, ", "))
		}
		if err := rundir.Ensure(j.Dir); err != nil {
			return restored, err
		}
		files := []string{rundir.ConfigFile, rundir.MetricsFile}
		if rundir.HasCheckpoint(j.Dir) {
			// A checkpoint of an unfinished run would not match the restored metrics.
			if err := os.Remove(rundir.Path(j.Dir, rundir.CheckpointFile)); err != nil {
				return restored, fmt.Errorf("sweep: restore: %w", err)
			}
		}
		for _, f := range files {
			if rundir.Exists(src, f) {
				if err := copyFile(rundir.Path(src, f), rundir.Path(j.Dir, f)); err != nil {
					return restored, err
				}
			}
		}
		// The status last: a run counts as done only once its files are in place.
		if err := copyFile(rundir.Path(src, rundir.StatusFile), rundir.Path(j.Dir, rundir.StatusFile)); err != nil {
			return restored, err
		}
		restored = append(restored, name)
	}
	return restored, nil
}

// archivedConfigDiff lists the fields of the config.json at path that differ from cfg's
// (pompc.ConfigDiff; the backend left out: it does not change what a run computes), as
// "key archived, not asked". It is strict: a field added to pompc.Config after the archive was
// written reads as its zero value there, which is the field's old behaviour where the field
// keeps the convention that empty means the old default (the forms of issue 16 do), and a
// difference otherwise.
func archivedConfigDiff(cfg pompc.Config, path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: restore: %w", err)
	}
	var have pompc.Config
	if err := json.Unmarshal(data, &have); err != nil {
		return nil, fmt.Errorf("sweep: restore %s: %w", path, err)
	}
	var diff []string
	for _, d := range pompc.ConfigDiff(have, cfg) {
		if d.Key != "backend" {
			diff = append(diff, fmt.Sprintf("%s %s, not %s", d.Key, d.A, d.B))
		}
	}
	return diff, nil
}
