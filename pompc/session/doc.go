// Package session keeps a training run alive across notebook cells.
//
// GoNB compiles every cell into a fresh process: declarations carry over between cells, values
// do not. A trainer, its compiled graphs and its replay buffer therefore cannot live in a cell.
// Instead each run directory is owned by one long-lived server process that holds the
// directory's run.lock and the pompc.Trainer; cells are thin clients that step it, change λ,
// evaluate, and read its metrics:
//
//	run, err := session.Open(ctx, session.Options{Dir: "runs/cartpole-l1", Task: "cartpole-swingup",
//		Config: pompc.POMPC().WithSize(pompc.SizeTiny)})
//	err = run.Train(ctx, 2000, func(s session.Status) { fmt.Println(s.Step, s.LastEpisodeReturn) })
//	err = run.SetLambda(math.Inf(1))                 // from the next update on
//	recs, err := run.Metrics("eval/return")
//
// # The server
//
// Open reads DIR/server.json ({pid, addr, token, started, version}, mode 0600). If the server it
// names answers, Open attaches to it: the second training cell pays no graph compilation and no
// buffer reload. Otherwise Open starts one: it re-executes its own executable (os.Executable:
// the cell binary, a test binary or the pompc command) with POMPC_SESSION_SERVE=DIR in the
// environment, detached from the cell (own session, stdin /dev/null, output appended to
// DIR/server.log). This package's init function sees that variable, runs the server and exits
// the process before main starts, so the cell's own code never runs in the server. Tasks must
// therefore be registered by packages initialized before this one (envs/all, which this package
// imports, registers every task of the build). `pompc serve --run-dir DIR` runs the same server
// in the foreground.
//
// The server takes DIR/run.lock (so two racing Opens never start two servers, and `pompc train`
// and a notebook never train one directory at once), resumes from DIR/checkpoint.bin if there is
// one (a run made by `pompc train` opens in a notebook and vice versa), appends to
// DIR/metrics.jsonl, listens on 127.0.0.1 with a random token, and writes DIR/server.json. It
// checkpoints every Options.SaveEvery agent steps, at the end of every Train/Start, on Stop, Save
// and Shutdown, and before it exits when idle. If it dies (kill -9, a reboot), the next Open
// starts a new server that resumes from the last checkpoint: at most the steps since then are
// lost, and training from there is bit-identical to a run that never stopped.
//
// # Lifetime
//
// A server exits by itself, after saving, once it has had no client calls and no training for
// Options.IdleTimeout (30 minutes by default), so notebooks do not leak processes. Run.Shutdown
// (or ShutdownAll for a sweep) ends it at once; Run.Close only drops the client. A blocking
// Train whose client dies (an interrupted cell) stops training at the next step and saves;
// background training (Start) continues without a client. FindServers lists the live servers
// under a folder (a cleanup cell: ShutdownAll of what it finds). A server that stops answering
// (wedged, or stopped by SIGSTOP) makes Train and Wait fail after two minutes of silence
// instead of hanging a headless notebook.
//
// # Code changes
//
// A running server keeps the code it was started with (Status.Executable names its binary).
// After editing the pompc code a notebook links, Open once with Options.Restart: the old server
// saves and exits, and a new one, running the new code, resumes from the checkpoint.
//
// # Metrics
//
// Metrics, Tail and Snapshots read DIR/metrics.jsonl directly (they work while the server trains
// and when no server runs). The file is rewritten when a server resumes from a checkpoint older
// than the last records (pompc.TruncateMetrics); Tail reports that as a reset.
package session
