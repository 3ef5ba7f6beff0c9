package main

import (
	"context"
	"image"
	"image/gif"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkVideo decodes a GIF written by `pompc eval --video` and checks that it has several frames,
// none blank (many colours) and not all equal (the state moves).
func checkVideo(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	anim, err := gif.DecodeAll(f)
	require.NoError(t, err)
	require.Greater(t, len(anim.Image), 10)
	colours := func(img *image.Paletted) int {
		seen := map[uint8]bool{}
		for _, p := range img.Pix {
			seen[p] = true
		}
		return len(seen)
	}
	differ := false
	for i, img := range anim.Image {
		require.GreaterOrEqual(t, colours(img), 4, "frame %d is blank", i)
		if i > 0 && string(img.Pix) != string(anim.Image[0].Pix) {
			differ = true
		}
	}
	require.True(t, differ, "every frame is the same")
}

// videoOf trains a tiny run of task for a few steps and records `pompc eval --video`.
func videoOf(t *testing.T, task string) string {
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, runTrain(context.Background(), append([]string{"--task", task, "--run-dir", dir}, tinyArgs...)))
	out := filepath.Join(t.TempDir(), "episode.gif")
	require.NoError(t, runEval(context.Background(), []string{"--run", dir, "--episodes", "1", "--video", out,
		"--video-size", "96x72", "--video-every", "10"}))
	return out
}

func TestEvalVideoPureGo(t *testing.T) {
	checkVideo(t, videoOf(t, "cartpole-swingup"))
	dir := filepath.Join(t.TempDir(), "run")
	err := runEval(context.Background(), []string{"--run", dir, "--video", "x.avi"})
	require.ErrorContains(t, err, ".gif or .mp4")
	err = runEval(context.Background(), []string{"--run", dir, "--video", "x.gif", "--video-size", "big"})
	require.ErrorContains(t, err, "WxH")
}
