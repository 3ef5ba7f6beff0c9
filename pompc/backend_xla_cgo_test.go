//go:build cgo && linux && amd64 && !noxla

package pompc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gomlx/go-xla/compute/xla"
	"github.com/pompc/pompc/pompc/xlaplugin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoAutoInstaller: GoMLX's downloader is not linked into pompc and auto-install is off.
func TestNoAutoInstaller(t *testing.T) {
	assert.ErrorIs(t, xla.AutoInstall(), xla.ErrNoAutoInstaller)
	_, set := os.LookupEnv(xla.NoAutoInstallEnv)
	assert.True(t, set)
}

func fakeFile(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("not a shared library"), 0o644))
}

// TestNewBackendFakeJAXFailsCleanly: a JAX layout whose files are not libraries is found, its
// link folder built, and loading fails with an error that names the file (never a panic).
func TestNewBackendFakeJAXFailsCleanly(t *testing.T) {
	tmp := withXLASearch(t, nil)
	sp := filepath.Join(tmp, "usr", "local", "lib", "python3.12", "site-packages")
	jaxPlugin := filepath.Join(sp, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	fakeFile(t, jaxPlugin)
	lt := filepath.Join(sp, "nvidia", "cu13", "lib", "libcublasLt.so.13")
	fakeFile(t, lt)
	fakeFile(t, filepath.Join(sp, "nvidia", "cu13", "lib", "libcublas.so.13"))
	cache := filepath.Join(tmp, "cache")
	xlaPluginOptions.Getenv = func(k string) string { return map[string]string{xlaplugin.EnvCache: cache}[k] }

	if !xlaplugin.HasNvidiaDevice() {
		_, err := NewBackend("xla:cuda")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no NVIDIA GPU")
		assert.Contains(t, err.Error(), jaxPlugin)
	}
	xlaRequireDevice = false
	var err error
	require.NotPanics(t, func() { _, err = NewBackend("xla:cuda") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "preloading the CUDA libraries")
	assert.Contains(t, err.Error(), lt)
	links, _ := filepath.Glob(filepath.Join(cache, "pjrt", "jax-*", "nvidia", "pjrt_c_api_cuda_plugin.so"))
	assert.Len(t, links, 1, "link folder built")

	// Without the NVIDIA libraries the plugin itself is opened, and is not a library.
	require.NoError(t, os.RemoveAll(filepath.Join(sp, "nvidia")))
	require.NotPanics(t, func() { _, err = NewBackend("xla:cuda") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PJRT plugin")
	assert.Contains(t, err.Error(), jaxPlugin)

	// An absolute path that does not exist.
	require.NotPanics(t, func() { _, err = NewBackend("xla:" + filepath.Join(tmp, "none", "pjrt_c_api_cuda_plugin.so")) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none")
}

// TestNewBackendNilPJRTAPI: a real shared library whose GetPjrtApi returns NULL (built with the
// C compiler cgo uses) loads, and the backend reports the broken plugin as an error.
func TestNewBackendNilPJRTAPI(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler %q (this build has cgo, so CI has one)", cc)
	}
	tmp := withXLASearch(t, nil)
	xlaRequireDevice = false
	src := filepath.Join(tmp, "p.c")
	so := filepath.Join(tmp, "lib", "pjrt_c_api_cuda_plugin.so")
	require.NoError(t, os.MkdirAll(filepath.Dir(so), 0o755))
	require.NoError(t, os.WriteFile(src, []byte("void* GetPjrtApi(void) { return 0; }\n"), 0o644))
	out, err := exec.Command(cc, "-shared", "-fPIC", "-o", so, src).CombinedOutput()
	require.NoError(t, err, string(out))
	xlaPluginOptions.Getenv = func(k string) string {
		return map[string]string{xlaplugin.EnvPluginPath: filepath.Dir(so)}[k]
	}
	require.NotPanics(t, func() { _, err = NewBackend("xla:cuda") })
	require.Error(t, err)
	assert.Contains(t, err.Error(), so)
	assert.Contains(t, err.Error(), "not a working PJRT plugin")
}
