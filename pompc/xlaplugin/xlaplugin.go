// Package xlaplugin finds a PJRT plugin for GoMLX's XLA backend on a machine without network
// access, and never downloads anything.
//
// GoMLX's own installer fetches PJRT plugins from the internet. This package instead looks, in
// order, in
//
//  1. the folders of $PJRT_PLUGIN_LIBRARY_PATH (colon-separated),
//  2. go-xla's usual folders: ~/.local/lib/go-xla(/nvidia), /usr/local/lib/go-xla(/nvidia) and
//     their older gomlx/pjrt names,
//  3. for "cuda" only: the Python site-packages of a JAX install with CUDA
//     (jax_plugins/xla_cuda*/xla_cuda_plugin.so, with the pip "nvidia" libraries beside it):
//     $POMPC_JAX_SITE_PACKAGES, $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local, /usr and
//     /opt/conda.
//
// A JAX plugin is not laid out the way go-xla expects (pjrt_c_api_cuda_plugin.so with a folder
// "nvidia" holding the CUDA libraries, ptxas in nvidia/bin). Find builds that layout as a
// private folder of symbolic links under the pompc cache ($POMPC_CACHE, else ~/.cache/pompc,
// subfolder pjrt/) and returns the plugin path inside it. It also lists the cuBLAS libraries
// that must be loaded globally before the plugin, because the JAX plugin opens them by name
// (JAX's Python code preloads them; a Go program cannot change its own LD_LIBRARY_PATH).
//
// When nothing is found, Find returns a *NotFoundError naming every place it looked.
package xlaplugin

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Environment variables read by Find.
const (
	// EnvPluginPath is go-xla's search path for PJRT plugins (colon-separated folders).
	EnvPluginPath = "PJRT_PLUGIN_LIBRARY_PATH"
	// EnvJAXSitePackages names Python site-packages folders (colon-separated) holding a JAX
	// CUDA install; they are searched before the usual Python locations.
	EnvJAXSitePackages = "POMPC_JAX_SITE_PACKAGES"
	// EnvCache overrides the pompc cache folder (default ~/.cache/pompc).
	EnvCache = "POMPC_CACHE"
)

// Plugin is a PJRT plugin ready to load.
type Plugin struct {
	// Name is the plugin name asked for: "cuda" or "cpu".
	Name string
	// Path is the absolute path of the plugin's shared library to load. For a JAX plugin it is
	// the link inside the private folder (Farm), whose name and neighbours go-xla expects.
	Path string
	// Source says where it was found: "PJRT_PLUGIN_LIBRARY_PATH", "go-xla folder" or "JAX install".
	Source string
	// Original is the plugin file as installed (the JAX file for a JAX plugin; else Path).
	Original string
	// NvidiaDir is the folder of NVIDIA libraries beside the plugin ("" if there is none).
	NvidiaDir string
	// Preload lists shared libraries (absolute paths) to load with global symbol visibility
	// before the plugin: the cuBLAS libraries the CUDA plugin opens by name.
	Preload []string
	// Farm is the private folder of links built for a JAX plugin ("" otherwise).
	Farm string
}

// NotFoundError is returned by Find when no plugin was found. It names every place searched.
type NotFoundError struct {
	// Name is the plugin asked for ("cuda", "cpu").
	Name string
	// Searched lists the folders and patterns looked at, in order.
	Searched []string
	// Hint says how to provide the plugin.
	Hint string
}

