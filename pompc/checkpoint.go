package pompc

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/pompc/pompc/pompc/rundir"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pompc/pompc/envs"
)

// Checkpoint layout of a run directory:
//
//	config.json     the Config (human readable)
//	checkpoint.bin  magic, format version, gob payload, sha256 of the payload
//
// Both are written to a temporary file in the same directory, fsynced and renamed, so a crash
// leaves either the old or the new checkpoint, never a torn one.
const (
	checkpointMagic   = "POMPCCKP"
	checkpointVersion = uint32(1)
)

type savedVar struct {
	Path      string
	Trainable bool
	Dims      []int
	F32       []float32
	F64       []float64
	I64       []int64
	I32       []int32
	U64       []uint64
	U32       []uint32
}

type savedBuffer struct {
	Capacity, ObsDim, ActDim, Next, Size int
	// LaneNext and LaneSize are every lane's ring state when there are several (NumEnvs > 1;
	// nil for one lane, whose state is Next and Size).
	LaneNext, LaneSize        []int
	Written                   int64
	Obs, Action, Reward, Cont []float32
	PlanMean, PlanStd, Valid  []float32
	Episode                   []int64
	Pos                       []int32
}

// savedEnv is the episode in progress of one of a run's further environments (NumEnvs > 1; the
// first env's is in savedTrainer's own fields).
type savedEnv struct {
	EnvState []byte // nil at an episode boundary (or an env that cannot snapshot)
	Obs      []float32
	EpPos    int
	EpReturn float64
	Fresh    bool
	Episode  int64
	PrevMean []float32
}

type savedTrainer struct {
	Task      string
	ObsDim    int
	ActDim    int
	Step      int64
	Episode   int64
	PlanCalls int64
	EvalEps   int64
	Updates   int64
	PrevMean  []float32
	RNG       []byte
	// In-episode state; EnvState is nil when the checkpoint sits at an episode boundary or the
	// env cannot snapshot (then the resumed run starts a new episode).
	EnvState  []byte
	Obs       []float32
	EpPos     int
	EpReturn  float64
	Fresh     bool
	LastEpRet float64
	LastEval  float64
	// Pending is the number of updates the checkpointed step still owed (a save during the
	// seed-phase burst); Emitted the number of metric records written up to the checkpoint, and
	// HasEmitted whether the checkpoint records it (older ones do not).
	Pending    int
	Emitted    int64
	HasEmitted bool
	Vars       []savedVar
	Buffer     savedBuffer
	ConfigJSON []byte
	// Envs are the run's environments after the first (nil with one env), and FirstEpisode
	// the first env's episode id then (with one env it is Episode).
	Envs         []savedEnv
	FirstEpisode int64
}

func saveVars(store *model.Store) ([]savedVar, error) {
	var out []savedVar
	for v := range store.IterVariables() {
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Path(), err)
		}
		sv := savedVar{Path: v.Path(), Trainable: v.Trainable, Dims: t.Shape().Dimensions}
		err = t.ConstFlatData(func(flat any) {
			switch f := flat.(type) {
			case []float32:
				sv.F32 = append([]float32(nil), f...)
			case []float64:
				sv.F64 = append([]float64(nil), f...)
			case []int64:
				sv.I64 = append([]int64(nil), f...)
			case []int32:
				sv.I32 = append([]int32(nil), f...)
			case []uint64:
				sv.U64 = append([]uint64(nil), f...)
			case []uint32:
				sv.U32 = append([]uint32(nil), f...)
			default:
				err = fmt.Errorf("variable %s: unsupported dtype %s", v.Path(), t.DType())
			}
		})
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, nil
}

func (sv savedVar) tensor() *tensors.Tensor {
	switch {
	case sv.F32 != nil:
		return tensors.FromFlatDataAndDimensions(sv.F32, sv.Dims...)
	case sv.F64 != nil:
		return tensors.FromFlatDataAndDimensions(sv.F64, sv.Dims...)
	case sv.I64 != nil:
		return tensors.FromFlatDataAndDimensions(sv.I64, sv.Dims...)
	case sv.I32 != nil:
		return tensors.FromFlatDataAndDimensions(sv.I32, sv.Dims...)
	case sv.U64 != nil:
		return tensors.FromFlatDataAndDimensions(sv.U64, sv.Dims...)
	default:
		return tensors.FromFlatDataAndDimensions(sv.U32, sv.Dims...)
	}
}

