package session

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pompc/pompc/pompc"
)

// keyMatcher returns a filter for metric keys: every key when none are given; a key ending in
// "*" matches by prefix ("loss/*", "snapshot/*").
func keyMatcher(keys []string) func(string) bool {
	if len(keys) == 0 {
		return func(string) bool { return true }
	}
	exact := map[string]bool{}
	var prefixes []string
	for _, k := range keys {
		if p, ok := strings.CutSuffix(k, "*"); ok {
			prefixes = append(prefixes, p)
		} else {
			exact[k] = true
		}
	}
	return func(k string) bool {
		if exact[k] {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
}

// ReadMetrics reads the metrics of the run in dir (DIR/metrics.jsonl, written by a session
// server or `pompc train`), by key in file order: every key, or the given ones (a key ending
// in "*" matches by prefix). It needs no server. A torn last line is ignored; a missing run
// directory is an error, a run without metrics yet gives an empty map.
func ReadMetrics(dir string, keys ...string) (map[string][]pompc.Record, error) {
	t := NewTail(dir, keys...)
	defer t.Close()
	recs, _, err := t.Next()
	if err != nil {
		return nil, err
	}
	out := map[string][]pompc.Record{}
	for _, r := range recs {
		out[r.Key] = append(out[r.Key], r)
	}
	return out, nil
}

// Metrics reads the run's metrics by key (see ReadMetrics).
func (r *Run) Metrics(keys ...string) (map[string][]pompc.Record, error) {
	return ReadMetrics(r.opts.Dir, keys...)
}

// Tail reads a run's metrics incrementally, for live plots: each Next returns the records
// appended since the previous one. It follows the file with pompc.MetricsReader. Safe for
// concurrent use.
type Tail struct {
	dir   string
	match func(string) bool

	mu sync.Mutex
	r  *pompc.MetricsReader
}

// NewTail follows the metrics of the run in dir from the beginning (see ReadMetrics for keys).
func NewTail(dir string, keys ...string) *Tail {
	return &Tail{dir: dir, match: keyMatcher(keys)}
}

// Tail follows the run's metrics (see NewTail).
func (r *Run) Tail(keys ...string) *Tail { return NewTail(r.opts.Dir, keys...) }

// Next returns the matching records written since the last call (all of them on the first
// call), in file order. reset is true when the file was replaced since the last call — a server
// resumed from a checkpoint older than the last records and dropped those — and then recs holds
// the whole new file: drop what you had and use recs. A line being written is left for the next
// call.
func (t *Tail) Next() (recs []pompc.Record, reset bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.r == nil {
		if t.r, err = pompc.OpenMetrics(t.dir); err != nil {
			return nil, false, err
		}
	}
	all, err := t.r.Next()
	if err != nil {
		return nil, false, err
	}
	for _, rec := range all {
		if t.match(rec.Key) {
			recs = append(recs, rec)
		}
	}
	return recs, t.r.Restarted(), nil
}

// Close releases the file.
func (t *Tail) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.r == nil {
		return nil
	}
	return t.r.Close()
}

// Gaussian is a diagonal Gaussian over actions: one mean and standard deviation per action
// dimension.
type Gaussian struct {
	Mean, Std []float64
}

// Snapshot is one planner-vs-policy snapshot (alg §8): at agent step Step, the planner's
// first-step Gaussian q_t (Plan), the policy pi_s (Pi) and the prior pi_p (Prior) at the same
// state. The trainer writes one every Config.SnapshotEvery planner calls.
type Snapshot struct {
	Step            int64
	Plan, Pi, Prior Gaussian
}

// Snapshots returns the run's planner-vs-policy snapshots in step order.
func (r *Run) Snapshots() ([]Snapshot, error) {
	t := NewTail(r.opts.Dir, "snapshot/*")
	defer t.Close()
	recs, _, err := t.Next()
	if err != nil {
		return nil, err
	}
	return GroupSnapshots(recs), nil
}

// LatestSnapshot returns the run's latest planner-vs-policy snapshot (ok false if none yet).
func (r *Run) LatestSnapshot() (s Snapshot, ok bool, err error) {
	all, err := r.Snapshots()
	if err != nil || len(all) == 0 {
		return Snapshot{}, false, err
	}
	return all[len(all)-1], true, nil
}

// GroupSnapshots assembles snapshot records (keys snapshot/{plan,pi,prior}/{mean,std}/<dim>, as
// returned by Tail.Next or ReadMetrics) into snapshots, one per step, in step order; other
// records are ignored. A step seen again (a resumed run writes the same step anew) keeps the
// last values.
func GroupSnapshots(recs []pompc.Record) []Snapshot {
	bySteps := map[int64]*Snapshot{}
	for _, r := range recs {
		rest, ok := strings.CutPrefix(r.Key, "snapshot/")
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
		var g *Gaussian
		switch parts[0] {
		case "plan":
			g = &s.Plan
		case "pi":
			g = &s.Pi
		case "prior":
			g = &s.Prior
		default:
			continue
		}
		var xs *[]float64
		switch parts[1] {
		case "mean":
			xs = &g.Mean
		case "std":
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
