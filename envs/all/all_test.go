package all_test

import (
	"testing"

	_ "github.com/pompc/pompc/envs/all"
	"github.com/pompc/pompc/envs/envtest"
)

// TestConformanceAll runs the conformance suite over every task the build registers.
func TestConformanceAll(t *testing.T) { envtest.ConformanceAll(t) }
