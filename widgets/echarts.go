package widgets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/components"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/sweep"
)

// The interactive figures are the paper figures drawn by go-echarts (same data, same
// aggregation, same variant colours), for a browser: hover for values, click legend entries to
// hide variants, zoom with the slider.
//
// go-echarts loads echarts.min.js from a CDN by default, which leaves a blank page without a
// network. WriteHTML instead inlines the file from the echarts npm package that
// docker/install.sh installs (see EchartsJSPath), so the HTML works offline and from file://.

// EchartsJSPath finds echarts.min.js: $POMPC_ECHARTS_JS if set, else
// $POMPC_CACHE/node/node_modules/echarts/dist/echarts.min.js, with POMPC_CACHE defaulting to
// $HOME/.cache/pompc (where docker/install.sh runs `npm install echarts`).
func EchartsJSPath() (string, error) {
	if p := os.Getenv("POMPC_ECHARTS_JS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("widgets: POMPC_ECHARTS_JS=%s: %w", p, err)
		}
		return p, nil
	}
	cache := os.Getenv("POMPC_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("widgets: no home directory for the echarts cache: %w", err)
		}
		cache = filepath.Join(home, ".cache", "pompc")
	}
	p := filepath.Join(cache, "node", "node_modules", "echarts", "dist", "echarts.min.js")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("widgets: echarts.min.js not found at %s: install it with docker/install.sh "+
			"(npm install --prefix %s echarts), point POMPC_ECHARTS_JS at a copy, or ask for the CDN "+
			"explicitly (HTMLOptions.CDN, pompc plot --cdn; the page then needs a network)", p, filepath.Join(cache, "node"))
	}
	return p, nil
}

// HTMLOptions configures WriteHTML.
type HTMLOptions struct {
	// Title of the page.
	Title string
	// CDN loads echarts from go-echarts' CDN instead of inlining it (smaller file; blank page
	// without a network).
	CDN bool
}

var echartsScriptTag = regexp.MustCompile(`<script src="[^"]*echarts\.min\.js"></script>`)

// WriteHTML writes a self-contained HTML page holding the charts (one below the other) to w,
// with echarts.min.js inlined unless opts.CDN.
func WriteHTML(w io.Writer, cs []components.Charter, o HTMLOptions) error {
	if len(cs) == 0 {
		return errors.New("widgets: no charts for the page")
	}
	var js []byte
	if !o.CDN {
		path, err := EchartsJSPath()
		if err != nil {
			return err
		}
		if js, err = os.ReadFile(path); err != nil {
			return fmt.Errorf("widgets: %w", err)
		}
		// Inside <script>, only "</script" ends the element; echarts.min.js has none, but be safe.
		js = bytes.ReplaceAll(js, []byte("</script"), []byte(`<\/script`))
	}
	page := components.NewPage()
	page.SetPageTitle(figOr(o.Title, "pompc figures"))
	page.AddCharts(cs...)
	var buf bytes.Buffer
	if err := page.Render(&buf); err != nil {
		return fmt.Errorf("widgets: rendering HTML: %w", err)
	}
	out := buf.Bytes()
	if !o.CDN {
		n := 0
		out = echartsScriptTag.ReplaceAllFunc(out, func([]byte) []byte {
			n++
			if n > 1 {
				return nil
			}
			return append(append([]byte("<script>"), js...), "</script>"...)
		})
		if n == 0 {
			return errors.New("widgets: go-echarts wrote no echarts script tag to replace")
		}
	}
	_, err := w.Write(out)
	return err
}

// SaveHTML writes WriteHTML's page to path (atomically).
func SaveHTML(path string, cs []components.Charter, o HTMLOptions) error {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, cs, o); err != nil {
		return err
	}
	return rundir.WriteFile(path, buf.Bytes(), 0o644)
}

