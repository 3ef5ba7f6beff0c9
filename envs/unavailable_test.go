package envs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestRegisterUnavailable: an unavailable task is made with an error wrapping ErrUnavailable that
// carries the reason, through its name and its aliases, and Names does not list it.
func TestRegisterUnavailable(t *testing.T) {
	const name, reason = "test-unavailable-task", "install the thing and build with -tags thing"
	if err := RegisterUnavailable(name, reason); err != nil {
		t.Fatal(err)
	}
	if err := RegisterUnavailable(name, reason); err == nil {
		t.Fatal("a second RegisterUnavailable of the same name succeeded")
	}
	if err := Register(name, func(Options) (Env, error) { return nil, nil }); err == nil {
		t.Fatal("Register over an unavailable task succeeded")
	}
	if err := RegisterUnavailable("", reason); err == nil {
		t.Fatal("empty name accepted")
	}
	if err := RegisterAlias("test_unavailable_task", name); err != nil {
		t.Fatalf("alias of an unavailable task: %v", err)
	}
	for _, n := range []string{name, "test_unavailable_task"} {
		env, err := Make(n)
		if env != nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), reason) {
			t.Fatalf("Make(%q) = %v, %v; want ErrUnavailable with the reason", n, env, err)
		}
	}
	if slices.Contains(Names(), name) {
		t.Fatal("Names lists an unavailable task")
	}
	if !slices.Contains(UnavailableNames(), name) {
		t.Fatal("UnavailableNames does not list the task")
	}
}
