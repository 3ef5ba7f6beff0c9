package xlaplugin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// env builds an Options whose environment is exactly vars, with a fresh home and system roots
// in temporary folders (nothing of the real machine is searched).
func env(t *testing.T, vars map[string]string) (Options, string) {
	t.Helper()
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	require.NoError(t, os.MkdirAll(home, 0o755))
	roots := []string{filepath.Join(tmp, "usr", "local"), filepath.Join(tmp, "usr"), filepath.Join(tmp, "opt", "conda")}
	return Options{Getenv: func(k string) string { return vars[k] }, Home: home, Roots: roots}, tmp
}

func touch(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("not a real library"), 0o644))
}

// fakeJAX lays out a site-packages folder the way pip installs jax[cuda12] and jax[cuda13].
func fakeJAX(t *testing.T, sp string) {
	t.Helper()
	touch(t, filepath.Join(sp, "jax_plugins", "xla_cuda12", "xla_cuda_plugin.so"))
	touch(t, filepath.Join(sp, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"))
	for _, f := range []string{"lib/libcublasLt.so.13", "lib/libcublas.so.13", "lib/libcublas.so.13.1.0.3",
		"lib/libcudart.so.13", "bin/ptxas", "bin/nvlink", "nvvm/libdevice/libdevice.10.bc"} {
		touch(t, filepath.Join(sp, "nvidia", "cu13", f))
	}
	touch(t, filepath.Join(sp, "nvidia", "cudnn", "lib", "libcudnn.so.9"))
	touch(t, filepath.Join(sp, "nvidia", "nccl", "lib", "libnccl.so.2"))
}

func TestFindNothingListsEverySearchedPlace(t *testing.T) {
	for _, name := range []string{"cuda", "cpu"} {
		empty := t.TempDir()
		o, tmp := env(t, map[string]string{EnvPluginPath: empty})
		// A Python install without JAX is searched and reported.
		require.NoError(t, os.MkdirAll(filepath.Join(tmp, "usr", "lib", "python3.12", "dist-packages"), 0o755))
		_, err := Find(name, o)
		var nf *NotFoundError
		require.ErrorAs(t, err, &nf)
		assert.Equal(t, name, nf.Name)
		msg := err.Error()
		assert.Contains(t, msg, "nothing was downloaded")
		assert.Contains(t, msg, filepath.Join(empty, "pjrt_c_api_"+name))
		assert.Contains(t, msg, filepath.Join(o.Home, ".local", "lib", "go-xla"))
		assert.Contains(t, msg, filepath.Join(tmp, "usr", "local", "lib", "go-xla"))
		if name == "cuda" {
			assert.Contains(t, msg, filepath.Join(tmp, "usr", "lib", "python3.12", "dist-packages", "jax_plugins"))
			assert.Contains(t, msg, EnvJAXSitePackages)
		} else {
			assert.NotContains(t, msg, "jax_plugins", "JAX has no CPU PJRT plugin: not searched")
			assert.Contains(t, msg, "--backend go")
		}
		assert.NotContains(t, msg, filepath.Join(tmp, "usr", "lib", "go-xla"), "go-xla only uses /usr/local/lib")

		// The message names the unset variable when it is unset, and says no Python was found.
		o, _ = env(t, nil)
		_, err = Find(name, o)
		assert.Contains(t, err.Error(), "$PJRT_PLUGIN_LIBRARY_PATH (unset)")
		if name == "cuda" {
			assert.Contains(t, err.Error(), "Python site-packages for a JAX install: none found")
		}
	}
}

func TestFindBadName(t *testing.T) {
	o, _ := env(t, nil)
	for _, n := range []string{"", "a/b", "cuda,x", "x:y"} {
		_, err := Find(n, o)
		require.Error(t, err, n)
		var nf *NotFoundError
		assert.False(t, errors.As(err, &nf))
	}
}

func TestFindInPluginPathFirst(t *testing.T) {
	// A plugin in $PJRT_PLUGIN_LIBRARY_PATH wins over one in ~/.local/lib/go-xla and over JAX.
	d1, d2 := t.TempDir(), t.TempDir()
	touch(t, filepath.Join(d2, "pjrt_c_api_cuda_plugin.so"))
	o, tmp := env(t, map[string]string{EnvPluginPath: d1 + "::" + d2})
	touch(t, filepath.Join(o.Home, ".local", "lib", "go-xla", "pjrt_c_api_cuda_plugin.so"))
	fakeJAX(t, filepath.Join(tmp, "usr", "local", "lib", "python3.12", "site-packages"))
	p, err := Find("cuda", o)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(d2, "pjrt_c_api_cuda_plugin.so"), p.Path)
	assert.Equal(t, EnvPluginPath, p.Source)
	assert.Empty(t, p.Farm)
	assert.Empty(t, p.Preload, "no ../nvidia beside it")
}

func TestFindGoXLALayout(t *testing.T) {
	// gpu.md's manual layout: ~/.local/lib/go-xla/nvidia/pjrt_c_api_cuda_plugin.so with the
	// NVIDIA packages in the same folder; cuBLAS is found for preloading.
	o, _ := env(t, nil)
	nv := filepath.Join(o.Home, ".local", "lib", "go-xla", "nvidia")
	touch(t, filepath.Join(nv, "pjrt_c_api_cuda_plugin.so"))
	touch(t, filepath.Join(nv, "cu13", "lib", "libcublas.so.13"))
	touch(t, filepath.Join(nv, "cu13", "lib", "libcublasLt.so.13"))
	p, err := Find("cuda", o)
	require.NoError(t, err)
	assert.Equal(t, "go-xla folder", p.Source)
	assert.Equal(t, nv, p.NvidiaDir)
	assert.Equal(t, []string{filepath.Join(nv, "cu13", "lib", "libcublasLt.so.13"), filepath.Join(nv, "cu13", "lib", "libcublas.so.13")}, p.Preload)
}

func TestFindVersionedCPUPlugin(t *testing.T) {
	o, tmp := env(t, nil)
	d := filepath.Join(tmp, "usr", "local", "lib", "go-xla")
	touch(t, filepath.Join(d, "pjrt_c_api_cpu_v0.83.1_plugin.so"))
	touch(t, filepath.Join(d, "pjrt_c_api_cpu_v0.84.0_plugin.so"))
	p, err := Find("cpu", o)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(d, "pjrt_c_api_cpu_v0.84.0_plugin.so"), p.Path)
	// A directory with the plugin's name is not a plugin.
	o2, tmp2 := env(t, nil)
	require.NoError(t, os.MkdirAll(filepath.Join(tmp2, "usr", "local", "lib", "go-xla", "pjrt_c_api_cpu_plugin.so"), 0o755))
	_, err = Find("cpu", o2)
	var nf *NotFoundError
	assert.ErrorAs(t, err, &nf)
}

