package widgets

import (
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
)

// referenceFS holds the TD-MPC2 authors' published per-seed DMC curves and the BMPC authors'
// published mean curves with their bands (see reference/SOURCE.md).
//
//go:embed reference/tdmpc2/*.csv reference/sac/*.csv reference/bmpc/*.csv reference/SOURCE.md
var referenceFS embed.FS

// ReferenceSource names where the embedded reference curves come from.
const ReferenceSource = "TD-MPC2 authors' published results (github.com/nicklashansen/tdmpc2, results/, commit e9f5932); " +
	"BMPC authors' published results (github.com/wertyuilife2/bmpc, results/, commit d5dabc6)"

// ReferenceActionRepeat converts the published x axis (environment steps) to agent steps.
const ReferenceActionRepeat = 2

// ReferenceTasks lists the tasks with published curves for algo ("tdmpc2", "bmpc" or "sac").
func ReferenceTasks(algo string) []string {
	entries, err := fs.ReadDir(referenceFS, "reference/"+algo)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".csv"))
	}
	sort.Strings(out)
	return out
}

// ReferenceCurve returns the published evaluation returns of algo on task as a Curve named
// RefTDMPC2, RefBMPC or RefSAC, with steps converted to agent steps (environment steps /
// ReferenceActionRepeat) so they share an axis with pompc's curves: per seed for "tdmpc2" and
// "sac", as the published mean and band (Curve.Band, 5 seeds) for "bmpc".
func ReferenceCurve(algo, task string) (Curve, error) {
	name := map[string]string{"tdmpc2": RefTDMPC2, "bmpc": RefBMPC, "sac": RefSAC}[algo]
	if name == "" {
		return Curve{}, fmt.Errorf("widgets: no published curves for %q (tdmpc2, bmpc or sac)", algo)
	}
	data, err := referenceFS.ReadFile("reference/" + algo + "/" + task + ".csv")
	if errors.Is(err, fs.ErrNotExist) {
		return Curve{}, fmt.Errorf("widgets: no published %s curve for %q; tasks: %s", algo, task, strings.Join(ReferenceTasks(algo), ", "))
	}
	if err != nil {
		return Curve{}, err
	}
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		return Curve{}, fmt.Errorf("widgets: reference %s/%s: %w", algo, task, err)
	}
	if algo == "bmpc" {
		return bandCurve(name, algo+"/"+task, rows)
	}
	bySeed := map[string][]pompc.Record{}
	var seeds []string
	for i, row := range rows {
		if i == 0 || len(row) != 3 {
			continue
		}
		step, err1 := strconv.ParseFloat(row[0], 64)
		val, err2 := strconv.ParseFloat(row[1], 64)
		if err1 != nil || err2 != nil {
			return Curve{}, fmt.Errorf("widgets: reference %s/%s line %d: %q", algo, task, i+1, row)
		}
		if _, ok := bySeed[row[2]]; !ok {
			seeds = append(seeds, row[2])
		}
		bySeed[row[2]] = append(bySeed[row[2]], pompc.Record{Key: pompc.KeyEvalReturn, Step: int64(step) / ReferenceActionRepeat, Val: val})
	}
	c := Curve{Variant: name}
	for _, s := range seeds {
		c.Seeds = append(c.Seeds, bySeed[s])
	}
	return c, nil
}

// bandCurve reads a published mean curve with its band (columns step,mean,lo,hi; BMPC's 5 seeds).
func bandCurve(name, file string, rows [][]string) (Curve, error) {
	b := &Band{Seeds: 5}
	for i, row := range rows {
		if i == 0 {
			continue
		}
		var v [4]float64
		for k := range v {
			x, err := strconv.ParseFloat(row[min(k, len(row)-1)], 64)
			if err != nil || len(row) != 4 {
				return Curve{}, fmt.Errorf("widgets: reference %s line %d: %q", file, i+1, row)
			}
			v[k] = x
		}
		b.Steps = append(b.Steps, int64(v[0])/ReferenceActionRepeat)
		b.Mean, b.Lo, b.Hi = append(b.Mean, v[1]), append(b.Lo, v[2]), append(b.Hi, v[3])
	}
	return Curve{Variant: name, Band: b}, nil
}

// PublishedCurve is the published curve of a preset's algorithm on a task ("tdmpc2": TD-MPC2's
// three seeds, as their mean and 95% Student-t band; "bmpc": BMPC's mean and the band its
// authors publish), on the agent-step axis: a sweep.PublishedFunc for sweep.ComparePublished.
// Other presets (PO-MPC has no published DMC curves) and tasks without a curve give false.
func PublishedCurve(task, preset string) (sweep.Published, bool) {
	if preset != "tdmpc2" && preset != "bmpc" {
		return sweep.Published{}, false
	}
	c, err := ReferenceCurve(preset, task)
	if err != nil {
		return sweep.Published{}, false
	}
	if b := c.Band; b != nil {
		return sweep.Published{Name: c.Variant, Seeds: b.Seeds, Steps: b.Steps, Mean: b.Mean, Lo: b.Lo, Hi: b.Hi}, true
	}
	return sweep.PublishedBand(c.Variant, c.Seeds), true
}
