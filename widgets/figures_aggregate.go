package widgets

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/pompc/pompc/pompc/sweep"
)

// Figure kinds across tasks (issue 19; sweep/aggregate.go has the statistics). Their task is
// AllTasksName.
const (
	FigAggregate = "aggregate" // IQM, mean, median, optimality gap of normalized scores, per variant
	FigProfile   = "profile"   // performance profiles: fraction of runs above each normalized score
	FigPOI       = "poi"       // probability of improvement between pairs of variants
	FigIQMCurve  = "iqm-curve" // IQM of normalized evaluation returns over training
)

// AggregateKinds lists the kinds AggregateFigures makes, in order.
var AggregateKinds = []string{FigAggregate, FigProfile, FigIQMCurve, FigPOI}

// AllTasksName is the task part of the aggregate figures' names ("aggregate-all").
const AllTasksName = "all"

// profileTaus are the normalized-score thresholds of a performance profile.
func profileTaus() []float64 {
	taus := make([]float64, 51)
	for i := range taus {
		taus[i] = float64(i) / 50
	}
	return taus
}

// AggregateFigures makes the figures across the tasks every variant has finished runs on
// (sweep.CommonScores; the subtitle names them and those left out): the aggregate statistics,
// the performance profiles, the probabilities of improvement (each pair over the tasks both
// have) and the IQM curves, all with stratified bootstrap 95% intervals
// (sweep.StratifiedBootstrap), in the variants' colours.
func AggregateFigures(runs []sweep.Run, o SetOptions) ([]NamedFigure, error) {
	pal := o.palette(runs)
	_, aggregates, _ := sweep.Aggregate(runs, 1)
	poi := sweep.POITable(runs)
	tasks, vs, left := sweep.CommonScores(runs)
	var rows []sweep.AggregateRow
	for _, a := range aggregates {
		if a.Runs > 0 {
			rows = append(rows, a)
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("widgets: no task on which every variant has a finished run yet")
	}
	over := strings.Join(tasks, ", ")
	for _, l := range left {
		over += "; left out: " + l.Task
	}
	sub := over + ": final returns / 1000; 95% stratified bootstrap intervals"
	var out []NamedFigure
	add := func(kind string, f *Figure, c *charts.Line) {
		out = append(out, NamedFigure{Name: kind + "-" + AllTasksName, Kind: kind, Task: AllTasksName, Figure: f, Chart: c})
	}

	// Aggregate statistics: a row per variant (its colour), a glyph per statistic.
	var variants []string
	var colors []color.RGBA
	groups := []intervalGroup{{name: "IQM", glyph: draw.CircleGlyph{}}, {name: "mean", glyph: draw.BoxGlyph{}},
		{name: "median", glyph: draw.TriangleGlyph{}}, {name: "optimality gap (lower: better)", glyph: draw.CrossGlyph{}}}
	top := 1.0
	for _, a := range rows {
		variants, colors = append(variants, a.Variant), append(colors, pal.Color(a.Variant))
		for k, iv := range []sweep.Interval{a.IQM, a.Mean, a.Median, a.OptGap} {
			groups[k].ivs = append(groups[k].ivs, iv)
			if !math.IsNaN(iv.Hi) {
				top = math.Max(top, iv.Hi)
			}
		}
	}
	f, err := intervalFigure(o.Style, "Aggregate over tasks", "normalized score", variants, groups, colors, math.NaN(), 0, top)
	if err != nil {
		return nil, err
	}
	add(FigAggregate, f, echartsIntervals("Aggregate over tasks", sub, "normalized score", variants, groups))

	// Performance profiles and IQM curves: a band per variant.
	taus := profileTaus()
	var profiles, curves []figBandData
	var names []string
	for k, v := range vs {
		if len(flatScores(v.Final)) == 0 {
			continue
		}
		rng := rand.New(rand.NewPCG(3, uint64(k)))
		pr := sweep.Profile(v.Final, taus, sweep.Level, sweep.BootstrapReps, rng)
		n := len(flatScores(v.Final))
		profiles = append(profiles, bandOf(taus, pr, n))
		steps, iqm := sweep.IQMCurve(v.Curves, sweep.Level, sweep.BootstrapReps, rng)
		xs := make([]float64, len(steps))
		for i, s := range steps {
			xs[i] = float64(s)
		}
		curves = append(curves, bandOf(xs, iqm, n))
		names = append(names, v.Variant)
	}
	for _, fig := range []struct {
		kind, title, xl, yl string
		bands               []figBandData
	}{
		{FigProfile, "Performance profiles", "normalized score τ", "fraction of runs with score > τ", profiles},
		{FigIQMCurve, "IQM over training", "agent step", "IQM of normalized return", curves},
	} {
		p := figNewPlot(o.Style, fig.title, fig.xl, fig.yl)
		hexes, dashed := make([]string, len(names)), make([]bool, len(names))
		for i, b := range fig.bands {
			hexes[i] = pal.Hex(names[i])
			if err := figAddBand(p, b, figRGBA(pal.Color(names[i])), false, false, names[i]); err != nil {
				return nil, err
			}
		}
		var outside *plot.Legend
		if fig.kind == FigProfile {
			// Profiles fall from 1 to 0: the top right is free for the legend.
			p.Y.Min, p.Y.Max = 0, 1.02
			p.Legend.Top, p.Legend.Left = true, false
		} else {
			outside = figLegend(p, true, o.Style, len(names))
		}
		c := echartsBase(fig.title, sub, fig.xl, fig.yl, stepAxis())
		echartsBands(c, fig.bands, names, hexes, dashed)
		add(fig.kind, &Figure{Plot: p, Style: o.Style, Outside: outside}, c)
	}

	// Probability of improvement: every pair once, in variant order.
	if len(poi) > 0 {
		order := map[string]int{}
		for i, a := range rows {
			order[a.Variant] = i
		}
		var labels []string
		var ivs []sweep.Interval
		for _, p := range poi {
			if order[p.X] < order[p.Y] {
				labels = append(labels, p.X+" > "+p.Y)
				ivs = append(ivs, p.P)
			}
		}
		g := []intervalGroup{{name: "P(X > Y)", ivs: ivs}}
		f, err := intervalFigure(o.Style, "Probability of improvement", "P(X > Y)", labels, g, nil, 0.5, 0, 1)
		if err != nil {
			return nil, err
		}
		add(FigPOI, f, echartsIntervals("Probability of improvement", "a run of X ends above a run of Y on a task; 0.5: no difference", "P(X > Y)", labels, g))
	}
	return out, nil
}

func flatScores(s [][]float64) []float64 {
	var out []float64
	for _, t := range s {
		out = append(out, t...)
	}
	return out
}

// bandOf is a band from intervals at xs (points without a value dropped) over runs runs.
func bandOf(xs []float64, ivs []sweep.Interval, runs int) figBandData {
	b := figBandData{seeds: runs}
	for i, iv := range ivs {
		if math.IsNaN(iv.Point) {
			continue
		}
		b.x, b.mean, b.lo, b.hi = append(b.x, xs[i]), append(b.mean, iv.Point), append(b.lo, iv.Lo), append(b.hi, iv.Hi)
	}
	return b
}

// intervalGroup is one series of an interval figure: a name and an interval per category, drawn
// with its glyph (nil: a circle).
type intervalGroup struct {
	name  string
	ivs   []sweep.Interval
	glyph draw.GlyphDrawer
}

// intervalFigure draws intervals per category, a point with its error bar per group, groups side
// by side: categories down the y axis (the first on top) and values along x. colors, when not
// nil, colours each category (a variant's colour); otherwise everything is black. The legend
// names the groups by their glyphs (with more than one group). ref, when not NaN, is a dashed
// line at that value; lo and hi bound the value axis.
func intervalFigure(s Style, title, vl string, cats []string, groups []intervalGroup, colors []color.RGBA, ref, lo, hi float64) (*Figure, error) {
	p := figNewPlot(s, title, vl, "")
	var ticks []plot.Tick
	for i, c := range cats {
		ticks = append(ticks, plot.Tick{Value: float64(len(cats) - 1 - i), Label: c})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = -0.5, float64(len(cats))-0.5
	p.X.Min, p.X.Max = lo, hi
	if !math.IsNaN(ref) {
		l, err := plotter.NewLine(plotter.XYs{{X: ref, Y: -0.5}, {X: ref, Y: float64(len(cats)) - 0.5}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Dashes = Grey, []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l)
	}
	for k, g := range groups {
		off := 0.0
		if len(groups) > 1 {
			off = -(float64(k) - float64(len(groups)-1)/2) * 0.7 / float64(len(groups)) // first group on top
		}
		glyph := g.glyph
		if glyph == nil {
			glyph = draw.CircleGlyph{}
		}
		var legend plot.Thumbnailer
		for i, iv := range g.ivs {
			if math.IsNaN(iv.Point) {
				continue
			}
			col := figRGBA(OkabeBlack)
			if colors != nil {
				col = figRGBA(colors[i])
			}
			pt := plotter.XYs{{X: iv.Point, Y: float64(len(cats)-1-i) + off}}
			eb, err := plotter.NewXErrorBars(struct {
				plotter.XYs
				plotter.XErrors
			}{pt, plotter.XErrors{{Low: iv.Point - iv.Lo, High: iv.Hi - iv.Point}}})
			if err != nil {
				return nil, err
			}
			eb.Color, eb.Width, eb.CapWidth = col, vg.Points(0.8), vg.Points(3)
			sc, err := plotter.NewScatter(pt)
			if err != nil {
				return nil, err
			}
			sc.Color, sc.Shape, sc.Radius = col, glyph, vg.Points(2.2)
			p.Add(eb, sc)
			if legend == nil {
				key, _ := plotter.NewScatter(pt)
				key.Color, key.Shape, key.Radius = figRGBA(OkabeBlack), glyph, vg.Points(2.2)
				legend = key
			}
		}
		if len(groups) > 1 && legend != nil {
			p.Legend.Add(g.name, legend)
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	return &Figure{Plot: p, Style: s}, nil
}

// echartsIntervals is intervalFigure as an interactive chart: categories along x, per group the
// point and its bounds (symbols, no lines; the tooltip reads all three).
func echartsIntervals(title, sub, vl string, cats []string, groups []intervalGroup) *charts.Line {
	l := echartsBase(title, sub, "", vl, opts.XAxis{Type: "category", Data: cats})
	l.SetXAxis(cats)
	symbols := []string{"circle", "rect", "triangle", "diamond"}
	for k, g := range groups {
		point, lo, hi := make([]opts.LineData, len(cats)), make([]opts.LineData, len(cats)), make([]opts.LineData, len(cats))
		for i := range cats {
			point[i], lo[i], hi[i] = opts.LineData{Value: "-"}, opts.LineData{Value: "-"}, opts.LineData{Value: "-"}
			if i < len(g.ivs) && !math.IsNaN(g.ivs[i].Point) {
				point[i], lo[i], hi[i] = opts.LineData{Value: g.ivs[i].Point}, opts.LineData{Value: g.ivs[i].Lo}, opts.LineData{Value: g.ivs[i].Hi}
			}
		}
		hex := hexOf(okabeOrder[k%len(okabeOrder)])
		for _, s := range []struct {
			name, symbol string
			data         []opts.LineData
			size         int
		}{{g.name, symbols[k%len(symbols)], point, 10}, {g.name + " 2.5%", "line", lo, 10}, {g.name + " 97.5%", "line", hi, 10}} {
			l.AddSeries(s.name, s.data, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(true), Symbol: s.symbol, SymbolSize: s.size}),
				charts.WithLineStyleOpts(opts.LineStyle{Opacity: opts.Float(0)}), charts.WithItemStyleOpts(opts.ItemStyle{Color: hex}))
		}
	}
	return l
}