func loadVars(store *model.Store, vars []savedVar) error {
	for _, sv := range vars {
		t := sv.tensor()
		if v := store.GetVariable(sv.Path); v != nil {
			if !v.Shape().Equal(t.Shape()) {
				return fmt.Errorf("variable %s: checkpoint shape %s, model shape %s", sv.Path, t.Shape(), v.Shape())
			}
			if err := v.SetValue(t); err != nil {
				return err
			}
			v.SetTrainable(sv.Trainable)
			continue
		}
		v, err := store.CreateVariable(sv.Path, t)
		if err != nil {
			return fmt.Errorf("variable %s: %w", sv.Path, err)
		}
		v.SetTrainable(sv.Trainable)
	}
	return nil
}

// Using the checkpoint's type at init fixes its gob type numbers for every process of a binary
// (see envs' controlSnapshot): equal states give byte-identical checkpoints.
func init() { _ = gob.NewEncoder(io.Discard).Encode(&savedTrainer{}) }

// Save writes the trainer's full state (config, all variables incl. targets, optimizer state,
// running scales and graph RNG; counters; host RNG; replay buffer with the stored planner
// Gaussians) to dir atomically. On resume a new episode starts (episode boundary rule).
func (t *Trainer) Save(dir string) error {
	if sl := t.agent.slot; sl != nil {
		if err := sl.p.sync(sl.k); err != nil { // the population holds the run's current state
			return err
		}
	}
	if err := rundir.Ensure(dir); err != nil {
		return fmt.Errorf("pompc: save: %w", err)
	}
	cfgJSON, err := json.MarshalIndent(t.agent.Config(), "", "  ")
	if err != nil {
		return err
	}
	vars, err := saveVars(t.agent.store)
	if err != nil {
		return fmt.Errorf("pompc: save: %w", err)
	}
	rngState, err := t.rngSource().MarshalBinary()
	if err != nil {
		return err
	}
	saved := make([]savedEnv, len(t.envs))
	for k, e := range t.envs {
		state, err := e.snapshot()
		if err != nil {
			return fmt.Errorf("pompc: save: %w", err)
		}
		saved[k] = savedEnv{EnvState: state, Obs: e.ts.Obs, EpPos: e.epPos, EpReturn: e.epReturn, Fresh: e.fresh,
			Episode: e.episode, PrevMean: e.prevMean}
	}
	e0 := saved[0]
	b := t.buf
	st := savedTrainer{EnvState: e0.EnvState, Obs: e0.Obs, EpPos: e0.EpPos, EpReturn: e0.EpReturn,
		Fresh: e0.Fresh, LastEpRet: t.lastEpRet, LastEval: t.lastEval, Task: t.task, ObsDim: t.spec.ObsDim, ActDim: t.spec.ActionDim, Step: t.step,
		Episode: t.episode, PlanCalls: t.planCalls, EvalEps: t.evalEpisodes, Updates: t.agent.updates,
		PrevMean: e0.PrevMean, RNG: rngState, Vars: vars, ConfigJSON: cfgJSON,
		Pending: t.pending, Emitted: t.emitted, HasEmitted: t.emitted >= 0,
		Buffer: savedBuffer{Capacity: b.capacity, ObsDim: b.obsDim, ActDim: b.actDim, Next: b.laneNext[0],
			Size: b.laneSize[0], Written: b.written, Obs: b.obs, Action: b.action, Reward: b.reward, Cont: b.cont,
			PlanMean: b.planMean, PlanStd: b.planStd, Valid: b.valid, Episode: b.episode, Pos: b.pos}}
	if len(t.envs) > 1 {
		st.Envs, st.FirstEpisode = saved[1:], e0.Episode
		st.Buffer.LaneNext, st.Buffer.LaneSize = b.laneNext, b.laneSize
	}
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(&st); err != nil {
		return fmt.Errorf("pompc: save: %w", err)
	}
	sum := sha256.Sum256(payload.Bytes())
	var out bytes.Buffer
	out.WriteString(checkpointMagic)
	out.Write([]byte{byte(checkpointVersion >> 24), byte(checkpointVersion >> 16), byte(checkpointVersion >> 8), byte(checkpointVersion)})
	out.Write(payload.Bytes())
	out.Write(sum[:])
	if err := rundir.WriteFile(rundir.Path(dir, rundir.CheckpointFile), out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pompc: save checkpoint: %w", err)
	}
	if err := rundir.WriteFile(rundir.Path(dir, rundir.ConfigFile), append(cfgJSON, '\n'), 0o644); err != nil {
		return fmt.Errorf("pompc: save config: %w", err)
	}
	return nil
}

