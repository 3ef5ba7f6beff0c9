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
	"path/filepath"
	"sync"
)

// Metric keys streamed by the Trainer (alg §8). Update keys are in updateMetricKeys; planner
// snapshots use "snapshot/{plan,pi,prior}/{mean,std}/<dim>".
const (
	KeyEpisodeReturn = "episode/return"
	KeyEpisodeLength = "episode/length"
	KeyEvalReturn    = "eval/return"
	KeyEvalReturnStd = "eval/return_std"
	KeyLambda        = "config/lambda"
	KeyStepsPerSec   = "time/steps_per_sec"
)

// UpdateMetricKeys lists the per-update metric keys (alg §8).
func UpdateMetricKeys() []string { return append([]string(nil), updateMetricKeys...) }

// Record is one metric value at an environment step. It mirrors GoMLX's ui/plot.Point so its
// plotters can consume it.
type Record struct {
	Key  string  `json:"key"`
	Step int64   `json:"step"`
	Val  float64 `json:"val"`
}

// MarshalJSON writes +Inf as "inf" (lambda = +Inf), since JSON has no infinities.
func (r Record) MarshalJSON() ([]byte, error) {
	var v any = r.Val
	switch {
	case math.IsInf(r.Val, 1):
		v = "inf"
	case math.IsInf(r.Val, -1):
		v = "-inf"
	case math.IsNaN(r.Val):
		v = "nan"
	}
	return json.Marshal(struct {
		Key  string `json:"key"`
		Step int64  `json:"step"`
		Val  any    `json:"val"`
	}{r.Key, r.Step, v})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Record) UnmarshalJSON(data []byte) error {
	var aux struct {
		Key  string `json:"key"`
		Step int64  `json:"step"`
		Val  any    `json:"val"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	r.Key, r.Step = aux.Key, aux.Step
	switch v := aux.Val.(type) {
	case float64:
		r.Val = v
	case string:
		switch v {
		case "inf":
			r.Val = math.Inf(1)
		case "-inf":
			r.Val = math.Inf(-1)
		default:
			r.Val = math.NaN()
		}
	default:
		return fmt.Errorf("pompc: record %q has a non-numeric value", aux.Key)
	}
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

// TruncateMetrics rewrites a JSONL metrics file keeping only the records with Step <= maxStep
// (and dropping a torn last line), atomically. A resumed run calls it so that the records
// written after its checkpoint, which the resumed run writes again, appear once.
func TruncateMetrics(path string, maxStep int64) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var rec Record
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Step > maxStep {
			continue
		}
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return writeAtomic(filepath.Dir(path), filepath.Base(path), out.Bytes())
}
