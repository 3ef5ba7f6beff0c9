package sweep

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pompc/pompc/pompc/rundir"
)

// LocalLaunchFile is the file in a sweep or ablation directory where the process that trains
// it on this machine records how it launches its runs (LocalLaunch). It describes a machine's
// process, not the experiment, so Archive leaves it out.
const LocalLaunchFile = "local.json"

// LocalLaunch is how a local `pompc sweep` or `pompc ablation` process launches its runs: the
// launch flags that are not settings of the experiment (the grid or ablation.json) and may
// change from one resume to the next, but that `--status` needs to group the work left and
// schedule it as that process does (which runs train together, how many at once).
type LocalLaunch struct {
	// Batched is whether runs train as populations (`pompc population`) rather than one
	// `pompc train` process each; an ablation always batches.
	Batched bool `json:"batched"`
	// Populations is the --populations grouping as given (Grouping; ParseGrouping reads it).
	Populations Grouping `json:"populations"`
	// Jobs is --jobs, how many runs or populations train at once (0: DefaultParallel).
	Jobs int `json:"jobs"`
}

// Launcher is the launcher whose items (Items) group the runs as l's process does, for
// estimates: its executable is not needed.
func (l LocalLaunch) Launcher() Launcher {
	if !l.Batched {
		return ProcessLauncher{}
	}
	return PopulationLauncher{Group: l.Populations}
}

// SaveLocalLaunch records l in dir (atomically), replacing the last launch's record.
func SaveLocalLaunch(dir string, l LocalLaunch) error {
	if l.Jobs < 0 {
		return fmt.Errorf("sweep: jobs must be >= 0, got %d", l.Jobs)
	}
	if _, err := ParseGrouping(string(l.Populations)); err != nil {
		return err
	}
	if err := rundir.Ensure(dir); err != nil {
		return err
	}
	return rundir.WriteJSON(filepath.Join(dir, LocalLaunchFile), l, 0o644)
}

// LoadLocalLaunch reads the last local launch's record in dir; ok is false where no local
// process has trained dir since launches were recorded (or dir is an archive).
func LoadLocalLaunch(dir string) (l LocalLaunch, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, LocalLaunchFile))
	if os.IsNotExist(err) {
		return l, false, nil
	} else if err != nil {
		return l, false, err
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return l, false, fmt.Errorf("sweep: %s: %w", filepath.Join(dir, LocalLaunchFile), err)
	}
	if _, err := ParseGrouping(string(l.Populations)); err != nil {
		return l, false, fmt.Errorf("sweep: %s: %w", filepath.Join(dir, LocalLaunchFile), err)
	}
	return l, true, nil
}
