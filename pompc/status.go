package pompc

import (
	"encoding/json"
	"time"
)

// Status describes a run as its owner sees it: the trainer's state, the training in progress
// and, for a run owned by a session server, the server's (package session fills it).
type Status struct {
	// Dir is the run directory (absolute).
	Dir string
	// Task is the task being trained on; ObsDim and ActionDim its dimensions.
	Task      string
	ObsDim    int
	ActionDim int
	// Config is the current configuration (λ and friends as changed so far).
	Config Config

	// Step is the number of agent steps taken; Episodes the number of episodes started;
	// Updates the number of agent updates; SeedSteps the length of the random-action phase.
	Step      int64
	Episodes  int64
	Updates   int64
	SeedSteps int64
	// BufferSize is the number of transitions in the replay buffer (its capacity is about
	// min(Config.BufferSize, Config.Steps): training past Config.Steps overwrites the oldest).
	BufferSize int

	// Training reports whether a Train or Start is in progress; TargetStep is the step at which
	// it ends (equal to Step when idle).
	Training   bool
	TargetStep int64
	// Background reports whether the training in progress was started by Start.
	Background bool
	// JobStarted is when the current (or last) Train/Start began on the server; FirstUpdate is
	// when its first agent update finished (zero before that, or if it had none).
	JobStarted  time.Time
	FirstUpdate time.Time
	// JobError is the error that ended the last training, if any.
	JobError string
	// Stopped reports whether the current or last training was stopped before its target step
	// (by Stop, Shutdown, a signal, or the end of the client of a blocking Train).
	Stopped bool

	// Lambda, Prior, PriorKL and Reanalyze repeat the fields of Config that can change between
	// updates.
	Lambda    float64
	Prior     PriorKind
	PriorKL   KLDir
	Reanalyze bool

	// LastEpisodeReturn is the return of the latest finished training episode; LastEval the
	// mean return of the latest evaluation (NaN before the first).
	LastEpisodeReturn float64
	LastEval          float64
	// LastUpdate holds the metrics of the latest update (nil before the first).
	LastUpdate map[string]float64
	// StepsPerSec is the agent-step rate of the current (or last) training.
	StepsPerSec float64

	// SavedStep is the step of the last checkpoint written by this server (-1 if none yet);
	// Saved is when it was written.
	SavedStep int64
	Saved     time.Time

	// PID is the server's process id; Started when it started; Uptime how long it has run;
	// Backend the compute backend spec; Version the protocol version.
	PID     int
	Started time.Time
	Uptime  time.Duration
	Backend string
	Version int
	// IdleTimeout is how long the server waits without client calls or training before it
	// saves and exits (0: never).
	IdleTimeout time.Duration
	// Executable is the program the server runs (a notebook cell's binary, a test binary, the
	// pompc command): a running server keeps the code it started with (see Options.Restart).
	Executable string
	// Resumed reports whether this server started from a checkpoint (false for a new run).
	Resumed bool
}

// statusJSON is Status on the wire.
type statusJSON struct {
	Dir, Task               string
	ObsDim, ActionDim       int
	Config                  Config
	Step, Episodes, Updates int64
	SeedSteps               int64
	BufferSize              int
	Training                bool
	TargetStep              int64
	Background              bool
	JobStarted, FirstUpdate time.Time
	JobError                string
	Stopped                 bool
	Lambda                  JSONFloat
	Prior                   PriorKind
	PriorKL                 KLDir
	Reanalyze               bool
	LastEpisodeReturn       JSONFloat
	LastEval                JSONFloat
	LastUpdate              map[string]JSONFloat
	StepsPerSec             JSONFloat
	SavedStep               int64
	Saved, Started          time.Time
	PID                     int
	UptimeNS, IdleTimeoutNS int64
	Backend                 string
	Version                 int
	Resumed                 bool
	Executable              string
}

// MarshalJSON encodes the status (NaN and ±Inf as strings).
func (s Status) MarshalJSON() ([]byte, error) {
	w := statusJSON{Dir: s.Dir, Task: s.Task, ObsDim: s.ObsDim, ActionDim: s.ActionDim, Config: s.Config,
		Step: s.Step, Episodes: s.Episodes, Updates: s.Updates, SeedSteps: s.SeedSteps,
		BufferSize: s.BufferSize, Training: s.Training, TargetStep: s.TargetStep,
		Background: s.Background, JobStarted: s.JobStarted, FirstUpdate: s.FirstUpdate, JobError: s.JobError, Stopped: s.Stopped,
		Lambda: JSONFloat(s.Lambda), Prior: s.Prior, PriorKL: s.PriorKL, Reanalyze: s.Reanalyze,
		LastEpisodeReturn: JSONFloat(s.LastEpisodeReturn), LastEval: JSONFloat(s.LastEval), StepsPerSec: JSONFloat(s.StepsPerSec),
		SavedStep: s.SavedStep, Saved: s.Saved, Started: s.Started, PID: s.PID,
		UptimeNS: int64(s.Uptime), IdleTimeoutNS: int64(s.IdleTimeout), Backend: s.Backend, Version: s.Version,
		Resumed: s.Resumed, Executable: s.Executable}
	if s.LastUpdate != nil {
		w.LastUpdate = make(map[string]JSONFloat, len(s.LastUpdate))
		for k, v := range s.LastUpdate {
			w.LastUpdate[k] = JSONFloat(v)
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (s *Status) UnmarshalJSON(b []byte) error {
	var w statusJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Status{Dir: w.Dir, Task: w.Task, ObsDim: w.ObsDim, ActionDim: w.ActionDim, Config: w.Config,
		Step: w.Step, Episodes: w.Episodes, Updates: w.Updates, SeedSteps: w.SeedSteps,
		BufferSize: w.BufferSize, Training: w.Training, TargetStep: w.TargetStep,
		Background: w.Background, JobStarted: w.JobStarted, FirstUpdate: w.FirstUpdate, JobError: w.JobError, Stopped: w.Stopped,
		Lambda: float64(w.Lambda), Prior: w.Prior, PriorKL: w.PriorKL, Reanalyze: w.Reanalyze,
		LastEpisodeReturn: float64(w.LastEpisodeReturn), LastEval: float64(w.LastEval),
		StepsPerSec: float64(w.StepsPerSec), SavedStep: w.SavedStep, Saved: w.Saved, Started: w.Started,
		PID: w.PID, Uptime: time.Duration(w.UptimeNS), IdleTimeout: time.Duration(w.IdleTimeoutNS),
		Backend: w.Backend, Version: w.Version, Resumed: w.Resumed, Executable: w.Executable}
	if w.LastUpdate != nil {
		s.LastUpdate = make(map[string]float64, len(w.LastUpdate))
		for k, v := range w.LastUpdate {
			s.LastUpdate[k] = float64(v)
		}
	}
	return nil
}
