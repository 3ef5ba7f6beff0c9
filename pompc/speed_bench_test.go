package pompc

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// speedCfg is the configuration of the CPU reference table (gpu.md): TD-MPC2's planner (512
// samples, horizon 3, 6 iterations, 8 at action dim >= 20) and batch 256, at a size preset.
func speedCfg(size Size) Config {
	cfg := TDMPC2().WithSize(size)
	full := POMPC()
	cfg.NumSamples, cfg.NumPiTrajs, cfg.NumElites = full.NumSamples, full.NumPiTrajs, full.NumElites
	cfg.Iterations, cfg.BatchSize = full.Iterations, full.BatchSize
	return cfg
}

// BenchmarkSpeed times one planner call and one update at the reference configurations of
// gpu.md (TDMPC2 preset, 1M and 5M, cartpole and humanoid dims).
func BenchmarkSpeed(b *testing.B) {
	for _, size := range []Size{Size1M, Size5M} {
		for _, d := range [][2]int{{5, 1}, {67, 21}} {
			cfg := speedCfg(size)
			name := fmt.Sprintf("%s/%d-%d", size.Name, d[0], d[1])
			b.Run("plan/"+name, func(b *testing.B) {
				ag, _, _ := benchAgent(b, cfg, d[0], d[1])
				obs := make([]float32, d[0])
				if _, err := ag.Act(obs, true, false); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				c0 := cpuMS()
				for i := 0; i < b.N; i++ {
					if _, err := ag.Act(obs, false, false); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((cpuMS()-c0)/float64(b.N), "cpu-ms/op")
			})
			b.Run("update/"+name, func(b *testing.B) {
				ag, buf, rng := benchAgent(b, cfg, d[0], d[1])
				batch, _ := buf.Sample(rng, cfg.BatchSize, cfg.Horizon)
				if _, err := ag.Update(batch); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				c0 := cpuMS()
				for i := 0; i < b.N; i++ {
					if _, err := ag.Update(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((cpuMS()-c0)/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// A/B knobs for speed measurements (issue 9): POMPC_PLAN_SPLIT and POMPC_PLAN_SPLIT_MIN override
// the planner's sample chunking in test binaries, e.g.
//
//	POMPC_PLAN_SPLIT=1 go test -run XXX -bench Speed/plan ./pompc
func init() {
	if v := os.Getenv("POMPC_PLAN_SPLIT"); v != "" {
		planSplit, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("POMPC_PLAN_SPLIT_MIN"); v != "" {
		planSplitMin, _ = strconv.Atoi(v)
	}
}

// cpuMS is the process's user+system CPU time in milliseconds: under a loaded machine it moves
// less than wall time, so A/B comparisons of op-count changes use it (issue 9).
func cpuMS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// BenchmarkMatMul measures the pure-Go backend's matmul throughput at the shapes of a planner
// call and an update (rows x in @ in x out, float32), reported as GFLOP/s (2·rows·in·out per
// call), to compare with the machine's peak (issue 9).
func BenchmarkMatMul(b *testing.B) {
	backend, err := NewBackend("")
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range [][3]int{{512, 129, 384}, {512, 384, 384}, {1536, 512, 512}, {256, 512, 512}} {
		rows, in, out := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", rows, in, out), func(b *testing.B) {
			exec, err := NewExec(backend, func(x, w *Node) *Node { return Dot(x, w).Product() })
			if err != nil {
				b.Fatal(err)
			}
			x := tensors.FromShape(shapes.Make(dtypes.Float32, rows, in))
			w := tensors.FromShape(shapes.Make(dtypes.Float32, in, out))
			if _, err := exec.Exec(x, w); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := exec.Exec(x, w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(rows*in*out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
