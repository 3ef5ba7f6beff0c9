package pompc

import (
	"sort"
	"strconv"
	"strings"
)

// Gaussian is a diagonal Gaussian over actions: one mean and standard deviation per action
// dimension.
type Gaussian struct {
	Mean, Std []float64
}

// Snapshot is one planner-vs-policy snapshot (alg §8): at agent step Step, the planner's
// first-step Gaussian q_t (Plan), the policy pi_s (Pi) and the prior pi_p (Prior) at the same
// state. The trainer writes one every Config.SnapshotEvery planner calls, as metric records
// (Records); DecodeSnapshots reads them back. No other code spells the record keys.
type Snapshot struct {
	Step            int64
	Plan, Pi, Prior Gaussian
}

// The sources and statistics of a snapshot's records.
const (
	SnapPlan  = "plan"
	SnapPi    = "pi"
	SnapPrior = "prior"
	SnapMean  = "mean"
	SnapStd   = "std"
)

// snapshotPrefix starts every snapshot record's key.
const snapshotPrefix = "snapshot/"

// SnapshotKey is the metric key of one action dimension of one statistic of one source of a
// snapshot: snapshot/<source>/<stat>/<dim>.
func SnapshotKey(source, stat string, dim int) string {
	return snapshotPrefix + source + "/" + stat + "/" + strconv.Itoa(dim)
}

// IsSnapshotKey reports whether key belongs to a snapshot.
func IsSnapshotKey(key string) bool { return strings.HasPrefix(key, snapshotPrefix) }

// gaussians names the snapshot's three Gaussians by source.
func (s *Snapshot) gaussians() map[string]*Gaussian {
	return map[string]*Gaussian{SnapPlan: &s.Plan, SnapPi: &s.Pi, SnapPrior: &s.Prior}
}

// Records encodes the snapshot as metric records, one per source, statistic and dimension.
func (s Snapshot) Records() []Record {
	var recs []Record
	for _, src := range []string{SnapPlan, SnapPi, SnapPrior} {
		g := s.gaussians()[src]
		for _, st := range []struct {
			name string
			xs   []float64
		}{{SnapMean, g.Mean}, {SnapStd, g.Std}} {
			for d, x := range st.xs {
				recs = append(recs, Record{Key: SnapshotKey(src, st.name, d), Step: s.Step, Val: x})
			}
		}
	}
	return recs
}

// DecodeSnapshots assembles snapshot records into snapshots, one per step, in step order; other
// records are ignored. A step seen again (a resumed run writes the same step anew) keeps the
// last values.
func DecodeSnapshots(recs []Record) []Snapshot {
	bySteps := map[int64]*Snapshot{}
	for _, r := range recs {
		rest, ok := strings.CutPrefix(r.Key, snapshotPrefix)
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		if len(parts) != 3 {
			continue
		}
		dim, err := strconv.Atoi(parts[2])
		if err != nil || dim < 0 || dim > 1<<16 {
			continue
		}
		s := bySteps[r.Step]
		if s == nil {
			s = &Snapshot{Step: r.Step}
			bySteps[r.Step] = s
		}
		g := s.gaussians()[parts[0]]
		if g == nil {
			continue
		}
		var xs *[]float64
		switch parts[1] {
		case SnapMean:
			xs = &g.Mean
		case SnapStd:
			xs = &g.Std
		default:
			continue
		}
		for len(*xs) <= dim {
			*xs = append(*xs, 0)
		}
		(*xs)[dim] = r.Val
	}
	out := make([]Snapshot, 0, len(bySteps))
	for _, s := range bySteps {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out
}

// snapshotOf is the snapshot of one planner call at step.
func snapshotOf(step int64, r PlanResult) Snapshot {
	f := func(xs []float32) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = float64(x)
		}
		return out
	}
	return Snapshot{Step: step, Plan: Gaussian{f(r.Mean), f(r.Std)}, Pi: Gaussian{f(r.PiMean), f(r.PiStd)},
		Prior: Gaussian{f(r.PriorMean), f(r.PriorStd)}}
}
