// Package rundir owns the files of a run directory: their names (the layout), the one atomic
// writer every file of a run goes through, the lock that gives a directory to one process, and
// the status record that says how a run launched by a sweep or a notebook ended. It knows nothing
// of what the files hold: package pompc writes the config, metrics and checkpoint through it
// (pompc.OpenRun is the run lifecycle), and the sweep engine, the session server, `pompc train`,
// `pompc eval`, `pompc plot` and the figures read and write through pompc and this package.
//
// A run directory holds:
//
//	config.json     the full configuration (pompc.Config)
//	metrics.jsonl   every metric record, one JSON line each, appended while training
//	checkpoint.bin  the full training state (atomic write, sha256, format version)
//	curve.png       the learning curve `pompc train` draws at the end
//	status.json     how the run's last launch by a sweep ended (Status)
//	run.lock        the lock of the process that owns the directory (Lock)
//	server.json     the address of the run's session server while it runs (0600: holds its token)
//	server.log      the session server's log
//	train.log       the output of `pompc train` when a sweep launched it
package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The files of a run directory; every program names them through these constants.
const (
	ConfigFile     = "config.json"
	MetricsFile    = "metrics.jsonl"
	CheckpointFile = "checkpoint.bin"
	CurveFile      = "curve.png"
	StatusFile     = "status.json"
	LockFile       = "run.lock"
	ServerFile     = "server.json"
	ServerLogFile  = "server.log"
	TrainLogFile   = "train.log"
)

// Path is dir/name.
func Path(dir, name string) string { return filepath.Join(dir, name) }

// Exists reports whether dir/name exists.
func Exists(dir, name string) bool {
	_, err := os.Stat(Path(dir, name))
	return err == nil
}

// HasCheckpoint reports whether dir holds a run that can be resumed.
func HasCheckpoint(dir string) bool { return Exists(dir, CheckpointFile) }

// Ensure makes dir (and its parents) a directory, with a clear error when a file stands where a
// directory must be.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		// MkdirAll reports a file in the way as ENOTDIR (a parent) or EEXIST (dir itself).
		for p := dir; ; p = filepath.Dir(p) {
			if fi, serr := os.Stat(p); serr == nil && !fi.IsDir() {
				return fmt.Errorf("rundir: %s is a file, not a directory: the run directory %s cannot be made there", p, dir)
			}
			if next := filepath.Dir(p); next == p {
				break
			}
		}
		return fmt.Errorf("rundir: making the run directory %s: %w", dir, explain(err))
	}
	return nil
}

// explain rewrites the errors a run's writes meet in the field into what to do about them.
func explain(err error) error {
	switch {
	case errors.Is(err, errNoSpace):
		return fmt.Errorf("the disk is full (free space and resume; the last checkpoint is intact): %w", err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("permission denied: %w", err)
	}
	return err
}
