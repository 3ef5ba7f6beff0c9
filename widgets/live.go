package widgets

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Source yields the metric records appended since its previous call. *pompc.MetricsReader
// (which follows a run directory's metrics.jsonl while a trainer appends to it) satisfies it. A
// source that also has Restarted() bool (as MetricsReader does) may report that the file was
// replaced (a resumed run truncated its metrics); the live plot then forgets what it had.
type Source interface {
	Next() ([]pompc.Record, error)
}

// LiveOptions configures a LivePlot. The zero value is usable.
type LiveOptions struct {
	// Title is drawn above the panels (e.g. the run's name).
	Title string
	// Interval is the minimum time between two redraws; Refresh calls in between only read
	// records. 0 means 1 s.
	Interval time.Duration
	// Columns of the panel grid; 0 means 4.
	Columns int
	// PanelWidth and PanelHeight are one panel's size; 0 means 3 in × 2 in.
	PanelWidth, PanelHeight vg.Length
	// MaxPoints bounds the points drawn per line: longer series are averaged over equal step
	// buckets (so noisy per-update losses also get smoothed). 0 means 300.
	MaxPoints int
	// MaxActionDims bounds the action dimensions drawn (the first ones); 0 means 4.
	MaxActionDims int
	// PNG renders a PNG image instead of SVG (smaller for very many points; SVG is crisper).
	PNG bool
}

func (o LiveOptions) withDefaults() LiveOptions {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Columns <= 0 {
		o.Columns = 4
	}
	if o.PanelWidth <= 0 {
		o.PanelWidth = 3 * vg.Inch
	}
	if o.PanelHeight <= 0 {
		o.PanelHeight = 2 * vg.Inch
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 300
	}
	if o.MaxActionDims <= 0 {
		o.MaxActionDims = 4
	}
	return o
}

// LivePlot is a grid of training plots that redraws in place in a GoNB notebook: episode and
// evaluation return, each loss, KL(π_s‖prior), KL(π_p‖planner), the policy entropy and, per
// action dimension, the planner's Gaussian next to π_s and π_p (mean ± std at the same states)
// over training. Every redraw replaces the same output block (a display id), so a saved
// notebook holds the last picture and a live browser sees it change; outside a notebook the
// plot can still be rendered to SVG or PNG. Safe for concurrent use.
type LivePlot struct {
	opts LiveOptions
	src  Source

	mu       sync.Mutex
	series   map[string][]pompc.Record
	lastStep int64
	dirty    bool
	drawn    time.Time
	redraws  int
	id       string
	info     string
}

// NewLivePlot returns a live plot reading from src (nil: records are only added with Add).
// Nothing is displayed until the first Refresh or Redraw.
func NewLivePlot(src Source, opts LiveOptions) *LivePlot {
	return &LivePlot{opts: opts.withDefaults(), src: src, series: map[string][]pompc.Record{},
		id: "pompc_live_" + uniqueID()}
}

// DisplayID is the notebook display id the plot updates.
func (l *LivePlot) DisplayID() string { return l.id }

// Redraws counts the pictures sent to the notebook so far.
func (l *LivePlot) Redraws() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.redraws
}

// SetInfo sets a line of text drawn under the title (e.g. "step 1200 · λ=1"); it is
// drawn at the next redraw.
func (l *LivePlot) SetInfo(info string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if info != l.info {
		l.info, l.dirty = info, true
	}
}

// Add appends records (in addition to those read from the source).
func (l *LivePlot) Add(recs ...pompc.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(recs)
}

func (l *LivePlot) addLocked(recs []pompc.Record) {
	for _, r := range recs {
		l.series[r.Key] = append(l.series[r.Key], r)
		if r.Step > l.lastStep {
			l.lastStep = r.Step
		}
	}
	if len(recs) > 0 {
		l.dirty = true
	}
}

// Step is the largest agent step seen in the records.
func (l *LivePlot) Step() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastStep
}