// ErrNoCheckpoint is returned by Load when the directory has no checkpoint.
var ErrNoCheckpoint = errors.New("pompc: no checkpoint")

func readCheckpoint(dir string) (*savedTrainer, error) {
	data, err := os.ReadFile(rundir.Path(dir, rundir.CheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
	}
	if err != nil {
		return nil, err
	}
	if len(data) < len(checkpointMagic)+4+sha256.Size || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return nil, fmt.Errorf("pompc: %s is not a pompc checkpoint (bad header or truncated)", rundir.Path(dir, rundir.CheckpointFile))
	}
	ver := uint32(data[8])<<24 | uint32(data[9])<<16 | uint32(data[10])<<8 | uint32(data[11])
	if ver != checkpointVersion {
		return nil, fmt.Errorf("pompc: checkpoint format version %d, this build reads version %d", ver, checkpointVersion)
	}
	payload := data[12 : len(data)-sha256.Size]
	sum := sha256.Sum256(payload)
	if !bytes.Equal(sum[:], data[len(data)-sha256.Size:]) {
		return nil, fmt.Errorf("pompc: checkpoint %s is corrupt (checksum mismatch)", rundir.Path(dir, rundir.CheckpointFile))
	}
	var st savedTrainer
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&st); err != nil {
		return nil, fmt.Errorf("pompc: checkpoint %s: %w", rundir.Path(dir, rundir.CheckpointFile), err)
	}
	return &st, nil
}

// CheckpointStep is the agent step at which a run directory's checkpoint was saved.
func CheckpointStep(dir string) (int64, error) {
	st, err := readCheckpoint(dir)
	if err != nil {
		return 0, err
	}
	return st.Step, nil
}

// LoadConfig reads the Config stored in a run directory's checkpoint.
func LoadConfig(dir string) (Config, string, error) {
	st, err := readCheckpoint(dir)
	if err != nil {
		return Config{}, "", err
	}
	var cfg Config
	if err := json.Unmarshal(st.ConfigJSON, &cfg); err != nil {
		return Config{}, "", err
	}
	return cfg, st.Task, nil
}

// LoadTrainer makes a trainer for the run saved in dir and restores it there (what pompc eval and
// the notebooks' episode videos play from): the checkpoint's config and task, on the backend
// backendSpec names (empty: the config's, as ChooseBackend). The caller closes it.
func LoadTrainer(dir, backendSpec string) (*Trainer, error) {
	cfg, task, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	backend, err := NewBackend(ChooseBackend(backendSpec, cfg.Backend))
	if err != nil {
		return nil, err
	}
	tr, err := NewTrainer(backend, cfg, task)
	if err != nil {
		return nil, err
	}
	if err := tr.Load(dir); err != nil {
		tr.Close()
		return nil, err
	}
	return tr, nil
}

