package main

import (
	"context"
	"errors"
)

func runPlot(ctx context.Context, args []string) error { return errors.New("plot: not yet") }
