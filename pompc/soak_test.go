package pompc

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rssMB reads this process's resident set size from /proc (0 where unavailable).
func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// BenchmarkSoak trains the tiny POMPC preset on cartpole-balance for POMPC_SOAK_MINUTES
// (default 30) minutes, writing metrics to a JSONL file and a checkpoint every 2000 steps, and
// samples heap and RSS every 30 s. Memory must stay flat once the replay buffer (allocated up
// front) and the compiled graphs exist: it reports the growth between the first sample after
// warm-up and the last. Run with:
//
//	POMPC_SOAK_MINUTES=30 GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd go test -run XXX -bench Soak -benchtime 1x -timeout 40m ./pompc/
func BenchmarkSoak(b *testing.B) {
	minutes := 30.0
	if s := os.Getenv("POMPC_SOAK_MINUTES"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(b, err)
		minutes = v
	}
	for i := 0; i < b.N; i++ {
		cfg := POMPC().WithSize(SizeTiny)
		cfg.Steps = 10_000_000
		cfg.BufferSize = 200_000
		backend, err := NewBackend("")
		require.NoError(b, err)
		tr, err := NewTrainer(backend, cfg, "cartpole-balance")
		require.NoError(b, err)
		dir := b.TempDir()
		sink, err := NewJSONLSink(filepath.Join(dir, "metrics.jsonl"))
		require.NoError(b, err)
		tr.Subscribe(sink)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(minutes*float64(time.Minute)))
		start := time.Now()
		var heap, rss []float64
		var times []time.Duration
		sample := func() {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = append(heap, float64(ms.HeapInuse)/(1<<20))
			rss = append(rss, rssMB())
			times = append(times, time.Since(start))
			b.Logf("%7s  step %7d  heap %7.1f MB  rss %7.1f MB", time.Since(start).Round(time.Second),
				tr.StepCount(), heap[len(heap)-1], rss[len(rss)-1])
		}
		hooks := []Hook{
			Periodic(30*time.Second, Hook{Name: "sample", Fn: func(_ *Trainer, ev Event) error {
				if ev == EventEnvStep {
					sample()
				}
				return nil
			}}),
			Every(2000, Hook{Name: "save", Fn: func(t *Trainer, ev Event) error {
				if ev != EventEnvStep {
					return nil
				}
				return t.Save(dir)
			}}),
		}
		require.NoError(b, tr.Run(ctx, cfg.Steps, hooks...))
		cancel()
		sample()
		// Growth from the first sample after the seed phase's updates (a third of the way in) to the end.
		w := len(heap) / 3
		b.ReportMetric(heap[len(heap)-1]-heap[w], "heap-growth-MB")
		b.ReportMetric(rss[len(rss)-1]-rss[w], "rss-growth-MB")
		b.ReportMetric(rss[len(rss)-1], "rss-final-MB")
		b.ReportMetric(float64(tr.StepCount()), "steps")
		require.NoError(b, sink.Close())
		require.NoError(b, tr.Close())
	}
}
