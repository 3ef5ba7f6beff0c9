package widgets

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figures summarize seeds by their mean and a 95% Student-t confidence interval of the mean
// (sweep.MeanCI: mean ± t_{0.975,n-1}·s/√n), not a bootstrap: with the 3-10 seeds of RL papers
// the bootstrap interval is too narrow, while the t interval is exact for normal returns and
// close otherwise.

// Curve is one variant's series: one list of records per seed (e.g. the eval/return records of
// each seed's run).
type Curve struct {
	Variant string
	Seeds   [][]pompc.Record
	// Band, when set on a reference curve (CurveOptions.Reference), is a published curve given
	// as its mean and interval rather than per seed (BMPC's results): it is drawn as it is, and
	// Seeds is ignored. Other curves are always drawn from their seeds.
	Band *Band
}

// Band is a mean curve with its interval at each step, over Seeds seeds.
type Band struct {
	// Steps are the agent steps of the points.
	Steps []int64
	// Mean is the curve; Lo and Hi bound its interval at each step.
	Mean, Lo, Hi []float64
	// Seeds is how many runs the published curve averages.
	Seeds int
}

// referenceBand is a reference curve's band, cut at maxStep when clip is set; false when
// fewer than two of its points remain (a lone point says nothing).
func referenceBand(c Curve, clip bool, maxStep float64) (figBandData, bool) {
	if c.Band == nil {
		seeds := c.Seeds
		if clip {
			seeds = figClip(seeds, maxStep)
		}
		b, err := figAggregate(seeds, 0)
		return b, err == nil && len(b.x) >= 2
	}
	b := figBandData{seeds: c.Band.Seeds}
	for i, st := range c.Band.Steps {
		if clip && float64(st) > maxStep {
			continue
		}
		b.x, b.mean = append(b.x, float64(st)), append(b.mean, c.Band.Mean[i])
		b.lo, b.hi = append(b.lo, c.Band.Lo[i]), append(b.hi, c.Band.Hi[i])
	}
	return b, len(b.x) >= 2
}

// CurveOptions configures LearningCurves and KLCurves. The zero value is usable.
type CurveOptions struct {
	Style Style
	Title string
	// XLabel and YLabel default to "agent steps" and "return".
	XLabel, YLabel string
	// Smooth is the width (in points) of a centred moving average applied to each seed before
	// averaging; 0 or 1 draws the raw values.
	Smooth int
	// Palette colours the variants; nil makes one from the curves drawn.
	Palette *Palette
	// Reference curves (ReferenceCurve: published TD-MPC2, BMPC and SAC) are drawn dashed, with their
	// band. With ClipReference they stop at the last step of the other curves.
	Reference     []Curve
	ClipReference bool
	// ReturnMax, when positive, is the largest value a curve can take (a DMC return: 1000): every
	// band is cut to [0, ReturnMax], where a Student-t band over few seeds (the published SAC's
	// three) would otherwise reach past what a return can be and stretch the axis.
	ReturnMax float64
}

// clampBand cuts b's band to [0, max] (max > 0; the means are left as they are).
func clampBand(b figBandData, max float64) figBandData {
	if max <= 0 {
		return b
	}
	lo, hi := slices.Clone(b.lo), slices.Clone(b.hi)
	for i := range lo {
		lo[i], hi[i] = math.Max(lo[i], 0), math.Min(hi[i], max)
	}
	b.lo, b.hi = lo, hi
	return b
}

// figBandData is a mean curve with its confidence band over seeds.
type figBandData struct {
	x, mean, lo, hi []float64
	seeds           int
}

