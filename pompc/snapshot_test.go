package pompc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotCodec: DecodeSnapshots reads back what Records writes, groups per-dimension
// records into Gaussians in step order, and ignores other records and malformed keys.
func TestSnapshotCodec(t *testing.T) {
	var recs []Record
	for _, step := range []int64{30, 10} {
		for _, name := range []string{"plan", "pi", "prior"} {
			for _, stat := range []string{"mean", "std"} {
				for d := 0; d < 2; d++ {
					v := float64(step) + float64(d)/10
					recs = append(recs, Record{Key: "snapshot/" + name + "/" + stat + "/" + string(rune('0'+d)), Step: step, Val: v})
				}
			}
		}
	}
	recs = append(recs, Record{Key: "loss/pi", Step: 10, Val: 1}, Record{Key: "snapshot/bogus/mean/0", Step: 10})
	snaps := DecodeSnapshots(recs)
	require.Len(t, snaps, 2)
	require.Equal(t, int64(10), snaps[0].Step)
	require.Equal(t, []float64{30, 30.1}, snaps[1].Prior.Std)
	require.Equal(t, []float64{10, 10.1}, snaps[0].Plan.Mean)
	require.Empty(t, DecodeSnapshots(nil))

	s := Snapshot{Step: 7, Plan: Gaussian{[]float64{0.5, -1}, []float64{0.2, 0.3}},
		Pi: Gaussian{[]float64{0.4, -0.9}, []float64{0.25, 0.35}}, Prior: Gaussian{[]float64{0.1, 0}, []float64{1, 2}}}
	enc := s.Records()
	require.Len(t, enc, 12)
	require.Equal(t, "snapshot/pi/std/1", SnapshotKey(SnapPi, SnapStd, 1))
	require.Equal(t, []Snapshot{s}, DecodeSnapshots(enc))
}
