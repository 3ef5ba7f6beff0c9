package widgets

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
)

// fakeSource hands out prepared batches of records, one per Next call.
type fakeSource struct {
	batches   [][]pompc.Record
	restarted []bool // per batch: whether Restarted reports true after it
	calls     int
	cur       bool
}

func (f *fakeSource) Next() ([]pompc.Record, error) {
	f.calls++
	f.cur = false
	if len(f.batches) == 0 {
		return nil, nil
	}
	b := f.batches[0]
	f.batches = f.batches[1:]
	if len(f.restarted) > 0 {
		f.cur, f.restarted = f.restarted[0], f.restarted[1:]
	}
	return b, nil
}

func (f *fakeSource) Restarted() bool { return f.cur }

// trainingRecords makes the records a short run emits: per-update metrics every step from
// `from`, an episode return, λ changes and planner snapshots every 10 steps.
func trainingRecords(from, to int64) []pompc.Record {
	var recs []pompc.Record
	for s := from; s < to; s++ {
		x := float64(s)
		for _, k := range append([]string{pompc.KeyKLPolicyPrior, pompc.KeyKLPriorPlanner, pompc.KeyPolicyEntropy}, pompc.LossKeys...) {
			recs = append(recs, pompc.Record{Key: k, Step: s, Val: math.Sin(x/7) + 2})
		}
		if s%10 == 0 {
			for _, n := range []string{"plan", "pi", "prior"} {
				recs = append(recs, pompc.Record{Key: "snapshot/" + n + "/mean/0", Step: s, Val: math.Cos(x / 9)},
					pompc.Record{Key: "snapshot/" + n + "/std/0", Step: s, Val: 0.3})
			}
		}
	}
	recs = append(recs, pompc.Record{Key: pompc.KeyEpisodeReturn, Step: to, Val: 321},
		pompc.Record{Key: pompc.KeyEvalReturn, Step: to, Val: 400},
		pompc.Record{Key: pompc.KeyLambda, Step: from, Val: 1}, pompc.Record{Key: pompc.KeyLambda, Step: to - 5, Val: math.Inf(1)})
	return recs
}

func TestLivePlotPanelsAndHTML(t *testing.T) {
	src := &fakeSource{batches: [][]pompc.Record{trainingRecords(0, 200)}}
	l := NewLivePlot(src, LiveOptions{Title: "test run"})
	if err := l.Redraw(); err != nil {
		t.Fatal(err)
	}
	h, err := l.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, `<div class="pompc-live" data-step="200" data-redraw="2">`) || !strings.Contains(h, "<svg") {
		t.Fatalf("HTML does not hold an SVG of step 200: %.200s", h)
	}
	if strings.Contains(h, "<?xml") {
		t.Error("the XML prolog was not stripped from the inline SVG")
	}
	for _, want := range []string{"episode return", "KL(π_s‖prior)", "KL(π_p‖planner)", "policy entropy", "λ (changes)",
		"action[0]: planner vs π_s, π_p", "test run"} {
		if !strings.Contains(h, want) {
			t.Errorf("live plot lacks %q", want)
		}
	}
	for _, k := range pompc.LossKeys {
		if !strings.Contains(h, k) {
			t.Errorf("live plot lacks the %s panel", k)
		}
	}
	if l.Redraws() != 1 {
		t.Errorf("Redraws = %d, want 1", l.Redraws())
	}
}

func TestLivePlotWaitsForData(t *testing.T) {
	l := NewLivePlot(&fakeSource{}, LiveOptions{Title: "empty"})
	h, err := l.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "waiting for the first metrics") || strings.Contains(h, "<svg") {
		t.Errorf("an empty plot should say it waits: %s", h)
	}
	if _, err := l.SVG(); err == nil {
		t.Error("SVG of an empty plot: want an error")
	}
}

// Refresh redraws only when there is something new and the interval has passed.
func TestLivePlotRefreshThrottles(t *testing.T) {
	src := &fakeSource{batches: [][]pompc.Record{trainingRecords(0, 20), trainingRecords(20, 40), nil, trainingRecords(40, 60)}}
	l := NewLivePlot(src, LiveOptions{Interval: time.Hour})
	if err := l.Refresh(); err != nil { // first picture: the last draw is "never"
		t.Fatal(err)
	}
	if err := l.Refresh(); err != nil { // new records, but within the interval
		t.Fatal(err)
	}
	if l.Redraws() != 1 || l.Step() != 40 {
		t.Fatalf("after two refreshes within the interval: %d redraws at step %d, want 1 at 40", l.Redraws(), l.Step())
	}
	l.opts.Interval = time.Nanosecond
	if err := l.Refresh(); err != nil { // pending records from before: draws
		t.Fatal(err)
	}
	if err := l.Refresh(); err != nil { // new records: draws
		t.Fatal(err)
	}
	if l.Redraws() != 3 {
		t.Errorf("%d redraws, want 3", l.Redraws())
	}
	if err := l.Refresh(); err != nil { // nothing new: no redraw
		t.Fatal(err)
	}
	if l.Redraws() != 3 {
		t.Errorf("refresh without new records redrew (%d redraws)", l.Redraws())
	}
}

// A source that reports a replaced metrics file makes the plot forget the old records.
func TestLivePlotRestart(t *testing.T) {
	src := &fakeSource{batches: [][]pompc.Record{trainingRecords(0, 100), trainingRecords(0, 50)}, restarted: []bool{false, true}}
	l := NewLivePlot(src, LiveOptions{})
	if err := l.Redraw(); err != nil {
		t.Fatal(err)
	}
	if err := l.Redraw(); err != nil {
		t.Fatal(err)
	}
	if got := len(l.Series(pompc.KeyPolicyEntropy)); got != 50 || l.Step() != 50 {
		t.Errorf("after a restart: %d entropy records up to step %d, want 50 up to 50", got, l.Step())
	}
}

func TestLivePlotPNG(t *testing.T) {
	l := NewLivePlot(nil, LiveOptions{PNG: true, Columns: 2})
	l.Add(trainingRecords(0, 30)...)
	h, err := l.HTML()
	if err != nil {
		t.Fatal(err)
	}
	const pre = `src="data:image/png;base64,`
	i := strings.Index(h, pre)
	if i < 0 {
		t.Fatalf("no PNG data URL: %.200s", h)
	}
	b64 := h[i+len(pre):]
	b64 = b64[:strings.IndexByte(b64, '"')]
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("PNG is %v, too small for a grid of panels", b)
	}
}

func TestDownsample(t *testing.T) {
	var recs []pompc.Record
	for i := 0; i < 1000; i++ {
		recs = append(recs, pompc.Record{Key: "k", Step: int64(i), Val: float64(i)})
	}
	recs[5].Val = math.NaN()
	out := downsample(recs, 100)
	if len(out) != 100 {
		t.Fatalf("%d points, want 100", len(out))
	}
	// Bucket 1 holds steps 10..19: mean 14.5, last step 19.
	if out[1].Step != 19 || out[1].Val != 14.5 {
		t.Errorf("bucket 1 = %+v, want step 19 mean 14.5", out[1])
	}
	// Bucket 0 skips the NaN: mean of 0..9 without 5.
	if want := (45.0 - 5) / 9; math.Abs(out[0].Val-want) > 1e-12 {
		t.Errorf("bucket 0 mean %v, want %v (NaN skipped)", out[0].Val, want)
	}
	if got := downsample(recs[:50], 100); len(got) != 50 {
		t.Errorf("short series changed length: %d", len(got))
	}
}
