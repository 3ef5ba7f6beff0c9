package widgets

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
	"github.com/stretchr/testify/require"
)

// Golden-image tests in the style of gonum/plot's own (cmpimg): each figure builder renders fixed
// data to PNG, compared with testdata/golden/<name>.png within a tolerance (goldenEqual).
// Regenerate after an intended change with
//
//	GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd go test ./widgets -run Golden -regen-golden
//
// and look at the new images before committing them.
var regenGolden = flag.Bool("regen-golden", false, "rewrite the golden figure images in testdata/golden")

// goldenEqual decodes two PNGs and accepts them as equal when they have the same size and at most
// 0.2% of the pixels differ by more than 24/255 in some channel (font rasterizing and antialiasing
// may differ by a little between platforms; a moved line, a changed colour or label does not pass).
func goldenEqual(a, b []byte) (bool, string, error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return false, "", err
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return false, "", err
	}
	if ia.Bounds() != ib.Bounds() {
		return false, "sizes differ: " + ia.Bounds().String() + " vs " + ib.Bounds().String(), nil
	}
	r := ia.Bounds()
	bad := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if pixelDiff(ia, ib, x, y) > 24*257 {
				bad++
			}
		}
	}
	frac := float64(bad) / float64(r.Dx()*r.Dy())
	return frac <= 0.002, fmt.Sprintf("%.3f%% of pixels differ", 100*frac), nil
}

func pixelDiff(a, b image.Image, x, y int) uint32 {
	r1, g1, b1, a1 := a.At(x, y).RGBA()
	r2, g2, b2, a2 := b.At(x, y).RGBA()
	d := uint32(0)
	for _, p := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}, {a1, a2}} {
		if p[0] > p[1] {
			d = max(d, p[0]-p[1])
		} else {
			d = max(d, p[1]-p[0])
		}
	}
	return d
}

// testStyle renders at screen resolution so the golden files stay small.
func testStyle(s Style) Style { s.DPI = 96; return s }

func checkGolden(t *testing.T, name string, f *Figure) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf, "png"))
	path := filepath.Join("testdata", "golden", name+".png")
	if *regenGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden image: run with -regen-golden")
	ok, why, err := goldenEqual(buf.Bytes(), want)
	require.NoError(t, err)
	if !ok {
		got := filepath.Join(os.TempDir(), "pompc-golden-"+name+".png")
		_ = os.WriteFile(got, buf.Bytes(), 0o644)
		t.Fatalf("%s differs from %s: %s (got: %s); if the change is intended, run with -regen-golden", name, path, why, got)
	}
	// The same figure also renders as vector formats.
	for _, ext := range []string{"svg", "pdf"} {
		var v bytes.Buffer
		require.NoError(t, f.Write(&v, ext))
		require.Greater(t, v.Len(), 1000, ext)
	}
}

// synthCurve is a deterministic learning curve: a saturating rise with per-seed wiggles.
func synthCurve(scale, rate float64, seeds, n int, every int64) [][]pompc.Record {
	out := make([][]pompc.Record, seeds)
	for s := 0; s < seeds; s++ {
		for i := 0; i <= n; i++ {
			x := float64(i) / float64(n)
			v := scale*(1-math.Exp(-rate*x)) + 40*math.Sin(float64(7*i+13*s))
			out[s] = append(out[s], pompc.Record{Key: pompc.KeyEvalReturn, Step: int64(i) * every, Val: v})
		}
	}
	return out
}

func TestGoldenLearningCurves(t *testing.T) {
	ref, err := ReferenceCurve("tdmpc2", "cartpole-swingup")
	require.NoError(t, err)
	curves := []Curve{
		{Variant: "tdmpc2", Seeds: synthCurve(700, 3, 3, 20, 25000)},
		{Variant: "pompc λ=1", Seeds: synthCurve(850, 4, 3, 20, 25000)},
	}
	f, err := LearningCurves(curves, CurveOptions{Style: testStyle(Single), Title: "cartpole-swingup", Smooth: 3,
		Reference: []Curve{ref}, ClipReference: true})
	require.NoError(t, err)
	checkGolden(t, "learning-curves-single", f)

	f, err = LearningCurves(append(curves, Curve{Variant: "bmpc", Seeds: synthCurve(800, 6, 5, 20, 25000)}),
		CurveOptions{Style: testStyle(Double), Title: "cartpole-swingup (double column)"})
	require.NoError(t, err)
	checkGolden(t, "learning-curves-double", f)

	// Seven variants and three published curves (BMPC's as its band): the legend goes to the
	// right of the plot at double width, and back inside, above the data, at single width.
	bmpc, err := ReferenceCurve("bmpc", "cartpole-swingup")
	require.NoError(t, err)
	sac, err := ReferenceCurve("sac", "cartpole-swingup")
	require.NoError(t, err)
	many := append(curves, Curve{Variant: "bmpc", Seeds: synthCurve(800, 6, 5, 20, 2500)})
	for i, v := range []string{"pompc λ=0.1", "pompc λ=9", "pompc λ=1 prior=planner", "pompc λ=1 kl=forward"} {
		many = append(many, Curve{Variant: v, Seeds: synthCurve(600+50*float64(i), 5, 3, 20, 2500)})
	}
	many[0].Seeds, many[1].Seeds = synthCurve(700, 3, 3, 20, 2500), synthCurve(850, 4, 3, 20, 2500)
	o := CurveOptions{Style: testStyle(Double), Title: "cartpole-swingup", Reference: []Curve{ref, bmpc, sac}, ClipReference: true}
	f, err = LearningCurves(many, o)
	require.NoError(t, err)
	require.NotNil(t, f.Outside, "10 legend rows")
	require.Less(t, f.Plot.Y.Max, 1100.0, "no room made for a legend inside")
	checkGolden(t, "learning-curves-legend-outside", f)
	o.Style = testStyle(Single)
	f, err = LearningCurves(many, o)
	require.NoError(t, err)
	checkGolden(t, "learning-curves-legend-single", f)
}

