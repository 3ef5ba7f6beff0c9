package widgets

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pompc/pompc/pompc"

	gwidgets "github.com/janpfeifer/gonb/gonbui/widgets"

	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/dom"
)

// Run is what the notebook widgets need from a training run. *session.Run (a client of the
// run's server process) satisfies it; tests use a fake.
type Run interface {
	// Status reports the run's step, λ, prior, KL direction, whether it trains, and so on.
	Status() (pompc.Status, error)
	// SetLambda changes λ from the next update on (0: TD-MPC2, +Inf: BMPC).
	SetLambda(lambda float64) error
	// SetPriorKL changes the direction of the KL that fits π_p to the planner.
	SetPriorKL(d pompc.KLDir) error
	// SetPrior changes what π_s is regularized towards.
	SetPrior(p pompc.PriorKind) error
	// Stop ends the current training job at the next step.
	Stop() error
}

// LambdaEnds says what the slider's two ends do to a run (its tooltip; README "Presets and
// deviations"): λ = 0 trains TD-MPC2's losses from the next update on (no Qk loss, no prior
// fit, no reanalysis, Qk and π_p kept frozen for a later λ > 0) in the run's own policy form;
// λ = ∞ trains BMPC's imitation of the prior. The change is recorded as a knob record.
const LambdaEnds = "0: TD-MPC2's losses from the next update (no Qk, no prior fit, no reanalysis; this run's policy form) · ∞: BMPC's imitation of the prior"

// DefaultLambdas are the slider's stops: 0 (TD-MPC2), a log-spaced range that holds the paper's
// values 0.1, 1 and 9, and +Inf (BMPC). The run's own λ is added if it is not one of them.
var DefaultLambdas = []float64{0, 0.01, 0.03, 0.1, 0.3, 1, 3, 9, 30, 100, math.Inf(1)}

// KLDirs and PriorKinds are the choices of the KL-direction toggle and the prior select.
var (
	KLDirs     = []pompc.KLDir{pompc.KLForward, pompc.KLReverse}
	PriorKinds = []pompc.PriorKind{pompc.PriorLearned, pompc.PriorPlanner, pompc.PriorNone}
)

// ControlOptions configures Controls. The zero value is usable.
type ControlOptions struct {
	// Title heads the panel (e.g. the run directory).
	Title string
	// Lambdas are the slider's stops (sorted, may end with +Inf); nil means DefaultLambdas.
	Lambdas []float64
	// WidgetTimeout bounds the wait for each widget's first answer from the browser; after
	// it the controls fall back to static HTML. 0 means 5 s.
	WidgetTimeout time.Duration
	// Static forces the static rendering (no probe, no widgets).
	Static bool
}

// Controls is the panel that steers a run from a notebook: a λ slider, a KL-direction toggle,
// a prior select and a stop button, wired to Run.SetLambda, SetPriorKL, SetPrior and Stop,
// with a status line (step, λ, prior, KL direction, training or not) read back from the run
// itself, so it shows what the run actually uses rather than what a widget asked for.
//
// With a browser connected (FrontEnd) the widgets are GoNB's own (gonbui/widgets). Their
// events reach only the process of the cell that created them, so build the controls in the
// cell that trains or watches the run (Dashboard does that) and keep that cell running while
// you want them to act. Without a browser (nbconvert, nbclient, a terminal) NewControls
// returns at once and the panel is static HTML of the current state, redrawn by Refresh.
type Controls struct {
	run     Run
	opts    ControlOptions
	live    bool
	panelID string // display id of the panel (static HTML, or the container of live widgets)
	statID  string // display id of the status line
	rootID  string // DOM id of the live widgets' container

	mu      sync.Mutex
	st      pompc.Status
	msg     string
	lastSt  string
	lastPan string
	lambdas []float64
	events  int

	closers  []func()
	widgetID []string
	labelID  string
}

