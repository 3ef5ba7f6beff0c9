// Command pompc trains, evaluates and benchmarks PO-MPC agents.
//
//	pompc train [flags]   train on a task; writes a run directory (config, metrics, checkpoint, figure)
//	pompc eval --run DIR  evaluate a saved run without exploration noise
//	pompc bench [flags]   time one planner call and one update per size and obs/action dims
//	pompc sweep [flags]   train a grid of runs in parallel (resumable); writes a table and figures
//	pompc population FILE train the runs FILE lists as populations (one batched graph per population)
//	pompc plot DIR -o F   export the figures of a run or sweep directory (PDF, SVG, PNG, HTML)
//	pompc serve --run-dir DIR  serve a run to notebook clients (package session)
//
// Every config field is a flag (--lambda, --horizon, --size.mlp_dim, ...); --set key=value does
// the same and may repeat. Run `pompc train -h` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "train":
		err = runTrain(ctx, os.Args[2:])
	case "eval":
		err = runEval(ctx, os.Args[2:])
	case "bench":
		err = runBench(ctx, os.Args[2:])
	case "sweep":
		err = runSweep(ctx, os.Args[2:])
	case "ablation":
		err = runAblation(ctx, os.Args[2:])
	case "population":
		err = runPopulation(ctx, os.Args[2:])
	case "plot":
		err = runPlot(ctx, os.Args[2:])
	case "archive":
		err = runArchive(ctx, os.Args[2:])
	case "serve":
		err = runServe(ctx, os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "pompc: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		var ec exitCode
		if errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, ec.msg)
			os.Exit(ec.code)
		}
		// Library errors already name their package ("pompc: ...", "envs: ..."); add the
		// command's name only where they do not.
		msg := err.Error()
		if !strings.HasPrefix(msg, "pompc:") {
			msg = "pompc: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

// exitCode is an outcome a command reports by its exit status (a SLURM task stopped with its
// runs unfinished: sweep.TaskStopped).
type exitCode struct {
	code int
	msg  string
}

func (e exitCode) Error() string { return e.msg }

func usage() {
	fmt.Fprint(os.Stderr, `usage: pompc <command> [flags]

commands:
  train   train an agent (default: POMPC, tiny preset, cartpole-balance, pure-Go backend)
  eval    evaluate a saved run: pompc eval --run runs/NAME
  bench   time planner calls and updates: pompc bench --sizes tiny,1M --dims 5/1,67/21
  sweep   run a grid (tasks x presets x lambdas x KL x prior x seeds) in parallel, resumably
  ablation  TD-MPC2, PO-MPC at several λ, BMPC, and the prior/KL variants: one population per task
  population FILE  train the runs FILE lists ({"runs": [[train args...], ...]}) as populations
  plot    export figures of a run or sweep directory: pompc plot DIR -o fig.pdf
  archive the finished runs of a sweep or ablation without checkpoints: pompc archive --dir DIR --out ARCHIVE
  serve   serve a run directory to notebook clients (package session): pompc serve --run-dir DIR

Run 'pompc <command> -h' for the flags of a command.
`)
}
