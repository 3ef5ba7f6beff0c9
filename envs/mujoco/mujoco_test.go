//go:build mujoco

package mujoco

import (
	"errors"
	"image/gif"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pompc/pompc/envs"
	"github.com/pompc/pompc/envs/envtest"
)

// TestConformance runs the envs conformance suite over every MuJoCo task.
func TestConformance(t *testing.T) {
	for _, ti := range taskNames {
		t.Run(ti.name, func(t *testing.T) { envtest.Conformance(t, ti.name) })
	}
}

// TestSpecs: observation and action sizes, timing and episode length of envs.md §3.2.
func TestSpecs(t *testing.T) {
	want := map[string][3]int{ // obs, act, control substeps
		"mj-cartpole-swingup": {5, 1, 1}, "mj-pendulum-swingup": {3, 1, 1}, "acrobot-swingup": {6, 1, 1},
		"reacher-easy": {6, 2, 1}, "finger-spin": {9, 2, 2}, "cheetah-run": {17, 6, 1},
		"walker-walk": {24, 6, 10}, "hopper-hop": {15, 4, 4}, "humanoid-run": {67, 21, 5},
	}
	for name, w := range want {
		env, err := Make(name, envs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := env.Spec()
		if s.ObsDim != w[0] || s.ActionDim != w[1] || taskDefs[name].subSteps != w[2] || s.EpisodeLen != 500 || s.ActionRepeat != 2 {
			t.Errorf("%s: spec %+v, substeps %d; want obs %d, act %d, substeps %d, 500 agent steps at repeat 2",
				name, s, taskDefs[name].subSteps, w[0], w[1], w[2])
		}
		env.Close()
	}
	// The aliases reach the same tasks.
	env, err := envs.Make("cheetah_run")
	if err != nil || env.Spec().Name != "cheetah-run" {
		t.Fatalf("alias cheetah_run: %v, %v", env, err)
	}
	env.Close()
}

// TestMuJoCoErrorsAreValues provokes real MuJoCo errors; each comes back as an error value and the
// process goes on.
func TestMuJoCoErrorsAreValues(t *testing.T) {
	// Model compiler errors.
	for xml, want := range map[string]string{
		`<mujoco><worldbody><geom size="1"`: "XML",
		`<mujoco><worldbody><body><joint/><geom size=".1"/></body></worldbody><actuator><motor joint="nope"/></actuator></mujoco>`: "nope",
		`<mujoco><worldbody><geom type="box" size="-1 1 1"/></worldbody></mujoco>`:                                                 "size",
	} {
		m, err := LoadXML("bad.xml", xml)
		var me *Error
		if m != nil || !errors.As(err, &me) || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadXML(%q) = %v, %v; want a *mujoco.Error mentioning %q", xml, m, err, want)
		}
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.xml")); err == nil || !strings.Contains(err.Error(), "FILE_NOT_FOUND") {
		t.Errorf("LoadFile of a missing file: %v", err)
	}
	// mju_error itself, through the installed handler.
	err := raise("deliberate failure")
	var me *Error
	if !errors.As(err, &me) || me.Msg != "deliberate failure" {
		t.Fatalf("raise: %v", err)
	}

	// A stack overflow while compiling: the arena is too small even for mj_setConst.
	if _, err := LoadXML("tiny-stack.xml", `<mujoco><size nstack="200"/><worldbody>
		<geom type="plane" size="5 5 .1"/>
		<body pos="0 0 .3"><freejoint/><geom type="box" size=".1 .2 .3"/></body>
		<body pos=".1 0 .5"><freejoint/><geom type="sphere" size=".2"/></body></worldbody></mujoco>`); !errors.As(err, &me) ||
		!strings.Contains(err.Error(), "Stack overflow") {
		t.Fatalf("compiling with nstack=200: %v; want a MuJoCo stack overflow error", err)
	}

	// A stack overflow inside mj_step: an own model copy whose mjData gets a tiny arena.
	shared, err := sharedModel("humanoid")
	if err != nil {
		t.Fatal(err)
	}
	m, err := shared.Copy()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	m.setNstack(100)
	p, err := NewPhysics(m, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for round := 0; round < 2; round++ { // twice: the handler keeps working after a longjmp
		if err := p.Reset(); err != nil {
			t.Fatal(err)
		}
		err = p.Step()
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "Stack overflow") {
			t.Fatalf("round %d: Step with nstack=100: %v; want a MuJoCo stack overflow error", round, err)
		}
		t.Logf("round %d: %v", round, err)
	}

	// The process lives on: a normal task still runs.
	env, err := Make("hopper-hop", envs.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Step(make([]float32, 4)); err != nil {
		t.Fatal(err)
	}
}

// TestDivergenceEndsEpisode: a NaN in the state is caught by MuJoCo's bad-state warning; Step
// returns an error wrapping ErrDiverged, the episode is over, and Reset starts a sound one.
func TestDivergenceEndsEpisode(t *testing.T) {
	for _, bad := range []float64{math.NaN(), 1e30} {
		env, err := Make("walker-walk", envs.Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Reset(); err != nil {
			t.Fatal(err)
		}
		act := make([]float32, 6)
		if _, err := env.Step(act); err != nil {
			t.Fatal(err)
		}
		env.Physics().Qvel()[4] = bad
		_, err = env.Step(act)
		if !errors.Is(err, ErrDiverged) {
			t.Fatalf("Step with qvel %v: %v; want ErrDiverged", bad, err)
		}
		t.Logf("qvel %v: %v", bad, err)
		if _, err := env.Step(act); !errors.Is(err, envs.ErrNeedsReset) {
			t.Fatalf("Step after divergence: %v; want ErrNeedsReset", err)
		}
		ts, err := env.Reset()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if ts, err = env.Step(act); err != nil {
				t.Fatalf("after Reset: %v", err)
			}
		}
		if !allFinite(ts.Obs) {
			t.Fatalf("non-finite observation after Reset: %v", ts.Obs)
		}
		env.Close()
	}
}

// TestHumanoidPatches: Debian's humanoid is patched to dm_control's (envs.md §2).
func TestHumanoidPatches(t *testing.T) {
	mo, err := sharedModel("humanoid")
	if err != nil {
		t.Fatal(err)
	}
	if mo.NQ() != 28 || mo.NV() != 27 || mo.NU() != 21 || mo.Timestep() != 0.005 {
		t.Fatalf("humanoid sizes nq %d nv %d nu %d dt %v", mo.NQ(), mo.NV(), mo.NU(), mo.Timestep())
	}
	r := &ids{mo: mo}
	hip, rhip := r.get(objJoint, "joint", "left_hip_y"), r.get(objJoint, "joint", "right_hip_y")
	waist, lh := r.body("lower_waist"), r.geom("left_hand")
	if r.err != nil {
		t.Fatal(r.err)
	}
	deg := 180 / math.Pi
	if lo := mo.jntRange()[2*hip] * deg; math.Abs(lo+120) > 1e-9 {
		t.Errorf("left_hip_y lower limit %v°, want -120°", lo)
	}
	if lo := mo.jntRange()[2*rhip] * deg; math.Abs(lo+110) > 1e-9 {
		t.Errorf("right_hip_y lower limit %v°, want -110° (unpatched)", lo)
	}
	q := mo.bodyQuat()[4*waist : 4*waist+4]
	if math.Abs(q[2]/q[0]+0.002) > 1e-12 || math.Abs(q[0]*q[0]+q[2]*q[2]-1) > 1e-12 {
		t.Errorf("lower_waist quat %v, want normalized (1, 0, -0.002, 0)", q)
	}
	if g := mo.geomQuat()[4*lh : 4*lh+4]; g[0] != 1 || g[1] != 0 || g[2] != 0 || g[3] != 0 {
		t.Errorf("left_hand geom quat %v, want identity", g)
	}
	// DMC's compiled values, bit for bit: the limit as MuJoCo converts degrees, and the hands'
	// inertial frame = body frame (with these, trajectories equal DMC's exactly).
	// MuJoCo's compiler computes −120·fl(π/180) = −2.0943951023931953; Go's constant arithmetic
	// folds −120π/180 to −2.0943951023931957, one ulp away.
	if lo := mo.jntRange()[2*hip]; lo != -2.0943951023931953 {
		t.Errorf("left_hip_y lower limit %.17g rad, want -2.0943951023931953 (MuJoCo's -120·(π/180))", lo)
	}
	for _, n := range []string{"left_hand", "right_hand"} {
		b, g := r.body(n), r.geom(n)
		if q := mo.bodyIquat()[4*b : 4*b+4]; q[0] != 1 || q[1] != 0 || q[2] != 0 || q[3] != 0 || mo.bodySameframe()[b] != 1 || mo.geomSameframe()[g] != 1 {
			t.Errorf("%s inertial frame %v sameframe body %d geom %d; want identity, 1, 1", n, q, mo.bodySameframe()[b], mo.geomSameframe()[g])
		}
	}
}

// TestHumanoidModelMissing: without libmujoco-samples the humanoid tasks fail with an error
// that says what to install.
func TestHumanoidModelMissing(t *testing.T) {
	modelMu.Lock()
	saved, path := modelCache["humanoid"], HumanoidPath
	delete(modelCache, "humanoid")
	HumanoidPath = filepath.Join(t.TempDir(), "no", "humanoid.xml")
	modelMu.Unlock()
	defer func() {
		modelMu.Lock()
		HumanoidPath = path
		if saved != nil {
			modelCache["humanoid"] = saved
		}
		modelMu.Unlock()
	}()
	env, err := envs.Make("humanoid-stand")
	if env != nil || err == nil || !strings.Contains(err.Error(), "libmujoco-samples") {
		t.Fatalf("humanoid without its model file: %v, %v; want an error naming libmujoco-samples", env, err)
	}
}

// TestDeterministicAcrossEnvs: two envs of the same task sharing one model, stepped on two
// goroutines at once, give identical trajectories (the model is only read).
func TestDeterministicAcrossEnvs(t *testing.T) {
	run := func(out chan<- []float32) {
		env, err := Make("humanoid-walk", envs.Options{Seed: 5})
		if err != nil {
			t.Error(err)
			out <- nil
			return
		}
		defer env.Close()
		ts, _ := env.Reset()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 200; i++ {
			a := make([]float32, 21)
			for j := range a {
				a[j] = float32(2*rng.Float64() - 1)
			}
			var err error
			if ts, err = env.Step(a); err != nil {
				t.Error(err)
				out <- nil
				return
			}
		}
		out <- ts.Obs
	}
	ch := make(chan []float32, 2)
	go run(ch)
	go run(ch)
	a, b := <-ch, <-ch
	if a == nil || b == nil || maxDiff(a, b) != 0 {
		t.Fatalf("concurrent envs differ: %v vs %v", a, b)
	}
}

// TestRenderHumanoid renders a frame of the humanoid: it must not be blank (pixel variance), the
// camera must matter, and bad sizes and cameras are errors.
func TestRenderHumanoid(t *testing.T) {
	env, err := Make("humanoid-stand", envs.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(); err != nil {
		t.Fatal(err)
	}
	img, err := Render(env, 160, 120, "")
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 120 {
		t.Fatalf("frame size %v", b)
	}
	v := lumaVariance(img.Pix)
	t.Logf("humanoid frame luminance variance %.1f", v)
	if v < 50 {
		t.Fatalf("blank frame: luminance variance %.2f", v)
	}
	other, err := Render(env, 160, 120, FreeCamera)
	if err != nil {
		t.Fatal(err)
	}
	if string(other.Pix) == string(img.Pix) {
		t.Fatal("free camera and side camera give the same picture")
	}
	if _, err := Render(env, 4000, 100, ""); err == nil {
		t.Fatal("oversized frame accepted")
	}
	if _, err := Render(env, 100, 100, "nosuchcamera"); err == nil {
		t.Fatal("unknown camera accepted")
	}
	// Same state, same picture: rendering is deterministic.
	again, err := Render(env, 160, 120, "")
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Pix) != string(img.Pix) {
		t.Fatal("two renders of the same state differ")
	}
}

// TestEpisodeGIF records a short cheetah episode as a GIF file and decodes it back.
func TestEpisodeGIF(t *testing.T) {
	env, err := envs.Make("cheetah-run", envs.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	path := filepath.Join(t.TempDir(), "cheetah.gif")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	policy := func(obs []float32) ([]float32, error) {
		a := make([]float32, 6)
		for i := range a {
			a[i] = float32(2*rng.Float64() - 1)
		}
		return a, nil
	}
	_, steps, err := RecordEpisodeGIF(f, env, policy, GIFOptions{Width: 128, Height: 96, Every: 4, MaxSteps: 40})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if steps != 40 {
		t.Fatalf("recorded %d steps, want 40", steps)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g, err := gif.DecodeAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 11 || g.Image[0].Bounds().Dx() != 128 || g.Image[0].Bounds().Dy() != 96 {
		t.Fatalf("GIF has %d frames of %v, want 11 of 128×96", len(g.Image), g.Image[0].Bounds())
	}
	if string(g.Image[0].Pix) == string(g.Image[10].Pix) {
		t.Fatal("first and last frames are identical: the cheetah did not move on screen")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if tag := GIFImgTag(raw); !strings.HasPrefix(tag, `<img src="data:image/gif;base64,R0lGOD`) {
		t.Fatalf("GIFImgTag: %.60s", tag)
	}
	if _, _, err := RecordEpisodeGIF(f, fakeEnv{}, policy, GIFOptions{}); err == nil {
		t.Fatal("GIF of a non-MuJoCo env accepted")
	}
}

// fakeEnv is an env that is not a MuJoCo task.
type fakeEnv struct{ envs.Env }

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func lumaVariance(pix []byte) float64 {
	var s, s2, n float64
	for i := 0; i+3 < len(pix); i += 4 {
		y := 0.299*float64(pix[i]) + 0.587*float64(pix[i+1]) + 0.114*float64(pix[i+2])
		s += y
		s2 += y * y
		n++
	}
	m := s / n
	return s2/n - m*m
}

func allFinite(xs []float32) bool {
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// BenchmarkStep measures agent steps per second (action repeat 2, observation and reward
// included) of every task on one goroutine, with uniform random actions and resets at episode
// ends. The env_steps/s metric counts control steps (DMC's env steps).
func BenchmarkStep(b *testing.B) {
	for _, ti := range taskNames {
		b.Run(ti.name, func(b *testing.B) {
			env, err := Make(ti.name, envs.Options{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer env.Close()
			spec := env.Spec()
			rng := rand.New(rand.NewPCG(1, 1))
			acts := make([][]float32, 64)
			for i := range acts {
				acts[i] = make([]float32, spec.ActionDim)
				for j := range acts[i] {
					acts[i][j] = float32(2*rng.Float64() - 1)
				}
			}
			if _, err := env.Reset(); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts, err := env.Step(acts[i%len(acts)])
				if err != nil {
					b.Fatal(err)
				}
				if ts.Type == envs.Last {
					if _, err := env.Reset(); err != nil {
						b.Fatal(err)
					}
				}
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "steps/s")
			b.ReportMetric(float64(b.N*spec.ActionRepeat)/sec, "env_steps/s")
			// On a shared machine wall time undercounts: the process CPU time gives the rate of
			// one core that is not interrupted (run with -cpu 1).
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu, "steps/cpu-s")
			}
		})
	}
}

// BenchmarkRender measures one 384×384 frame of the humanoid (software rendering, no shadows).
func BenchmarkRender(b *testing.B) {
	env, err := Make("humanoid-stand", envs.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	if _, err := env.Reset(); err != nil {
		b.Fatal(err)
	}
	if _, err := Render(env, 384, 384, ""); err != nil { // context creation outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Render(env, 384, 384, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/frame")
}

// TestAfterClose: a closed MuJoCo env answers with errors, never a crash.
func TestAfterClose(t *testing.T) {
	env, err := Make("reacher-hard", envs.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Reset(); err != nil {
		t.Fatal(err)
	}
	// Reacher renders its own model copy: Close must release that model's GL state too.
	if _, err := Render(env, 64, 64, ""); err != nil {
		t.Fatal(err)
	}
	mo := env.Physics().Model()
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	onRenderThread(func() {
		if _, ok := rend.viz[mo]; ok {
			t.Error("the closed env's model still has render state")
		}
	})
	if _, err := env.Step([]float32{0, 0}); !errors.Is(err, envs.ErrClosed) {
		t.Fatalf("Step after Close: %v", err)
	}
	if _, err := Render(env, 64, 64, ""); err == nil {
		t.Fatal("Render after Close succeeded")
	}
	if _, err := env.Snapshot(); err != nil {
		t.Logf("Snapshot after Close: %v", err)
	}
	if p := env.Physics(); p.Qpos() != nil || p.Ctrl() != nil || !math.IsNaN(p.Time()) {
		t.Fatal("state views of a closed physics are not empty")
	}
}
