package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/session"
	"github.com/stretchr/testify/require"
)

// TestServeAndTrainShareRunDirs: a run made by `pompc train` opens in a session (whose server
// is this test binary, re-executed), `pompc serve` serves it in the foreground, and `pompc
// train --resume` continues what the sessions trained.
func TestServeAndTrainShareRunDirs(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run")
	args := append([]string{"--task", "cartpole-balance", "--run-dir", dir}, tinyArgs...)
	require.NoError(t, runTrain(ctx, args)) // 40 steps
	t.Cleanup(func() { session.ShutdownAll(dir) })

	// A background server started by Open resumes the run.
	r, err := session.Open(ctx, session.Options{Dir: dir, Task: "cartpole-balance"})
	require.NoError(t, err)
	require.NotEqual(t, os.Getpid(), r.PID())
	require.NoError(t, r.Train(ctx, 5, nil))
	st, err := r.Status()
	require.NoError(t, err)
	require.True(t, st.Resumed)
	require.Equal(t, int64(45), st.Step)
	require.NoError(t, r.Shutdown())

	// `pompc serve` in the foreground (here: in this process).
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- runServe(sctx, []string{"--run-dir", dir, "--idle", "1m"}) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, rundir.ServerFile)); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "pompc serve did not write server.json")
	}
	r, err = session.Open(ctx, session.Options{Dir: dir})
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), r.PID())
	require.NoError(t, r.Train(ctx, 5, nil))
	stop()
	require.NoError(t, <-served)

	// `pompc train --resume` continues from the session's checkpoint.
	out := serveCaptureStdout(t, func() {
		require.NoError(t, runTrain(ctx, append(args, "--resume", "--steps", "60")))
	})
	require.Contains(t, out, "resumed "+dir+" at step 50")

	// Bad flags.
	require.ErrorContains(t, runServe(ctx, nil), "--run-dir DIR is required")
	require.ErrorContains(t, runServe(ctx, []string{"--run-dir", dir, "--idle", "0s"}), "--idle")
}

// serveCaptureStdout returns what fn prints on stdout.
func serveCaptureStdout(t *testing.T, fn func()) string {
	t.Helper()
	rd, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(rd)
		done <- b
	}()
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	os.Stdout = old
	return string(<-done)
}
