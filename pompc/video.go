package pompc

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/pompc/rundir"
)

// VideoFPS is the frame rate of evaluation videos.
const VideoFPS = 25

// RecordEpisode runs one evaluation episode of agent on env (the planner without exploration
// noise, as Evaluate: RunEpisodes) and draws the state every `every` agent steps (the first and
// the last state always) at width×height (envs.Frame). It returns the frames and the episode's
// return.
func RecordEpisode(env envs.Env, agent *Agent, width, height, every int) ([]*image.RGBA, float64, error) {
	if every < 1 {
		return nil, 0, fmt.Errorf("pompc: RecordEpisode: every must be >= 1, got %d", every)
	}
	var frames []*image.RGBA
	step := 0
	rets, err := RunEpisodes(context.Background(), []envs.Env{env}, agent, true, func(_ int, ts envs.TimeStep) error {
		if ts.Type == envs.Mid { // the reset's and the last state are always drawn
			if step++; step%every != 0 {
				return nil
			}
		}
		f, err := envs.Frame(env, width, height)
		if err != nil {
			return err
		}
		frames = append(frames, f)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return frames, rets[0], nil
}

// EncodeGIF writes frames as an animated GIF at fps frames per second, each frame quantized to
// the Plan 9 palette with Floyd–Steinberg dithering, looping forever.
func EncodeGIF(w io.Writer, frames []*image.RGBA, fps int) error {
	if len(frames) == 0 {
		return fmt.Errorf("pompc: a video needs at least one frame")
	}
	delay := max(1, 100/max(fps, 1)) // hundredths of a second
	anim := &gif.GIF{}
	for _, f := range frames {
		p := image.NewPaletted(f.Bounds(), palette.Plan9)
		draw.FloydSteinberg.Draw(p, f.Bounds(), f, image.Point{})
		anim.Image = append(anim.Image, p)
		anim.Delay = append(anim.Delay, delay)
	}
	return gif.EncodeAll(w, anim)
}

// WriteVideo writes frames to path, atomically: .gif (EncodeGIF) or .mp4 (H.264 by ffmpeg, which
// must be on PATH).
func WriteVideo(path string, frames []*image.RGBA, fps int) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gif":
		return rundir.WriteWith(path, 0o644, func(w io.Writer) error { return EncodeGIF(w, frames, fps) })
	case ".mp4":
		return writeMP4(path, frames, fps)
	}
	return fmt.Errorf("pompc: video %s: the format follows the extension, .gif or .mp4", path)
}

// writeMP4 pipes the raw frames to ffmpeg (libx264, yuv420p) into a temporary file, then renames it.
func writeMP4(path string, frames []*image.RGBA, fps int) error {
	if len(frames) == 0 {
		return fmt.Errorf("pompc: a video needs at least one frame")
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return fmt.Errorf("pompc: writing %s needs ffmpeg (Debian: apt install ffmpeg), or write a .gif", path)
	}
	b := frames[0].Bounds()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.mp4")
	var raw bytes.Buffer
	for _, f := range frames {
		if f.Bounds() != b {
			return fmt.Errorf("pompc: video frames differ in size (%v vs %v)", f.Bounds(), b)
		}
		raw.Write(f.Pix)
	}
	cmd := exec.Command(ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgba",
		"-s", fmt.Sprintf("%dx%d", b.Dx(), b.Dy()), "-r", fmt.Sprint(fps), "-i", "-",
		"-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-c:v", "libx264", tmp)
	cmd.Stdin = &raw
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pompc: ffmpeg: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return os.Rename(tmp, path)
}
