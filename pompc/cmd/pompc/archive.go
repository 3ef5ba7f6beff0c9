package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/pompc/pompc/pompc/sweep"
)

// runArchive is `pompc archive`: the finished runs of a sweep or ablation directory without
// their checkpoints (sweep.Archive), small enough to commit beside a paper's figures, and a
// directory that reports, plots and resumes like the original.
func runArchive(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("archive", flag.ContinueOnError)
	dir := fs.String("dir", "", "sweep or ablation directory to archive (required)")
	out := fs.String("out", "", "archive directory (required); an earlier archive of the same directory is updated")
	every := fs.Int64("every", sweep.DefaultArchiveEvery, "window in agent steps over which each update metric (losses, KL, gradients) is averaged; evaluations, training episodes and knob records are kept whole")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pompc archive --dir DIR --out ARCHIVE [--every N]\n"+
			"  resume from an archive on another machine: cp -r ARCHIVE DIR2 && pompc ablation --dir DIR2 (or pompc sweep --dir DIR2)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return errors.New("archive: --dir and --out are required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("archive: unexpected arguments %q", fs.Args())
	}
	sum, err := sweep.Archive(*dir, *out, *every)
	if err != nil {
		return err
	}
	fmt.Printf("archived %d finished runs of %s into %s (metrics %.1f MB, from %.1f MB)\n", len(sum.Runs), *dir, *out,
		float64(sum.Bytes)/1e6, float64(sum.Source)/1e6)
	if len(sum.Skipped) > 0 {
		fmt.Printf("left out %d unfinished runs (they train from the start when the archive is resumed): %s\n", len(sum.Skipped), strings.Join(sum.Skipped, ", "))
	}
	fmt.Printf("results.md and results*.csv are as %s last wrote them; `pompc ablation --dir %s --report` (or `pompc sweep`) rewrites them for the archived runs\n", *dir, *out)
	return nil
}