// figAggregate puts every seed on the union of their steps (linear interpolation, within the step
// range all seeds cover), smooths each seed, and returns the mean and the 95% t interval.
func figAggregate(seeds [][]pompc.Record, smooth int) (figBandData, error) {
	var b figBandData
	var curves [][]plotter.XY
	lo, hi := math.Inf(-1), math.Inf(1)
	stepSet := map[float64]bool{}
	for _, s := range seeds {
		if len(s) == 0 {
			continue
		}
		pts := xys(s)
		ys := make([]float64, len(pts))
		for i := range pts {
			ys[i] = pts[i].Y
		}
		ys = figSmooth(ys, smooth)
		xy := make([]plotter.XY, len(pts))
		for i := range pts {
			xy[i] = plotter.XY{X: pts[i].X, Y: ys[i]}
			stepSet[pts[i].X] = true
		}
		curves = append(curves, xy)
		lo, hi = math.Max(lo, xy[0].X), math.Min(hi, xy[len(xy)-1].X)
	}
	if len(curves) == 0 {
		return b, errors.New("no records")
	}
	for x := range stepSet {
		if x >= lo && x <= hi {
			b.x = append(b.x, x)
		}
	}
	sort.Float64s(b.x)
	b.seeds = len(curves)
	vals := make([]float64, len(curves))
	for _, x := range b.x {
		for i, c := range curves {
			vals[i] = figInterp(c, x)
		}
		m, h := sweep.MeanCI(vals, sweep.Level)
		if math.IsNaN(h) {
			h = 0
		}
		b.mean, b.lo, b.hi = append(b.mean, m), append(b.lo, m-h), append(b.hi, m+h)
	}
	return b, nil
}

// figInterp evaluates the piecewise-linear curve c (sorted by X) at x inside its range.
func figInterp(c []plotter.XY, x float64) float64 {
	i := sort.Search(len(c), func(i int) bool { return c[i].X >= x })
	if i < len(c) && c[i].X == x {
		// The last of equal steps (a resumed run may repeat one).
		for i+1 < len(c) && c[i+1].X == x {
			i++
		}
		return c[i].Y
	}
	if i == 0 || i == len(c) {
		return math.NaN()
	}
	a, b := c[i-1], c[i]
	return a.Y + (b.Y-a.Y)*(x-a.X)/(b.X-a.X)
}

// figSmooth is a centred moving average of width w (truncated at the ends).
func figSmooth(y []float64, w int) []float64 {
	if w <= 1 {
		return y
	}
	out := make([]float64, len(y))
	h := w / 2
	for i := range y {
		a, b := max(0, i-h), min(len(y), i-h+w)
		var s float64
		for _, v := range y[a:b] {
			s += v
		}
		out[i] = s / float64(b-a)
	}
	return out
}

func figNewPlot(s Style, title, xl, yl string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xl, yl
	s.apply(p)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = figAlpha(Grey, 50), figAlpha(Grey, 50)
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.4), vg.Points(0.4)
	p.Add(g)
	p.X.Tick.Marker = figTicks{}
	p.Y.Tick.Marker = figTicks{}
	return p
}

// figTicks labels large numbers as 100k, 1.5M (steps read at a glance).
type figTicks struct{}

// Ticks returns plot.DefaultTicks with compact labels.
func (figTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = figNumber(ts[i].Value)
		}
	}
	return ts
}

func figNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// figAddBand draws b as a line (dashed if asked) over a translucent band of the same colour; with
// marks, a dot at each of its points (a published curve's evaluation steps: the line between
// them, often 50k agent steps apart, is interpolation, not data).
func figAddBand(p *plot.Plot, b figBandData, col figRGBA, dashed, marks bool, label string) error {
	if len(b.x) == 0 {
		return nil
	}
	if b.seeds > 1 && len(b.x) > 1 {
		poly := make(plotter.XYs, 0, 2*len(b.x))
		for i := range b.x {
			poly = append(poly, plotter.XY{X: b.x[i], Y: b.hi[i]})
		}
		for i := len(b.x) - 1; i >= 0; i-- {
			poly = append(poly, plotter.XY{X: b.x[i], Y: b.lo[i]})
		}
		pg, err := plotter.NewPolygon(poly)
		if err != nil {
			return err
		}
		pg.Color = figAlpha(col, 55)
		pg.LineStyle.Width = 0
		p.Add(pg)
	}
	pts := make(plotter.XYs, len(b.x))
	for i := range b.x {
		pts[i] = plotter.XY{X: b.x[i], Y: b.mean[i]}
	}
	var thumbs []plot.Thumbnailer
	// A lone point, or a marked line's points, as dots.
	dots := func(r vg.Length) error {
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.Color, s.Shape, s.Radius = col, draw.CircleGlyph{}, r
		p.Add(s)
		thumbs = append(thumbs, s)
		return nil
	}
	if len(pts) == 1 {
		if err := dots(vg.Points(2)); err != nil {
			return err
		}
	} else {
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color, l.Width = col, vg.Points(1.2)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		}
		p.Add(l)
		thumbs = append(thumbs, l)
		if marks {
			if err := dots(vg.Points(1.6)); err != nil {
				return err
			}
		}
	}
	if label != "" {
		if b.seeds > 1 {
			label += fmt.Sprintf(" (n=%d)", b.seeds)
		}
		p.Legend.Add(label, thumbs...)
	}
	return nil
}