// Error lists the searched places, one per line.
func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no PJRT %q plugin found (GoMLX's auto-installer is disabled in pompc, nothing was downloaded); looked in:", e.Name)
	for _, s := range e.Searched {
		b.WriteString("\n  - ")
		b.WriteString(s)
	}
	if e.Hint != "" {
		b.WriteString("\n")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Options control Find; the zero value reads the process environment and home folder.
type Options struct {
	// Getenv reads environment variables (default os.Getenv).
	Getenv func(string) string
	// Home is the home folder (default os.UserHomeDir).
	Home string
	// Roots replaces the system prefixes searched for go-xla folders and Python installs
	// ("/usr/local", "/usr", "/opt/conda"); tests point it into a temporary folder.
	Roots []string
}

func (o Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

func (o Options) home() string {
	if o.Home != "" {
		return o.Home
	}
	h, _ := os.UserHomeDir()
	return h
}

func (o Options) roots() []string {
	if o.Roots != nil {
		return o.Roots
	}
	return []string{"/usr/local", "/usr", "/opt/conda"}
}

// CacheDir is the folder under which Find builds its link folders: $POMPC_CACHE/pjrt, else
// ~/.cache/pompc/pjrt.
func (o Options) CacheDir() string {
	if c := o.getenv(EnvCache); c != "" {
		return filepath.Join(c, "pjrt")
	}
	return filepath.Join(o.home(), ".cache", "pompc", "pjrt")
}

// Find looks for the PJRT plugin name ("cuda" or "cpu") in the places listed in the package
// documentation and returns the first one found. For a JAX plugin it (re)builds the link folder
// under Options.CacheDir. A plugin that is not found gives a *NotFoundError.
func Find(name string, o Options) (*Plugin, error) {
	if name == "" || strings.ContainsAny(name, "/,:") {
		return nil, fmt.Errorf("xlaplugin: bad plugin name %q (want e.g. \"cuda\" or \"cpu\")", name)
	}
	var searched []string
	// 1 and 2: folders holding go-xla-style plugin files.
	type dir struct{ path, source string }
	var dirs []dir
	if p := o.getenv(EnvPluginPath); p != "" {
		for _, d := range strings.Split(p, ":") {
			if d != "" {
				dirs = append(dirs, dir{d, EnvPluginPath})
			}
		}
	} else {
		searched = append(searched, "$"+EnvPluginPath+" (unset)")
	}
	var goxla []string
	if h := o.home(); h != "" {
		goxla = append(goxla, filepath.Join(h, ".local", "lib", "go-xla"), filepath.Join(h, ".local", "lib", "go-xla", "nvidia"),
			filepath.Join(h, ".local", "lib", "gomlx", "pjrt"))
	}
	for _, r := range o.roots() {
		if filepath.Base(r) != "local" {
			continue // go-xla's system folder is /usr/local/lib/go-xla only
		}
		goxla = append(goxla, filepath.Join(r, "lib", "go-xla"), filepath.Join(r, "lib", "go-xla", "nvidia"),
			filepath.Join(r, "lib", "gomlx", "pjrt"))
	}
	for _, d := range goxla {
		dirs = append(dirs, dir{d, "go-xla folder"})
	}
	for _, d := range dirs {
		searched = append(searched, fmt.Sprintf("%s/%s (%s)", d.path, pluginPattern(name), d.source))
		if p := pluginIn(d.path, name); p != "" {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			pl := &Plugin{Name: name, Path: abs, Source: d.source, Original: abs}
			if isCUDA(name) {
				// go-xla's convention: the NVIDIA libraries are in ../nvidia relative to the plugin's folder.
				nv := filepath.Join(filepath.Dir(filepath.Dir(abs)), "nvidia")
				if isDir(nv) {
					pl.NvidiaDir = nv
					pl.Preload = cublasLibs(nv)
				}
			}
			return pl, nil
		}
	}
	// 3: a JAX CUDA install.
	hint := ""
	if isCUDA(name) {
		sps := sitePackages(o)
		if len(sps) == 0 {
			searched = append(searched, "Python site-packages for a JAX install: none found under $"+EnvJAXSitePackages+
				", $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local/lib/python3*, "+strings.Join(o.roots(), ", "))
		}
		for _, sp := range sps {
			searched = append(searched, sp+"/jax_plugins/xla_cuda*/xla_cuda_plugin.so (JAX install)")
			jp := jaxPlugin(sp)
			if jp == "" {
				continue
			}
			return buildFarm(name, sp, jp, o)
		}
		hint = "Install JAX with CUDA (pip install \"jax[cuda13]\") and, if its site-packages folder is not one of the above, " +
			"set " + EnvJAXSitePackages + " to it; or set " + EnvPluginPath + " to a folder holding pjrt_c_api_cuda_plugin.so " +
			"with the NVIDIA libraries in ../nvidia (see the README, GPU setup)."
	} else {
		hint = fmt.Sprintf("A JAX install has no separate %q PJRT plugin. Copy pjrt_c_api_%s_plugin.so (go-xla's installer "+
			"downloads it from github.com/gomlx/pjrt-cpu-binaries on a machine with internet) into ~/.local/lib/go-xla or a folder "+
			"named by %s. Without it, use the pure-Go backend (--backend go).", name, name, EnvPluginPath)
	}
	return nil, &NotFoundError{Name: name, Searched: searched, Hint: hint}
}

func isCUDA(name string) bool { return strings.Contains(strings.ToLower(name), "cuda") }

func pluginPattern(name string) string { return "pjrt_c_api_" + name + "[_v*]_plugin.so" }

// pluginIn returns the plugin file for name in folder d, or "": go-xla's file names
// pjrt_c_api_NAME_plugin.so, a versioned pjrt_c_api_NAME_vX.Y.Z_plugin.so (newest first),
// pjrt-plugin-NAME.so and pjrt_plugin_NAME.so.
func pluginIn(d, name string) string {
	for _, f := range []string{"pjrt_c_api_" + name + "_plugin.so", "pjrt-plugin-" + name + ".so", "pjrt_plugin_" + name + ".so"} {
		p := filepath.Join(d, f)
		if isFile(p) {
			return p
		}
	}
	vs, _ := filepath.Glob(filepath.Join(d, "pjrt_c_api_"+name+"_v*_plugin.so"))
	slices.Sort(vs)
	for i := len(vs) - 1; i >= 0; i-- {
		if isFile(vs[i]) {
			return vs[i]
		}
	}
	return ""
}

// sitePackages lists candidate Python site-packages folders, explicit ones first.
func sitePackages(o Options) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ps ...string) {
		for _, p := range ps {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	for _, p := range strings.Split(o.getenv(EnvJAXSitePackages), ":") {
		add(p)
	}
	pyGlob := func(prefix string, kinds ...string) {
		for _, k := range kinds {
			ms, _ := filepath.Glob(filepath.Join(prefix, "lib", "python3*", k))
			slices.SortFunc(ms, func(a, b string) int { return -cmp.Compare(a, b) })
			add(ms...)
		}
	}
	if v := o.getenv("VIRTUAL_ENV"); v != "" {
		pyGlob(v, "site-packages")
	}
	if v := o.getenv("CONDA_PREFIX"); v != "" {
		pyGlob(v, "site-packages")
	}
	if h := o.home(); h != "" {
		pyGlob(filepath.Join(h, ".local"), "site-packages")
	}
	for _, r := range o.roots() {
		pyGlob(r, "site-packages", "dist-packages")
		if filepath.Base(r) == "usr" {
			add(filepath.Join(r, "lib", "python3", "dist-packages")) // Debian's unversioned folder
		}
	}
	// Only folders that exist are worth reporting as searched.
	return slices.DeleteFunc(out, func(p string) bool { return !isDir(p) })
}

// jaxPlugin returns the newest jax_plugins/xla_cudaNN/xla_cuda_plugin.so in sp, or "".
func jaxPlugin(sp string) string {
	ms, _ := filepath.Glob(filepath.Join(sp, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so"))
	ver := func(p string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "xla_cuda"))
		return n
	}
	slices.SortFunc(ms, func(a, b string) int { return cmp.Compare(ver(b), ver(a)) })
	for _, m := range ms {
		if isFile(m) {
			return m
		}
	}
	return ""
}

// buildFarm makes the go-xla layout for the JAX plugin jp of site-packages sp:
//
//	FARM/nvidia/pjrt_c_api_cuda_plugin.so -> sp/jax_plugins/xla_cudaNN/xla_cuda_plugin.so
//	FARM/nvidia/<pkg>                      -> sp/nvidia/<pkg>      (cu13, cudnn, nccl, ...)
//	FARM/nvidia/bin/ptxas, bin/nvlink      -> sp/nvidia/*/bin/...
//	FARM/nvidia/nvvm                       -> sp/nvidia/*/nvvm     (libdevice)
//
// go-xla then points XLA's CUDA data folder at FARM/nvidia (../nvidia of the plugin), where XLA
// finds bin/ptxas and nvvm/libdevice. Links are replaced atomically, so concurrent runs agree.
func buildFarm(name, sp, jp string, o Options) (*Plugin, error) {
	real, err := filepath.EvalSymlinks(jp)
	if err != nil {
		return nil, fmt.Errorf("xlaplugin: %w", err)
	}
	sum := sha256.Sum256([]byte(real))
	farm := filepath.Join(o.CacheDir(), "jax-"+hex.EncodeToString(sum[:6]))
	nvFarm := filepath.Join(farm, "nvidia")
	if err := os.MkdirAll(filepath.Join(nvFarm, "bin"), 0o755); err != nil {
		return nil, fmt.Errorf("xlaplugin: building the plugin folder: %w", err)
	}
	pl := &Plugin{Name: name, Path: filepath.Join(nvFarm, "pjrt_c_api_"+name+"_plugin.so"), Source: "JAX install",
		Original: real, NvidiaDir: nvFarm, Farm: farm}
	if strings.Contains(pl.Path, ",") {
		return nil, fmt.Errorf("xlaplugin: cache folder %q contains a comma, which GoMLX's backend config cannot carry; set %s", farm, EnvCache)
	}
	if err := link(real, pl.Path); err != nil {
		return nil, err
	}
	nv := filepath.Join(sp, "nvidia")
	entries, _ := os.ReadDir(nv)
	for _, e := range entries {
		if e.Name() == "bin" || e.Name() == "nvvm" || strings.HasPrefix(e.Name(), "__") || strings.HasPrefix(e.Name(), "pjrt_") {
			continue
		}
		if err := link(filepath.Join(nv, e.Name()), filepath.Join(nvFarm, e.Name())); err != nil {
			return nil, err
		}
	}
	for _, tool := range []string{"ptxas", "nvlink", "fatbinary"} {
		if ms, _ := filepath.Glob(filepath.Join(nv, "*", "bin", tool)); len(ms) > 0 {
			slices.Sort(ms)
			if err := link(ms[len(ms)-1], filepath.Join(nvFarm, "bin", tool)); err != nil {
				return nil, err
			}
		}
	}
	if ms, _ := filepath.Glob(filepath.Join(nv, "*", "nvvm")); len(ms) > 0 {
		slices.Sort(ms)
		if err := link(ms[len(ms)-1], filepath.Join(nvFarm, "nvvm")); err != nil {
			return nil, err
		}
	}
	if isDir(nv) {
		pl.Preload = cublasLibs(nv)
	}
	return pl, nil
}

// link makes dst a symbolic link to src, replacing whatever dst was, atomically (a temporary
// link renamed over dst).
func link(src, dst string) error {
	if cur, err := os.Readlink(dst); err == nil && cur == src {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp%d", dst, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(src, tmp); err != nil {
		return fmt.Errorf("xlaplugin: linking %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("xlaplugin: linking %s: %w", dst, err)
	}
	return nil
}

// cublasLibs finds libcublasLt.so.N and libcublas.so.N under nv/*/lib (in that order: cuBLAS
// needs cuBLASLt). The CUDA plugin of a JAX install opens them by name at run time, relying on
// JAX to have loaded them already.
func cublasLibs(nv string) []string {
	var out []string
	for _, lib := range []string{"libcublasLt.so.*", "libcublas.so.*"} {
		ms, _ := filepath.Glob(filepath.Join(nv, "*", "lib", lib))
		ms = slices.DeleteFunc(ms, func(p string) bool {
			// keep the major-version soname (libcublas.so.13), not libcublas.so.13.1.0.3 duplicates
			return strings.Count(strings.TrimPrefix(filepath.Base(p), strings.SplitN(lib, ".so", 2)[0]+".so."), ".") > 0 || !isFile(p)
		})
		slices.Sort(ms)
		if len(ms) > 0 {
			out = append(out, ms[len(ms)-1])
		}
	}
	return out
}

// HasNvidiaDevice reports whether the machine shows an NVIDIA device file (/dev/nvidia*), the
// same test go-xla uses before trying a CUDA plugin.
func HasNvidiaDevice() bool {
	ms, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(ms) > 0
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