func echartsBase(title, sub, xname, yname string, xaxis opts.XAxis) *charts.Line {
	l := charts.NewLine()
	xaxis.Name, xaxis.NameLocation, xaxis.NameGap = xname, "middle", 28
	l.SetGlobalOptions(
		charts.WithInitializationOpts(opts.Initialization{Width: "900px", Height: "480px", BackgroundColor: "#ffffff"}),
		charts.WithTitleOpts(opts.Title{Title: title, Subtitle: sub}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "bottom", Type: "scroll"}),
		charts.WithGridOpts(opts.Grid{Bottom: "80px", Left: "70px", Right: "40px"}),
		charts.WithXAxisOpts(xaxis),
		charts.WithYAxisOpts(opts.YAxis{Name: yname, NameLocation: "middle", NameGap: 50, Type: "value", Scale: opts.Bool(true)}),
		charts.WithAnimation(false),
	)
	// ECharts stacks only values of the same sign by default, which breaks a band whose lower
	// bound is negative; stack the band series unconditionally (stackStrategy, ECharts >= 5.3.3).
	// go-echarts has no field for it, so set it after initialization.
	l.AddJSFuncs(`(function(c){var o=c.getOption();c.setOption({series:o.series.map(function(x){return x.stack?{stackStrategy:'all'}:{};})});})(%MY_ECHARTS%);`)
	return l
}

// echartsBands draws each band as a mean line over a translucent band (two series stacked on the
// y axis: the lower bound, invisible, and the band's width, filled) in its variant's colour. The
// x axis is a category axis over the union of the bands' steps: ECharts stacks along y only on a
// category (or time) base axis, and evaluation steps are evenly spaced, so the spacing stays
// true. Missing points are gaps ("-") that the mean line bridges.
func echartsBands(l *charts.Line, bands []figBandData, names, hexes []string, dashed []bool) {
	set := map[float64]bool{}
	for _, b := range bands {
		for _, x := range b.x {
			set[x] = true
		}
	}
	xs := make([]float64, 0, len(set))
	for x := range set {
		xs = append(xs, x)
	}
	sort.Float64s(xs)
	pos := make(map[float64]int, len(xs))
	cats := make([]string, len(xs))
	for i, x := range xs {
		pos[x] = i
		cats[i] = strconv.FormatFloat(x, 'f', -1, 64)
	}
	l.SetXAxis(cats)
	empty := func() []opts.LineData {
		d := make([]opts.LineData, len(xs))
		for i := range d {
			d[i] = opts.LineData{Value: "-"}
		}
		return d
	}
	for k, b := range bands {
		lo, width, mean := empty(), empty(), empty()
		for i, x := range b.x {
			j := pos[x]
			lo[j] = opts.LineData{Value: b.lo[i]}
			width[j] = opts.LineData{Value: b.hi[i] - b.lo[i]}
			mean[j] = opts.LineData{Value: b.mean[i]}
		}
		name, hex := names[k], hexes[k]
		typ := "solid"
		if dashed[k] {
			typ = "dashed"
		}
		if b.seeds > 1 {
			stack := "band:" + name
			l.AddSeries(name, lo, charts.WithLineChartOpts(opts.LineChart{Stack: stack, ShowSymbol: opts.Bool(false)}),
				charts.WithLineStyleOpts(opts.LineStyle{Opacity: opts.Float(0)}),
				charts.WithItemStyleOpts(opts.ItemStyle{Color: hex}))
			l.AddSeries(name, width, charts.WithLineChartOpts(opts.LineChart{Stack: stack, ShowSymbol: opts.Bool(false)}),
				charts.WithLineStyleOpts(opts.LineStyle{Opacity: opts.Float(0)}),
				charts.WithAreaStyleOpts(opts.AreaStyle{Color: hex, Opacity: opts.Float(0.22)}),
				charts.WithItemStyleOpts(opts.ItemStyle{Color: hex}))
		}
		l.AddSeries(name, mean, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(len(b.x) < 30), ConnectNulls: opts.Bool(true)}),
			charts.WithLineStyleOpts(opts.LineStyle{Color: hex, Width: 2, Type: typ}),
			charts.WithItemStyleOpts(opts.ItemStyle{Color: hex}))
	}
}

func stepAxis() opts.XAxis { return opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{}} }

const bandNote = "mean over seeds, band: 95% Student-t interval"