func figVariants(cs ...[]Curve) []string {
	var out []string
	for _, c := range cs {
		for _, v := range c {
			out = append(out, v.Variant)
		}
	}
	return out
}

// LearningCurves draws return against steps: per variant the mean over seeds (solid) and its 95%
// Student-t confidence figBandData, with optional smoothing, and the published reference curves dashed.
func LearningCurves(curves []Curve, opts CurveOptions) (*Figure, error) {
	if len(curves) == 0 && len(opts.Reference) == 0 {
		return nil, errors.New("widgets: no curves to draw")
	}
	pal := opts.Palette
	if pal == nil {
		pal = NewPalette(figVariants(curves, opts.Reference)...)
	}
	p := figNewPlot(opts.Style, opts.Title, figOr(opts.XLabel, "agent steps"), figOr(opts.YLabel, "return"))
	maxStep := math.Inf(-1)
	for _, c := range curves {
		b, err := figAggregate(c.Seeds, opts.Smooth)
		if err != nil {
			return nil, fmt.Errorf("widgets: curve %q: %w", c.Variant, err)
		}
		if len(b.x) > 0 {
			maxStep = math.Max(maxStep, b.x[len(b.x)-1])
		}
		b = clampBand(b, opts.ReturnMax)
		if err := figAddBand(p, b, figRGBA(pal.Color(c.Variant)), false, false, c.Variant); err != nil {
			return nil, err
		}
	}
	drawn := 0
	for _, c := range opts.Reference {
		b, ok := referenceBand(c, opts.ClipReference && !math.IsInf(maxStep, -1), maxStep)
		if !ok {
			continue // nothing (or a lone point) of the reference in range
		}
		b = clampBand(b, opts.ReturnMax)
		if err := figAddBand(p, b, figRGBA(pal.Color(c.Variant)), true, true, c.Variant); err != nil {
			return nil, err
		}
		drawn++
	}
	return &Figure{Plot: p, Style: opts.Style, Outside: figLegend(p, true, opts.Style, len(curves)+drawn)}, nil
}

func figClip(seeds [][]pompc.Record, maxStep float64) [][]pompc.Record {
	out := make([][]pompc.Record, len(seeds))
	for i, s := range seeds {
		for _, r := range s {
			if float64(r.Step) <= maxStep {
				out[i] = append(out[i], r)
			}
		}
	}
	return out
}

// maxLegendInside is the most legend rows kept inside the data area; more go to the right of
// the plot (Figure.Outside), where they take no room from the data.
const maxLegendInside = 4

// figLegend puts the legend in a top corner and raises the y range so it sits above the data
// (one legend row takes about 1.3 font sizes of the plot height); with more than
// maxLegendInside rows it moves the legend out of the plot and returns it, for Figure.Outside.
func figLegend(p *plot.Plot, left bool, s Style, rows int) *plot.Legend {
	s = s.withDefaults()
	if rows > maxLegendInside {
		out := p.Legend
		out.Top, out.Left, out.XOffs, out.YOffs = true, true, 0, 0
		p.Legend = plot.NewLegend()
		p.Legend.TextStyle = out.TextStyle
		return &out
	}
	p.Legend.Top, p.Legend.Left = true, left
	p.Legend.XOffs, p.Legend.YOffs = 0, 0
	if left {
		p.Legend.XOffs = vg.Points(4)
	}
	if rows == 0 {
		return nil
	}
	// Fraction of the data area the legend needs (the data area is ~75% of the figure height).
	frac := float64(rows) * 1.6 * p.Legend.TextStyle.Font.Size.Points() / (0.7 * s.Height.Points())
	frac = math.Min(frac+0.05, 0.6)
	lo, hi := p.Y.Min, p.Y.Max
	if hi > lo {
		p.Y.Max = lo + (hi-lo)/(1-frac)
	}
	return nil
}

func figOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// KLCurves draws the two KL terms of PO-MPC over training per variant, in the variant's colour:
// KL(π_s||prior) (kl/policy_prior, solid; what λ prices) and KL(π_p||planner) (kl/prior_planner,
// dashed; how well the learned prior fits the planner), each as a mean with its 95% t band.
// Either list may be empty (runs without a learned prior have no kl/prior_planner).
func KLCurves(policyPrior, priorPlanner []Curve, opts CurveOptions) (*Figure, error) {
	if len(policyPrior)+len(priorPlanner) == 0 {
		return nil, errors.New("widgets: no KL curves to draw (runs without a prior have none)")
	}
	pal := opts.Palette
	if pal == nil {
		pal = NewPalette(figVariants(policyPrior, priorPlanner)...)
	}
	p := figNewPlot(opts.Style, opts.Title, figOr(opts.XLabel, "agent steps"), figOr(opts.YLabel, "KL (nats)"))
	for i, set := range [][]Curve{policyPrior, priorPlanner} {
		suffix := ": KL(π_s||prior)"
		if i == 1 {
			suffix = ": KL(π_p||planner)"
		}
		for _, c := range set {
			b, err := figAggregate(c.Seeds, opts.Smooth)
			if err != nil {
				return nil, fmt.Errorf("widgets: KL curve %q: %w", c.Variant, err)
			}
			if err := figAddBand(p, b, figRGBA(pal.Color(c.Variant)), i == 1, false, c.Variant+suffix); err != nil {
				return nil, err
			}
		}
	}
	return &Figure{Plot: p, Style: opts.Style, Outside: figLegend(p, false, opts.Style, len(policyPrior)+len(priorPlanner))}, nil
}

// LambdaPoint is the per-seed values (final return or AUC) of one lambda.
type LambdaPoint struct {
	Lambda float64
	Values []float64
}

// LambdaSeries is one line of a lambda-sweep figure (a task, or a KL direction or prior kind).
type LambdaSeries struct {
	Variant string
	Points  []LambdaPoint
}

// LambdaOptions configures LambdaSweep.
type LambdaOptions struct {
	Style Style
	Title string
	// YLabel defaults to "final return".
	YLabel  string
	Palette *Palette
}

