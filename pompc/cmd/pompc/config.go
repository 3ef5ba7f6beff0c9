package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/pompc/pompc/pompc"
)

// setFlags collects repeated --set key=value flags.
type setFlags []string

func (s *setFlags) String() string { return strings.Join(*s, ",") }

func (s *setFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("--set wants key=value, got %q", v)
	}
	*s = append(*s, v)
	return nil
}

// configFlags registers --preset, --size, --set and one flag per config key on fs, and builds
// the Config after parsing (pompc.BuildConfig: preset, then size, then every config flag
// given, then --set in order).
type configFlags struct {
	fs     *flag.FlagSet
	preset *string
	size   *string
	sets   setFlags
	keys   map[string]*string
}

func newConfigFlags(fs *flag.FlagSet) *configFlags {
	c := &configFlags{fs: fs, keys: map[string]*string{}}
	c.preset = fs.String("preset", pompc.DefaultPreset, "algorithm preset: tdmpc2 (lambda 0), pompc (lambda 1), bmpc (lambda inf)")
	c.size = fs.String("size", pompc.DefaultSize, "network size preset: tiny, 1M, 5M, 19M, 48M")
	fs.Var(&c.sets, "set", "config override key=value (repeatable), e.g. --set lambda=9 --set prior_kl=forward")
	for _, k := range pompc.ConfigKeys() {
		if k == "size" || k == "preset" || k == "size.name" {
			continue
		}
		c.keys[k] = fs.String(k, "", "config field "+k+" (default: from the preset)")
	}
	return c
}

// build is pompc.BuildConfig of the parsed flags.
func (c *configFlags) build() (pompc.Config, error) {
	flags := map[string]string{}
	c.fs.Visit(func(f *flag.Flag) {
		if p, ok := c.keys[f.Name]; ok {
			flags[f.Name] = *p
		}
	})
	return pompc.BuildConfig(*c.preset, *c.size, flags, c.sets)
}
