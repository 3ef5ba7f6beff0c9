package pompc

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pompc/pompc/pompc/xlaplugin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChooseBackendPrecedence(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	assert.Equal(t, DefaultBackend, ChooseBackend("", ""))
	assert.Equal(t, DefaultBackend, ChooseBackend("", "go"), "bare go gets parallelism=-1")
	t.Setenv("GOMLX_BACKEND", "xla:cuda")
	assert.Equal(t, "xla:cuda", ChooseBackend("", ""), "environment over default")
	assert.Equal(t, "xla:cpu", ChooseBackend("", "xla:cpu"), "config field over environment")
	assert.Equal(t, "go:ops_sequential", ChooseBackend("go:ops_sequential", "xla:cpu"), "flag over config field")
	assert.Equal(t, "xla:cpu", ChooseBackend("  ", " xla:cpu "), "blank flag is no flag")
}

func TestConfigBackendField(t *testing.T) {
	c := POMPC()
	data, err := json.Marshal(c)
	require.NoError(t, err)
	assert.NotContains(t, string(data), `"backend"`, "empty backend is omitted: old and new configs read the same")
	var back Config
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Empty(t, back.Backend)
	require.NoError(t, c.Set("backend", "xla:cuda"))
	assert.Equal(t, "xla:cuda", c.Backend)
	data, err = json.Marshal(c)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, "xla:cuda", back.Backend)
	assert.Contains(t, ConfigKeys(), "backend")
	require.NoError(t, c.Validate())
}

// withXLASearch points plugin discovery at an empty fake machine for the test's duration.
func withXLASearch(t *testing.T, vars map[string]string) string {
	t.Helper()
	tmp := t.TempDir()
	saved, savedDev := xlaPluginOptions, xlaRequireDevice
	t.Cleanup(func() { xlaPluginOptions, xlaRequireDevice = saved, savedDev })
	xlaPluginOptions = xlaplugin.Options{
		Getenv: func(k string) string { return vars[k] },
		Home:   filepath.Join(tmp, "home"),
		Roots:  []string{filepath.Join(tmp, "usr", "local"), filepath.Join(tmp, "usr")},
	}
	return tmp
}

// TestNewBackendXLAMissingPlugin: asking for XLA without a plugin is an error value naming
// every place searched (or, in a build without XLA, naming what the build lacks): no panic, no
// hang, no download (proxies point at an unroutable address, and discovery never uses a network).
func TestNewBackendXLAMissingPlugin(t *testing.T) {
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(v, "http://192.0.2.1:9")
	}
	empty := t.TempDir()
	tmp := withXLASearch(t, map[string]string{xlaplugin.EnvPluginPath: empty})
	for _, spec := range []string{"xla:cuda", "xla", "xla:cuda,preallocate=true", "stablehlo:cuda", "xla:cpu"} {
		done := make(chan error, 1)
		go func() {
			var err error
			assert.NotPanics(t, func() { _, err = NewBackend(spec) }, spec)
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("NewBackend(%q) hangs", spec)
		}
		require.Error(t, err, spec)
		assert.Contains(t, err.Error(), spec)
		if !xlaLinked {
			assert.ErrorIs(t, err, ErrXLANotBuilt)
			assert.Contains(t, err.Error(), "cgo")
			continue
		}
		var nf *xlaplugin.NotFoundError
		require.True(t, errors.As(err, &nf), "%s: %v", spec, err)
		assert.Contains(t, err.Error(), "nothing was downloaded")
		assert.Contains(t, err.Error(), empty)
		assert.Contains(t, err.Error(), filepath.Join(tmp, "home", ".local", "lib", "go-xla"))
		assert.Contains(t, err.Error(), filepath.Join(tmp, "usr", "local", "lib", "go-xla"))
	}
	// The pure-Go backend keeps working next to it.
	b, err := NewBackend("go")
	require.NoError(t, err)
	assert.NotNil(t, b)
}

// TestNewBackendKeepsStdoutClean: nothing a backend prints reaches stdout (pompc bench --json).
func TestNewBackendKeepsStdoutClean(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	saved := os.Stdout
	os.Stdout = w
	_, err = NewBackend("go:parallelism=-1")
	os.Stdout = saved
	require.NoError(t, err)
	require.NoError(t, w.Close())
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Empty(t, string(got))
	assert.Same(t, saved, os.Stdout, "stdout restored")
}