// LambdaSweep draws a summary value against λ: the mean over seeds with a 95% Student-t error
// bar per λ. The finite λ values sit at equal spacing in increasing order (λ spans decades and
// includes 0, so neither a linear nor a log axis fits), and λ = ∞ (BMPC) has its own tick after
// a gap, unconnected to the finite ones. Series are offset sideways a little so bars do not
// overlap. Where the points rest on different numbers of seeds (an ablation still training),
// each point says its own, "n=3", beside it.
func LambdaSweep(series []LambdaSeries, opts LambdaOptions) (*Figure, error) {
	finite, hasInf, err := figLambdas(series)
	if err != nil {
		return nil, err
	}
	pos := map[float64]float64{}
	var ticks []plot.Tick
	for i, l := range finite {
		pos[l] = float64(i)
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: pompc.FormatLambda(l)})
	}
	infPos := float64(len(finite)) + 0.5
	if len(finite) == 0 {
		infPos = 0
	}
	if hasInf {
		pos[math.Inf(1)] = infPos
		ticks = append(ticks, plot.Tick{Value: infPos, Label: "∞"})
	}
	pal := opts.Palette
	if pal == nil {
		var vs []string
		for _, s := range series {
			vs = append(vs, s.Variant)
		}
		pal = NewPalette(vs...)
	}
	p := figNewPlot(opts.Style, opts.Title, "λ (price of KL(π_s||prior) per nat)", figOr(opts.YLabel, "final return"))
	labelN := lambdaSeedCountsDiffer(series)
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, math.Max(infPos, float64(len(finite)-1))+0.5
	for k, s := range series {
		col := figRGBA(pal.Color(s.Variant))
		off := 0.0
		if len(series) > 1 {
			off = (float64(k) - float64(len(series)-1)/2) * 0.25 / float64(len(series))
		}
		pts := append([]LambdaPoint(nil), s.Points...)
		sort.Slice(pts, func(i, j int) bool { return pts[i].Lambda < pts[j].Lambda })
		var line plotter.XYs
		var all plotter.XYs
		var errs plotter.YErrors
		var ns []string
		for _, pt := range pts {
			m, h := sweep.MeanCI(pt.Values, sweep.Level)
			if math.IsNaN(m) {
				continue
			}
			if math.IsNaN(h) {
				h = 0
			}
			xy := plotter.XY{X: pos[pt.Lambda] + off, Y: m}
			all = append(all, xy)
			ns = append(ns, fmt.Sprintf("n=%d", lambdaSeeds(pt)))
			errs = append(errs, struct{ Low, High float64 }{h, h})
			if !math.IsInf(pt.Lambda, 1) {
				line = append(line, xy)
			}
		}
		if len(all) == 0 {
			continue
		}
		if len(line) > 1 {
			l, err := plotter.NewLine(line)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = col, vg.Points(1)
			p.Add(l)
		}
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{all, errs})
		if err != nil {
			return nil, err
		}
		eb.Color, eb.Width, eb.CapWidth = col, vg.Points(0.8), vg.Points(4)
		sc, err := plotter.NewScatter(all)
		if err != nil {
			return nil, err
		}
		sc.Color, sc.Shape, sc.Radius = col, draw.CircleGlyph{}, vg.Points(2)
		p.Add(eb, sc)
		if labelN {
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: all, Labels: ns})
			if err != nil {
				return nil, err
			}
			for i := range lb.TextStyle {
				// The legend's text, a point smaller (its size has the style's defaults).
				lb.TextStyle[i] = p.Legend.TextStyle
				lb.TextStyle[i].Font.Size = p.Legend.TextStyle.Font.Size - vg.Points(1)
				lb.TextStyle[i].Color = col
				lb.TextStyle[i].XAlign, lb.TextStyle[i].YAlign = draw.XLeft, draw.YCenter
			}
			lb.Offset = vg.Point{X: vg.Points(4)}
			p.Add(lb)
		}
		p.Legend.Add(s.Variant, sc)
	}
	return &Figure{Plot: p, Style: opts.Style, Outside: figLegend(p, false, opts.Style, len(series))}, nil
}

// lambdaSeeds is how many of a point's values are numbers (a diverged run's NaN is left out, as
// sweep.MeanCI leaves it).
func lambdaSeeds(pt LambdaPoint) int {
	n := 0
	for _, v := range pt.Values {
		if !math.IsNaN(v) {
			n++
		}
	}
	return n
}

// lambdaSeedCountsDiffer reports whether the drawn points of a λ figure rest on different
// numbers of seeds.
func lambdaSeedCountsDiffer(series []LambdaSeries) bool {
	first := -1
	for _, s := range series {
		for _, pt := range s.Points {
			n := lambdaSeeds(pt)
			if n == 0 {
				continue
			}
			if first >= 0 && n != first {
				return true
			}
			first = n
		}
	}
	return false
}

// ActionOptions configures ActionDistributions.
type ActionOptions struct {
	Style Style
	Title string
	// Step picks the snapshot drawn: the last one at or before Step; < 0 means the last one.
	Step int64
	// MaxDims bounds the action dimensions drawn (the first ones); 0 means 12.
	MaxDims int
}

// snapshotAt is the planner snapshot drawn at step: the last one at or before it (step < 0: the
// last one), decoded by pompc.DecodeSnapshots from the metrics.
func snapshotAt(metrics map[string][]pompc.Record, step int64) (pompc.Snapshot, error) {
	var recs []pompc.Record
	for k, rs := range metrics {
		if pompc.IsSnapshotKey(k) {
			for _, r := range rs {
				recs = append(recs, pompc.Record{Key: k, Step: r.Step, Val: r.Val}) // keyed by the map
			}
		}
	}
	var pick *pompc.Snapshot
	snaps := pompc.DecodeSnapshots(recs)
	for i := range snaps {
		if (step < 0 || snaps[i].Step <= step) && len(snaps[i].Plan.Mean) > 0 {
			pick = &snaps[i]
		}
	}
	if pick == nil {
		return pompc.Snapshot{}, errors.New("widgets: no planner snapshots in the metrics; set snapshot_every > 0")
	}
	return *pick, nil
}

