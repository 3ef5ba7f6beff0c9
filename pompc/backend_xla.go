package pompc

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/pompc/pompc/pompc/xlaplugin"
)

// ErrXLANotBuilt is returned (wrapped) by NewBackend for an "xla:..." spec in a binary built
// without GoMLX's XLA backend: it needs cgo on linux/amd64 and is left out by -tags noxla.
var ErrXLANotBuilt = errors.New("this binary was built without the XLA backend: it needs cgo on linux/amd64 " +
	"(build with CGO_ENABLED=1 and a C compiler, and without -tags noxla); the pure-Go backend (--backend go) works everywhere")

// xlaPluginOptions are the search options for PJRT plugins (tests replace the system roots).
var xlaPluginOptions = xlaplugin.Options{}

// xlaRequireDevice makes NewBackend refuse a CUDA plugin on a machine without an NVIDIA device
// file, instead of loading the plugin only to fail inside it (tests turn it off).
var xlaRequireDevice = true

// newXLABackend resolves "xla:PLUGIN[,options]" (conf is what follows "xla:") to a plugin file
// and loads it. PLUGIN is "cuda" (also the default), "cpu", or an absolute path to a plugin.
func newXLABackend(spec, conf string) (compute.Backend, error) {
	if !xlaLinked {
		return nil, fmt.Errorf("pompc: backend %q: %w", spec, ErrXLANotBuilt)
	}
	plugin, opts, _ := strings.Cut(conf, ",")
	if plugin == "" {
		plugin = "cuda"
	}
	var pl *xlaplugin.Plugin
	if filepath.IsAbs(plugin) {
		pl = &xlaplugin.Plugin{Name: filepath.Base(plugin), Path: plugin, Original: plugin, Source: "given path"}
	} else {
		var err error
		pl, err = xlaplugin.Find(plugin, xlaPluginOptions)
		if err != nil {
			return nil, fmt.Errorf("pompc: backend %q: %w", spec, err)
		}
	}
	if xlaRequireDevice && strings.Contains(strings.ToLower(pl.Name), "cuda") && !xlaplugin.HasNvidiaDevice() {
		return nil, fmt.Errorf("pompc: backend %q: found the CUDA plugin %s (%s) but this machine shows no NVIDIA GPU "+
			"(no /dev/nvidia* device); not loading it", spec, pl.Original, pl.Source)
	}
	b, err := loadXLA(pl, opts)
	if err != nil {
		return nil, fmt.Errorf("pompc: backend %q: plugin %s (%s): %w", spec, pl.Original, pl.Source, err)
	}
	return b, nil
}
