package widgets

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/rundir"
	"github.com/pompc/pompc/pompc/session"
	"github.com/pompc/pompc/pompc/sweep"
)

func TestNotebookParams(t *testing.T) {
	t.Setenv("GONB_TMP_DIR", t.TempDir())
	if got := Param("budget", "tiny"); got != "tiny" {
		t.Errorf("unset parameter = %q, want the default", got)
	}
	if err := SetParam("budget", "full"); err != nil {
		t.Fatal(err)
	}
	if err := SetParam("steps", "400"); err != nil {
		t.Fatal(err)
	}
	if Param("budget", "tiny") != "full" || Param("steps", "0") != "400" {
		t.Errorf("parameters not kept: budget=%q steps=%q", Param("budget", ""), Param("steps", ""))
	}
}

func TestNotebookDirs(t *testing.T) {
	d := t.TempDir()
	t.Setenv("GONB_DIR", d)
	if NotebookDir() != d {
		t.Errorf("NotebookDir = %q, want $GONB_DIR", NotebookDir())
	}
	out, err := OutDir("ablations-tiny", "figures")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || !st.IsDir() || out != filepath.Join(d, "out", "ablations-tiny", "figures") {
		t.Errorf("OutDir = %q (%v)", out, err)
	}
}

// Every budget gives valid configs for every preset, and tiny is cheap.
func TestVariantNames(t *testing.T) {
	cfg := func(preset string, mod func(*pompc.Config)) pompc.Config {
		c, err := pompc.PresetByName(preset)
		if err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	for _, tc := range []struct {
		cfg  pompc.Config
		want string
	}{
		{cfg("tdmpc2", nil), "tdmpc2"},
		{cfg("bmpc", nil), "bmpc"},
		{cfg("pompc", nil), "pompc λ=1"},
		{cfg("pompc", func(c *pompc.Config) { c.Lambda = 0.1 }), "pompc λ=0.1"},
		{cfg("pompc", func(c *pompc.Config) { c.Prior = pompc.PriorPlanner }), "pompc λ=1 prior=planner"},
		{cfg("pompc", func(c *pompc.Config) { c.PriorKL = pompc.KLForward }), "pompc λ=1 kl=forward"},
		{cfg("pompc", func(c *pompc.Config) { c.Lambda = math.Inf(1) }), "pompc λ=inf"},
	} {
		got, err := Variant("cartpole-balance", tc.cfg)
		if err != nil || got != tc.want {
			t.Errorf("Variant(%s λ=%v prior=%s kl=%s) = %q, %v; want %q", tc.cfg.Preset, tc.cfg.Lambda, tc.cfg.Prior, tc.cfg.PriorKL, got, err, tc.want)
		}
	}
}

func TestSweepRejectsBadRuns(t *testing.T) {
	ctx := context.Background()
	l := session.Launcher{}
	if _, err := Sweep(ctx, nil, l, SweepOptions{}); err == nil {
		t.Error("empty sweep: want an error")
	}
	d := t.TempDir()
	cfg := pompc.POMPC()
	cfg.Steps = 10
	r := sweep.Job{Name: "a", Dir: d, Config: cfg}
	if _, err := Sweep(ctx, []sweep.Job{r, r}, l, SweepOptions{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("same directory twice: %v", err)
	}
	cfg.Steps = 0
	if _, err := Sweep(ctx, []sweep.Job{{Name: "b", Dir: d, Config: cfg}}, l, SweepOptions{}); err == nil {
		t.Error("Steps 0: want an error")
	}
}

func TestBinnedMeanStd(t *testing.T) {
	a := []pompc.Record{{Step: 5, Val: 1}, {Step: 15, Val: 3}}
	b := []pompc.Record{{Step: 6, Val: 3}}
	mean, std := binnedMeanStd([][]pompc.Record{a, b}, 20, 2)
	if len(mean) != 2 || mean[0].Val != 2 || mean[1].Val != 3 || std[1].Val != 0 || math.Abs(std[0].Val-math.Sqrt2) > 1e-12 {
		t.Errorf("mean %+v std %+v", mean, std)
	}
}

// TestSweepDashboardSession drives real session servers: a two-run sweep in the background
// with its live view (status records, results, figures exported in three formats), a re-run that
// needs no server, and a dashboard that trains one run further while its controls change λ.
func TestSweepDashboardSession(t *testing.T) {
	if testing.Short() {
		t.Skip("starts session servers and trains (tens of seconds)")
	}
	root := t.TempDir()
	b := sweep.Budgets["tiny"]
	b.Steps, b.SeedSteps, b.EvalEvery = 60, 50, 60
	var jobs []sweep.Job
	for _, preset := range []string{"tdmpc2", "pompc"} {
		cfg, err := pompc.PresetByName(preset)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err = b.Apply(cfg.WithSize(pompc.SizeTiny)); err != nil {
			t.Fatal(err)
		}
		p, err := PointOf("cartpole-balance", cfg)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, sweep.Job{Point: p, Dir: filepath.Join(root, preset), Config: cfg})
	}
	t.Cleanup(func() { _ = session.ShutdownAll(jobs[0].Dir, jobs[1].Dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sr, err := Sweep(ctx, jobs, session.Launcher{}, SweepOptions{Title: "test", Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sr {
		if r.Status.State != rundir.StateDone || int(r.Status.Step) != b.Steps || r.Status.Launcher != "session" {
			t.Errorf("%s: status %+v; want done at step %d", r.Dir, r.Status, b.Steps)
		}
		if rundir.Exists(r.Dir, rundir.ServerFile) {
			if data, _ := os.ReadFile(rundir.Path(r.Dir, rundir.ServerFile)); len(data) > 0 {
				// The sweep shuts its servers down: server.json may remain, but nobody answers.
				if _, err := session.Open(ctx, session.Options{Dir: r.Dir, Executable: "/nonexistent"}); err == nil {
					t.Errorf("%s: a server still answers after the sweep", r.Dir)
				}
			}
		}
	}
	if len(sr) != 2 || sr[0].Variant() != "tdmpc2" || sr[1].Variant() != "pompc λ=1" || sr[0].Status.State != rundir.StateDone ||
		len(sr[1].Metrics[pompc.KeyEvalReturn]) != 1 {
		t.Fatalf("results: %+v", sr)
	}
	figs, err := SweepFigures(sr, SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := ExportFigures(figs, filepath.Join(root, "figs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3*len(figs) || len(figs) < 2 {
		t.Errorf("%d figures exported as %d files", len(figs), len(paths))
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err != nil || st.Size() < 500 {
			t.Errorf("%s: %v", p, err)
		}
	}

	// Re-running the sweep finds every run done: no server, well under a second per run.
	t0 := time.Now()
	res2, err := Sweep(ctx, jobs, session.Launcher{}, SweepOptions{Parallel: 1})
	if err != nil || len(res2) != 2 || res2[1].Status.Step != sr[1].Status.Step || res2[1].Status.Attempts != 1 {
		t.Fatalf("re-run: %+v, %v", res2, err)
	}
	if took := time.Since(t0); took > 3*time.Second {
		t.Errorf("re-running a finished sweep took %s; it should not start servers", took)
	}

	// A dashboard trains the POMPC run further; its controls change λ on the server.
	run, err := session.Open(ctx, session.Options{Dir: jobs[1].Dir, Task: "cartpole-balance", Config: jobs[1].Config})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Shutdown()
	d, err := NewDashboard(run, DashboardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Controls().Live() {
		t.Error("live controls outside a notebook")
	}
	if err := run.SetLambda(9); err != nil {
		t.Fatal(err)
	}
	if err := d.Train(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if d.Plot().Step() < int64(b.Steps) || d.Plot().Redraws() < 2 {
		t.Errorf("live plot at step %d after %d redraws", d.Plot().Step(), d.Plot().Redraws())
	}
	d.Controls().mu.Lock()
	st := d.Controls().st
	d.Controls().mu.Unlock()
	if st.Step != int64(b.Steps)+10 || st.Lambda != 9 || st.Training {
		t.Errorf("dashboard status after training: step %d λ %v training %v", st.Step, st.Lambda, st.Training)
	}
	lam := d.Plot().Series(pompc.KeyLambda)
	if len(lam) == 0 || lam[len(lam)-1].Val != 9 {
		t.Errorf("the λ change is not in the metrics the plot read: %+v", lam)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
