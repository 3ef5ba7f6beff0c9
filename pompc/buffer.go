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

	next    int   // ring write position
	size    int   // filled slots
	written int64 // total steps ever added
}

// NewBuffer returns an empty buffer of capacity steps.
func NewBuffer(capacity, obsDim, actDim int) (*Buffer, error) {
	if capacity <= 0 || obsDim <= 0 || actDim <= 0 {
		return nil, fmt.Errorf("pompc: buffer needs positive capacity and dims, got %d, %d, %d", capacity, obsDim, actDim)
	}
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

// Add appends one step, overwriting the oldest when full.
func (b *Buffer) Add(s Step) error {
	if len(s.Obs) != b.obsDim {
		return fmt.Errorf("pompc: buffer: observation has size %d, want %d", len(s.Obs), b.obsDim)
	}
	if s.Action != nil && len(s.Action) != b.actDim {
		return fmt.Errorf("pompc: buffer: action has size %d, want %d", len(s.Action), b.actDim)
	}
	i := b.next
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
	b.next = (b.next + 1) % b.capacity
	b.size = min(b.size+1, b.capacity)
	b.written++
	return nil
}

// Len is the number of stored steps.
func (b *Buffer) Len() int { return b.size }

// seqOK reports whether a sequence of h+1 steps of one episode starts at slot i.
func (b *Buffer) seqOK(i, h int) bool {
	if b.episode[i] < 0 {
		return false
	}
	j := (i + h) % b.capacity
	// The newest step must not be inside the sequence's wrap-around (ring order).
	if b.size < b.capacity && i+h >= b.size {
		return false
	}
	if b.size == b.capacity {
		// distance from the oldest slot (b.next) must leave room for h more steps
		if (i-b.next+b.capacity)%b.capacity+h >= b.capacity {
			return false
		}
	}
	return b.episode[j] == b.episode[i] && int(b.pos[j]) == int(b.pos[i])+h
}

// CanSample reports whether at least one sequence of length h+1 exists.
func (b *Buffer) CanSample(h int) bool {
	for i := 0; i < b.size; i++ {
		if b.seqOK(i, h) {
			return true
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
	if b.size == 0 {
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
			if i := rng.IntN(b.size); b.seqOK(i, h) {
				start = i
			} else if try == 1000 && !b.CanSample(h) {
				return nil, fmt.Errorf("pompc: buffer has no sequence of %d steps yet (%d steps stored)", h+1, b.size)
			}
		}
		out.Slots[k] = start
		for t := 0; t <= h; t++ {
			i := (start + t) % b.capacity
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
