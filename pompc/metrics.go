package pompc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"

	"github.com/pompc/pompc/pompc/rundir"
)

// Metric keys streamed by the Trainer (alg §8); planner snapshots' keys are SnapshotKey's. Every
// key the project reads or writes is one of these constants.
const (
	KeyEpisodeReturn = "episode/return"
	KeyEpisodeLength = "episode/length"
	KeyEvalReturn    = "eval/return"
	KeyEvalReturnStd = "eval/return_std"
	// The update's metrics (alg §8), in the order of UpdateKeys; a variant records only the
	// terms it has (updateGraph).
	KeyLossConsistency = "loss/consistency"
	KeyLossReward      = "loss/reward"
	KeyLossValue       = "loss/value"
	KeyLossValueKL     = "loss/value_kl"
	KeyLossWorldModel  = "loss/world_model"
	KeyLossPi          = "loss/pi"
	KeyLossPrior       = "loss/prior"
	KeyKLPolicyPrior   = "kl/policy_prior"
	KeyKLPriorPlanner  = "kl/prior_planner"
	KeyPolicyEntropy   = "policy/entropy"
	KeyPolicyStd       = "policy/std"
	KeyScalePi         = "scale/pi"
	KeyGradWorldModel  = "grad/world_model"
	KeyGradPi          = "grad/pi"
	KeyGradPrior       = "grad/prior"
	KeyQPiMean         = "q/pi_mean"
	KeyQTDTarget       = "q/td_target"

	// The knobs a run may change while it trains, each recorded with its initial value at step
	// 0 and again at every change (knobRecords): a figure labels a run by its knob history.
	KeyLambda    = "config/lambda"
	KeyPrior     = "config/prior"     // priorKinds index: none 0, learned 1, planner 2
	KeyPriorKL   = "config/prior_kl"  // klDirs index: reverse 0, forward 1
	KeyReanalyze = "config/reanalyze" // 0 off, 1 on
)

// LossKeys are the update's loss terms, in the order the live plots draw them.
var LossKeys = []string{KeyLossConsistency, KeyLossReward, KeyLossValue, KeyLossValueKL, KeyLossPi, KeyLossPrior}

// priorKinds and klDirs give the codes of the categorical knobs' records (KeyPrior, KeyPriorKL).
var (
	priorKinds = []PriorKind{PriorNone, PriorLearned, PriorPlanner}
	klDirs     = []KLDir{KLReverse, KLForward}
)

// Code is the value of p in a KeyPrior record.
func (p PriorKind) Code() float64 { return float64(slices.Index(priorKinds, p)) }

// Code is the value of d in a KeyPriorKL record.
func (d KLDir) Code() float64 { return float64(slices.Index(klDirs, d)) }

// knobRecords are the records of cfg's knobs at step, in a fixed order.
func knobRecords(step int64, cfg Config) []Record {
	reanalyze := 0.0
	if cfg.Reanalyze {
		reanalyze = 1
	}
	return []Record{{KeyLambda, step, cfg.Lambda}, {KeyPrior, step, cfg.Prior.Code()},
		{KeyPriorKL, step, cfg.PriorKL.Code()}, {KeyReanalyze, step, reanalyze}}
}

