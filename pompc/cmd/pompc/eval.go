package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/pompc/pompc/pompc"
)

func runEval(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	runDir := fs.String("run", "", "run directory written by pompc train (required)")
	episodes := fs.Int("episodes", 10, "number of evaluation episodes")
	backendSpec := fs.String("backend", "", backendUsage+"; default: the run's config field backend")
	video := fs.String("video", "", "also record one more evaluation episode as a video: FILE.gif, or FILE.mp4 (needs ffmpeg)")
	videoSize := fs.String("video-size", "320x240", "video frame size WxH")
	videoEvery := fs.Int("video-every", 2, "video: draw every N-th agent step (at 25 frames per second)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var vw, vh int
	if *video != "" {
		if _, err := fmt.Sscanf(*videoSize, "%dx%d", &vw, &vh); err != nil || vw < 16 || vh < 16 {
			return fmt.Errorf("eval: --video-size %q: want WxH, each at least 16", *videoSize)
		}
		if *videoEvery < 1 {
			return fmt.Errorf("eval: --video-every must be >= 1, got %d", *videoEvery)
		}
		if ext := strings.ToLower(filepath.Ext(*video)); ext != ".gif" && ext != ".mp4" {
			return fmt.Errorf("eval: --video %s: the format follows the extension, .gif or .mp4", *video)
		}
	}
	if *runDir == "" {
		return fmt.Errorf("eval: --run DIR is required")
	}
	if *episodes <= 0 {
		return fmt.Errorf("eval: --episodes must be > 0, got %d", *episodes)
	}
	tr, err := pompc.LoadTrainer(*runDir, *backendSpec)
	if err != nil {
		return err
	}
	defer tr.Close()
	cfg, task := tr.Config(), tr.Task()
	// The episodes play together (one planner call per step for all of them, up to 16 at once),
	// each from the initial state the run's next evaluation would draw. Ctrl-C stops within a
	// step; the batches already played are reported.
	returns, err := tr.EvalReturns(ctx, *episodes)
	switch {
	case err != nil && ctx.Err() == nil:
		return err
	case err != nil && len(returns) == 0:
		return errors.New("eval: interrupted before the first batch of episodes finished")
	}
	for e, r := range returns {
		fmt.Printf("episode %2d  return %8.2f\n", e+1, r)
	}
	m, s := pompc.MeanStd(returns)
	fmt.Printf("%s on %s after %d steps: eval return %.2f ± %.2f (sample std over %d episodes)\n",
		cfg.Preset, task, tr.StepCount(), m, s, len(returns))
	if *video != "" && ctx.Err() == nil {
		frames, ret, err := pompc.RecordEpisode(tr.EvalEnv(), tr.Agent(), vw, vh, *videoEvery)
		if err != nil {
			return err
		}
		if err := pompc.WriteVideo(*video, frames, pompc.VideoFPS); err != nil {
			return err
		}
		fmt.Printf("wrote %s: %d frames of an episode with return %.2f\n", *video, len(frames), ret)
	}
	return nil
}

// warnNoSIMD prints a warning when the binary was built without GOEXPERIMENT=simd, which makes
// the pure-Go backend's matmuls ~3.5x slower (gpu.md).
func warnNoSIMD() {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, s := range info.Settings {
		if s.Key == "GOEXPERIMENT" && containsSIMD(s.Value) {
			return
		}
	}
	fmt.Fprintln(os.Stderr, "pompc: note: built without GOEXPERIMENT=simd; the pure-Go backend is several times faster with it (GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd go run ./pompc/cmd/pompc ...)")
}

func containsSIMD(v string) bool {
	for _, p := range splitComma(v) {
		if p == "simd" {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