// EchartsLearningCurves is LearningCurves as an interactive chart.
func EchartsLearningCurves(curves []Curve, o CurveOptions) (*charts.Line, error) {
	if len(curves) == 0 && len(o.Reference) == 0 {
		return nil, errors.New("widgets: no curves to draw")
	}
	pal := o.Palette
	if pal == nil {
		pal = NewPalette(figVariants(curves, o.Reference)...)
	}
	l := echartsBase(o.Title, bandNote, figOr(o.XLabel, "agent steps"), figOr(o.YLabel, "return"), stepAxis())
	var bands []figBandData
	var names, hexes []string
	var dashed []bool
	maxStep := math.Inf(-1)
	for _, c := range curves {
		b, err := figAggregate(c.Seeds, o.Smooth)
		if err != nil {
			return nil, fmt.Errorf("widgets: curve %q: %w", c.Variant, err)
		}
		if len(b.x) > 0 {
			maxStep = math.Max(maxStep, b.x[len(b.x)-1])
		}
		bands, names, hexes, dashed = append(bands, clampBand(b, o.ReturnMax)), append(names, c.Variant), append(hexes, pal.Hex(c.Variant)), append(dashed, false)
	}
	for _, c := range o.Reference {
		if b, ok := referenceBand(c, o.ClipReference && !math.IsInf(maxStep, -1), maxStep); ok {
			b = clampBand(b, o.ReturnMax)
			bands, names, hexes, dashed = append(bands, b), append(names, c.Variant), append(hexes, pal.Hex(c.Variant)), append(dashed, true)
		}
	}
	echartsBands(l, bands, names, hexes, dashed)
	return l, nil
}

// EchartsKLCurves is KLCurves as an interactive chart.
func EchartsKLCurves(policyPrior, priorPlanner []Curve, o CurveOptions) (*charts.Line, error) {
	if len(policyPrior)+len(priorPlanner) == 0 {
		return nil, errors.New("widgets: no KL curves to draw (runs without a prior have none)")
	}
	pal := o.Palette
	if pal == nil {
		pal = NewPalette(figVariants(policyPrior, priorPlanner)...)
	}
	l := echartsBase(o.Title, "solid: KL(π_s||prior), dashed: KL(π_p||planner); "+bandNote,
		figOr(o.XLabel, "agent steps"), figOr(o.YLabel, "KL (nats)"), stepAxis())
	var bands []figBandData
	var names, hexes []string
	var dashed []bool
	for i, set := range [][]Curve{policyPrior, priorPlanner} {
		suffix := ": KL(π_s||prior)"
		if i == 1 {
			suffix = ": KL(π_p||planner)"
		}
		for _, c := range set {
			b, err := figAggregate(c.Seeds, o.Smooth)
			if err != nil {
				return nil, fmt.Errorf("widgets: KL curve %q: %w", c.Variant, err)
			}
			bands, names, hexes, dashed = append(bands, b), append(names, c.Variant+suffix), append(hexes, pal.Hex(c.Variant)), append(dashed, i == 1)
		}
	}
	echartsBands(l, bands, names, hexes, dashed)
	return l, nil
}

