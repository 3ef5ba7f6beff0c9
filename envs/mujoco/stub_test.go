//go:build !mujoco

package mujoco

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pompc/pompc/envs"
)

// TestStubSaysHowToInstall: without -tags mujoco every MuJoCo task and alias is known, not
// listed, and made with one clear error saying how to enable it.
func TestStubSaysHowToInstall(t *testing.T) {
	if Available {
		t.Fatal("Available in a build without the mujoco tag")
	}
	for _, ti := range taskNames {
		for _, name := range append([]string{ti.name}, ti.aliases...) {
			env, err := envs.Make(name)
			if env != nil || !errors.Is(err, envs.ErrUnavailable) {
				t.Fatalf("Make(%q) = %v, %v; want ErrUnavailable", name, env, err)
			}
			for _, want := range []string{ti.name, "libmujoco-dev", "libmujoco-samples", "docker/install.sh", "-tags mujoco"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Make(%q) error %q does not mention %q", name, err, want)
				}
			}
		}
		if slices.Contains(envs.Names(), ti.name) {
			t.Errorf("Names lists the unavailable task %s", ti.name)
		}
	}
}