func TestGoldenLambdaSweep(t *testing.T) {
	mk := func(base float64) []LambdaPoint {
		var pts []LambdaPoint
		for i, l := range []float64{0, 0.1, 1, 9, math.Inf(1)} {
			v := base + 60*float64(i) - 25*float64(i*i)
			pts = append(pts, LambdaPoint{Lambda: l, Values: []float64{v - 30, v + 10, v + 35, v - 5}})
		}
		return pts
	}
	f, err := LambdaSweep([]LambdaSeries{{Variant: "kl=reverse", Points: mk(700)}, {Variant: "kl=forward", Points: mk(650)}},
		LambdaOptions{Style: testStyle(Single), Title: "cartpole-swingup, final return"})
	require.NoError(t, err)
	checkGolden(t, "lambda-sweep", f)
}

func TestGoldenKLCurves(t *testing.T) {
	kl := func(level float64, seeds int) [][]pompc.Record {
		out := make([][]pompc.Record, seeds)
		for s := range out {
			for i := 0; i <= 60; i++ {
				v := level*math.Exp(-float64(i)/20) + 0.1 + 0.05*math.Sin(float64(3*i+s))
				out[s] = append(out[s], pompc.Record{Step: int64(i) * 500, Val: v})
			}
		}
		return out
	}
	f, err := KLCurves(
		[]Curve{{Variant: "pompc λ=1", Seeds: kl(2, 3)}, {Variant: "pompc λ=9", Seeds: kl(1, 3)}},
		[]Curve{{Variant: "pompc λ=1", Seeds: kl(0.8, 3)}, {Variant: "pompc λ=9", Seeds: kl(0.6, 3)}},
		CurveOptions{Style: testStyle(Single), Title: "KL terms", Smooth: 5})
	require.NoError(t, err)
	checkGolden(t, "kl-curves", f)
}

