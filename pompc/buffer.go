package pompc

import (
	"fmt"
	"math/rand/v2"
)

// Buffer is the replay buffer of sequences (alg §4, §5): a ring of steps, each holding the
// observation o_t, the action a_t taken at o_t with its reward r_t and continuation flag, and the
// planner's first-step Gaussian q_t = (mean_0, std_0) computed at o_t (valid = 0 for random
// seed-phase actions and for the final observation of an episode). Sequences of H+1 consecutive
// observations of one episode are sampled uniformly.
type Buffer struct {
	capacity, obsDim, actDim int

	obs      []float32 // [C, O]
	action   []float32 // [C, A]
	reward   []float32 // [C]
	cont     []float32 // [C] 1 − terminated after a_t
	planMean []float32 // [C, A]
	planStd  []float32 // [C, A]
	valid    []float32 // [C] 1 where q_t is a stored planner Gaussian
	episode  []int64   // [C] episode id, −1 when empty
	pos      []int32   // [C] index of the step within its episode

	// The slots are split into lanes, one ring per environment of a run (Config.NumEnvs): lane
	// k holds slots [k·laneCap, (k+1)·laneCap), so an environment's consecutive steps stay
	// consecutive in its ring. One lane is the whole buffer.
	laneCap  int
	laneNext []int // ring write position of each lane
	laneSize []int // filled slots of each lane
	written  int64 // total steps ever added
}

// NewBuffer returns an empty buffer of capacity steps.
func NewBuffer(capacity, obsDim, actDim int) (*Buffer, error) {
	return NewBufferLanes(capacity, 1, obsDim, actDim)
}

// NewBufferLanes makes a buffer of capacity steps in lanes rings of capacity/lanes steps each
// (one per environment; AddTo writes to one).
func NewBufferLanes(capacity, lanes, obsDim, actDim int) (*Buffer, error) {
	if capacity <= 0 || obsDim <= 0 || actDim <= 0 || lanes <= 0 || capacity < lanes {
		return nil, fmt.Errorf("pompc: buffer needs positive capacity, lanes and dims (capacity >= lanes), got %d, %d, %d, %d",
			capacity, lanes, obsDim, actDim)
	}
	capacity -= capacity % lanes
	b := &Buffer{
		capacity: capacity, obsDim: obsDim, actDim: actDim,
		obs: make([]float32, capacity*obsDim), action: make([]float32, capacity*actDim),
		reward: make([]float32, capacity), cont: make([]float32, capacity),
		planMean: make([]float32, capacity*actDim), planStd: make([]float32, capacity*actDim),
		valid: make([]float32, capacity), episode: make([]int64, capacity), pos: make([]int32, capacity),
	}
	for i := range b.episode {
		b.episode[i] = -1
	}
	b.laneCap, b.laneNext, b.laneSize = capacity/lanes, make([]int, lanes), make([]int, lanes)
	return b, nil
}

// Step is one stored step. Action, Reward and Cont describe what happened after Obs; the final
// observation of an episode is stored with a zero action and is only ever a sequence's last.
type Step struct {
	Episode  int64
	Pos      int
	Obs      []float32
	Action   []float32
	Reward   float64
	Cont     float64
	PlanMean []float32 // nil when no planner Gaussian exists (seed phase, final observation)
	PlanStd  []float32
}

// Add appends one step to lane 0, overwriting its oldest when full.
func (b *Buffer) Add(s Step) error { return b.AddTo(0, s) }

// AddTo appends one step to a lane (an environment's ring), overwriting its oldest when full.
func (b *Buffer) AddTo(lane int, s Step) error {
	if lane < 0 || lane >= len(b.laneNext) {
		return fmt.Errorf("pompc: buffer: lane %d of %d", lane, len(b.laneNext))
	}
	if len(s.Obs) != b.obsDim {
		return fmt.Errorf("pompc: buffer: observation has size %d, want %d", len(s.Obs), b.obsDim)
	}
	if s.Action != nil && len(s.Action) != b.actDim {
		return fmt.Errorf("pompc: buffer: action has size %d, want %d", len(s.Action), b.actDim)
	}
	i := lane*b.laneCap + b.laneNext[lane]
	copy(b.obs[i*b.obsDim:(i+1)*b.obsDim], s.Obs)
	act := b.action[i*b.actDim : (i+1)*b.actDim]
	if s.Action != nil {
		copy(act, s.Action)
	} else {
		clear(act)
	}
	b.reward[i] = float32(s.Reward)
	b.cont[i] = float32(s.Cont)
	pm, ps := b.planMean[i*b.actDim:(i+1)*b.actDim], b.planStd[i*b.actDim:(i+1)*b.actDim]
	if s.PlanMean != nil && s.PlanStd != nil {
		copy(pm, s.PlanMean)
		copy(ps, s.PlanStd)
		b.valid[i] = 1
	} else {
		clear(pm)
		for j := range ps {
			ps[j] = 1
		}
		b.valid[i] = 0
	}
	b.episode[i] = s.Episode
	b.pos[i] = int32(s.Pos)
	b.laneNext[lane] = (b.laneNext[lane] + 1) % b.laneCap
	b.laneSize[lane] = min(b.laneSize[lane]+1, b.laneCap)
	b.written++
	return nil
}