// NewControls shows the control panel for run and, with a browser connected, starts
// listening to its widgets. It returns quickly in both cases (a few seconds at most: the
// front-end probe and each widget's first answer are bounded). Call Close when the cell is
// done with it.
func NewControls(run Run, opts ControlOptions) (*Controls, error) {
	if run == nil {
		return nil, fmt.Errorf("widgets: NewControls: nil run")
	}
	if opts.WidgetTimeout <= 0 {
		opts.WidgetTimeout = 5 * time.Second
	}
	st, err := run.Status()
	if err != nil {
		return nil, fmt.Errorf("widgets: reading the run's status: %w", err)
	}
	c := &Controls{run: run, opts: opts, st: st, panelID: "pompc_controls_" + uniqueID(),
		statID: "pompc_status_" + uniqueID(), rootID: "pompc_controls_root_" + uniqueID()}
	c.lambdas = lambdaStops(opts.Lambdas, st.Lambda)
	if !opts.Static && FrontEnd() {
		if err := c.buildLive(); err != nil {
			c.msg = "live controls unavailable (" + err.Error() + "): showing static state"
		} else {
			c.live = true
		}
	}
	c.render()
	return c, nil
}

// Live reports whether the controls are interactive widgets (a browser answered) rather than
// static HTML.
func (c *Controls) Live() bool { return c.live }

// Lambdas returns the slider's stops.
func (c *Controls) Lambdas() []float64 { return append([]float64(nil), c.lambdas...) }

// Events counts the widget events handled so far.
func (c *Controls) Events() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events
}

// lambdaStops returns the sorted stops with cur added if missing.
func lambdaStops(stops []float64, cur float64) []float64 {
	if len(stops) == 0 {
		stops = DefaultLambdas
	}
	out := append([]float64(nil), stops...)
	found := false
	for _, v := range out {
		if v == cur {
			found = true
		}
	}
	if !found && !math.IsNaN(cur) && cur >= 0 {
		out = append(out, cur)
	}
	sort.Float64s(out)
	return out
}

