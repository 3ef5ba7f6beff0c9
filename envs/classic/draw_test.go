package classic

import (
	"image"
	"testing"

	"github.com/pompc/pompc/envs"
	"github.com/stretchr/testify/require"
)

// distinct counts an image's distinct colours.
func distinct(img *image.RGBA) int {
	seen := map[[4]uint8]bool{}
	for i := 0; i < len(img.Pix); i += 4 {
		seen[[4]uint8(img.Pix[i:i+4])] = true
	}
	return len(seen)
}

// The pure-Go tasks draw themselves: every part in its colour, and a moved state draws another
// picture.
func TestFrames(t *testing.T) {
	for _, task := range []string{"cartpole-swingup", "pendulum-swingup"} {
		env, err := envs.Make(task, envs.WithSeed(1))
		require.NoError(t, err)
		_, err = env.Reset()
		require.NoError(t, err)
		a, err := envs.Frame(env, 120, 90)
		require.NoError(t, err)
		require.Equal(t, image.Rect(0, 0, 120, 90), a.Bounds())
		require.GreaterOrEqual(t, distinct(a), 4, task)
		for range 30 {
			_, err = env.Step([]float32{1})
			require.NoError(t, err)
		}
		b, err := envs.Frame(env, 120, 90)
		require.NoError(t, err)
		require.NotEqual(t, a.Pix, b.Pix, task)
		_, err = envs.Frame(env, 0, 10)
		require.ErrorContains(t, err, "frame size")
		require.NoError(t, env.Close())
	}
}