// sameValue is equality that holds for two +Inf (λ = ∞) as for any two equal numbers.
func sameValue(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// Record is one metric value at an environment step. It mirrors GoMLX's ui/plot.Point so its
// plotters can consume it.
type Record struct {
	Key  string  `json:"key"`
	Step int64   `json:"step"`
	Val  float64 `json:"val"`
}

// MarshalJSON writes Val as a JSONFloat (λ = +Inf as "inf").
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key  string    `json:"key"`
		Step int64     `json:"step"`
		Val  JSONFloat `json:"val"`
	}{r.Key, r.Step, JSONFloat(r.Val)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Record) UnmarshalJSON(data []byte) error {
	var aux struct {
		Key  string     `json:"key"`
		Step int64      `json:"step"`
		Val  *JSONFloat `json:"val"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if aux.Val == nil {
		return fmt.Errorf("pompc: record %q has no value", aux.Key)
	}
	r.Key, r.Step, r.Val = aux.Key, aux.Step, float64(*aux.Val)
	return nil
}

// Sink receives metric records as the trainer produces them: a widget, a JSONL file, a
// progress bar.
type Sink interface {
	Write(recs []Record) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(recs []Record) error

// Write calls f.
func (f SinkFunc) Write(recs []Record) error { return f(recs) }

// JSONLSink appends records as JSON lines to a file, flushing after every Write so a reader in
// another process sees them and a crash loses at most the last batch.
type JSONLSink struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

// NewJSONLSink opens (appending) or creates path.
func NewJSONLSink(path string) (*JSONLSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pompc: metrics file: %w", err)
	}
	return &JSONLSink{f: f, w: bufio.NewWriter(f)}, nil
}

// Write appends recs as JSON lines.
func (s *JSONLSink) Write(recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(s.w)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

// Close flushes and closes the file.
func (s *JSONLSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

// ReadMetrics reads a JSONL metrics file and returns its series by key, each in file order. A
// torn last line (a writer in another process mid-write, or a crash) is ignored; a corrupt line
// before the end is an error. OpenMetrics reads a file incrementally while it grows.
func ReadMetrics(path string) (map[string][]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pompc: reading metrics: %w", err)
	}
	defer f.Close()
	m, err := DecodeMetrics(f)
	if err != nil {
		return nil, fmt.Errorf("pompc: reading metrics %s: %w", path, err)
	}
	return m, nil
}

// ReadMetricsKeys is ReadMetrics for the records of keys only: the other lines are skipped
// before they are decoded (a status view reads a run's evaluations without parsing its
// every update), and only the lines kept are checked.
func ReadMetricsKeys(path string, keys ...string) (map[string][]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pompc: reading metrics: %w", err)
	}
	needles := make([][]byte, len(keys))
	for i, k := range keys {
		q, _ := json.Marshal(k)
		needles[i] = q
	}
	out := map[string][]Record{}
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if !slices.ContainsFunc(needles, func(q []byte) bool { return bytes.Contains(line, q) }) {
			continue
		}
		var rec Record
		if err := json.Unmarshal(bytes.TrimSpace(line), &rec); err != nil {
			if len(bytes.TrimSpace(data)) == 0 {
				break // a torn last line
			}
			return nil, fmt.Errorf("pompc: reading metrics %s: line %d is not a record: %v", path, n, err)
		}
		if slices.Contains(keys, rec.Key) {
			out[rec.Key] = append(out[rec.Key], rec)
		}
	}
	return out, nil
}

// DecodeMetrics reads JSON-lines records from r, grouped by key in file order. Blank lines are
// skipped; the last line may be torn (it is then ignored); any other line that is not a record is
// an error naming its line number.
func DecodeMetrics(r io.Reader) (map[string][]Record, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	out := map[string][]Record{}
	_, _, err = parseLines(data, 0, true, func(rec Record) { out[rec.Key] = append(out[rec.Key], rec) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MemorySink keeps every record in memory (tests, notebooks).
type MemorySink struct {
	mu   sync.Mutex
	recs []Record
}

// Write appends recs.
func (m *MemorySink) Write(recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return nil
}

// Records returns a copy of everything written so far.
func (m *MemorySink) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...)
}

// Series returns the records of one key.
func (m *MemorySink) Series(key string) []Record {
	var out []Record
	for _, r := range m.Records() {
		if r.Key == key {
			out = append(out, r)
		}
	}
	return out
}

// TruncateMetrics rewrites a JSONL metrics file keeping only its first keep records (and
// dropping a torn last line), atomically. A resumed run calls it with the number of records its
// checkpoint had emitted, so that the records written after the checkpoint, which the resumed
// run writes again, appear once; keep < 0 keeps the records with Step <= maxStep instead (for
// checkpoints that predate the count). A damaged line before the end is an error that names it
// and leaves the file as it was.
func TruncateMetrics(path string, keep, maxStep int64) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pompc: reading %s: %w", path, err)
	}
	var out bytes.Buffer
	var n int64
	_, _, err = parseLines(data, 0, true, func(rec Record) {
		if (keep >= 0 && n < keep) || (keep < 0 && rec.Step <= maxStep) {
			b, _ := json.Marshal(rec)
			out.Write(b)
			out.WriteByte('\n')
		}
		n++
	})
	if err != nil {
		return fmt.Errorf("pompc: %s is damaged (%v); the checkpoint is intact: move the file away to "+
			"resume without the earlier metrics, or repair the line", path, err)
	}
	if keep > n {
		return fmt.Errorf("pompc: %s holds %d records but the checkpoint had written %d: it was "+
			"truncated or replaced; move it away to resume without the earlier metrics", path, n, keep)
	}
	return rundir.WriteFile(path, out.Bytes(), 0o644)
}
