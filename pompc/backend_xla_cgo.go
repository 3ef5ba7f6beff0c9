//go:build cgo && linux && amd64 && !noxla

package pompc

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

static void* pompc_dlopen_global(const char* path) { return dlopen(path, RTLD_NOW | RTLD_GLOBAL); }
static const char* pompc_dlerror(void) { return dlerror(); }
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/pompc/pompc/pompc/xlaplugin"
)

// xlaLinked reports whether GoMLX's XLA backend is linked into this build.
const xlaLinked = true

func init() {
	// Never download plugins: pompc finds them itself (xlaplugin) and says where it looked. The
	// auto-installer package is not imported; this also covers a program that imports it.
	xla.EnableAutoInstall(false)
	if _, ok := os.LookupEnv(xla.NoAutoInstallEnv); !ok {
		_ = os.Setenv(xla.NoAutoInstallEnv, "1")
	}
}

var (
	preloadMu sync.Mutex
	preloaded = map[string]unsafe.Pointer{} // libraries loaded for good (never closed)
)

// preload dlopens a shared library with global symbol visibility, so that a later dlopen of its
// soname (as the CUDA plugin does for cuBLAS) finds it already loaded. This is what JAX's
// Python code does before loading its plugin; LD_LIBRARY_PATH cannot be changed for a running
// process.
func preload(path string) error {
	preloadMu.Lock()
	defer preloadMu.Unlock()
	if _, ok := preloaded[path]; ok {
		return nil
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	h := C.pompc_dlopen_global(cpath)
	if h == nil {
		return fmt.Errorf("loading %s: %s", path, C.GoString(C.pompc_dlerror()))
	}
	preloaded[path] = h
	return nil
}

// loadXLA preloads the plugin's libraries and creates GoMLX's XLA backend on the plugin file
// (by absolute path, so go-xla neither searches nor installs). opts are go-xla's backend
// options ("preallocate=true,memory_fraction=0.5").
func loadXLA(pl *xlaplugin.Plugin, opts string) (b compute.Backend, err error) {
	for _, lib := range pl.Preload {
		if err := preload(lib); err != nil {
			return nil, fmt.Errorf("preloading the CUDA libraries: %w", err)
		}
	}
	conf := pl.Path
	if strings.Contains(strings.ToLower(pl.Name), "cuda") && !strings.Contains(opts, "shared_buffers") {
		// go-xla guesses "CPU plugin" from "cpu" anywhere in the path; device buffers are never shared on a GPU.
		conf += ",noshared_buffers"
	}
	if opts != "" {
		conf += "," + opts
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("the file is not a working PJRT plugin (go-xla failed loading it: %v)", r)
		}
	}()
	xb, err := xla.NewWithOptions(conf, nil)
	if err != nil {
		return nil, err
	}
	return xb, nil
}
