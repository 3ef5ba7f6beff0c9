package session

import (
	"context"
	"errors"

	"github.com/pompc/pompc/pompc"
	"github.com/pompc/pompc/pompc/sweep"
)

// Launcher launches sweep jobs on session servers (the notebooks' sweeps): each job's run is
// opened (its server started, or attached to) with Options, trained in the server's background
// to the job's steps and waited for, its status reported every ProgressEvery.
type Launcher struct {
	// Options are the base options of every job's Open (SaveEvery, IdleTimeout, Backend, ...);
	// Dir, Task and Config come from the job, Threads from the sweep's core rule.
	Options Options
	// Keep leaves each run's server running when its training is done (default: shut it down,
	// freeing its memory; it restarts from its checkpoint on the next Open).
	Keep bool
}

// Name is "session".
func (Launcher) Name() string { return "session" }

// Launch opens the job's run, trains it to the job's steps and waits for it; a cancelled ctx
// stops the training (the server checkpoints) and returns ctx.Err().
func (l Launcher) Launch(ctx context.Context, j sweep.Job, threads int, progress func(pompc.Status)) error {
	o := l.Options
	o.Dir, o.Task, o.Config, o.Threads = j.Dir, j.Point.Task, j.Config, threads
	run, err := Open(ctx, o)
	if err != nil {
		return err
	}
	defer run.Close()
	st, err := run.Status()
	if err != nil {
		return err
	}
	progress(st)
	if remaining := j.Steps() - st.Step; remaining > 0 {
		if err := run.Start(int(remaining)); err != nil {
			return err
		}
		werr := run.Wait(ctx, progress)
		if ctx.Err() != nil {
			_ = run.Stop() // the server saves a checkpoint
			return ctx.Err()
		}
		if werr != nil {
			return werr
		}
		if st, err = run.Status(); err != nil {
			return err
		}
		progress(st)
		if st.JobError != "" {
			return errors.New(st.JobError)
		}
	}
	if !l.Keep {
		return run.Shutdown()
	}
	return nil
}
