package pompc

import (
	"cmp"
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
//
// Specs: "go" (pure Go, default), "xla:cuda" (XLA with the PJRT CUDA plugin, found offline, see
// NewBackend), "xla:cpu" (XLA with a PJRT CPU plugin), "xla:/abs/path/plugin.so"; XLA options
// follow a comma, e.g. "xla:cuda,preallocate=true,memory_fraction=0.5".
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

// ChooseBackend is the one place the backend choice is made: a command-line flag wins over the
// config field (Config.Backend), which wins over $GOMLX_BACKEND, which wins over DefaultBackend.
// It returns the resolved spec (see BackendSpec).
func ChooseBackend(flagValue, configValue string) string {
	return BackendSpec(cmp.Or(strings.TrimSpace(flagValue), strings.TrimSpace(configValue)))
}

// xlaNames are the names GoMLX's XLA backend is registered under.
var xlaNames = []string{"xla", "stablehlo", "hlo", "shlo"}

// NewBackend creates the compute backend named by spec (see BackendSpec). It never triggers
// GoMLX's plugin auto-installer (it is not linked, and is disabled besides) and turns the
// panics of compute.NewWithConfig (unknown backend name) into errors.
//
// For "xla:cuda" and "xla:cpu" the PJRT plugin is found offline by package xlaplugin:
// $PJRT_PLUGIN_LIBRARY_PATH, go-xla's usual folders, then (CUDA only) a JAX install's
// xla_cuda plugin with its pip "nvidia" libraries. A missing plugin is an error naming every
// place searched. The XLA backend needs cgo (linux/amd64); a build without it reports that.
func NewBackend(spec string) (b compute.Backend, err error) {
	spec = BackendSpec(spec)
	name, conf, _ := strings.Cut(spec, ":")
	if slices.Contains(xlaNames, name) {
		return newXLABackend(spec, conf)
	}
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
	if strings.Contains(spec, "parallelism") {
		// The Go backend prints "parallelism set to N" on stdout; a library's chatter belongs on
		// stderr (pompc bench --json writes JSON to stdout). Backends are made at start-up.
		stdout := os.Stdout
		os.Stdout = os.Stderr
		defer func() { os.Stdout = stdout }()
	}
	b, err = compute.NewWithConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("pompc: creating backend %q: %w", spec, err)
	}
	return b, nil
}
