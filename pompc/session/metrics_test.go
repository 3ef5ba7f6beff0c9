package session

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/stretchr/testify/require"
)

// TestTailAndReadMetrics: key filters (exact and prefix), incremental reads, a line being
// written, and the reset when a resumed server rewrites the file.
func TestTailAndReadMetrics(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, MetricsFile)
	sink, err := pompc.NewJSONLSink(path)
	require.NoError(t, err)
	defer sink.Close()
	rec := func(k string, step int64, v float64) pompc.Record { return pompc.Record{Key: k, Step: step, Val: v} }
	require.NoError(t, sink.Write([]pompc.Record{rec("loss/pi", 1, 0.5), rec("episode/return", 1, 10), rec("loss/q", 1, 2)}))

	tail := NewTail(dir, "loss/*", pompc.KeyLambda)
	defer tail.Close()
	recs, reset, err := tail.Next()
	require.NoError(t, err)
	require.False(t, reset)
	require.Equal(t, []pompc.Record{rec("loss/pi", 1, 0.5), rec("loss/q", 1, 2)}, recs)
	recs, _, err = tail.Next()
	require.NoError(t, err)
	require.Empty(t, recs)

	require.NoError(t, sink.Write([]pompc.Record{rec(pompc.KeyLambda, 2, math.Inf(1)), rec("loss/pi", 2, 0.4)}))
	// A line being written is left for later.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(`{"key":"loss/pi","step":3,`)
	require.NoError(t, err)
	recs, _, err = tail.Next()
	require.NoError(t, err)
	require.Equal(t, []pompc.Record{rec(pompc.KeyLambda, 2, math.Inf(1)), rec("loss/pi", 2, 0.4)}, recs)
	_, err = f.WriteString(`"val":0.3}` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	recs, _, err = tail.Next()
	require.NoError(t, err)
	require.Equal(t, []pompc.Record{rec("loss/pi", 3, 0.3)}, recs)

	// A server resumed from step 1 rewrites the file: the tail starts over.
	require.NoError(t, pompc.TruncateMetrics(path, 1))
	recs, reset, err = tail.Next()
	require.NoError(t, err)
	require.True(t, reset)
	require.Equal(t, []pompc.Record{rec("loss/pi", 1, 0.5), rec("loss/q", 1, 2)}, recs)

	all, err := ReadMetrics(dir)
	require.NoError(t, err)
	require.Len(t, all, 3)
	_, err = ReadMetrics(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "does not exist")
}

// TestGroupSnapshots assembles per-dimension snapshot records into Gaussians, in step order.
func TestGroupSnapshots(t *testing.T) {
	var recs []pompc.Record
	for _, step := range []int64{30, 10} {
		for _, name := range []string{"plan", "pi", "prior"} {
			for _, stat := range []string{"mean", "std"} {
				for d := 0; d < 2; d++ {
					v := float64(step) + float64(d)/10
					recs = append(recs, pompc.Record{Key: "snapshot/" + name + "/" + stat + "/" + string(rune('0'+d)), Step: step, Val: v})
				}
			}
		}
	}
	recs = append(recs, pompc.Record{Key: "loss/pi", Step: 10, Val: 1}, pompc.Record{Key: "snapshot/bogus/mean/0", Step: 10})
	snaps := GroupSnapshots(recs)
	require.Len(t, snaps, 2)
	require.Equal(t, int64(10), snaps[0].Step)
	require.Equal(t, []float64{30, 30.1}, snaps[1].Prior.Std)
	require.Equal(t, []float64{10, 10.1}, snaps[0].Plan.Mean)
	require.Empty(t, GroupSnapshots(nil))
}