func TestFindJAXBuildsLinkFolder(t *testing.T) {
	o, tmp := env(t, nil)
	sp := filepath.Join(tmp, "usr", "local", "lib", "python3.12", "dist-packages")
	fakeJAX(t, sp)
	cache := filepath.Join(tmp, "cache")
	o.Getenv = func(k string) string { return map[string]string{EnvCache: cache}[k] }
	p, err := Find("cuda", o)
	require.NoError(t, err)
	assert.Equal(t, "JAX install", p.Source)
	assert.Equal(t, filepath.Join(sp, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so"), p.Original, "newest CUDA plugin")
	assert.True(t, strings.HasPrefix(p.Farm, filepath.Join(cache, "pjrt")+string(filepath.Separator)), p.Farm)
	assert.Equal(t, filepath.Join(p.Farm, "nvidia", "pjrt_c_api_cuda_plugin.so"), p.Path)
	assert.Equal(t, filepath.Join(p.Farm, "nvidia"), p.NvidiaDir)
	// go-xla's layout: the plugin's ../nvidia is the folder holding the NVIDIA packages, bin/ptxas, nvvm.
	resolves := func(link, want string) {
		t.Helper()
		got, err := filepath.EvalSymlinks(link)
		require.NoError(t, err, link)
		assert.Equal(t, want, got, link)
	}
	nv := filepath.Join(sp, "nvidia")
	resolves(p.Path, p.Original)
	resolves(filepath.Join(filepath.Dir(filepath.Dir(p.Path)), "nvidia", "cu13", "lib", "libcublas.so.13"), filepath.Join(nv, "cu13", "lib", "libcublas.so.13"))
	resolves(filepath.Join(p.NvidiaDir, "cudnn"), filepath.Join(nv, "cudnn"))
	resolves(filepath.Join(p.NvidiaDir, "nccl"), filepath.Join(nv, "nccl"))
	resolves(filepath.Join(p.NvidiaDir, "bin", "ptxas"), filepath.Join(nv, "cu13", "bin", "ptxas"))
	resolves(filepath.Join(p.NvidiaDir, "bin", "nvlink"), filepath.Join(nv, "cu13", "bin", "nvlink"))
	resolves(filepath.Join(p.NvidiaDir, "nvvm", "libdevice", "libdevice.10.bc"), filepath.Join(nv, "cu13", "nvvm", "libdevice", "libdevice.10.bc"))
	assert.Equal(t, []string{filepath.Join(nv, "cu13", "lib", "libcublasLt.so.13"), filepath.Join(nv, "cu13", "lib", "libcublas.so.13")}, p.Preload)

	// Again: same folder, links unchanged, no stray temporary links.
	p2, err := Find("cuda", o)
	require.NoError(t, err)
	assert.Equal(t, p, p2)
	stray, _ := filepath.Glob(filepath.Join(p.NvidiaDir, "*.tmp*"))
	assert.Empty(t, stray)

	// A JAX upgrade that moves the plugin: the link is replaced, not left dangling.
	require.NoError(t, os.RemoveAll(filepath.Join(sp, "jax_plugins", "xla_cuda13")))
	p3, err := Find("cuda", o)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(sp, "jax_plugins", "xla_cuda12", "xla_cuda_plugin.so"), p3.Original)
	resolves(p3.Path, p3.Original)
}

func TestFindJAXSitePackagesEnvFirst(t *testing.T) {
	// POMPC_JAX_SITE_PACKAGES is searched before a virtualenv and the system folders, and the
	// cache defaults to ~/.cache/pompc/pjrt.
	o, tmp := env(t, nil)
	explicit := filepath.Join(tmp, "somewhere", "site-packages")
	venv := filepath.Join(tmp, "venv")
	fakeJAX(t, explicit)
	fakeJAX(t, filepath.Join(venv, "lib", "python3.13", "site-packages"))
	o.Getenv = func(k string) string {
		return map[string]string{EnvJAXSitePackages: explicit, "VIRTUAL_ENV": venv}[k]
	}
	p, err := Find("cuda", o)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(p.Original, explicit), p.Original)
	assert.True(t, strings.HasPrefix(p.Farm, filepath.Join(o.Home, ".cache", "pompc", "pjrt")), p.Farm)

	o.Getenv = func(k string) string { return map[string]string{"VIRTUAL_ENV": venv}[k] }
	p, err = Find("cuda", o)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(p.Original, venv), p.Original)
}

func TestFindCPUIgnoresJAX(t *testing.T) {
	o, tmp := env(t, nil)
	fakeJAX(t, filepath.Join(tmp, "usr", "lib", "python3", "dist-packages"))
	_, err := Find("cpu", o)
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Contains(t, err.Error(), "no separate \"cpu\" PJRT plugin")
}
