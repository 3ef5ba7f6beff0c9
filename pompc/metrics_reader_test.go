package pompc

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc/rundir"

	"github.com/stretchr/testify/require"
)

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// TestMetricsReaderFollowsAWriter: a reader polling while a sink appends sees every record once,
// in order, and never half a line, even when the writer stops in the middle of one.
func TestMetricsReaderFollowsAWriter(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenMetrics(dir)
	require.NoError(t, err)
	defer r.Close()
	recs, err := r.Next()
	require.NoError(t, err)
	require.Empty(t, recs, "no file yet")

	sink, err := NewJSONLSink(filepath.Join(dir, rundir.MetricsFile))
	require.NoError(t, err)
	const n = 3000
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := sink.Write([]Record{{Key: "a", Step: int64(i), Val: float64(i)}, {Key: "b", Step: int64(i), Val: -float64(i)}}); err != nil {
				done <- err
				return
			}
		}
		done <- sink.Close()
	}()
	var got []Record
	for finished := false; !finished; {
		select {
		case err := <-done:
			require.NoError(t, err)
			finished = true
		default:
		}
		recs, err := r.Next()
		require.NoError(t, err)
		got = append(got, recs...)
	}
	recs, err = r.Next()
	require.NoError(t, err)
	got = append(got, recs...)
	require.Len(t, got, 2*n)
	for i, rec := range got {
		require.Equal(t, int64(i/2), rec.Step)
	}
	require.Equal(t, []string{"a", "b"}, r.Keys())
	require.Len(t, r.Series("a"), n)
	require.Equal(t, float64(-(n - 1)), r.Series("b")[n-1].Val)

	// A line the writer has not finished is held back until it is complete.
	path := filepath.Join(dir, rundir.MetricsFile)
	appendRaw(t, path, `{"key":"c","step":7,"va`)
	recs, err = r.Next()
	require.NoError(t, err)
	require.Empty(t, recs)
	appendRaw(t, path, `l":"inf"}`+"\n")
	recs, err = r.Next()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.True(t, math.IsInf(recs[0].Val, 1))
	require.Equal(t, int64(7), recs[0].Step)

	s, err := ReadSeries(dir, "a")
	require.NoError(t, err)
	require.Len(t, s, n)
	keys, err := MetricKeys(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, keys)
}

// TestMetricsTornAndCorrupt: a torn last line is what a crash leaves and is ignored; a damaged
// line before the end is an error, from ReadMetrics and from a reader.
func TestMetricsTornAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, rundir.MetricsFile)
	appendRaw(t, path, `{"key":"a","step":1,"val":1}`+"\n"+`{"key":"a","step":2,"val":2}`+"\n"+`{"key":"a","st`)
	m, err := ReadMetrics(path)
	require.NoError(t, err)
	require.Len(t, m["a"], 2)
	// A garbled final line that does end in a newline (e.g. zeros after a power cut) is also torn.
	bad := filepath.Join(dir, "zeros.jsonl")
	appendRaw(t, bad, `{"key":"a","step":1,"val":1}`+"\n\x00\x00\x00\n")
	m, err = ReadMetrics(bad)
	require.NoError(t, err)
	require.Len(t, m["a"], 1)

	mid := filepath.Join(dir, "mid.jsonl")
	appendRaw(t, mid, `{"key":"a","step":1,"val":1}`+"\n"+`{"key":"a","st`+"\n"+`{"key":"a","step":3,"val":3}`+"\n")
	_, err = ReadMetrics(mid)
	require.ErrorContains(t, err, "line 2")
	r, err := OpenMetrics(mid)
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Next()
	require.ErrorContains(t, err, "line 2")

	_, err = OpenMetrics(filepath.Join(dir, "no-such-run"))
	require.ErrorContains(t, err, "does not exist")
	_, err = ReadSeries(filepath.Join(dir, "no-such-run"), "a")
	require.Error(t, err)
}

// TestMetricsReaderRestartsOnTruncate: a resumed run replaces the file (TruncateMetrics); the
// reader starts over from the new file instead of missing or duplicating records.
func TestMetricsReaderRestartsOnTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, rundir.MetricsFile)
	s, err := NewJSONLSink(path)
	require.NoError(t, err)
	for step := int64(1); step <= 5; step++ {
		require.NoError(t, s.Write([]Record{{Key: "a", Step: step, Val: float64(step)}}))
	}
	require.NoError(t, s.Close())
	r, err := OpenMetrics(path)
	require.NoError(t, err)
	defer r.Close()
	recs, err := r.Next()
	require.NoError(t, err)
	require.Len(t, recs, 5)
	require.False(t, r.Restarted())

	require.NoError(t, TruncateMetrics(path, -1, 3))
	appendRaw(t, path, `{"key":"a","step":4,"val":40}`+"\n")
	recs, err = r.Next()
	require.NoError(t, err)
	require.True(t, r.Restarted())
	require.Len(t, recs, 4)
	series := r.Series("a")
	require.Len(t, series, 4)
	require.Equal(t, 40.0, series[3].Val)
	recs, err = r.Next()
	require.NoError(t, err)
	require.Empty(t, recs)
	require.False(t, r.Restarted())
}

// TestReadMetricsKeys: only the records of the keys asked for, in file order, equal to
// ReadMetrics' series; a torn last line is ignored, a damaged line of a wanted key is an error
// and a damaged line of another key is not read.
func TestReadMetricsKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	body := `{"key":"eval/return","step":10,"val":1.5}
{"key":"loss/pi","step":10,"val":0.3}
{"key":"config/lambda","step":0,"val":1}
{"key":"eval/return","step":20,"val":2.5}
{"key":"loss/pi","step":20,"val":0.2}
{"key":"eval/return","st`
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	all, err := ReadMetrics(path)
	require.NoError(t, err)
	got, err := ReadMetricsKeys(path, KeyEvalReturn, KeyLambda)
	require.NoError(t, err)
	require.Equal(t, map[string][]Record{KeyEvalReturn: all[KeyEvalReturn], KeyLambda: all[KeyLambda]}, got)
	require.Len(t, got[KeyEvalReturn], 2)

	require.NoError(t, os.WriteFile(path, []byte(`{"key":"loss/pi","step":1,"va
{"key":"eval/return","step":20,"val":2.5}
`), 0o644))
	got, err = ReadMetricsKeys(path, KeyEvalReturn)
	require.NoError(t, err, "a damaged line of another key is skipped")
	require.Len(t, got[KeyEvalReturn], 1)
	require.NoError(t, os.WriteFile(path, []byte(`{"key":"eval/return","step":1,"va
{"key":"eval/return","step":20,"val":2.5}
`), 0o644))
	_, err = ReadMetricsKeys(path, KeyEvalReturn)
	require.ErrorContains(t, err, "line 1 is not a record")
}
