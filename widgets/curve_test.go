package widgets

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/stretchr/testify/require"
)

func testMetrics() map[string][]pompc.Record {
	m := map[string][]pompc.Record{}
	for i := int64(1); i <= 10; i++ {
		m[pompc.KeyEpisodeReturn] = append(m[pompc.KeyEpisodeReturn], pompc.Record{Key: pompc.KeyEpisodeReturn, Step: i * 500, Val: float64(300 + 60*i)})
		if i%2 == 0 {
			m[pompc.KeyEvalReturn] = append(m[pompc.KeyEvalReturn], pompc.Record{Key: pompc.KeyEvalReturn, Step: i * 500, Val: float64(320 + 65*i)})
		}
	}
	return m
}

// TestSaveCurveFormats writes the learning curve as PNG, SVG and PDF from a metrics file and
// checks each is a real, non-blank file of its format.
func TestSaveCurveFormats(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.jsonl")
	sink, err := pompc.NewJSONLSink(path)
	require.NoError(t, err)
	for _, recs := range testMetrics() {
		require.NoError(t, sink.Write(recs))
	}
	require.NoError(t, sink.Close())
	for _, ext := range []string{"png", "svg", "pdf"} {
		out := filepath.Join(dir, "curve."+ext)
		require.NoError(t, SaveCurve(path, "test", out))
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		switch ext {
		case "png":
			img, err := png.Decode(bytes.NewReader(data))
			require.NoError(t, err)
			// Not blank: some pixels differ from the top-left (background) pixel.
			b := img.Bounds()
			bg := img.At(b.Min.X, b.Min.Y)
			differ := 0
			for y := b.Min.Y; y < b.Max.Y; y += 3 {
				for x := b.Min.X; x < b.Max.X; x += 3 {
					if img.At(x, y) != bg {
						differ++
					}
				}
			}
			require.Greater(t, differ, 500)
		case "svg":
			require.True(t, strings.Contains(string(data), "<svg"))
			require.Contains(t, string(data), "eval (no noise)")
		case "pdf":
			require.True(t, bytes.HasPrefix(data, []byte("%PDF")))
		}
	}
}

func TestLearningCurveNeedsData(t *testing.T) {
	_, err := LearningCurve("x", map[string][]pompc.Record{})
	require.Error(t, err)
}
