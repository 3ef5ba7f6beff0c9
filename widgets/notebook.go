package widgets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
)

// Trainable is a Run that trains: *session.Run satisfies it.
type Trainable interface {
	Run
	// Dir is the run directory (its metrics.jsonl feeds the live plots).
	Dir() string
	// Train takes steps agent steps, calling progress about every half second.
	Train(ctx context.Context, steps int, progress func(pompc.Status)) error
	// Wait follows the training in progress (e.g. one started by Start in another cell).
	Wait(ctx context.Context, progress func(pompc.Status)) error
}

// DashboardOptions configures a Dashboard. The zero value is usable.
type DashboardOptions struct {
	// Title heads the controls and the plots (default: the run directory's base name).
	Title string
	// Live configures the live plots.
	Live LiveOptions
	// Controls configures the control panel.
	Controls ControlOptions
	// NoControls shows the plots only.
	NoControls bool
}

// Dashboard is what a training cell shows: the control panel (λ slider, KL-direction toggle,
// prior select, stop button), a status line, and live plots that redraw while the run trains.
// Build it in the cell that trains (Train) or follows a background run (Watch): widget events
// only reach a running cell's process, and the controls act for as long as that cell runs.
// Headless (no browser answers) it returns at once, the controls are static HTML, and the
// plots still update in place, so an executed notebook keeps the last picture.
type Dashboard struct {
	run      Trainable
	controls *Controls
	plot     *LivePlot
	reader   *pompc.MetricsReader
}

// NewDashboard shows the dashboard of run and draws what its metrics hold so far.
func NewDashboard(run Trainable, opts DashboardOptions) (*Dashboard, error) {
	if run == nil {
		return nil, errors.New("widgets: NewDashboard: nil run")
	}
	if opts.Title == "" {
		opts.Title = filepath.Base(run.Dir())
	}
	reader, err := pompc.OpenMetrics(run.Dir())
	if err != nil {
		return nil, err
	}
	d := &Dashboard{run: run, reader: reader}
	if !opts.NoControls {
		co := opts.Controls
		if co.Title == "" {
			co.Title = opts.Title
		}
		if d.controls, err = NewControls(run, co); err != nil {
			reader.Close()
			return nil, err
		}
	}
	lo := opts.Live
	if lo.Title == "" {
		lo.Title = opts.Title
	}
	d.plot = NewLivePlot(reader, lo)
	if err := d.plot.Redraw(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Controls is the dashboard's control panel (nil with NoControls).
func (d *Dashboard) Controls() *Controls { return d.controls }

// Plot is the dashboard's live plot.
func (d *Dashboard) Plot() *LivePlot { return d.plot }

// progress is the training progress callback: status line and live plots.
func (d *Dashboard) progress(st pompc.Status) {
	if d.controls != nil {
		d.controls.Refresh(st)
	}
	d.plot.SetInfo(statusInfo(st))
	_ = d.plot.Refresh()
}

func statusInfo(st pompc.Status) string {
	return fmt.Sprintf("step %d · λ=%s · prior %s · KL %s", st.Step, pompc.FormatLambda(st.Lambda), st.Prior, st.PriorKL)
}

// Train trains steps agent steps with the controls active and the plots redrawing, and
// returns when they are done, when Stop is pressed (nil error), or when the cell is
// interrupted (the run stops at the next step and saves; the error says so).
func (d *Dashboard) Train(ctx context.Context, steps int) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	err := d.run.Train(ctx, steps, d.progress)
	return d.finish(err)
}

// Watch follows the run's training in progress (started by Start, possibly in another cell)
// with the controls active, until it ends. Interrupting the cell stops watching, not the run.
func (d *Dashboard) Watch(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	err := d.run.Wait(ctx, d.progress)
	return d.finish(err)
}

func (d *Dashboard) finish(err error) error {
	st, serr := d.run.Status()
	if serr == nil {
		d.progress(st)
	}
	if rerr := d.plot.Redraw(); err == nil {
		err = rerr
	}
	if d.controls != nil {
		switch {
		case err != nil:
			d.controls.Note("training ended: " + err.Error())
		case serr == nil && st.Stopped:
			d.controls.Note(fmt.Sprintf("training stopped at step %d", st.Step))
		default:
			d.controls.Note("training finished")
		}
	}
	return err
}

// Close deactivates the controls, releases the metrics reader and flushes the notebook output.
// The run itself stays as it is (its server keeps running until idle or Shutdown).
func (d *Dashboard) Close() error {
	if d.controls != nil {
		d.controls.Close()
	}
	err := d.reader.Close()
	syncDisplay()
	return err
}

// ---- notebook parameters and files ----

// NotebookDir is the directory of the notebook being run: GoNB's $GONB_DIR (the kernel's
// working directory, which Jupyter sets to the notebook's folder), else the working directory.
func NotebookDir() string {
	if d := os.Getenv("GONB_DIR"); d != "" {
		return d
	}
	d, err := os.Getwd()
	if err != nil {
		return "."
	}
	return d
}

// OutDir returns (and creates) the notebook-relative output folder for figures and runs:
// NotebookDir()/out/sub.
func OutDir(sub ...string) (string, error) {
	d := filepath.Join(append([]string{NotebookDir(), "out"}, sub...)...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("widgets: creating output folder: %w", err)
	}
	return d, nil
}

// paramsFile keeps a notebook's parameters between its cells. GoNB runs each cell in a new
// process, so a flag parsed by the first cell (`%% --budget=tiny`) is gone in the next one;
// $GONB_TMP_DIR lives exactly as long as the kernel, which is the lifetime wanted.
func paramsFile() string {
	d := os.Getenv("GONB_TMP_DIR")
	if d == "" {
		d = filepath.Join(os.TempDir(), fmt.Sprintf("pompc-notebook-%d", os.Getuid()))
	}
	return filepath.Join(d, "pompc-params.json")
}

var paramsMu sync.Mutex

// SetParam records a notebook parameter for the cells that follow in this kernel (e.g. the
// --budget flag of the first cell).
func SetParam(name, value string) error {
	paramsMu.Lock()
	defer paramsMu.Unlock()
	m := readParams()
	m[name] = value
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	p := paramsFile()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("widgets: saving notebook parameters: %w", err)
	}
	if err := rundir.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("widgets: saving notebook parameters: %w", err)
	}
	return nil
}

// Param returns a notebook parameter recorded by SetParam in this kernel, or def if none was.
func Param(name, def string) string {
	paramsMu.Lock()
	defer paramsMu.Unlock()
	if v, ok := readParams()[name]; ok {
		return v
	}
	return def
}

func readParams() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(paramsFile())
	if err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// waitTick is the polling period of Sweep.
const waitTick = 500 * time.Millisecond