// lambdaIndex is the stop nearest to lambda (on a log scale between the finite ends).
func lambdaIndex(stops []float64, lambda float64) int {
	best, bestD := 0, math.Inf(1)
	for i, v := range stops {
		var d float64
		switch {
		case v == lambda:
			return i
		case math.IsInf(v, 1) || math.IsInf(lambda, 1):
			d = math.Inf(1)
		default:
			d = math.Abs(math.Log1p(v) - math.Log1p(lambda))
		}
		if d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// buildLive creates the GoNB widgets inside the panel's container and starts their handlers.
func (c *Controls) buildLive() error {
	updateHTML(c.panelID, fmt.Sprintf(`<div class="pompc-controls" id="%s" style="display:flex;gap:1.2em;align-items:center;flex-wrap:wrap"></div>`, c.rootID))
	idx := lambdaIndex(c.lambdas, c.st.Lambda)
	c.labelID = "pompc_lambda_label_" + uniqueID()
	dom.Append(c.rootID, fmt.Sprintf(`<style>#%s input[type=range]{width:16em;display:inline-block}</style><b>%s</b>`,
		c.rootID, htmlEscape(c.opts.Title)))
	dom.Append(c.rootID, fmt.Sprintf(`<label title="%s">λ = <span id="%s">%s</span></label>`, LambdaEnds, c.labelID, pompc.FormatLambda(c.lambdas[idx])))
	var slider *gwidgets.SliderBuilder
	if err := c.done("λ slider", func() {
		slider = gwidgets.Slider(0, len(c.lambdas)-1, idx).AppendTo(c.rootID).
			WithHtmlId("pompc_lambda_" + uniqueID()).Done()
	}); err != nil {
		return err
	}
	dom.Append(c.rootID, `<label>KL(π_p, planner):</label>`)
	var kl *gwidgets.SelectBuilder
	if err := c.done("KL toggle", func() {
		kl = gwidgets.Select(klNames()).SetDefault(indexOf(KLDirs, c.st.PriorKL)).AppendTo(c.rootID).
			WithHtmlId("pompc_kl_" + uniqueID()).Done()
	}); err != nil {
		return err
	}
	dom.Append(c.rootID, `<label>prior:</label>`)
	var prior *gwidgets.SelectBuilder
	if err := c.done("prior select", func() {
		prior = gwidgets.Select(priorNames()).SetDefault(indexOf(PriorKinds, c.st.Prior)).AppendTo(c.rootID).
			WithHtmlId("pompc_prior_" + uniqueID()).Done()
	}); err != nil {
		return err
	}
	var stop *gwidgets.ButtonBuilder
	if err := c.done("stop button", func() {
		stop = gwidgets.Button("■ Stop").AppendTo(c.rootID).WithHtmlId("pompc_stop_" + uniqueID()).Done()
	}); err != nil {
		return err
	}
	c.widgetID = []string{slider.HtmlId(), kl.HtmlId(), prior.HtmlId(), stop.HtmlId()}

	listen(c, c.widgetEvents(slider.HtmlId()), func(st pompc.Status) int { return slices.Index(c.lambdas, st.Lambda) }, func(pos int) (string, error) {
		if pos < 0 || pos >= len(c.lambdas) {
			return "", fmt.Errorf("slider position %d out of range", pos)
		}
		l := c.lambdas[pos]
		dom.SetInnerText(c.labelID, pompc.FormatLambda(l))
		return "λ → " + pompc.FormatLambda(l), c.run.SetLambda(l)
	})
	listen(c, c.widgetEvents(kl.HtmlId()), func(st pompc.Status) int { return indexOf(KLDirs, st.PriorKL) }, func(i int) (string, error) {
		if i < 0 || i >= len(KLDirs) {
			return "", fmt.Errorf("KL choice %d out of range", i)
		}
		return "KL → " + string(KLDirs[i]), c.run.SetPriorKL(KLDirs[i])
	})
	listen(c, c.widgetEvents(prior.HtmlId()), func(st pompc.Status) int { return indexOf(PriorKinds, st.Prior) }, func(i int) (string, error) {
		if i < 0 || i >= len(PriorKinds) {
			return "", fmt.Errorf("prior choice %d out of range", i)
		}
		return "prior → " + string(PriorKinds[i]), c.run.SetPrior(PriorKinds[i])
	})
	// The button's values are its click counter: increasing, so each click is a new value.
	clicks := newEvents()
	stopCh := stop.Listen()
	go func() {
		for n := range stopCh.C {
			clicks.deliver(int64(n), n)
		}
	}()
	c.closers = append(c.closers, stopCh.Close, clicks.close)
	listen(c, clicks, nil, func(int) (string, error) {
		return "stop requested", c.run.Stop()
	})
	return nil
}

// done runs a widget's Done (which waits for the browser's first answer) with a timeout.
func (c *Controls) done(what string, build func()) error {
	ch := make(chan struct{})
	go func() {
		defer func() { _ = recover() }()
		build()
		close(ch)
	}()
	select {
	case <-ch:
		return nil
	case <-time.After(c.opts.WidgetTimeout):
		return fmt.Errorf("the browser did not answer the %s within %s", what, c.opts.WidgetTimeout)
	}
}

// events holds the newest value of one widget. GoNB hands each message from the browser to
// its subscribers from a goroutine of its own, so two quick moves of a slider can arrive in
// either order (a drag that ended on λ = 9 was seen applying λ = 3 last); each value therefore
// carries the browser's sequence number and an older one than the newest seen is dropped.
type events struct {
	mu     sync.Mutex
	seq    int64
	val    int
	notify chan struct{} // one pending wake-up at most
	done   chan struct{}
	once   sync.Once
}

func newEvents() *events {
	return &events{seq: -1, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// deliver records value val with sequence number seq, unless a newer one was seen; safe from
// any goroutine, also after close.
func (e *events) deliver(seq int64, val int) {
	e.mu.Lock()
	if seq <= e.seq {
		e.mu.Unlock()
		return
	}
	e.seq, e.val = seq, val
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// latest is the newest value delivered.
func (e *events) latest() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.val
}

func (e *events) close() { e.once.Do(func() { close(e.done) }) }

// eventSeqBase packs a browser event as seq·eventSeqBase + value (widget values are small
// non-negative indices), so that one number carries both through GoNB's comms.
const eventSeqBase = 1 << 16

// widgetEvents subscribes to the value-with-sequence messages of the page element htmlID
// (a GoNB slider or select, whose value is an index): a script in the page numbers every
// input/change event of the element and sends seq·eventSeqBase + value on an address of
// this panel, next to GoNB's own (unnumbered) message for the same event.
func (c *Controls) widgetEvents(htmlID string) *events {
	e := newEvents()
	address := "/pompc/controls/" + htmlID
	id := comms.Subscribe(address, func(_ string, v int) {
		if v >= 0 {
			e.deliver(int64(v/eventSeqBase), v%eventSeqBase)
		}
	})
	// Unsubscribing waits for GoNB's subscription lock, which its dispatch can leave held when a
	// message arrives for an address nobody listens to any more: never block Close on it.
	c.closers = append(c.closers, func() { e.close(); go comms.Unsubscribe(id) })
	dom.TransientJavascript(fmt.Sprintf(`(() => {
  const comm = globalThis?.gonb_comm, el = document.getElementById(%q);
  if (!comm || !el) { console.error("pompc: the controls will not reach the run (no GoNB comms)"); return; }
  let seq = 0;
  const send = () => { seq++; comm.send(%q, seq * %d + Number(el.value)); };
  el.addEventListener("input", send);
  el.addEventListener("change", send);
})();`, htmlID, address, eventSeqBase))
	return e
}

// listen applies a widget's newest value to the run, one change at a time, until the events
// close: it applies the value unless the run already has it (have: the widget value of the
// run's latest status, e.g. after another dashboard changed it; nil for a button), then reads
// the run's status back and redraws the status line. Values that arrive while a change is
// applied collapse into the newest.
func listen(c *Controls, e *events, have func(pompc.Status) int, apply func(int) (string, error)) {
	go func() {
		for {
			select {
			case <-e.done:
				return
			case <-e.notify:
			}
			select {
			case <-e.done: // closed while a value was pending: the controls are inactive
				return
			default:
			}
			v := e.latest()
			if have != nil {
				c.mu.Lock()
				h := have(c.st)
				c.mu.Unlock()
				if v == h {
					continue
				}
			}
			c.Note("applying your change…") // the run applies it between two steps
			what, err := apply(v)
			c.mu.Lock()
			c.events++
			if err != nil {
				c.msg = what + ": " + err.Error()
			} else {
				c.msg = what
			}
			c.mu.Unlock()
			if st, err := c.run.Status(); err == nil {
				c.Refresh(st)
			} else {
				c.mu.Lock()
				c.msg += " (status: " + err.Error() + ")"
				c.mu.Unlock()
				c.render()
			}
		}
	}()
}

// Refresh redraws the status line (and the static panel) from a status of the run, e.g. one
// a training progress callback received. Unchanged output is not resent.
func (c *Controls) Refresh(st pompc.Status) {
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
	c.render()
}

// Note sets the message shown in the status line (e.g. "training finished").
func (c *Controls) Note(msg string) {
	c.mu.Lock()
	c.msg = msg
	c.mu.Unlock()
	c.render()
}

func (c *Controls) render() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := statusHTML(c.st, c.msg, c.live); s != c.lastSt {
		updateHTML(c.statID, s)
		c.lastSt = s
	}
	if !c.live {
		if s := c.staticHTML(); s != c.lastPan {
			updateHTML(c.panelID, s)
			c.lastPan = s
		}
	}
}

// Close stops handling widget events. With live widgets it also disables them in the page,
// since nothing would act on them once the cell's process ends.
func (c *Controls) Close() {
	c.mu.Lock()
	closers := c.closers
	c.closers = nil
	c.mu.Unlock()
	for _, f := range closers {
		f()
	}
	if c.live && len(closers) > 0 {
		var js strings.Builder
		for _, id := range c.widgetID {
			fmt.Fprintf(&js, "{const e=document.getElementById(%q); if (e) { e.disabled = true; e.title = 'the cell that owned these controls has finished: run a training or watch cell to steer the run again'; }}\n", id)
		}
		dom.TransientJavascript(js.String())
		c.Note("controls inactive: their cell finished")
	}
}

// statusHTML is the status line: what the run reports, as text and as data-* attributes
// (which the browser test and other tools read).
func statusHTML(st pompc.Status, msg string, live bool) string {
	state := "idle"
	if st.Training {
		state = "training"
		if st.TargetStep > 0 {
			state = fmt.Sprintf("training to step %d", st.TargetStep)
		}
	}
	if !st.Training && st.Stopped {
		state = "stopped before its target step"
	}
	if st.JobError != "" {
		state = "error: " + st.JobError
	}
	mode := "static"
	if live {
		mode = "live"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="pompc-status" data-step="%d" data-lambda="%s" data-prior="%s" data-prior-kl="%s" data-training="%t" data-stopped="%t" data-controls="%s" style="font-family:monospace">`,
		st.Step, pompc.FormatLambda(st.Lambda), htmlEscape(string(st.Prior)), htmlEscape(string(st.PriorKL)), st.Training, st.Stopped, mode)
	fmt.Fprintf(&b, "step %d · λ = %s · prior %s · KL %s · %s", st.Step, pompc.FormatLambda(st.Lambda), htmlEscape(string(st.Prior)),
		htmlEscape(string(st.PriorKL)), htmlEscape(state))
	if st.Episodes > 0 && st.LastEpisodeReturn != 0 && !math.IsNaN(st.LastEpisodeReturn) {
		fmt.Fprintf(&b, " · last return %.1f", st.LastEpisodeReturn)
	}
	if st.StepsPerSec > 0 && st.Training {
		fmt.Fprintf(&b, " · %.0f steps/s", st.StepsPerSec)
	}
	if msg != "" {
		fmt.Fprintf(&b, ` · <i>%s</i>`, htmlEscape(msg))
	}
	b.WriteString(`</div>`)
	return b.String()
}

// staticHTML draws the controls as disabled form elements showing the current state: what a
// saved or headless notebook shows instead of the live widgets.
func (c *Controls) staticHTML() string {
	var b strings.Builder
	b.WriteString(`<div class="pompc-controls pompc-static" style="display:flex;gap:1.2em;align-items:center;flex-wrap:wrap">`)
	if c.opts.Title != "" {
		fmt.Fprintf(&b, `<b>%s</b>`, htmlEscape(c.opts.Title))
	}
	idx := lambdaIndex(c.lambdas, c.st.Lambda)
	fmt.Fprintf(&b, `<label title="%s">λ = %s <input type="range" disabled min="0" max="%d" value="%d"/></label>`,
		LambdaEnds, pompc.FormatLambda(c.st.Lambda), len(c.lambdas)-1, idx)
	b.WriteString(`<label>KL(π_p, planner): <select disabled>`)
	for _, d := range KLDirs {
		sel := ""
		if d == c.st.PriorKL {
			sel = " selected"
		}
		fmt.Fprintf(&b, `<option%s>%s</option>`, sel, htmlEscape(string(d)))
	}
	b.WriteString(`</select></label><label>prior: <select disabled>`)
	for _, p := range PriorKinds {
		sel := ""
		if p == c.st.Prior {
			sel = " selected"
		}
		fmt.Fprintf(&b, `<option%s>%s</option>`, sel, htmlEscape(string(p)))
	}
	b.WriteString(`</select></label><button disabled>■ Stop</button>`)
	b.WriteString(`<small><i>no browser attached to this cell: controls show the run's state read-only</i></small></div>`)
	return b.String()
}

func klNames() []string {
	out := make([]string, len(KLDirs))
	for i, d := range KLDirs {
		out[i] = string(d)
	}
	return out
}

func priorNames() []string {
	out := make([]string, len(PriorKinds))
	for i, p := range PriorKinds {
		out[i] = string(p)
	}
	return out
}

func indexOf[T comparable](xs []T, x T) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}
