package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Launch states of a run, as the sweep engine records them in status.json.
const (
	StateRunning = "running" // a launcher is training it (or was, if its process died)
	StateDone    = "done"    // it reached its target step
	StateFailed  = "failed"  // its last launch ended with an error (a sweep retries it)
	StateStopped = "stopped" // the sweep was interrupted; the run resumes from its checkpoint
)

// Status is status.json: how the latest launch of a run ended, written by whoever launched it
// (the sweep engine, for the `pompc sweep` command and notebook sweeps alike). A run never
// launched has none (State "").
type Status struct {
	State string `json:"state"`
	// Step is the agent step the run had reached when the record was written; TargetStep the
	// step the launch trained to.
	Step       int64 `json:"step"`
	TargetStep int64 `json:"target_step"`
	// WallSeconds sums the wall time of every launch (a running launch rewrites its record
	// every HeartbeatEvery, so one killed with its sweep loses at most that much); Attempts
	// counts the launches.
	WallSeconds float64 `json:"wall_s"`
	Attempts    int     `json:"attempts"`
	// Launched is when the latest launch began and LaunchStep the step the run stood at then
	// (its latest metrics record), so a running run's rate is
	// (Step − LaunchStep) / (Updated − Launched). Zero in records written before they existed.
	Launched   time.Time `json:"launched,omitzero"`
	LaunchStep int64     `json:"launch_step,omitempty"`
	// Recent is the time of a heartbeat of this launch about RecentWindow before Updated (the
	// launch itself while younger) and RecentStep the step then, so a running run's current
	// rate is (Step − RecentStep) / (Updated − Recent): free of its launch's seed phase and
	// pretraining, and of the load the machine had hours ago. Zero in older records.
	Recent     time.Time `json:"recent,omitzero"`
	RecentStep int64     `json:"recent_step,omitempty"`
	// Launcher names what ran it ("process", "session").
	Launcher string `json:"launcher,omitempty"`
	// Error is why the last launch failed (for a child process, the end of its output).
	Error string `json:"error,omitempty"`
	// Updated is when the record was written.
	Updated time.Time `json:"updated"`
}

// RecentWindow is how far back Status.Recent looks.
const RecentWindow = 15 * time.Minute

// HeartbeatEvery is how often the launcher of a running run rewrites its status record with
// the run's step and wall time.
const HeartbeatEvery = time.Minute

// ReadStatus reads dir's status.json; a run never launched gives the zero Status and no error.
// A damaged file is an error naming it.
func ReadStatus(dir string) (Status, error) {
	var st Status
	data, err := os.ReadFile(Path(dir, StatusFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("rundir: reading %s: %w", Path(dir, StatusFile), err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("rundir: %s is damaged (%v): delete it to launch the run again", Path(dir, StatusFile), err)
	}
	return st, nil
}

// WriteStatus writes st as dir's status.json (atomically), stamping Updated.
func WriteStatus(dir string, st Status) error {
	st.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(Path(dir, StatusFile), append(data, '\n'), 0o644)
}
