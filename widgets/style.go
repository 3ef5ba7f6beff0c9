package widgets

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pompc/pompc/pompc/rundir"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgeps"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Paper figure widths: one column and the full text width of a two-column paper (ICML, NeurIPS
// double-column, IEEE).
const (
	SingleColumn = 3.25 * vg.Inch
	DoubleColumn = 6.75 * vg.Inch
)

// Style sizes a figure for a paper. The zero value is a single-column figure.
type Style struct {
	// Width is the figure width (SingleColumn, DoubleColumn or any length); 0 means SingleColumn.
	Width vg.Length
	// Height is the figure height; 0 means 0.7 × Width for a single column and 0.4 × Width wider.
	Height vg.Length
	// FontSize is the size of tick labels and legend; titles and axis labels are 1 pt larger. 0
	// means 7 pt in a single column and 8 pt wider: printed at the figure's real size these match
	// a paper's caption text (8-9 pt) without crowding.
	FontSize vg.Length
	// DPI is the resolution of PNG output; 0 means 300 (print).
	DPI int
}

// Single and Double are the two paper styles.
var (
	Single = Style{Width: SingleColumn}
	Double = Style{Width: DoubleColumn}
)

// StyleByName returns Single for "single" and Double for "double".
func StyleByName(name string) (Style, error) {
	switch strings.ToLower(name) {
	case "single", "1", "single-column":
		return Single, nil
	case "double", "2", "double-column":
		return Double, nil
	}
	return Style{}, fmt.Errorf("widgets: unknown figure width %q (single or double)", name)
}

func (s Style) withDefaults() Style {
	if s.Width <= 0 {
		s.Width = SingleColumn
	}
	wide := s.Width > SingleColumn+vg.Inch/2
	if s.Height <= 0 {
		if wide {
			s.Height = 0.4 * s.Width
		} else {
			s.Height = 0.7 * s.Width
		}
	}
	if s.FontSize <= 0 {
		s.FontSize = vg.Points(7)
		if wide {
			s.FontSize = vg.Points(8)
		}
	}
	if s.DPI <= 0 {
		s.DPI = 300
	}
	return s
}

// apply sets the fonts and line widths of p for the style.
func (s Style) apply(p *plot.Plot) {
	s = s.withDefaults()
	big := s.FontSize + vg.Points(1)
	p.Title.TextStyle.Font.Size = big
	p.X.Label.TextStyle.Font.Size, p.Y.Label.TextStyle.Font.Size = s.FontSize, s.FontSize
	p.X.Tick.Label.Font.Size, p.Y.Tick.Label.Font.Size = s.FontSize-vg.Points(0.5), s.FontSize-vg.Points(0.5)
	p.Legend.TextStyle.Font.Size = s.FontSize - vg.Points(0.5)
	p.Title.Padding = vg.Points(2)
	p.X.Label.Padding, p.Y.Label.Padding = vg.Points(1), vg.Points(1)
	p.X.Tick.Length, p.Y.Tick.Length = vg.Points(3), vg.Points(3)
	p.X.LineStyle.Width, p.Y.LineStyle.Width = vg.Points(0.5), vg.Points(0.5)
	p.X.Tick.LineStyle.Width, p.Y.Tick.LineStyle.Width = vg.Points(0.5), vg.Points(0.5)
	p.Legend.ThumbnailWidth = vg.Points(12)
	p.Legend.Padding = vg.Points(1)
}

// Figure is a finished figure: a gonum plot and the paper style it is sized for.
type Figure struct {
	Plot  *plot.Plot
	Style Style
	// Outside, when set, is the legend, drawn to the right of the plot (too many entries to
	// sit inside the data area).
	Outside *plot.Legend
}

// Save writes the figure to path, choosing the format by extension: .pdf, .svg, .png (at
// Style.DPI), .eps, .jpg/.jpeg, .tif/.tiff.
// The file is written atomically (rundir.WriteWith): a reader never sees half a figure.
func (f *Figure) Save(path string) error {
	return rundir.WriteWith(path, 0o644, func(w io.Writer) error { return f.Write(w, filepath.Ext(path)) })
}

// Write renders the figure in format (an extension such as ".pdf" or "png") to w.
func (f *Figure) Write(w io.Writer, format string) error {
	s := f.Style.withDefaults()
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch strings.ToLower(strings.TrimPrefix(format, ".")) {
	case "pdf":
		c = vgpdf.New(s.Width, s.Height)
	case "svg":
		c = vgsvg.New(s.Width, s.Height)
	case "eps":
		c = vgeps.New(s.Width, s.Height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(s.Width, s.Height), vgimg.UseDPI(s.DPI), vgimg.UseBackgroundColor(color.White))}
	case "jpg", "jpeg":
		c = vgimg.JpegCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(s.Width, s.Height), vgimg.UseDPI(s.DPI), vgimg.UseBackgroundColor(color.White))}
	case "tif", "tiff":
		c = vgimg.TiffCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(s.Width, s.Height), vgimg.UseDPI(s.DPI), vgimg.UseBackgroundColor(color.White))}
	default:
		return fmt.Errorf("widgets: unknown figure format %q (pdf, svg, png, eps, jpg, tif)", format)
	}
	dc := draw.New(c)
	r := vg.Rectangle{}
	if f.Outside != nil {
		r = f.Outside.Rectangle(dc)
	}
	gap := vg.Points(6)
	lw := r.Max.X - r.Min.X + gap
	switch {
	case f.Outside == nil:
		f.Plot.Draw(dc)
	case lw > 0.4*(dc.Max.X-dc.Min.X):
		// Too wide to sit beside the plot (a single column): inside after all, in the top left,
		// the y range raised by the legend's height so that it sits above the data.
		p := *f.Plot
		p.Legend = *f.Outside
		p.Legend.XOffs = vg.Points(4)
		frac := math.Min(float64((r.Max.Y-r.Min.Y)/(0.7*(dc.Max.Y-dc.Min.Y)))+0.05, 0.6)
		if p.Y.Max > p.Y.Min {
			p.Y.Max = p.Y.Min + (p.Y.Max-p.Y.Min)/(1-frac)
		}
		p.Draw(dc)
	default:
		// The legend's width, a gap, and the plot in what is left; the legend starts level with
		// the top of the data area (below the title).
		f.Plot.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		leg := *f.Outside
		if f.Plot.Title.Text != "" {
			leg.YOffs = -f.Plot.Title.TextStyle.Height(f.Plot.Title.Text) - f.Plot.Title.Padding
		}
		leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw+gap, 0, 0, 0))
	}
	_, err := c.WriteTo(w)
	return err
}

