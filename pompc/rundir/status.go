package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
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
	// Members is how many runs its latest launch trained together, itself included (a population's
	// size; 1 for a run alone): its rate is its share of what the launch's slot did. 0 in records
	// written before it existed, read as 1.
	Members int `json:"members,omitempty"`
	// Builds lists the code that trained the run: the build of the program that launched it
	// (its VCS revision, see Build), once at its first launch and again at each launch whose
	// build differs from the last one listed, with the step that launch started from; so a run
	// resumed by a newer pompc says from which step the newer code trained it. A launch by a
	// program that carries no revision (go run, go test, a build with -buildvcs=false, a notebook
	// cell) adds nothing, so the list says nothing of its steps; empty in older records.
	Builds []BuildAt `json:"builds,omitempty"`
	// Error is why the last launch failed (for a child process, the end of its output).
	Error string `json:"error,omitempty"`
	// Updated is when the record was written.
	Updated time.Time `json:"updated"`
}

// BuildAt is one entry of Status.Builds: from Step on, the run was trained by Build.
type BuildAt struct {
	Step  int64  `json:"step"`
	Build string `json:"build"`
}

// NoteBuild appends build to st.Builds as of step unless it is empty or the last one listed.
func (st *Status) NoteBuild(step int64, build string) {
	if build == "" || (len(st.Builds) > 0 && st.Builds[len(st.Builds)-1].Build == build) {
		return
	}
	st.Builds = append(st.Builds, BuildAt{Step: step, Build: build})
}

// Build names the code of this program: its VCS revision as `go build` stamps it (the first
// 12 hex digits, "+dirty" when the work tree had uncommitted changes), or "" when the binary
// carries none (go run, go test, -buildvcs=false, a build outside a repository).
func Build() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return buildOf(info.Settings)
}

// buildOf is Build from a binary's build settings.
func buildOf(settings []debug.BuildSetting) string {
	var rev string
	var dirty bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
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
	return WriteJSON(Path(dir, StatusFile), st, 0o644)
}
