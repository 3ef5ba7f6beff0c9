package pompc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/pompc/pompc/pompc/rundir"
)

// parseLines decodes the complete lines of data (those ending in '\n'), calling emit for each
// record, and returns how many bytes it consumed and how many lines it read. line0 numbers the
// first line (for errors). With atEOF the trailing bytes after the last '\n' are the end of the
// file: a record there is accepted, and anything else is a torn write and ignored. Without atEOF
// they are left unconsumed for the next call (a writer may be half way through the line).
func parseLines(data []byte, line0 int, atEOF bool, emit func(Record)) (consumed, lines int, err error) {
	for len(data) > consumed {
		rest := data[consumed:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			if atEOF {
				var rec Record
				if text := bytes.TrimSpace(rest); len(text) > 0 && json.Unmarshal(text, &rec) == nil && rec.Key != "" {
					emit(rec)
				}
				consumed = len(data)
			}
			return consumed, lines, nil
		}
		text := bytes.TrimSpace(rest[:nl])
		lines++
		last := atEOF && len(bytes.TrimSpace(rest[nl+1:])) == 0
		if len(text) > 0 {
			var rec Record
			if jerr := json.Unmarshal(text, &rec); jerr != nil || rec.Key == "" {
				if !last { // a garbled final line is what a crash leaves; anything else is damage
					if jerr == nil {
						jerr = errors.New("no key")
					}
					return consumed, lines, fmt.Errorf("metrics line %d is not a record: %v", line0+lines, jerr)
				}
			} else {
				emit(rec)
			}
		}
		consumed += nl + 1
	}
	return consumed, lines, nil
}

// MetricsReader follows a run's metrics.jsonl while the trainer (in this or another process)
// appends to it: each Next returns the records appended since the previous call, and Series
// returns everything read so far for one key. A line the writer has not finished is left for the
// next call, so a reader never sees half a record. It is safe for concurrent use.
//
// A resumed run first truncates its metrics to its checkpoint (TruncateMetrics replaces the file).
// The reader notices the replacement, starts over from the new file, and Restarted reports it;
// a live plot that redraws from Series after each Next needs no special case.
type MetricsReader struct {
	mu        sync.Mutex
	path      string
	f         *os.File
	off       int64 // bytes of complete lines consumed
	lines     int
	series    map[string][]Record
	restarted bool
}

// OpenMetrics returns a reader of the metrics of runDir (a run directory, or the path of a
// .jsonl file itself). The file need not exist yet: a reader opened before the trainer starts
// returns no records until it appears. Call Next to read.
func OpenMetrics(runDir string) (*MetricsReader, error) {
	path := runDir
	st, err := os.Stat(runDir)
	switch {
	case err == nil && st.IsDir():
		path = rundir.Path(runDir, rundir.MetricsFile)
	case err == nil:
	case errors.Is(err, os.ErrNotExist) && filepath.Ext(runDir) != ".jsonl":
		return nil, fmt.Errorf("pompc: run directory %s does not exist", runDir)
	}
	return &MetricsReader{path: path, series: map[string][]Record{}}, nil
}

// Path is the metrics file the reader follows.
func (r *MetricsReader) Path() string { return r.path }

// Next reads the records appended since the last call (all of them on the first call), in file
// order. It returns no records and no error while nothing new is there or the file does not
// exist yet. A corrupt line before the end is an error (the reader stays where it was).
func (r *MetricsReader) Next() ([]Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restarted = false
	st, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pompc: metrics: %w", err)
	}
	if r.f != nil {
		if old, serr := r.f.Stat(); serr != nil || !os.SameFile(old, st) || st.Size() < r.off {
			r.f.Close()
			r.f, r.off, r.lines, r.series, r.restarted = nil, 0, 0, map[string][]Record{}, true
		}
	}
	if r.f == nil {
		f, err := os.Open(r.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pompc: metrics: %w", err)
		}
		r.f = f
	}
	if _, err := r.f.Seek(r.off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("pompc: metrics: %w", err)
	}
	data, err := io.ReadAll(r.f)
	if err != nil {
		return nil, fmt.Errorf("pompc: metrics: %w", err)
	}
	var out []Record
	n, lines, err := parseLines(data, r.lines, false, func(rec Record) { out = append(out, rec) })
	if err != nil {
		return nil, fmt.Errorf("pompc: %s: %w", r.path, err)
	}
	r.off += int64(n)
	r.lines += lines
	for _, rec := range out {
		r.series[rec.Key] = append(r.series[rec.Key], rec)
	}
	return out, nil
}

// Restarted reports whether the last Next found the file replaced (a resumed run truncated it)
// and started over; its records then are the whole new file, and Series forgot the old one.
func (r *MetricsReader) Restarted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarted
}

// Series returns a copy of the records of key read so far, in file order.
func (r *MetricsReader) Series(key string) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.series[key]...)
}

// All returns a copy of every series read so far, by key.
func (r *MetricsReader) All() map[string][]Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]Record, len(r.series))
	for k, v := range r.series {
		out[k] = append([]Record(nil), v...)
	}
	return out
}

// Keys returns the keys read so far, sorted.
func (r *MetricsReader) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.series))
	for k := range r.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Close releases the file. The reader must not be used afterwards.
func (r *MetricsReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// ReadSeries reads one key's records from a run directory's metrics (or a .jsonl path), in file
// order. A torn last line is ignored. A key with no records gives an empty slice, not an error.
func ReadSeries(runDir, key string) ([]Record, error) {
	m, err := ReadRunMetrics(runDir)
	if err != nil {
		return nil, err
	}
	return m[key], nil
}

// ReadRunMetrics reads every series of a run directory (or a .jsonl path) at once, by key.
func ReadRunMetrics(runDir string) (map[string][]Record, error) {
	path := runDir
	if st, err := os.Stat(runDir); err == nil && st.IsDir() {
		path = rundir.Path(runDir, rundir.MetricsFile)
	}
	return ReadMetrics(path)
}

// MetricKeys lists the keys present in a run's metrics, sorted.
func MetricKeys(runDir string) ([]string, error) {
	m, err := ReadRunMetrics(runDir)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}
