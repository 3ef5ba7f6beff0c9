package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/pompc/pompc/pompc/session"
)

// runServe runs the session server of a run directory in the foreground: what a notebook's
// session.Open starts in the background (see package session). With --task (and config flags)
// it creates the run if the directory holds none.
func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	runDir := fs.String("run-dir", "", "run directory to serve (required)")
	task := fs.String("task", "", "task of a new run (default: resume the run in --run-dir)")
	saveEvery := fs.Int("save-every", session.DefaultSaveEvery, "checkpoint every N agent steps (negative: only at the end of each training)")
	idle := fs.Duration("idle", session.DefaultIdleTimeout, "save and exit after this long without clients or training (negative: never)")
	cf := newConfigFlags(fs)
	// --backend is the config field "backend"; for an existing run it overrides the recorded one.
	backendSpec := ""
	if f := fs.Lookup("backend"); f != nil {
		f.Usage = backendUsage
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f := fs.Lookup("backend"); f != nil {
		backendSpec = f.Value.String()
	}
	if *runDir == "" {
		return fmt.Errorf("serve: --run-dir DIR is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %v", fs.Args())
	}
	if *saveEvery == 0 {
		return fmt.Errorf("serve: --save-every must not be 0 (negative: only at the end of each training)")
	}
	if *idle == 0 {
		return fmt.Errorf("serve: --idle must not be 0 (negative: never)")
	}
	opts := session.Options{Dir: *runDir, Task: *task, Backend: backendSpec, SaveEvery: *saveEvery, IdleTimeout: *idle}
	if *task != "" {
		cfg, err := cf.build()
		if err != nil {
			return err
		}
		opts.Config = cfg
	}
	warnNoSIMD()
	start := time.Now()
	err := session.Serve(ctx, opts, nil)
	if err == nil {
		fmt.Printf("served %s for %s\n", *runDir, time.Since(start).Round(time.Second))
	}
	return err
}
