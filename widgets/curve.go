// Package widgets draws pompc's figures (gonum/plot) and, in notebooks, its live plots and
// controls. It depends on pompc, never the reverse.
package widgets

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette colours the series of one run's figures (the live dashboard, the learning curve):
// the Okabe-Ito colours of style.go in the order the series are drawn.
var palette = []color.Color{OkabeBlue, OkabeVermillion, OkabeBluishGreen, OkabeReddishPurpl, OkabeOrange, OkabeSkyBlue}

// LearningCurve draws return against environment steps for one run: the training episode
// returns (thin, light) and the evaluation returns (thick, with markers) from metrics as read by
// pompc.ReadMetrics. The plot saves as PDF, SVG or PNG by file extension (plot.Save).
func LearningCurve(title string, metrics map[string][]pompc.Record) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "agent steps"
	p.Y.Label.Text = "return"
	p.Add(plotter.NewGrid())
	n := 0
	if recs := metrics[pompc.KeyEpisodeReturn]; len(recs) > 0 {
		l, err := plotter.NewLine(xys(recs))
		if err != nil {
			return nil, err
		}
		c := palette[0].(color.RGBA)
		l.Color, l.Width = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 140}, vg.Points(1)
		p.Add(l)
		p.Legend.Add("train episode", l)
		n++
	}
	if recs := metrics[pompc.KeyEvalReturn]; len(recs) > 0 {
		l, s, err := plotter.NewLinePoints(xys(recs))
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = palette[1], vg.Points(2)
		s.Color, s.Shape = palette[1], draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add("eval (no noise)", l, s)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("widgets: no %s or %s records to draw", pompc.KeyEpisodeReturn, pompc.KeyEvalReturn)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

func xys(recs []pompc.Record) plotter.XYs {
	pts := make(plotter.XYs, len(recs))
	for i, r := range recs {
		pts[i].X, pts[i].Y = float64(r.Step), r.Val
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
	return pts
}

// SaveCurve reads a run's metrics file and writes its learning curve to out (.png, .svg, .pdf),
// atomically.
func SaveCurve(metricsPath, title, out string) error {
	m, err := pompc.ReadMetrics(metricsPath)
	if err != nil {
		return err
	}
	p, err := LearningCurve(title, m)
	if err != nil {
		return err
	}
	wt, err := p.WriterTo(6*vg.Inch, 3.5*vg.Inch, strings.TrimPrefix(filepath.Ext(out), "."))
	if err != nil {
		return err
	}
	return rundir.WriteWith(out, 0o644, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}
