package widgets

import (
	"bytes"
	"fmt"

	"github.com/pompc/pompc/pompc"
)

// VideoOptions configures EpisodeVideo. The zero value is usable.
type VideoOptions struct {
	// Width and Height are the frame size (0: 320×240).
	Width, Height int
	// Every draws every Every-th agent step (0: 2), at pompc.VideoFPS frames per second.
	Every int
	// Backend is the compute backend spec (empty: the run's, as pompc.ChooseBackend).
	Backend string
}

// EpisodeVideo loads the run in dir at its latest checkpoint, plays one evaluation episode (the
// planner without exploration noise) and returns it as an animated GIF, with the episode's
// return and the checkpoint's step. The task must be registered in this binary (a notebook
// imports envs/all, or envs/classic for the pure-Go tasks alone).
func EpisodeVideo(dir string, o VideoOptions) (gif []byte, ret float64, step int64, err error) {
	w, h, every := o.Width, o.Height, o.Every
	if w == 0 && h == 0 {
		w, h = 320, 240
	}
	if every == 0 {
		every = 2
	}
	tr, err := pompc.LoadTrainer(dir, o.Backend)
	if err != nil {
		return nil, 0, 0, err
	}
	defer tr.Close()
	frames, ret, err := pompc.RecordEpisode(tr.EvalEnv(), tr.Agent(), w, h, every)
	if err != nil {
		return nil, 0, 0, err
	}
	var buf bytes.Buffer
	if err := pompc.EncodeGIF(&buf, frames, pompc.VideoFPS); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), ret, tr.StepCount(), nil
}

// ShowEpisode displays EpisodeVideo of the run in dir inline in the notebook (an animated image
// with its return and step as caption).
func ShowEpisode(dir string, o VideoOptions) error {
	data, ret, step, err := EpisodeVideo(dir, o)
	if err != nil {
		return err
	}
	displayHTML(fmt.Sprintf(`<figure style="margin:0"><img src="data:image/gif;base64,%s"/><figcaption>evaluation episode at step %d: return %.1f</figcaption></figure>`,
		base64Std(data), step, ret))
	syncDisplay()
	return nil
}
