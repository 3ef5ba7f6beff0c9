package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrainResumeBackendPrecedence: a resumed run uses the backend saved in its config.json
// unless --backend is given (flag > config field > $GOMLX_BACKEND > default).
func TestTrainResumeBackendPrecedence(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.ConfigFile), []byte(`{"backend": "nosuch:x"}`), 0o644))
	ctx := context.Background()
	err := runTrain(ctx, []string{"--run-dir", dir, "--resume", "--quiet"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"nosuch:x" is not available`, "the saved backend is used")
	err = runTrain(ctx, []string{"--run-dir", dir, "--resume", "--quiet", "--backend", "go"})
	require.Error(t, err)
	assert.ErrorIs(t, err, pompc.ErrNoCheckpoint, "--backend go wins; it fails later, at the missing checkpoint")
	t.Setenv("GOMLX_BACKEND", "alsonosuch")
	err = runTrain(ctx, []string{"--run-dir", dir, "--resume", "--quiet", "--set", "backend=go"})
	assert.ErrorIs(t, err, pompc.ErrNoCheckpoint, "--set backend=go wins over the environment")
}