func TestGoldenActionDistributions(t *testing.T) {
	m := map[string][]pompc.Record{}
	add := func(key string, step int64, v float64) {
		m[key] = append(m[key], pompc.Record{Key: key, Step: step, Val: v})
	}
	for _, step := range []int64{100, 200} {
		for d := 0; d < 4; d++ {
			fd := float64(d)
			add("snapshot/plan/mean/"+itoa(d), step, 0.5*math.Sin(fd))
			add("snapshot/plan/std/"+itoa(d), step, 0.1+0.05*fd)
			add("snapshot/pi/mean/"+itoa(d), step, 0.5*math.Sin(fd)+0.15)
			add("snapshot/pi/std/"+itoa(d), step, 0.3)
			add("snapshot/prior/mean/"+itoa(d), step, 0.5*math.Sin(fd)-0.1)
			add("snapshot/prior/std/"+itoa(d), step, 0.2)
		}
	}
	f, err := ActionDistributions(m, ActionOptions{Style: testStyle(Single), Step: -1})
	require.NoError(t, err)
	checkGolden(t, "action-distributions", f)
	_, err = ActionDistributions(map[string][]pompc.Record{}, ActionOptions{Step: -1})
	require.ErrorContains(t, err, "snapshot_every")
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestAggregateBand: the band is the Student-t 95% interval of the mean over seeds, on the union
// of steps (interpolated), within the range every seed covers.
func TestAggregateBand(t *testing.T) {
	seeds := [][]pompc.Record{
		{{Step: 0, Val: 1}, {Step: 10, Val: 3}},
		{{Step: 0, Val: 2}, {Step: 5, Val: 4}, {Step: 10, Val: 6}},
		{{Step: 0, Val: 3}, {Step: 10, Val: 9}, {Step: 20, Val: 100}},
	}
	b, err := figAggregate(seeds, 0)
	require.NoError(t, err)
	require.Equal(t, []float64{0, 5, 10}, b.x)
	// At step 5: seeds are 2 (interpolated), 4, 6 -> mean 4, s = 2, half = 4.3027*2/sqrt(3).
	require.InDelta(t, 4.0, b.mean[1], 1e-12)
	require.InDelta(t, 4.3027*2/math.Sqrt(3), b.hi[1]-b.mean[1], 1e-3)
	require.Equal(t, []float64{0, 2, 4}, figSmooth([]float64{0, 2, 4}, 1))
	require.Equal(t, []float64{1, 2, 4, 5}, figSmooth([]float64{0, 2, 4, 6}, 3))
	_, err = figAggregate(nil, 0)
	require.Error(t, err)
}

func TestFigureFormatsAndErrors(t *testing.T) {
	f, err := LearningCurves([]Curve{{Variant: "tdmpc2", Seeds: synthCurve(500, 3, 2, 5, 100)}}, CurveOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	heads := map[string]string{".pdf": "%PDF", ".svg": "<?xml", ".png": "\x89PNG", ".eps": "%%!PS"}
	for ext, head := range heads {
		path := filepath.Join(dir, "f"+ext)
		require.NoError(t, f.Save(path))
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(data), head), ext)
	}
	require.ErrorContains(t, f.Save(filepath.Join(dir, "f.doc")), "unknown figure format")
	_, err = os.Stat(filepath.Join(dir, "f.doc"))
	require.True(t, os.IsNotExist(err), "no half-written file is left")
	_, err = LearningCurves(nil, CurveOptions{})
	require.Error(t, err)
	_, err = LearningCurves([]Curve{{Variant: "x"}}, CurveOptions{})
	require.ErrorContains(t, err, "no records")
	_, err = LambdaSweep([]LambdaSeries{{Variant: "x", Points: []LambdaPoint{{Lambda: math.NaN()}}}}, LambdaOptions{})
	require.ErrorContains(t, err, "bad lambda")
	_, err = KLCurves(nil, nil, CurveOptions{})
	require.Error(t, err)
	_, err = StyleByName("triple")
	require.Error(t, err)
}

func TestReferenceCurve(t *testing.T) {
	c, err := ReferenceCurve("tdmpc2", "cartpole-balance")
	require.NoError(t, err)
	require.Equal(t, RefTDMPC2, c.Variant)
	require.Len(t, c.Seeds, 3)
	// The published file's second row: step 100000 (environment steps), reward 998.4, seed 3.
	require.Equal(t, int64(50000), c.Seeds[0][1].Step)
	require.Equal(t, 998.4, c.Seeds[0][1].Val)
	for _, task := range []string{"cartpole-swingup", "pendulum-swingup", "acrobot-swingup", "reacher-hard", "finger-spin",
		"cheetah-run", "walker-run", "hopper-hop", "humanoid-walk"} {
		for _, algo := range []string{"tdmpc2", "sac"} {
			c, err := ReferenceCurve(algo, task)
			require.NoError(t, err, algo+" "+task)
			require.NotEmpty(t, c.Seeds)
		}
	}
	// The mean over seeds at 1M environment steps matches the table in the reference README.
	c, err = ReferenceCurve("tdmpc2", "cheetah-run")
	require.NoError(t, err)
	var at1M []float64
	for _, s := range c.Seeds {
		for _, r := range s {
			if r.Step == 500000 {
				at1M = append(at1M, r.Val)
			}
		}
	}
	m, _ := sweep.MeanCI(at1M, 0.95)
	require.InDelta(t, 844, m, 1)
	// BMPC's published curve is its mean and band (the reference README's table: 770 at 100k
	// environment steps, 878 at 1M, on cartpole-swingup).
	c, err = ReferenceCurve("bmpc", "cartpole-swingup")
	require.NoError(t, err)
	require.Equal(t, RefBMPC, c.Variant)
	require.NotNil(t, c.Band)
	require.Equal(t, 5, c.Band.Seeds)
	require.Equal(t, int64(50000), c.Band.Steps[1])
	require.InDelta(t, 770, c.Band.Mean[1], 0.5)
	require.Less(t, c.Band.Lo[1], c.Band.Mean[1])
	require.Greater(t, c.Band.Hi[1], c.Band.Mean[1])
	require.InDelta(t, 878, c.Band.Mean[len(c.Band.Mean)-1], 0.5)
	for _, task := range []string{"cheetah-run", "walker-walk", "humanoid-walk"} {
		_, err := ReferenceCurve("bmpc", task)
		require.NoError(t, err, task)
	}
	// Drawn with the others: its band cut at the last step of the curves beside it.
	b, ok := referenceBand(c, true, 150000)
	require.True(t, ok)
	require.Equal(t, []float64{0, 50000, 100000, 150000}, b.x)
	_, ok = referenceBand(c, true, 10000)
	require.False(t, ok, "a lone point")
	_, err = ReferenceCurve("tdmpc2", "nosuch-task")
	require.ErrorContains(t, err, "cartpole-swingup")
	_, err = ReferenceCurve("ppo", "cartpole-swingup")
	require.Error(t, err)
}

