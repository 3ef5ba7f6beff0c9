//go:build !(cgo && linux && amd64) || noxla

package pompc

import (
	"github.com/gomlx/compute"
	"github.com/pompc/pompc/pompc/xlaplugin"
)

// xlaLinked reports whether GoMLX's XLA backend is linked into this build.
const xlaLinked = false

func loadXLA(*xlaplugin.Plugin, string) (compute.Backend, error) { return nil, ErrXLANotBuilt }