// Len is the number of stored steps.
func (b *Buffer) Len() int {
	n := 0
	for _, s := range b.laneSize {
		n += s
	}
	return n
}

// Lanes is the number of lanes (environments).
func (b *Buffer) Lanes() int { return len(b.laneNext) }

// Slot is the buffer slot t steps after slot start in start's lane (its ring).
func (b *Buffer) Slot(start, t int) int {
	base := start / b.laneCap * b.laneCap
	return base + (start-base+t)%b.laneCap
}

// seqOK reports whether a sequence of h+1 steps of one episode starts at slot i of lane k's
// ring (i local to the lane).
func (b *Buffer) seqOK(k, i, h int) bool {
	c, size, next, base := b.laneCap, b.laneSize[k], b.laneNext[k], k*b.laneCap
	if b.episode[base+i] < 0 {
		return false
	}
	j := base + (i+h)%c
	// The newest step must not be inside the sequence's wrap-around (ring order).
	if size < c && i+h >= size {
		return false
	}
	if size == c {
		// distance from the oldest slot (next) must leave room for h more steps
		if (i-next+c)%c+h >= c {
			return false
		}
	}
	return b.episode[j] == b.episode[base+i] && int(b.pos[j]) == int(b.pos[base+i])+h
}

// CanSample reports whether at least one sequence of length h+1 exists.
func (b *Buffer) CanSample(h int) bool {
	for k, size := range b.laneSize {
		for i := 0; i < size; i++ {
			if b.seqOK(k, i, h) {
				return true
			}
		}
	}
	return false
}

// Batch is a time-major batch of B sequences: Obs [H+1, B, O], Action [H, B, A], Reward and
// Cont [H, B], PlanMean and PlanStd [H+1, B, A], Valid [H+1, B]. Slots [B] are the buffer slots
// of each sequence's first step (for reanalysis write-back).
type Batch struct {
	H, B, ObsDim, ActDim int
	Obs, Action, Reward  []float32
	Cont                 []float32
	PlanMean, PlanStd    []float32
	Valid                []float32
	Slots                []int
}

// Sample draws B sequences of H+1 steps uniformly over valid start slots with rng.
func (b *Buffer) Sample(rng *rand.Rand, batch, h int) (*Batch, error) {
	total := b.Len()
	if total == 0 {
		return nil, fmt.Errorf("pompc: buffer is empty")
	}
	o, a := b.obsDim, b.actDim
	out := &Batch{H: h, B: batch, ObsDim: o, ActDim: a,
		Obs: make([]float32, (h+1)*batch*o), Action: make([]float32, h*batch*a),
		Reward: make([]float32, h*batch), Cont: make([]float32, h*batch),
		PlanMean: make([]float32, (h+1)*batch*a), PlanStd: make([]float32, (h+1)*batch*a),
		Valid: make([]float32, (h+1)*batch), Slots: make([]int, batch)}
	for k := 0; k < batch; k++ {
		// Rejection sampling: almost every slot starts a sequence once episodes are longer than
		// H, so this is O(1) per sequence; the O(size) scan runs only when draws keep failing.
		start := -1
		for try := 0; start < 0; try++ {
			// A draw over all stored steps, then its lane: uniform over the stored steps.
			lane, i := 0, rng.IntN(total)
			for i >= b.laneSize[lane] {
				i -= b.laneSize[lane]
				lane++
			}
			if b.seqOK(lane, i, h) {
				start = lane*b.laneCap + i
			} else if try == 1000 && !b.CanSample(h) {
				return nil, fmt.Errorf("pompc: buffer has no sequence of %d steps yet (%d steps stored)", h+1, total)
			}
		}
		out.Slots[k] = start
		for t := 0; t <= h; t++ {
			i := b.Slot(start, t)
			copy(out.Obs[(t*batch+k)*o:(t*batch+k+1)*o], b.obs[i*o:(i+1)*o])
			copy(out.PlanMean[(t*batch+k)*a:(t*batch+k+1)*a], b.planMean[i*a:(i+1)*a])
			copy(out.PlanStd[(t*batch+k)*a:(t*batch+k+1)*a], b.planStd[i*a:(i+1)*a])
			out.Valid[t*batch+k] = b.valid[i]
			if t < h {
				copy(out.Action[(t*batch+k)*a:(t*batch+k+1)*a], b.action[i*a:(i+1)*a])
				out.Reward[t*batch+k] = b.reward[i]
				out.Cont[t*batch+k] = b.cont[i]
			}
		}
	}
	return out, nil
}

// SetPlan overwrites the stored planner Gaussian of slot i (lazy reanalysis, alg §5).
func (b *Buffer) SetPlan(i int, mean, std []float32) {
	a := b.actDim
	copy(b.planMean[i*a:(i+1)*a], mean)
	copy(b.planStd[i*a:(i+1)*a], std)
	b.valid[i] = 1
}
