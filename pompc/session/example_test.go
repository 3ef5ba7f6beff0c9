package session_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/session"
)

// A notebook cell that opens (or creates) a run and trains it with a progress line; a later
// cell runs the same code and attaches to the same server in about a millisecond.
func ExampleOpen() {
	ctx := context.Background()
	run, err := session.Open(ctx, session.Options{Dir: "runs/swingup-pompc", Task: "cartpole-swingup",
		Config: pompc.POMPC().WithSize(pompc.SizeTiny)})
	if err != nil {
		panic(err)
	}
	defer run.Close() // the server lives on for the next cell
	err = run.Train(ctx, 2000, func(s pompc.Status) {
		fmt.Printf("\rstep %d  return %.1f  %.1f steps/s", s.Step, s.LastEpisodeReturn, s.StepsPerSec)
	})
	if err != nil {
		panic(err)
	}
	if err := run.SetLambda(math.Inf(1)); err != nil { // BMPC from the next update on
		panic(err)
	}
}

// A λ sweep from one notebook: one run directory and one server per λ, trained in the
// background at the same time.
func ExampleWaitAll() {
	ctx := context.Background()
	var runs []*session.Run
	for _, lambda := range []float64{0, 1, 9, math.Inf(1)} {
		cfg := pompc.POMPC().WithSize(pompc.SizeTiny)
		cfg.Lambda = lambda
		run, err := session.Open(ctx, session.Options{Dir: filepath.Join("runs", fmt.Sprintf("sweep-l%v", lambda)),
			Task: "cartpole-swingup", Config: cfg})
		if err != nil {
			panic(err)
		}
		if err := run.Start(5000); err != nil {
			panic(err)
		}
		runs = append(runs, run)
	}
	if err := session.WaitAll(ctx, runs...); err != nil {
		panic(err)
	}
	for _, run := range runs {
		m, err := pompc.ReadMetrics(rundir.Path(run.Dir(), rundir.MetricsFile))
		if err != nil {
			panic(err)
		}
		evals := m[pompc.KeyEvalReturn]
		if len(evals) > 0 {
			fmt.Println(run.Dir(), evals[len(evals)-1].Val)
		}
	}
	// A cleanup cell: end every server under runs/ (each saves first).
	dirs, err := session.FindServers("runs")
	if err != nil {
		panic(err)
	}
	if err := session.ShutdownAll(dirs...); err != nil {
		panic(err)
	}
}
