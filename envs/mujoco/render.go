//go:build mujoco

package mujoco

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/pompc/pompc/envs"
)

// Offscreen rendering with EGL on Mesa's software rasterizer (llvmpipe): no GPU, no X server.
//
// An OpenGL context is current on one OS thread only, and MuJoCo's GL calls fail (or MuJoCo exits)
// when a later call runs on another thread. So all rendering runs on one goroutine locked to its
// OS thread (runtime.LockOSThread), which owns the EGL context and one MuJoCo visualization
// state (scene and mjrContext) per model; Render sends it requests over a channel and waits.
// The caller's env is not touched by anything else meanwhile, so reading its mjData is safe.

var rend struct {
	once  sync.Once
	ready atomic.Bool // the render goroutine runs and serves requests
	reqs  chan func()
	err   error // EGL initialization failure, reported by every Render
	viz   map[*Model]unsafe.Pointer
}

// startRenderer starts the render goroutine once.
func startRenderer() error {
	rend.once.Do(func() {
		install()
		rend.reqs = make(chan func())
		rend.viz = map[*Model]unsafe.Pointer{}
		ready := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread holds the GL context for good
			err := eglInit()
			ready <- err
			if err != nil {
				return
			}
			for f := range rend.reqs {
				f()
			}
		}()
		rend.err = <-ready
		rend.ready.Store(rend.err == nil)
	})
	return rend.err
}

// onRenderThread runs f on the render thread and waits for it.
func onRenderThread(f func()) {
	done := make(chan struct{})
	rend.reqs <- func() { f(); close(done) }
	<-done
}

// releaseViz frees the visualization state of a model about to be freed (a no-op if the model
// was never rendered).
func releaseViz(mo *Model) {
	if !rend.ready.Load() {
		return
	}
	onRenderThread(func() {
		if v, ok := rend.viz[mo]; ok {
			vizFree(v)
			delete(rend.viz, mo)
		}
	})
}

// physicsOf returns the MuJoCo physics behind an env made by envs.Make or Make.
func physicsOf(env envs.Env) (*Physics, error) {
	c, ok := env.(*envs.Control[*Physics])
	if !ok || c == nil {
		return nil, fmt.Errorf("mujoco: Render needs a MuJoCo task (made with envs.Make), got %T", env)
	}
	return c.Physics(), nil
}

// FreeCamera selects, in Render, MuJoCo's free camera framing the whole model.
const FreeCamera = "free"

// Render draws env's current state as a width×height image. camera names a camera of the model,
// "" for the task's default camera (a tracking camera for the locomotion tasks, "side" for the
// humanoid), or FreeCamera. The size may not exceed the model's offscreen buffer (800×800 for
// every model here). Shadows and reflections are off: a 384² frame takes ~20 ms on 2 cores.
func Render(env envs.Env, width, height int, camera string) (*image.RGBA, error) {
	p, err := physicsOf(env)
	if err != nil {
		return nil, err
	}
	return RenderPhysics(p, width, height, camera)
}

// RenderPhysics is Render for a Physics.
func RenderPhysics(p *Physics, width, height int, camera string) (*image.RGBA, error) {
	if p == nil || p.closed {
		return nil, fmt.Errorf("mujoco: Render: %w", envs.ErrClosed)
	}
	ow, oh := p.model.offscreenSize()
	if width < 1 || height < 1 || width > ow || height > oh {
		return nil, fmt.Errorf("mujoco: Render: size %d×%d outside 1×1..%d×%d (the model's offscreen buffer)", width, height, ow, oh)
	}
	if camera == "" {
		camera = p.camera
	}
	camid := -1
	var err error
	if camera != "" && camera != FreeCamera {
		if camid, err = p.model.id(objCamera, "camera", camera); err != nil {
			return nil, err
		}
	}
	if err := startRenderer(); err != nil {
		return nil, err
	}
	n := width * height * 3
	buf := cmalloc(n)
	defer cfree(buf)
	onRenderThread(func() {
		v, ok := rend.viz[p.model]
		if !ok {
			if v, err = vizMake(p.model); err != nil {
				return
			}
			rend.viz[p.model] = v
			// The first frame of a fresh GL context differs slightly from every later one
			// (observed with llvmpipe); render it once and discard it so that the same state
			// always gives the same picture.
			if err = renderRGB(p, v, camid, width, height, buf); err != nil {
				return
			}
		}
		err = renderRGB(p, v, camid, width, height, buf)
	})
	if err != nil {
		return nil, err
	}
	// OpenGL returns rows bottom-up.
	rgb := unsafe.Slice((*byte)(buf), n)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := 0; y < height; y++ {
		src := rgb[(height-1-y)*width*3:]
		dst := img.Pix[y*img.Stride:]
		for x := 0; x < width; x++ {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x], src[3*x+1], src[3*x+2], 255
		}
	}
	return img, nil
}