// Series returns a copy of the records of key read so far.
func (l *LivePlot) Series(key string) []pompc.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pompc.Record(nil), l.series[key]...)
}

// read pulls new records from the source.
func (l *LivePlot) readLocked() error {
	if l.src == nil {
		return nil
	}
	recs, err := l.src.Next()
	if err != nil {
		return err
	}
	if rs, ok := l.src.(interface{ Restarted() bool }); ok && rs.Restarted() {
		l.series, l.lastStep, l.dirty = map[string][]pompc.Record{}, 0, true
	}
	l.addLocked(recs)
	return nil
}

// Refresh reads new records and, if there are any and the last redraw is at least
// LiveOptions.Interval old, redraws. It is cheap to call often (e.g. from a training progress
// callback).
func (l *LivePlot) Refresh() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readLocked(); err != nil {
		return err
	}
	if !l.dirty || time.Since(l.drawn) < l.opts.Interval {
		return nil
	}
	return l.redrawLocked()
}

// Redraw reads new records and redraws now, whatever the interval (e.g. the final picture
// when training ends).
func (l *LivePlot) Redraw() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readLocked(); err != nil {
		return err
	}
	return l.redrawLocked()
}

func (l *LivePlot) redrawLocked() error {
	html, err := l.htmlLocked()
	if err != nil {
		return err
	}
	updateHTML(l.id, html)
	l.dirty, l.drawn = false, time.Now()
	l.redraws++
	return nil
}

// HTML renders the current picture as the HTML block the notebook shows: a <div> holding
// an inline <svg> (or an <img> with a PNG data URL), with data-step and data-redraw
// attributes that say which step it shows and how many redraws came before.
func (l *LivePlot) HTML() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.htmlLocked()
}

