package pompc

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/stretchr/testify/require"
)

// TestMishMatchesReference checks the one-exponential Mish against x·tanh(softplus(x)), values
// and gradients, across the range where the cap at 20 matters too.
func TestMishMatchesReference(t *testing.T) {
	xs := []float64{-30, -12, -5, -2, -1, -0.3, 0, 0.2, 1, 2.5, 7, 15, 19.9, 20.5, 40}
	out := thRun(t, func(g *Graph, in []*Node) []*Node {
		x := in[0]
		a, b := Mish(x), mishReference(x)
		ga := Gradient(ReduceAllSum(a), x)[0]
		gb := Gradient(ReduceAllSum(b), x)[0]
		return []*Node{a, b, ga, gb}
	}, thT64(xs, len(xs)))
	thClose(t, out[1], out[0], 1e-12, 1e-9, "mish values")
	thClose(t, out[3], out[2], 1e-9, 1e-7, "mish gradients")
	require.InDelta(t, 0.0, out[0][6], 0, "mish(0) = 0")
}

// mishReference is the textbook x·tanh(softplus(x)).
func mishReference(x *Node) *Node {
	return Mul(x, Tanh(Softplus(x)))
}
