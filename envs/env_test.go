package envs_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pompc/pompc/envs"
	_ "github.com/pompc/pompc/envs/classic"
)

func TestUnknownTaskListsKnownNames(t *testing.T) {
	_, err := envs.Make("cartpole-swingup2")
	var unk *envs.UnknownTaskError
	if !errors.As(err, &unk) {
		t.Fatalf("Make of an unknown task: err = %v, want *UnknownTaskError", err)
	}
	if unk.Name != "cartpole-swingup2" || !slices.Equal(unk.Known, envs.Names()) {
		t.Errorf("UnknownTaskError = %+v", unk)
	}
	for _, n := range []string{"cartpole-swingup", "cartpole-balance-sparse", "pendulum-swingup"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %q", err, n)
		}
	}
	if _, err := envs.Load("pendulum", "spin"); !errors.As(err, &unk) {
		t.Errorf("Load of an unknown task: %v", err)
	}
}

func TestAliases(t *testing.T) {
	for alias, target := range map[string]string{
		"cartpole-balance_sparse": "cartpole-balance-sparse",
		"cartpole-swingup_sparse": "cartpole-swingup-sparse",
	} {
		env, err := envs.Make(alias, envs.WithSeed(1))
		if err != nil {
			t.Fatalf("Make(%q): %v", alias, err)
		}
		if got := env.Spec().Name; got != target {
			t.Errorf("Make(%q).Spec().Name = %q, want %q", alias, got, target)
		}
		_ = env.Close()
		if slices.Contains(envs.Names(), alias) {
			t.Errorf("Names() lists the alias %q", alias)
		}
	}
	env, err := envs.Load("cartpole", "swingup_sparse")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if env.Spec().Name != "cartpole-swingup-sparse" {
		t.Errorf("Load(cartpole, swingup_sparse) made %q", env.Spec().Name)
	}
}

func TestRegisterErrors(t *testing.T) {
	f := func(envs.Options) (envs.Env, error) { return nil, errors.New("unused") }
	if err := envs.Register("cartpole-balance", f); err == nil {
		t.Error("duplicate Register did not fail")
	}
	if err := envs.Register("", f); err == nil {
		t.Error("Register with an empty name did not fail")
	}
	if err := envs.Register("test-nil-factory", nil); err == nil {
		t.Error("Register with a nil factory did not fail")
	}
	if err := envs.Register("cartpole-swingup_sparse", f); err == nil {
		t.Error("Register under an alias name did not fail")
	}
	if err := envs.RegisterAlias("cartpole-balance_sparse", "cartpole-balance-sparse"); err == nil {
		t.Error("duplicate RegisterAlias did not fail")
	}
	if err := envs.RegisterAlias("cartpole-balance", "cartpole-swingup"); err == nil {
		t.Error("RegisterAlias shadowing a task did not fail")
	}
	if err := envs.RegisterAlias("test-alias", "no-such-task"); err == nil {
		t.Error("RegisterAlias to an unknown task did not fail")
	}
	if err := envs.RegisterAlias("", "cartpole-balance"); err == nil {
		t.Error("RegisterAlias with an empty alias did not fail")
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate MustRegister did not panic")
		}
	}()
	envs.MustRegister("pendulum-swingup", f)
}

func TestMakeRejectsNegativeActionRepeat(t *testing.T) {
	if _, err := envs.Make("cartpole-balance", envs.WithActionRepeat(-2)); err == nil {
		t.Error("WithActionRepeat(-2) did not fail")
	}
}

func TestCheckAction(t *testing.T) {
	if err := envs.CheckAction([]float32{0, 1, -5}, 3); err != nil {
		t.Errorf("valid action: %v", err)
	}
	for _, a := range [][]float32{nil, {0, 0}, {0, 0, 0, 0}, {0, float32NaN(), 0}, {0, 0, float32Inf(-1)}} {
		if err := envs.CheckAction(a, 3); err == nil {
			t.Errorf("CheckAction(%v, 3) did not fail", a)
		}
	}
}

func TestStepTypeString(t *testing.T) {
	for st, want := range map[envs.StepType]string{envs.First: "first", envs.Mid: "mid", envs.Last: "last", 7: "StepType(7)"} {
		if st.String() != want {
			t.Errorf("%d.String() = %q, want %q", st, st.String(), want)
		}
	}
}