// GIFOptions configures RecordEpisodeGIF.
type GIFOptions struct {
	// Width and Height of the frames (default 320×240).
	Width, Height int
	// Camera as in Render ("" for the task's default).
	Camera string
	// Every renders one frame every Every agent steps (default 2).
	Every int
	// MaxSteps stops the episode after that many agent steps (0: the whole episode).
	MaxSteps int
	// Delay between frames in 1/100 s (default: real time at the task's agent-step duration ×
	// Every, at least 2).
	Delay int
}

// Policy maps an observation to an action.
type Policy func(obs []float32) ([]float32, error)

// RecordEpisodeGIF resets env, runs one episode with policy and writes it as an animated GIF to
// w. It returns the episode return and the number of agent steps.
func RecordEpisodeGIF(w io.Writer, env envs.Env, policy Policy, opt GIFOptions) (ret float64, steps int, err error) {
	p, err := physicsOf(env)
	if err != nil {
		return 0, 0, err
	}
	if opt.Width == 0 {
		opt.Width = 320
	}
	if opt.Height == 0 {
		opt.Height = 240
	}
	if opt.Every <= 0 {
		opt.Every = 2
	}
	if opt.Delay <= 0 {
		opt.Delay = max(2, int(100*p.Timestep()*float64(env.Spec().ActionRepeat*opt.Every)+0.5))
	}
	ts, err := env.Reset()
	if err != nil {
		return 0, 0, err
	}
	anim := &gif.GIF{}
	frame := func() error {
		img, err := RenderPhysics(p, opt.Width, opt.Height, opt.Camera)
		if err != nil {
			return err
		}
		anim.Image = append(anim.Image, quantize(img))
		anim.Delay = append(anim.Delay, opt.Delay)
		return nil
	}
	if err := frame(); err != nil {
		return 0, 0, err
	}
	for ts.Type != envs.Last && (opt.MaxSteps <= 0 || steps < opt.MaxSteps) {
		a, err := policy(ts.Obs)
		if err != nil {
			return ret, steps, fmt.Errorf("mujoco: RecordEpisodeGIF: policy: %w", err)
		}
		if ts, err = env.Step(a); err != nil {
			return ret, steps, err
		}
		ret += ts.Reward
		steps++
		if steps%opt.Every == 0 {
			if err := frame(); err != nil {
				return ret, steps, err
			}
		}
	}
	if len(anim.Image) == 0 {
		return ret, steps, errors.New("mujoco: RecordEpisodeGIF: no frame")
	}
	return ret, steps, gif.EncodeAll(w, anim)
}

// EpisodeGIF is RecordEpisodeGIF into memory: the GIF bytes, ready for a notebook (for instance
// GoNB's gonbui.DisplayHTML with an <img> of a data URL).
func EpisodeGIF(env envs.Env, policy Policy, opt GIFOptions) ([]byte, float64, error) {
	var buf bytes.Buffer
	ret, _, err := RecordEpisodeGIF(&buf, env, policy, opt)
	if err != nil {
		return nil, ret, err
	}
	return buf.Bytes(), ret, nil
}

// GIFImgTag wraps GIF bytes in an HTML <img> element with a data URL, for notebooks: in GoNB,
// gonbui.DisplayHTML(mujoco.GIFImgTag(b)) shows the animation (a single frame, an image.Image from
// Render, goes to gonbui.DisplayImage).
func GIFImgTag(gifBytes []byte) string {
	return `<img src="data:image/gif;base64,` + base64.StdEncoding.EncodeToString(gifBytes) + `"/>`
}

// gifPalette is a 6×7×6 RGB cube (252 colours), so that quantizing a pixel is arithmetic
// instead of a nearest-colour search over the palette.
var gifPalette = func() color.Palette {
	pal := make(color.Palette, 0, 252)
	for r := 0; r < 6; r++ {
		for g := 0; g < 7; g++ {
			for b := 0; b < 6; b++ {
				pal = append(pal, color.RGBA{uint8(r * 255 / 5), uint8(g * 255 / 6), uint8(b * 255 / 5), 255})
			}
		}
	}
	return pal
}()

// quantize maps an RGBA frame onto gifPalette (rounding to the nearest level per channel).
func quantize(img *image.RGBA) *image.Paletted {
	b := img.Bounds()
	out := image.NewPaletted(b, gifPalette)
	for y := 0; y < b.Dy(); y++ {
		src := img.Pix[y*img.Stride:]
		dst := out.Pix[y*out.Stride:]
		for x := 0; x < b.Dx(); x++ {
			r := (int(src[4*x])*5 + 127) / 255
			g := (int(src[4*x+1])*6 + 127) / 255
			bl := (int(src[4*x+2])*5 + 127) / 255
			dst[x] = uint8(r*42 + g*6 + bl)
		}
	}
	return out
}

// Frame renders the model from the task's default camera (envs.Framer: evaluation videos).
func (p *Physics) Frame(width, height int) (*image.RGBA, error) {
	return RenderPhysics(p, width, height, "")
}
