package sweep

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAblationJobsTaskByTask: the ablation's jobs come task by task (so are its populations),
// within a task seed by seed in the order the seeds are given, each grid's in order within a
// seed, and a point two grids share is one job.
func TestAblationJobsTaskByTask(t *testing.T) {
	grids := append(LambdaAblation(1), PriorAblation(1)...)
	jobs, err := AblationJobs(t.TempDir(), grids, []string{"cartpole-swingup", "cartpole-balance"}, []int{3, 1}, []string{"--size", "tiny"})
	require.NoError(t, err)
	var names []string
	for _, j := range jobs {
		names = append(names, filepath.Base(j.Dir))
	}
	var want []string
	for _, task := range []string{"cartpole-swingup", "cartpole-balance"} {
		for _, seed := range []string{"s3", "s1"} {
			for _, v := range []string{"tdmpc2", "bmpc", "pompc_lam1", "pompc_lam1_planner", "pompc_lam1_forward"} {
				want = append(want, task+"_"+v+"_"+seed)
			}
		}
	}
	require.Equal(t, want, names)
}
