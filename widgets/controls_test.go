package widgets

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
)

// fakeRun records the controls' calls and reports them back in its status, like a server.
type fakeRun struct {
	mu      sync.Mutex
	st      pompc.Status
	calls   []string
	failSet error
	stopped int
}

func newFakeRun() *fakeRun {
	return &fakeRun{st: pompc.Status{Dir: "/runs/x", Task: "cartpole-balance", Step: 120, Lambda: 1,
		Prior: pompc.PriorLearned, PriorKL: pompc.KLReverse, Training: true, TargetStep: 400, Episodes: 1,
		LastEpisodeReturn: 250}}
}

func (f *fakeRun) Status() (pompc.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

func (f *fakeRun) record(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.failSet
}

func (f *fakeRun) SetLambda(l float64) error {
	if err := f.record("lambda " + pompc.FormatLambda(l)); err != nil {
		return err
	}
	f.mu.Lock()
	f.st.Lambda = l
	f.mu.Unlock()
	return nil
}

func (f *fakeRun) SetPriorKL(d pompc.KLDir) error {
	if err := f.record("kl " + string(d)); err != nil {
		return err
	}
	f.mu.Lock()
	f.st.PriorKL = d
	f.mu.Unlock()
	return nil
}

func (f *fakeRun) SetPrior(p pompc.PriorKind) error {
	if err := f.record("prior " + string(p)); err != nil {
		return err
	}
	f.mu.Lock()
	f.st.Prior = p
	f.mu.Unlock()
	return nil
}

func (f *fakeRun) Stop() error {
	f.record("stop")
	f.mu.Lock()
	f.st.Training = false
	f.stopped++
	f.mu.Unlock()
	return nil
}

func (f *fakeRun) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Outside a notebook there is no front end: NewControls returns at once with static controls.
func TestControlsStaticWithoutFrontEnd(t *testing.T) {
	if InNotebook() {
		t.Skip("running inside GoNB")
	}
	t0 := time.Now()
	c, err := NewControls(newFakeRun(), ControlOptions{Title: "run x"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if took := time.Since(t0); took > time.Second {
		t.Errorf("NewControls took %s without a front end; it must not wait", took)
	}
	if c.Live() || FrontEnd() {
		t.Error("controls are live outside a notebook")
	}
	h := c.staticHTML()
	for _, want := range []string{"run x", `type="range" disabled`, "<option selected>reverse</option>", "<option selected>learned</option>",
		"<button disabled>"} {
		if !strings.Contains(h, want) {
			t.Errorf("static controls lack %q: %s", want, h)
		}
	}
	if _, err := NewControls(nil, ControlOptions{}); err == nil {
		t.Error("NewControls(nil): want an error")
	}
}

func TestStatusHTML(t *testing.T) {
	st := newFakeRun().st
	st.Lambda = math.Inf(1)
	st.StepsPerSec = 42
	h := statusHTML(st, "λ → inf", true)
	for _, want := range []string{`data-step="120"`, `data-lambda="inf"`, `data-prior="learned"`, `data-prior-kl="reverse"`,
		`data-training="true"`, `data-controls="live"`, "training to step 400", "last return 250.0", "42 steps/s", "<i>λ → inf</i>"} {
		if !strings.Contains(h, want) {
			t.Errorf("status line lacks %q: %s", want, h)
		}
	}
	st.Training, st.Stopped = false, true
	if h := statusHTML(st, "", true); !strings.Contains(h, `data-stopped="true"`) || !strings.Contains(h, "stopped before its target step") {
		t.Errorf("status line of a stopped run: %s", h)
	}
	st.JobError = "diverged <nan>"
	if h := statusHTML(st, "", false); !strings.Contains(h, "error: diverged &lt;nan&gt;") || !strings.Contains(h, `data-controls="static"`) {
		t.Errorf("status line does not show the escaped job error: %s", h)
	}
}

func TestLambdaStops(t *testing.T) {
	stops := lambdaStops(nil, 1)
	if len(stops) != len(DefaultLambdas) {
		t.Errorf("λ = 1 is a default stop, yet the stops changed: %v", stops)
	}
	if i := lambdaIndex(stops, 9); stops[i] != 9 {
		t.Errorf("index of 9 → %v", stops[i])
	}
	if i := lambdaIndex(stops, math.Inf(1)); !math.IsInf(stops[i], 1) {
		t.Errorf("index of inf → %v", stops[i])
	}
	if i := lambdaIndex(stops, 0); stops[i] != 0 {
		t.Errorf("index of 0 → %v", stops[i])
	}
	s2 := lambdaStops([]float64{0, 1, math.Inf(1)}, 2.5)
	if len(s2) != 4 || s2[2] != 2.5 || !math.IsInf(s2[3], 1) {
		t.Errorf("the run's own λ 2.5 is not added in order: %v", s2)
	}
	if pompc.FormatLambda(math.Inf(1)) != "inf" || pompc.FormatLambda(0.1) != "0.1" {
		t.Error("FormatLambda")
	}
}

// The widget handlers apply each change to the run and redraw the status from what the run
// reports. (The events are delivered as GoNB's subscription delivers them.)
func TestControlHandlersDriveTheRun(t *testing.T) {
	f := newFakeRun()
	c := &Controls{run: f, st: f.st, opts: ControlOptions{WidgetTimeout: time.Second}, panelID: "p", statID: "s", rootID: "r"}
	c.lambdas = lambdaStops(nil, 1)
	evs := map[string]*events{}
	for _, n := range []string{"lambda", "kl", "prior", "stop"} {
		evs[n] = newEvents()
	}
	listen(c, evs["lambda"], func(st pompc.Status) int { return lambdaIndex(c.lambdas, st.Lambda) }, func(pos int) (string, error) { return "λ", c.run.SetLambda(c.lambdas[pos]) })
	listen(c, evs["kl"], func(st pompc.Status) int { return indexOf(KLDirs, st.PriorKL) }, func(i int) (string, error) { return "kl", c.run.SetPriorKL(KLDirs[i]) })
	listen(c, evs["prior"], func(st pompc.Status) int { return indexOf(PriorKinds, st.Prior) }, func(i int) (string, error) { return "prior", c.run.SetPrior(PriorKinds[i]) })
	listen(c, evs["stop"], nil, func(int) (string, error) { return "stop", c.run.Stop() })

	// Each widget has its own handler goroutine: send one event at a time so the calls' order
	// is defined.
	// A handler is done once the status line shows what the run reports after its change.
	for i, ev := range []struct {
		ch, shows string
		v         int
	}{{"lambda", `data-lambda="9"`, lambdaIndex(c.lambdas, 9)}, {"kl", `data-prior-kl="forward"`, indexOf(KLDirs, pompc.KLForward)},
		{"prior", `data-prior="planner"`, indexOf(PriorKinds, pompc.PriorPlanner)}, {"stop", `data-training="false"`, 1}} {
		evs[ev.ch].deliver(1, ev.v)
		waitFor(t, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.events == i+1 && strings.Contains(c.lastSt, ev.shows)
		})
	}
	want := []string{"lambda 9", "kl forward", "prior planner", "stop"}
	if got := f.Calls(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("run calls %v, want %v", got, want)
	}
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.Lambda != 9 || st.PriorKL != pompc.KLForward || st.Prior != pompc.PriorPlanner || st.Training {
		t.Errorf("controls' status after the events: %+v", st)
	}
	if !strings.Contains(c.lastSt, `data-lambda="9"`) {
		t.Errorf("status line not redrawn from the run: %s", c.lastSt)
	}

	// A refused change shows the run's error in the status line.
	f.failSet = errors.New("prior none needs λ = 0")
	evs["prior"].deliver(2, indexOf(PriorKinds, pompc.PriorNone))
	waitFor(t, func() bool { return c.Events() == 5 })
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return strings.Contains(c.lastSt, "prior none needs λ = 0")
	})
	f.failSet = nil

	// An event older than one already seen (GoNB delivers each from its own goroutine, so a
	// drag's events can arrive out of order) is dropped, and the value the run already has is
	// not applied again: the run ends at the drag's last position.
	last, stale := lambdaIndex(c.lambdas, 3), lambdaIndex(c.lambdas, 9)
	evs["lambda"].deliver(5, last)
	evs["lambda"].deliver(4, stale)
	waitFor(t, func() bool { return c.Events() == 6 })
	evs["lambda"].deliver(6, last) // the change event after the last input event: same value
	evs["lambda"].deliver(3, stale)
	time.Sleep(50 * time.Millisecond)
	if got := f.Calls(); got[len(got)-1] != "lambda 3" || c.Events() != 6 {
		t.Errorf("after a drag ending on λ = 3 with stale events: run calls %v, %d events", got, c.Events())
	}
	c.Close()
	for _, e := range evs {
		e.close()
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
