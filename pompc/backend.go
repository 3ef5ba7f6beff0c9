package pompc

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers the pure-Go backend "go"
)

// DefaultBackend is the backend spec used when none is given and GOMLX_BACKEND is unset: the
// pure-Go backend with parallelism=-1. (The Go backend's default scheduler deadlocks once a
// graph runs ~4 matmuls side by side, e.g. 5 Q heads; parallelism=-1 never did, gpu.md.)
const DefaultBackend = "go:parallelism=-1"

// BackendSpec resolves the backend spec to use: the explicit spec if given, else
// $GOMLX_BACKEND, else DefaultBackend. A bare "go" gets parallelism=-1 added for the reason
// above.
func BackendSpec(spec string) string {
	if spec == "" {
		spec = os.Getenv(compute.ConfigEnvVar)
	}
	if spec == "" {
		spec = DefaultBackend
	}
	if spec == "go" {
		spec = DefaultBackend
	}
	return spec
}

// NewBackend creates the compute backend named by spec (see BackendSpec). It never triggers
// GoMLX's plugin auto-installer (no XLA backend is linked into this build) and turns the
// panics of compute.NewWithConfig (unknown backend name) into errors.
func NewBackend(spec string) (b compute.Backend, err error) {
	spec = BackendSpec(spec)
	name, _, _ := strings.Cut(spec, ":")
	known := compute.List()
	if !slices.Contains(known, name) {
		slices.Sort(known)
		return nil, fmt.Errorf("pompc: backend %q is not available in this build (available: %s)",
			spec, strings.Join(known, ", "))
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("pompc: creating backend %q: %v", spec, r)
		}
	}()
	b, err = compute.NewWithConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("pompc: creating backend %q: %w", spec, err)
	}
	return b, nil
}