// snapshotRole is one Gaussian of a snapshot with its label and fixed colour.
type snapshotRole struct {
	label string
	col   figRGBA
	g     pompc.Gaussian
}

// at is the mean and std of dimension d (ok false where the snapshot has none).
func (r snapshotRole) at(d int) (mean, std float64, ok bool) {
	if d >= len(r.g.Mean) || d >= len(r.g.Std) {
		return 0, 0, false
	}
	return r.g.Mean[d], r.g.Std[d], true
}

// snapshotRoles are the planner (the reference), π_s and π_p of a snapshot, in their colours.
func snapshotRoles(s pompc.Snapshot) []snapshotRole {
	return []snapshotRole{{"planner", variantColors["planner"], s.Plan}, {"π_s", variantColors["π_s"], s.Pi},
		{"π_p", variantColors["π_p"], s.Prior}}
}

// ActionDistributions compares, per action dimension, the Gaussians of the planner (MPPI q,
// black), the policy π_s (blue) and the learned prior π_p (vermillion) at one planner snapshot
// (the snapshot/{plan,pi,prior}/{mean,std}/<dim> records): a dot at the mean and a bar of ± one
// standard deviation, side by side per dimension.
func ActionDistributions(metrics map[string][]pompc.Record, opts ActionOptions) (*Figure, error) {
	maxDims := opts.MaxDims
	if maxDims <= 0 {
		maxDims = 12
	}
	snap, err := snapshotAt(metrics, opts.Step)
	if err != nil {
		return nil, err
	}
	step, dims := snap.Step, min(len(snap.Plan.Mean), maxDims)
	title := opts.Title
	if title == "" {
		title = fmt.Sprintf("action distributions at step %s", figNumber(float64(step)))
	}
	p := figNewPlot(opts.Style, title, "action dimension", "action (mean ± std)")
	var ticks []plot.Tick
	for d := 0; d < dims; d++ {
		ticks = append(ticks, plot.Tick{Value: float64(d), Label: strconv.Itoa(d)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(dims)-0.5
	roles := snapshotRoles(snap)
	for k, role := range roles {
		var xy plotter.XYs
		var errs plotter.YErrors
		for d := 0; d < dims; d++ {
			m, s, ok := role.at(d)
			if !ok {
				continue
			}
			xy = append(xy, plotter.XY{X: float64(d) + (float64(k)-1)*0.22, Y: m})
			errs = append(errs, struct{ Low, High float64 }{s, s})
		}
		if len(xy) == 0 {
			continue
		}
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{xy, errs})
		if err != nil {
			return nil, err
		}
		eb.Color, eb.Width, eb.CapWidth = role.col, vg.Points(1), vg.Points(3)
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		sc.Color, sc.Shape, sc.Radius = role.col, draw.CircleGlyph{}, vg.Points(2)
		p.Add(eb, sc)
		p.Legend.Add(role.label, sc)
	}
	p.Y.Min, p.Y.Max = math.Min(p.Y.Min, -1), math.Max(p.Y.Max, 1)
	return &Figure{Plot: p, Style: opts.Style, Outside: figLegend(p, false, opts.Style, len(roles))}, nil
}

// figLambdas collects the distinct finite λ of a sweep's series in increasing order and whether
// λ = ∞ occurs; a NaN or negative λ, or no point at all, is an error.
func figLambdas(series []LambdaSeries) (finite []float64, hasInf bool, err error) {
	seen := map[float64]bool{}
	for _, s := range series {
		for _, pt := range s.Points {
			switch {
			case math.IsNaN(pt.Lambda) || pt.Lambda < 0:
				return nil, false, fmt.Errorf("widgets: bad lambda %v in %q", pt.Lambda, s.Variant)
			case math.IsInf(pt.Lambda, 1):
				hasInf = true
			case !seen[pt.Lambda]:
				seen[pt.Lambda] = true
				finite = append(finite, pt.Lambda)
			}
		}
	}
	if len(finite) == 0 && !hasInf {
		return nil, false, errors.New("widgets: no lambda points to draw")
	}
	sort.Float64s(finite)
	return finite, hasInf, nil
}