// TestPublishedCurve: the published curves sweep.ComparePublished compares with, at 50k agent
// steps on cartpole-swingup: TD-MPC2's three seeds as their mean and Student-t band (README's
// 839 in [732, 947]), BMPC's mean and published band (770 in [691, 849]); PO-MPC has none.
func TestPublishedCurve(t *testing.T) {
	p, ok := PublishedCurve("cartpole-swingup", "tdmpc2")
	require.True(t, ok)
	require.Equal(t, RefTDMPC2, p.Name)
	require.Equal(t, 3, p.Seeds)
	require.Equal(t, int64(50000), p.Steps[1])
	require.InDelta(t, 839.4, p.Mean[1], 0.05)
	require.InDelta(t, 732, p.Lo[1], 1)
	require.InDelta(t, 947, p.Hi[1], 1)
	p, ok = PublishedCurve("cartpole-swingup", "bmpc")
	require.True(t, ok)
	require.Equal(t, RefBMPC, p.Name)
	require.Equal(t, 5, p.Seeds)
	require.Equal(t, int64(50000), p.Steps[1])
	require.Equal(t, [3]float64{770, 691, 849}, [3]float64{math.Round(p.Mean[1]), math.Round(p.Lo[1]), math.Round(p.Hi[1])})
	_, ok = PublishedCurve("cartpole-swingup", "pompc")
	require.False(t, ok)
	_, ok = PublishedCurve("nosuch-task", "tdmpc2")
	require.False(t, ok)
}

func TestPaletteIsStable(t *testing.T) {
	a := NewPalette("tdmpc2", "bmpc", "pompc λ=1", "pompc λ=0.3", "pompc λ=30")
	b := NewPalette("pompc λ=30", "pompc λ=1", "pompc λ=0.3")
	for _, v := range []string{"tdmpc2", "bmpc", "pompc λ=1"} {
		require.Equal(t, variantColors[v], a.Color(v), v)
	}
	require.Equal(t, a.Color("pompc λ=1"), b.Color("pompc λ=1"))
	seen := map[figRGBA]string{}
	for _, v := range []string{"tdmpc2", "bmpc", "pompc λ=1", "pompc λ=0.3", "pompc λ=30"} {
		c := a.Color(v)
		require.NotContains(t, seen, c, "%s and %s share a colour", v, seen[c])
		seen[c] = v
	}
	require.Equal(t, "#0072b2", a.Hex("tdmpc2"))
	// Variants differing only in KL direction take the KL colours.
	k := NewPalette("pompc λ=1 kl=forward", "pompc λ=1 kl=reverse")
	require.Equal(t, OkabeOrange, k.Color("pompc λ=1 kl=forward"))
	require.Equal(t, OkabeBluishGreen, k.Color("pompc λ=1 kl=reverse"))
}

// TestLambdaSweepSeedCounts: points resting on different numbers of seeds (an ablation still
// training; a diverged run's NaN not counted) say their n beside them; equal counts draw none.
func TestLambdaSweepSeedCounts(t *testing.T) {
	svg := func(series []LambdaSeries) string {
		f, err := LambdaSweep(series, LambdaOptions{Style: testStyle(Single)})
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, f.Write(&b, "svg"))
		return b.String()
	}
	pts := []LambdaPoint{{Lambda: 0, Values: []float64{300, 310, 290, 280, 320}},
		{Lambda: 1, Values: []float64{350, 360, math.NaN()}}, {Lambda: math.Inf(1), Values: []float64{330, 340, 320, 310, 300}}}
	out := svg([]LambdaSeries{{Variant: "pompc", Points: pts}})
	require.Equal(t, 2, strings.Count(out, ">n=5<"), "λ = 0 and ∞")
	require.Equal(t, 1, strings.Count(out, ">n=2<"), "λ = 1: its NaN left out")
	// Drawn at a size a raster canvas renders (a style left at its defaults once gave a
	// negative one: in the SVG, blank in the PNG).
	m := regexp.MustCompile(`font-size:([-0-9.]+)px;[^>]*>n=2<`).FindStringSubmatch(out)
	require.Len(t, m, 2, "n=2's text style")
	size, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	require.Greater(t, size, 3.0)
	pts[1].Values = []float64{350, 360, 370, 380, 390}
	require.NotContains(t, svg([]LambdaSeries{{Variant: "pompc", Points: pts}}), ">n=")
}