func (l *LivePlot) htmlLocked() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="pompc-live" data-step="%d" data-redraw="%d">`, l.lastStep, l.redraws+1)
	img, err := l.renderLocked()
	switch {
	case err == errNoData:
		fmt.Fprintf(&b, `<p><i>%s: waiting for the first metrics…</i></p>`, htmlEscape(l.opts.Title))
	case err != nil:
		return "", err
	case l.opts.PNG:
		fmt.Fprintf(&b, `<img alt="live training plots" src="data:image/png;base64,%s"/>`, base64Std(img))
	default:
		b.Write(stripXMLProlog(img))
	}
	b.WriteString(`</div>`)
	return b.String(), nil
}

// SVG renders the current picture as an SVG document.
func (l *LivePlot) SVG() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.opts
	o.PNG = false
	return render(l.panelsLocked(), o, l.titleLocked())
}

func (l *LivePlot) renderLocked() ([]byte, error) {
	return render(l.panelsLocked(), l.opts, l.titleLocked())
}

func (l *LivePlot) titleLocked() string {
	t := l.opts.Title
	if l.info != "" {
		if t != "" {
			t += " — "
		}
		t += l.info
	}
	return t
}

var errNoData = fmt.Errorf("widgets: no records to plot yet")

// panelsLocked builds one plot per panel that has data.
func (l *LivePlot) panelsLocked() []*plot.Plot {
	var ps []*plot.Plot
	s := l.series
	max := l.opts.MaxPoints
	if len(s[pompc.KeyEpisodeReturn])+len(s[pompc.KeyEvalReturn]) > 0 {
		p := newPanel("episode return", "return")
		if ep := s[pompc.KeyEpisodeReturn]; len(ep) < 20 {
			addLinePoints(p, "train", thin(palette[0]), ep) // few episodes: show each one
		} else {
			addLine(p, "train", thin(palette[0]), downsample(ep, max))
		}
		addLinePoints(p, "eval", palette[1], downsample(s[pompc.KeyEvalReturn], max))
		ps = append(ps, p)
	}
	for _, k := range []struct{ key, title string }{
		{pompc.KeyKLPolicyPrior, "KL(π_s‖prior)"},
		{pompc.KeyKLPriorPlanner, "KL(π_p‖planner)"},
		{pompc.KeyPolicyEntropy, "policy entropy"},
	} {
		if len(s[k.key]) > 0 {
			p := newPanel(k.title, "")
			addLine(p, "", palette[2], downsample(s[k.key], max))
			ps = append(ps, p)
		}
	}
	for _, k := range pompc.LossKeys {
		if len(s[k]) > 0 {
			p := newPanel(k, "")
			addLine(p, "", palette[3], downsample(s[k], max))
			ps = append(ps, p)
		}
	}
	if len(s[pompc.KeyLambda]) > 1 {
		p := newPanel("λ (changes)", "λ")
		addSteps(p, palette[4], s[pompc.KeyLambda], l.lastStep)
		ps = append(ps, p)
	}
	key := pompc.SnapshotKey
	for d := 0; d < l.opts.MaxActionDims; d++ {
		if len(s[key(pompc.SnapPlan, pompc.SnapMean, d)]) == 0 && len(s[key(pompc.SnapPi, pompc.SnapMean, d)]) == 0 {
			break
		}
		p := newPanel("action["+strconv.Itoa(d)+"]: planner vs π_s, π_p", "mean ± std")
		for i, r := range snapshotRoles(pompc.Snapshot{}) {
			src := []string{pompc.SnapPlan, pompc.SnapPi, pompc.SnapPrior}[i]
			addBand(p, r.label, r.col, downsample(s[key(src, pompc.SnapMean, d)], max),
				downsample(s[key(src, pompc.SnapStd, d)], max))
		}
		ps = append(ps, p)
	}
	return ps
}

func newPanel(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text = "step"
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(8)
		a.Tick.Label.Font.Size = vg.Points(7)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

func thin(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 150}
}

func finiteXYs(recs []pompc.Record) plotter.XYs {
	xy := make(plotter.XYs, 0, len(recs))
	for _, r := range recs {
		if !math.IsNaN(r.Val) && !math.IsInf(r.Val, 0) {
			xy = append(xy, plotter.XY{X: float64(r.Step), Y: r.Val})
		}
	}
	return xy
}

func addLine(p *plot.Plot, name string, c color.Color, recs []pompc.Record) {
	xy := finiteXYs(recs)
	if len(xy) == 0 {
		return
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return
	}
	l.Color, l.Width = c, vg.Points(1.2)
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
}

func addLinePoints(p *plot.Plot, name string, c color.Color, recs []pompc.Record) {
	xy := finiteXYs(recs)
	if len(xy) == 0 {
		return
	}
	l, s, err := plotter.NewLinePoints(xy)
	if err != nil {
		return
	}
	l.Color, l.Width = c, vg.Points(1.8)
	s.Color, s.Shape, s.Radius = c, draw.CircleGlyph{}, vg.Points(2)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
}

// addSteps draws a piecewise-constant series (λ) up to step end; +Inf is drawn at the top of
// the finite range and named in the legend.
func addSteps(p *plot.Plot, c color.Color, recs []pompc.Record, end int64) {
	hi := 0.0
	for _, r := range recs {
		if !math.IsInf(r.Val, 0) && r.Val > hi {
			hi = r.Val
		}
	}
	var xy plotter.XYs
	inf := false
	for i, r := range recs {
		v := r.Val
		if math.IsInf(v, 1) {
			v, inf = math.Max(1, 2*hi), true
		}
		if i > 0 {
			xy = append(xy, plotter.XY{X: float64(r.Step), Y: xy[len(xy)-1].Y})
		}
		xy = append(xy, plotter.XY{X: float64(r.Step), Y: v})
	}
	if len(xy) > 0 && float64(end) > xy[len(xy)-1].X {
		xy = append(xy, plotter.XY{X: float64(end), Y: xy[len(xy)-1].Y})
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return
	}
	l.Color, l.Width = c, vg.Points(1.5)
	p.Add(l)
	if inf {
		p.Legend.Add("top = ∞", l)
	}
}

// addBand draws mean ± std as a translucent band with the mean as a line.
func addBand(p *plot.Plot, name string, c color.Color, mean, std []pompc.Record) {
	m := finiteXYs(mean)
	if len(m) == 0 {
		return
	}
	sd := map[int64]float64{}
	for _, r := range std {
		sd[r.Step] = r.Val
	}
	var poly plotter.XYs
	ok := len(std) > 0
	if ok {
		for _, q := range m {
			poly = append(poly, plotter.XY{X: q.X, Y: q.Y + sd[int64(q.X)]})
		}
		for i := len(m) - 1; i >= 0; i-- {
			poly = append(poly, plotter.XY{X: m[i].X, Y: m[i].Y - sd[int64(m[i].X)]})
		}
		if pg, err := plotter.NewPolygon(poly); err == nil {
			r, g, b, _ := c.RGBA()
			pg.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 40}
			pg.LineStyle.Width = 0
			p.Add(pg)
		}
	}
	if len(m) < 3 {
		addLinePoints(p, name, c, mean) // a line of one or two points is hard to see
		return
	}
	addLine(p, name, c, mean)
}

// downsample averages a series over at most max equal-count buckets, keeping the last step of
// each bucket, so that long runs draw in bounded time and size. Buckets never mix NaN/Inf
// into finite means: non-finite values are skipped.
func downsample(recs []pompc.Record, max int) []pompc.Record {
	if len(recs) <= max || max <= 0 {
		return recs
	}
	out := make([]pompc.Record, 0, max)
	for b := 0; b < max; b++ {
		lo, hi := b*len(recs)/max, (b+1)*len(recs)/max
		sum, n := 0.0, 0
		for _, r := range recs[lo:hi] {
			if !math.IsNaN(r.Val) && !math.IsInf(r.Val, 0) {
				sum += r.Val
				n++
			}
		}
		if n == 0 {
			continue
		}
		out = append(out, pompc.Record{Key: recs[lo].Key, Step: recs[hi-1].Step, Val: sum / float64(n)})
	}
	return out
}

// render lays the panels out in a grid under a title and encodes them as SVG or PNG.
func render(ps []*plot.Plot, o LiveOptions, title string) ([]byte, error) {
	if len(ps) == 0 {
		return nil, errNoData
	}
	cols := o.Columns
	if len(ps) < cols {
		cols = len(ps)
	}
	rows := (len(ps) + cols - 1) / cols
	titleH := vg.Length(0)
	if title != "" {
		titleH = vg.Points(18)
	}
	w, h := o.PanelWidth*vg.Length(cols), o.PanelHeight*vg.Length(rows)+titleH
	var c vg.CanvasWriterTo
	if o.PNG {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))}
	} else {
		c = vgsvg.New(w, h)
	}
	dc := draw.New(c)
	// White background (a dark notebook theme would otherwise show black axes on black).
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if title != "" {
		sty := draw.TextStyle{Color: color.Black, Font: plot.DefaultFont, Handler: plot.DefaultTextHandler,
			XAlign: draw.XCenter, YAlign: draw.YTop}
		sty.Font.Size = vg.Points(11)
		dc.FillText(sty, vg.Point{X: w / 2, Y: h - vg.Points(3)}, title)
	}
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
		for cc := 0; cc < cols; cc++ {
			if i := r*cols + cc; i < len(ps) {
				grid[r][cc] = ps[i]
			}
		}
	}
	body := dc
	body.Max.Y -= titleH
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(4), PadY: vg.Points(4),
		PadTop: vg.Points(2), PadBottom: vg.Points(2), PadLeft: vg.Points(2), PadRight: vg.Points(2)}
	cs := plot.Align(grid, tiles, body)
	for r := range grid {
		for cc, p := range grid[r] {
			if p != nil {
				p.Draw(cs[r][cc])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// stripXMLProlog removes the <?xml …?> and <!DOCTYPE …> lines of an SVG document, which do
// not belong inside an HTML block.
func stripXMLProlog(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		return svg[i:]
	}
	return svg
}

// sortedKeys returns the map's keys in order (for deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
