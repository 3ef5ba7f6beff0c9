//go:build unix

package session

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
)

// BenchmarkSecondCell measures what a notebook cell pays before its first update: the overhead
// from Open to the end of the first update of a Train call, for
//
//   - a cold cell: no server runs, so Open starts one, which loads the checkpoint (parameters,
//     optimizer state, replay buffer) and compiles the graphs at the first planner call and
//     update — what every cell would pay if the trainer lived in the cell;
//   - a warm cell: a new client (as a later cell is) attaches to the running server, whose
//     trainer, compiled graphs and buffer are in memory.
//
// Reported: cold-ms and warm-ms (Open to first update done), their parts open-cold-ms and
// open-warm-ms (Open alone), and step-ms: the warm server's own time from the start of the
// training to its first update (one planner call and one update, the work any step does). The
// overhead of a cell before its first update is cold-ms - step-ms (cold) and warm-ms - step-ms
// (warm). The run is the tiny preset (past its seed phase, so that every
// step updates) on the backend of $GOMLX_BACKEND (pure Go by default); set
// POMPC_BENCH_SIZE=1M (or 5M...) for a bigger model, and GOMLX_BACKEND=xla:cuda on a GPU.
func BenchmarkSecondCell(b *testing.B) {
	ctx := context.Background()
	cfg := pompc.POMPC().WithSize(pompc.SizeTiny)
	if s := os.Getenv("POMPC_BENCH_SIZE"); s != "" {
		size, err := pompc.SizeByName(s)
		if err != nil {
			b.Fatal(err)
		}
		cfg = cfg.WithSize(size)
	}
	cfg.SeedSteps = 20
	cfg.Steps = 5000
	cfg.EvalEvery = 0
	dir := filepath.Join(b.TempDir(), "run")
	r, err := Open(ctx, Options{Dir: dir, Task: testTask, Config: cfg, SaveEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ShutdownAll(dir)
	if err := r.Train(ctx, 25, nil); err != nil {
		b.Fatal(err)
	}

	// firstUpdate opens dir, trains one step and returns (Open time, Open to first update); it
	// adds the server's own time from the start of the training to its first update to step.
	var step time.Duration
	firstUpdate := func() (time.Duration, time.Duration) {
		t0 := time.Now()
		r, err := Open(ctx, Options{Dir: dir, SaveEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		open := time.Since(t0)
		if err := r.Train(ctx, 1, nil); err != nil {
			b.Fatal(err)
		}
		st, err := r.Status()
		if err != nil {
			b.Fatal(err)
		}
		if st.FirstUpdate.IsZero() {
			b.Fatal("no update in the step")
		}
		r.Close()
		step += st.FirstUpdate.Sub(st.JobStarted)
		return open, st.FirstUpdate.Sub(t0)
	}

	var cold, warm, openCold, openWarm, stepWarm time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Cold: the server goes, the next Open starts a new one from the checkpoint.
		if err := r.Shutdown(); err != nil {
			b.Fatal(err)
		}
		o, c := firstUpdate()
		openCold += o
		cold += c
		// Warm: a new client of the running server.
		step = 0
		o, w := firstUpdate()
		stepWarm += step
		openWarm += o
		warm += w
		if r, err = Open(ctx, Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / n }
	b.ReportMetric(ms(cold), "cold-ms")
	b.ReportMetric(ms(warm), "warm-ms")
	b.ReportMetric(ms(openCold), "open-cold-ms")
	b.ReportMetric(ms(openWarm), "open-warm-ms")
	b.ReportMetric(ms(stepWarm), "step-ms")
	b.ReportMetric(0, "ns/op")
}
