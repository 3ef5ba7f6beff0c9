package widgets

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/pompc/pompc/pompc"
	"github.com/stretchr/testify/require"
)

// toolsRequired: on CI (CI set) or with POMPC_REQUIRE_TOOLS=1 a missing program or npm package
// is a failure, elsewhere (a Go-only machine) the test is skipped.
func toolsRequired() bool { return os.Getenv("CI") != "" || os.Getenv("POMPC_REQUIRE_TOOLS") == "1" }

func needEchartsJS(t *testing.T) {
	t.Helper()
	if _, err := EchartsJSPath(); err != nil {
		if toolsRequired() {
			t.Fatalf("echarts.min.js is required here: %v", err)
		}
		t.Skipf("no echarts.min.js (docker/install.sh installs it): %v", err)
	}
}

// testCharts builds every interactive figure from the golden tests' data.
func testCharts(t *testing.T) []components.Charter {
	ref, err := ReferenceCurve("tdmpc2", "cartpole-swingup")
	require.NoError(t, err)
	curves := []Curve{
		{Variant: "tdmpc2", Seeds: synthCurve(700, 3, 3, 20, 25000)},
		{Variant: "pompc λ=1", Seeds: synthCurve(850, 4, 3, 20, 25000)},
	}
	lc, err := EchartsLearningCurves(curves, CurveOptions{Title: "cartpole-swingup", Reference: []Curve{ref}, ClipReference: true})
	require.NoError(t, err)
	var pts []LambdaPoint
	for i, l := range []float64{0, 0.1, 1, 9, math.Inf(1)} {
		pts = append(pts, LambdaPoint{Lambda: l, Values: []float64{700 + 10*float64(i), 720, 690 - 5*float64(i)}})
	}
	ls, err := EchartsLambdaSweep([]LambdaSeries{{Variant: "pompc", Points: pts}}, LambdaOptions{Title: "lambda sweep"})
	require.NoError(t, err)
	kl, err := EchartsKLCurves(curves, curves[1:], CurveOptions{Title: "KL"})
	require.NoError(t, err)
	m := map[string][]pompc.Record{}
	for d := 0; d < 3; d++ {
		for _, role := range []string{"plan", "pi", "prior"} {
			m["snapshot/"+role+"/mean/"+itoa(d)] = []pompc.Record{{Step: 5, Val: 0.1 * float64(d)}}
			m["snapshot/"+role+"/std/"+itoa(d)] = []pompc.Record{{Step: 5, Val: 0.2}}
		}
	}
	ac, err := EchartsActionDistributions(m, ActionOptions{Step: -1})
	require.NoError(t, err)
	return []components.Charter{lc, ls, kl, ac}
}

func TestEchartsHTMLInlinesScript(t *testing.T) {
	needEchartsJS(t)
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, testCharts(t), HTMLOptions{Title: "test"}))
	page := buf.String()
	require.True(t, htmlHasInlineEcharts(page), "no external script")
	require.NotContains(t, page, "go-echarts-assets")
	require.Contains(t, page, "stackStrategy:'all'", "bands with negative bounds stack")
	require.Greater(t, len(page), 500_000, "echarts.min.js is inlined")
	for _, s := range []string{"cartpole-swingup", "TD-MPC2 (published)", "pompc λ=1", "∞", "#0072b2"} {
		require.Contains(t, page, s)
	}

	buf.Reset()
	require.NoError(t, WriteHTML(&buf, testCharts(t), HTMLOptions{CDN: true}))
	require.Contains(t, buf.String(), `src="https://go-echarts.github.io/go-echarts-assets/assets/echarts.min.js"`)
}

func TestEchartsMissingScriptIsAClearError(t *testing.T) {
	t.Setenv("POMPC_ECHARTS_JS", "")
	t.Setenv("POMPC_CACHE", t.TempDir())
	err := WriteHTML(&bytes.Buffer{}, testCharts(t), HTMLOptions{})
	require.ErrorContains(t, err, "docker/install.sh")
	require.ErrorContains(t, err, "POMPC_ECHARTS_JS")
	t.Setenv("POMPC_ECHARTS_JS", filepath.Join(t.TempDir(), "nope.js"))
	_, err = EchartsJSPath()
	require.ErrorContains(t, err, "nope.js")
	require.Error(t, WriteHTML(&bytes.Buffer{}, nil, HTMLOptions{CDN: true}))
}

