//go:build !linux

package sweep

import "os/exec"

// runChild runs cmd. Outside Linux there is no parent-death signal: a child of a killed sweep
// runs on until it finishes (its run directory stays locked meanwhile).
func runChild(cmd *exec.Cmd) error { return cmd.Run() }