// EchartsLambdaSweep is LambdaSweep as an interactive chart: λ on a category axis (∞ after a
// gap), the mean over seeds with its 95% t interval as a band.
func EchartsLambdaSweep(series []LambdaSeries, o LambdaOptions) (*charts.Line, error) {
	finite, hasInf, err := figLambdas(series)
	if err != nil {
		return nil, err
	}
	var cats []string
	idx := map[float64]int{}
	for i, l := range finite {
		cats = append(cats, pompc.FormatLambda(l))
		idx[l] = i
	}
	if hasInf {
		if len(finite) > 0 {
			cats = append(cats, " ")
		}
		idx[math.Inf(1)] = len(cats)
		cats = append(cats, "∞")
	}
	pal := o.Palette
	if pal == nil {
		var vs []string
		for _, s := range series {
			vs = append(vs, s.Variant)
		}
		pal = NewPalette(vs...)
	}
	l := echartsBase(o.Title, "mean over seeds, band: 95% Student-t interval", "λ", figOr(o.YLabel, "final return"),
		opts.XAxis{Type: "category", Data: cats})
	l.SetXAxis(cats)
	labelN := lambdaSeedCountsDiffer(series)
	for _, s := range series {
		hex := pal.Hex(s.Variant)
		mean := make([]opts.LineData, len(cats))
		lo := make([]opts.LineData, len(cats))
		width := make([]opts.LineData, len(cats))
		for i := range cats {
			mean[i], lo[i], width[i] = opts.LineData{Value: "-"}, opts.LineData{Value: "-"}, opts.LineData{Value: "-"}
		}
		for _, pt := range s.Points {
			m, h := sweep.MeanCI(pt.Values, sweep.Level)
			if math.IsNaN(m) {
				continue
			}
			if math.IsNaN(h) {
				h = 0
			}
			i := idx[pt.Lambda]
			mean[i] = opts.LineData{Value: m}
			if labelN {
				mean[i].Name = fmt.Sprintf("n=%d", lambdaSeeds(pt))
			}
			lo[i], width[i] = opts.LineData{Value: m - h}, opts.LineData{Value: 2 * h}
		}
		stack := "band:" + s.Variant
		l.AddSeries(s.Variant, lo, charts.WithLineChartOpts(opts.LineChart{Stack: stack, ShowSymbol: opts.Bool(false)}),
			charts.WithLineStyleOpts(opts.LineStyle{Opacity: opts.Float(0)}), charts.WithItemStyleOpts(opts.ItemStyle{Color: hex}))
		l.AddSeries(s.Variant, width, charts.WithLineChartOpts(opts.LineChart{Stack: stack, ShowSymbol: opts.Bool(false)}),
			charts.WithLineStyleOpts(opts.LineStyle{Opacity: opts.Float(0)}),
			charts.WithAreaStyleOpts(opts.AreaStyle{Color: hex, Opacity: opts.Float(0.22)}), charts.WithItemStyleOpts(opts.ItemStyle{Color: hex}))
		meanOpts := []charts.SeriesOpts{charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(true), SymbolSize: 8}),
			charts.WithLineStyleOpts(opts.LineStyle{Color: hex, Width: 2}), charts.WithItemStyleOpts(opts.ItemStyle{Color: hex})}
		if labelN {
			// Each point's seed count (its data item's name; on a category axis {b} would be λ).
			meanOpts = append(meanOpts, charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "right", Color: hex,
				Formatter: string(opts.FuncOpts("function (p) { return p.data && p.data.name ? p.data.name : ''; }"))}))
		}
		l.AddSeries(s.Variant, mean, meanOpts...)
	}
	return l, nil
}

// EchartsActionDistributions is ActionDistributions as an interactive chart: per action dimension
// the mean of the planner, π_s and π_p Gaussians (dots) and mean ± std (dotted).
func EchartsActionDistributions(metrics map[string][]pompc.Record, o ActionOptions) (*charts.Line, error) {
	maxDims := o.MaxDims
	if maxDims <= 0 {
		maxDims = 12
	}
	snap, err := snapshotAt(metrics, o.Step)
	if err != nil {
		return nil, err
	}
	step := snap.Step
	var cats []string
	for d := 0; d < min(len(snap.Plan.Mean), maxDims); d++ {
		cats = append(cats, "dim "+strconv.Itoa(d))
	}
	title := figOr(o.Title, "action distributions at step "+figNumber(float64(step)))
	l := echartsBase(title, "dots: mean, dotted: mean ± std", "action dimension", "action", opts.XAxis{Type: "category", Data: cats})
	l.SetXAxis(cats)
	for _, role := range snapshotRoles(snap) {
		role := struct {
			snapshotRole
			hex string
		}{role, hexOf(role.col)}
		var mean, lo, hi []opts.LineData
		any := false
		for d := range cats {
			m, s, ok := role.at(d)
			if !ok {
				mean, lo, hi = append(mean, opts.LineData{Value: "-"}), append(lo, opts.LineData{Value: "-"}), append(hi, opts.LineData{Value: "-"})
				continue
			}
			any = true
			mean, lo, hi = append(mean, opts.LineData{Value: m}), append(lo, opts.LineData{Value: m - s}), append(hi, opts.LineData{Value: m + s})
		}
		if !any {
			continue
		}
		l.AddSeries(role.label, mean, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(true), SymbolSize: 10}),
			charts.WithLineStyleOpts(opts.LineStyle{Color: role.hex, Width: 1, Opacity: opts.Float(0.4)}), charts.WithItemStyleOpts(opts.ItemStyle{Color: role.hex}))
		for _, band := range [][]opts.LineData{lo, hi} {
			l.AddSeries(role.label, band, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)}),
				charts.WithLineStyleOpts(opts.LineStyle{Color: role.hex, Width: 1, Type: "dotted"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: role.hex}))
		}
	}
	return l, nil
}
