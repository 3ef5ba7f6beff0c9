package main

import (
	"context"
	"errors"
)

func runSweep(ctx context.Context, args []string) error { return errors.New("sweep: not yet") }