// screenshot renders a file:// page in headless Chromium with every network request failing
// and returns the PNG.
func screenshot(t *testing.T, chromium, htmlPath string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", // no network
		"--hide-scrollbars", "--window-size=960,1200", "--virtual-time-budget=10000",
		"--screenshot="+out, "file://"+htmlPath)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, string(msg))
	data, err := os.ReadFile(out)
	require.NoError(t, err, string(msg))
	return data
}

// inkStats counts the non-white pixels of a PNG and the distinct coarse colours among them.
func inkStats(t *testing.T, data []byte) (ink float64, colours int) {
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	b := img.Bounds()
	seen := map[uint32]bool{}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 235 || g>>8 < 235 || bl>>8 < 235 {
				n++
				seen[(r>>12)<<8|(g>>12)<<4|bl>>12] = true
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), len(seen)
}

// TestEchartsRendersOffline opens the HTML from a file:// URL in headless Chromium with the
// network cut off and checks the screenshot shows charts (many inked pixels in many colours).
// The same page pointing at the CDN screenshots blank, which shows the check can fail.
func TestEchartsRendersOffline(t *testing.T) {
	needEchartsJS(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if chromium, err = exec.LookPath("/usr/bin/chromium"); err != nil {
			if toolsRequired() {
				t.Fatal("chromium is required here (docker/install.sh installs it)")
			}
			t.Skip("no chromium")
		}
	}
	dir := t.TempDir()
	inline := filepath.Join(dir, "inline.html")
	require.NoError(t, SaveHTML(inline, testCharts(t), HTMLOptions{Title: "offline"}))
	cdn := filepath.Join(dir, "cdn.html")
	require.NoError(t, SaveHTML(cdn, testCharts(t)[:1], HTMLOptions{CDN: true}))

	shot := screenshot(t, chromium, inline)
	ink, colours := inkStats(t, shot)
	t.Logf("inline page: %.1f%% inked pixels, %d colours", 100*ink, colours)
	if os.Getenv("POMPC_KEEP_SCREENSHOT") != "" {
		_ = os.WriteFile(os.Getenv("POMPC_KEEP_SCREENSHOT"), shot, 0o644)
	}
	require.Greater(t, ink, 0.02, "the charts are drawn")
	require.Greater(t, colours, 8, "the variants' colours are there")

	ink, _ = inkStats(t, screenshot(t, chromium, cdn))
	t.Logf("CDN page offline: %.2f%% inked pixels", 100*ink)
	require.Less(t, ink, 0.002, "without the inlined script the page is blank")
	require.True(t, strings.HasSuffix(inline, ".html"))
}

// htmlHasInlineEcharts reports whether page loads no external script and holds echarts.
func htmlHasInlineEcharts(page string) bool {
	return !strings.Contains(page, `src="http`) && strings.Contains(page, "echarts")
}

// TestEchartsLambdaSweepSeedCounts: as the static figure, the interactive λ chart labels each
// point with its n only where the points rest on different numbers of seeds.
func TestEchartsLambdaSweepSeedCounts(t *testing.T) {
	page := func(pts []LambdaPoint) string {
		c, err := EchartsLambdaSweep([]LambdaSeries{{Variant: "pompc", Points: pts}}, LambdaOptions{Title: "λ"})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, WriteHTML(&buf, []components.Charter{c}, HTMLOptions{CDN: true}))
		return buf.String()
	}
	pts := []LambdaPoint{{Lambda: 0, Values: []float64{300, 310, 290, 280, 320}},
		{Lambda: 1, Values: []float64{350, 360, math.NaN()}}, {Lambda: math.Inf(1), Values: []float64{330, 340, 320}}}
	out := page(pts)
	require.Contains(t, out, `"name":"n=5"`)
	require.Contains(t, out, `"name":"n=2"`, "its NaN left out")
	require.Contains(t, out, `"name":"n=3"`)
	require.Contains(t, out, "p.data.name")
	pts[1].Values, pts[2].Values = pts[0].Values, pts[0].Values
	out = page(pts)
	require.NotContains(t, out, `"name":"n=`)
	require.NotContains(t, out, "p.data.name")
}