// Load restores a trainer saved with Save into t, which must have been made for the same task
// and dims. The current episode is abandoned; the next Step starts a new one.
func (t *Trainer) Load(dir string) error {
	st, err := readCheckpoint(dir)
	if err != nil {
		return err
	}
	if st.ObsDim != t.spec.ObsDim || st.ActDim != t.spec.ActionDim {
		return fmt.Errorf("pompc: checkpoint is for obs/action dims %d/%d, this run has %d/%d",
			st.ObsDim, st.ActDim, t.spec.ObsDim, t.spec.ActionDim)
	}
	var cfg Config
	if err := json.Unmarshal(st.ConfigJSON, &cfg); err != nil {
		return err
	}
	if err := t.agent.setConfig(cfg); err != nil {
		return err
	}
	if err := loadVars(t.agent.store, st.Vars); err != nil {
		return fmt.Errorf("pompc: load: %w", err)
	}
	if err := t.rngSource().UnmarshalBinary(st.RNG); err != nil {
		return err
	}
	sb := st.Buffer
	laneNext, laneSize := sb.LaneNext, sb.LaneSize
	if laneNext == nil {
		laneNext, laneSize = []int{sb.Next}, []int{sb.Size}
	}
	if len(laneNext) != t.cfg.Envs() || len(laneSize) != len(laneNext) {
		return fmt.Errorf("pompc: load: the checkpoint's replay buffer has %d lanes, this run has %d environments (num_envs)", len(laneNext), t.cfg.Envs())
	}
	t.buf = &Buffer{capacity: sb.Capacity, obsDim: sb.ObsDim, actDim: sb.ActDim, laneCap: sb.Capacity / len(laneNext),
		laneNext: laneNext, laneSize: laneSize,
		written: sb.Written, obs: sb.Obs, action: sb.Action, reward: sb.Reward, cont: sb.Cont,
		planMean: sb.PlanMean, planStd: sb.PlanStd, valid: sb.Valid, episode: sb.Episode, pos: sb.Pos}
	t.step, t.episode, t.planCalls, t.evalEpisodes = st.Step, st.Episode, st.PlanCalls, st.EvalEps
	t.agent.updates = st.Updates
	t.lastEpRet, t.lastEval = st.LastEpRet, st.LastEval
	t.pending, t.emitted = st.Pending, st.Emitted
	if !st.HasEmitted {
		t.emitted = -1
	}
	if len(st.Envs) != len(t.envs)-1 {
		return fmt.Errorf("pompc: load: the checkpoint holds %d environments, this run has %d (num_envs)", len(st.Envs)+1, len(t.envs))
	}
	first := savedEnv{EnvState: st.EnvState, Obs: st.Obs, EpPos: st.EpPos, EpReturn: st.EpReturn, Fresh: st.Fresh,
		Episode: st.Episode, PrevMean: st.PrevMean}
	if len(st.Envs) > 0 {
		first.Episode = st.FirstEpisode
	}
	for k, e := range t.envs {
		se := first
		if k > 0 {
			se = st.Envs[k-1]
		}
		if err := e.restore(se, t.task); err != nil {
			return err
		}
	}
	return nil
}

// restore sets the env to a saved episode in progress (or marks it for a new episode when the
// checkpoint sits at an episode boundary) and restores its warm start.
func (e *envSlot) restore(se savedEnv, task string) error {
	if len(se.PrevMean) == len(e.prevMean) {
		copy(e.prevMean, se.PrevMean)
	}
	e.needReset = true
	if se.EnvState == nil {
		return nil
	}
	snap, ok := e.env.(envs.Snapshotter)
	if !ok {
		return fmt.Errorf("pompc: load: the checkpoint holds an episode in progress but env %s cannot restore it", task)
	}
	if err := snap.Restore(se.EnvState); err != nil {
		return fmt.Errorf("pompc: load: %w", err)
	}
	e.ts = envs.TimeStep{Type: envs.Mid, Discount: 1, Obs: se.Obs}
	e.epPos, e.epReturn, e.fresh, e.episode = se.EpPos, se.EpReturn, se.Fresh, se.Episode
	e.needReset = false
	return nil
}

// snapshot returns the env's in-episode state, or nil at an episode boundary or when the env
// cannot snapshot (the documented boundary rule: such a run resumes with a new episode).
func (e *envSlot) snapshot() ([]byte, error) {
	if e.needReset {
		return nil, nil
	}
	snap, ok := e.env.(envs.Snapshotter)
	if !ok {
		return nil, nil
	}
	state, err := snap.Snapshot()
	if errors.Is(err, envs.ErrNoSnapshot) {
		return nil, nil
	}
	return state, err
}

// rngSource returns the trainer's PCG source (for saving and restoring its state).
func (t *Trainer) rngSource() *rand.PCG { return t.pcg }