// Okabe & Ito's colour-blind-safe palette (Color Universal Design), in the order colours are
// handed to variants without a fixed colour. Yellow is left out: it vanishes on white paper.
var (
	OkabeBlack        = color.RGBA{0, 0, 0, 255}
	OkabeOrange       = color.RGBA{230, 159, 0, 255}
	OkabeSkyBlue      = color.RGBA{86, 180, 233, 255}
	OkabeBluishGreen  = color.RGBA{0, 158, 115, 255}
	OkabeBlue         = color.RGBA{0, 114, 178, 255}
	OkabeVermillion   = color.RGBA{213, 94, 0, 255}
	OkabeReddishPurpl = color.RGBA{204, 121, 167, 255}
	// Grey (not an Okabe-Ito colour, but safe for every colour vision) marks published baselines.
	Grey = color.RGBA{120, 120, 120, 255}
)

var okabeOrder = []color.RGBA{OkabeBlue, OkabeVermillion, OkabeBluishGreen, OkabeOrange, OkabeReddishPurpl, OkabeSkyBlue, OkabeBlack, Grey}

// Published reference curves (see ReferenceCurve).
const (
	RefTDMPC2 = "TD-MPC2 (published)"
	RefBMPC   = "BMPC (published)"
	RefSAC    = "SAC (published)"
)

// DarkVermillion (a darker shade of the Okabe-Ito vermillion that marks BMPC) marks BMPC's
// published curve.
var DarkVermillion = color.RGBA{140, 55, 0, 255}

// variantColors fixes the colour of the variants that appear across the project's figures:
// the three presets, the usual lambdas, the published baselines, and the prior and KL choices
// (for sweeps whose variants differ only in one of those).
var variantColors = map[string]color.RGBA{
	"tdmpc2":      OkabeBlue,
	"bmpc":        OkabeVermillion,
	"pompc λ=1":   OkabeBluishGreen,
	"pompc λ=0.1": OkabeSkyBlue,
	"pompc λ=9":   OkabeReddishPurpl,
	"pompc λ=3":   OkabeOrange,
	"pompc λ=inf": OkabeVermillion,
	RefTDMPC2:     OkabeBlack,
	RefBMPC:       DarkVermillion,
	RefSAC:        Grey,
	"planner":     OkabeBlack,
	"π_s":         OkabeBlue,
	"π_p":         OkabeVermillion,
}

// attributeColors colour variants by their prior or KL choice when no exact entry matches.
var attributeColors = []struct {
	token string
	col   color.RGBA
}{
	{"kl=reverse", OkabeBluishGreen}, {"kl=forward", OkabeOrange},
	{"prior=learned", OkabeBluishGreen}, {"prior=planner", OkabeReddishPurpl},
}

// Palette gives every variant one colour, the same in every figure drawn with it (gonum and
// echarts alike). Variants with a fixed colour (the presets, lambda 0.1/1/3/9, the published
// curves, planner/π_s/π_p) always get it; the others get the first unused Okabe-Ito colour, in
// sorted order of the variants the palette was made with, so one palette made from a sweep's
// variant list colours all of its figures consistently.
type Palette struct {
	m    map[string]color.RGBA
	used map[color.RGBA]bool
}

// NewPalette assigns colours to variants (more may be added later by Color).
func NewPalette(variants ...string) *Palette {
	p := &Palette{m: map[string]color.RGBA{}, used: map[color.RGBA]bool{}}
	vs := append([]string(nil), variants...)
	sort.Strings(vs)
	for _, v := range vs {
		if c, ok := variantColors[v]; ok {
			p.m[v] = c
			p.used[c] = true
		}
	}
	for _, v := range vs {
		p.Color(v)
	}
	return p
}

// Color returns the colour of variant, assigning one if it has none yet.
func (p *Palette) Color(variant string) color.RGBA {
	if c, ok := p.m[variant]; ok {
		return c
	}
	c, ok := variantColors[variant]
	if !ok {
		for _, a := range attributeColors {
			if strings.Contains(variant, a.token) && !p.used[a.col] {
				c, ok = a.col, true
				break
			}
		}
	}
	if !ok {
		c = okabeOrder[len(p.m)%len(okabeOrder)]
		for _, cand := range okabeOrder {
			if !p.used[cand] {
				c = cand
				break
			}
		}
	}
	p.m[variant] = c
	p.used[c] = true
	return c
}

// Hex returns the colour of variant as "#rrggbb" (for echarts).
func (p *Palette) Hex(variant string) string { return hexOf(p.Color(variant)) }

// hexOf writes a colour as "#rrggbb".
func hexOf(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func figAlpha(c color.RGBA, a uint8) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: a}
}

// figRGBA is the colour type of the palette.
type figRGBA = color.RGBA
