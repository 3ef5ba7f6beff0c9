package pompc

import (
	"path"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// adamScopeName is where GoMLX's Adam keeps its state: the step counter at
// <scope>/AdamOptimizer/step and the moments under /AdamOptimizer/<variable's scope>.
const adamScopeName = "AdamOptimizer"

// Adam's moment decay rates (GoMLX's and PyTorch's defaults, which TD-MPC2 uses).
const adamBeta1, adamBeta2 = 0.9, 0.999

// popAdam is GoMLX's Adam, op for op (alg §4), over a population's stacked variables, with a step
// counter per run (GoMLX's optimizer has one scalar counter):
//
//	m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,  θ ← θ − lr·(m/(1 − β1^s)) / (√(v/(1 − β2^s)) + ε),
//
// with s the run's own step count. Only the runs in runs (nil: all) take this step, and of those
// only the ones hold(θ) marks move θ: for every other run the counter, moments and variable stay
// bit for bit, exactly as the run alone, whose graph would not have had this step or variable
// (a world-model-only burst, a prior or Qk its variant does not train). The population's global
// step counts per run the same way.
func (a *Agent) popAdam(scopePath string, grads []*Node, runs []bool, hold func(v *model.Variable) []bool) {
	g := grads[0].Graph()
	k := a.n.pop
	if runs == nil {
		runs = make([]bool, k)
		for i := range runs {
			runs[i] = true
		}
	}
	setting := a.adamSetting(scopePath)
	scope := a.store.Scope(scopePath)
	lr := optimizer.LearningRateVar(scope, dt, setting.lr).NodeValue(g)

	// Per-run counters: the global step (int64) and this optimizer's step.
	gsVar := a.store.Scope("/").WithInitializer(initializer.Zero).
		VariableWithShape(optimizer.GlobalStepVariableName, shapes.Make(dtypes.Int64, k)).SetTrainable(false)
	gs := gsVar.NodeValue(g)
	gsVar.SetNodeValue(pick(runs, Add(gs, OnesLike(gs)), gs))
	stepVar := scope.At(adamScopeName).WithInitializer(initializer.Zero).VariableWithShape("step", shapes.Make(dt, k)).SetTrainable(false)
	oldStep := stepVar.NodeValue(g)
	step := AddScalar(oldStep, 1)
	stepVar.SetNodeValue(pick(runs, step, oldStep))

	beta1, beta2 := Const(g, float32(adamBeta1)), Const(g, float32(adamBeta2))
	debias1 := Reciprocal(OneMinus(Pow(beta1, step))) // [K]
	debias2 := Reciprocal(OneMinus(Pow(beta2, step)))
	eps := Const(g, float32(setting.eps))

	i := 0
	for v := range scope.IterVariables() {
		if !v.Trainable || !v.InUseByGraph(g) {
			continue
		}
		if i >= len(grads) {
			exceptions.Panicf("popAdam: more trainable variables under %s than gradients (%d)", scopePath, len(grads))
		}
		grad := grads[i]
		i++
		shape := v.Shape().Clone()
		ms := a.store.Scope(path.Join("/", adamScopeName, v.Scope())).WithInitializer(initializer.Zero)
		m1Var := ms.VariableWithShape(v.Name()+"_1st_moment", shape).SetTrainable(false)
		m2Var := ms.VariableWithShape(v.Name()+"_2nd_moment", shape).SetTrainable(false)
		dims := make([]int, shape.Rank())
		for j := range dims {
			dims[j] = 1
		}
		dims[0] = k
		perRun := func(x *Node) *Node { return Reshape(x, dims...) }

		m1Old, m2Old, old := m1Var.NodeValue(g), m2Var.NodeValue(g), v.NodeValue(g)
		m1 := Add(Mul(beta1, m1Old), Mul(OneMinus(beta1), grad))
		m2 := Add(Mul(beta2, m2Old), Mul(OneMinus(beta2), Square(grad)))
		denominator := Add(Sqrt(Mul(m2, perRun(debias2))), eps)
		updated := Sub(old, Div(Mul(lr, Mul(m1, perRun(debias1))), denominator))

		moves := runs
		if hold != nil {
			if h := hold(v); h != nil {
				moves = make([]bool, k)
				for j := range moves {
					moves[j] = runs[j] && h[j]
				}
			}
		}
		m1Var.SetNodeValue(pick(moves, m1, m1Old))
		m2Var.SetNodeValue(pick(moves, m2, m2Old))
		v.SetNodeValue(pick(moves, updated, old))
	}
	if i != len(grads) {
		exceptions.Panicf("popAdam: %d gradients for %d trainable variables under %s", len(grads), i, scopePath)
	}
}

// adamSetting returns the optimizer of the variables under scopePath.
func (a *Agent) adamSetting(scopePath string) adamSetting {
	for _, s := range a.adamSettings() {
		if s.path == scopePath {
			return s
		}
	}
	exceptions.Panicf("no optimizer for %s", scopePath)
	return adamSetting{}
}

// underScope reports whether variable v lives under scopePath.
func underScope(v *model.Variable, scopePath string) bool {
	return v.Path() == scopePath || strings.HasPrefix(v.Path(), scopePath+"/")
}
