package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// gpuMemMB returns the GPU memory this process holds now, in MiB, as nvidia-smi reports it, for
// a CUDA backend on a machine with nvidia-smi; 0 otherwise. GoMLX's compute API has no device
// memory statistics; XLA's allocator keeps what it allocated, so this is close to the peak.
func gpuMemMB(backend string) float64 {
	if !strings.Contains(backend, "cuda") {
		return 0
	}
	smi, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return 0
	}
	return parseSMIMemory(string(out), os.Getpid())
}

// parseSMIMemory sums the "pid, MiB" lines of nvidia-smi's compute-apps query that belong to pid.
func parseSMIMemory(out string, pid int) float64 {
	total := 0.0
	for _, line := range strings.Split(out, "\n") {
		p, m, ok := strings.Cut(line, ",")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(p)); err != nil || n != pid {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(m), 64); err == nil {
			total += v
		}
	}
	return total
}
