package widgets

import (
	"bytes"
	"context"
	"image/gif"
	"path/filepath"
	"testing"

	_ "github.com/pompc/pompc/envs/classic" // the pure-Go tasks
	"github.com/pompc/pompc/pompc"
	"github.com/stretchr/testify/require"
)

// EpisodeVideo plays an evaluation episode of a saved run as an animated GIF: as many frames as
// the episode has drawn steps, from the checkpoint's step.
func TestEpisodeVideo(t *testing.T) {
	cfg := pompc.POMPC().WithSize(pompc.SizeTiny)
	cfg.SeedSteps, cfg.BatchSize, cfg.NumSamples, cfg.NumPiTrajs, cfg.NumElites, cfg.Iterations = 20, 8, 16, 2, 4, 2
	cfg.EvalEvery, cfg.ReanalyzeSeqs = 0, 2
	backend, err := pompc.NewBackend("go")
	require.NoError(t, err)
	tr, err := pompc.NewTrainer(backend, cfg, "pendulum-swingup")
	require.NoError(t, err)
	require.NoError(t, tr.Run(context.Background(), 30))
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, tr.Save(dir))
	require.NoError(t, tr.Close())

	data, _, step, err := EpisodeVideo(dir, VideoOptions{Width: 64, Height: 48, Every: 50})
	require.NoError(t, err)
	require.Equal(t, int64(30), step)
	anim, err := gif.DecodeAll(bytes.NewReader(data))
	require.NoError(t, err)
	require.Len(t, anim.Image, 1+500/50, "the first state and every 50th of a 500-step episode")
	require.Equal(t, 64, anim.Image[0].Bounds().Dx())

	_, _, _, err = EpisodeVideo(t.TempDir(), VideoOptions{})
	require.Error(t, err)
}
