package pompc

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatLambda writes λ as every file, flag, label and directory name of the project spells
// it: "inf" for +Inf (BMPC's end of the family, alg §4), the shortest decimal that reads back
// as the same float64 otherwise. ParseLambda reads it back.
func FormatLambda(l float64) string {
	if math.IsInf(l, 1) {
		return "inf"
	}
	return strconv.FormatFloat(l, 'g', -1, 64)
}

// ParseLambda reads a λ: a number >= 0, or +Inf spelled "inf", "+inf", "infinity" or "∞" (any
// case, surrounding spaces ignored). Anything else is an error that says what is accepted.
func ParseLambda(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "inf", "+inf", "infinity", "+infinity", "∞":
		return math.Inf(1), nil
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("pompc: lambda must be a number >= 0 or inf, got %q", s)
	}
	return v, nil
}

// JSONFloat is a float64 that survives JSON, which has no infinities or NaN: +Inf, -Inf and NaN
// are written as the strings "inf", "-inf" and "nan", every other value as a number. It is the
// one codec of the project's floats in JSON (λ in config.json and the status, metric values).
type JSONFloat float64

// MarshalJSON writes f as a number, or "inf", "-inf", "nan".
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"nan"`), nil
	case math.IsInf(v, 1):
		return []byte(`"inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-inf"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes (and a number written as a string).
func (f *JSONFloat) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "inf", "+inf", "infinity", "∞":
			*f = JSONFloat(math.Inf(1))
		case "-inf", "-infinity":
			*f = JSONFloat(math.Inf(-1))
		case "nan":
			*f = JSONFloat(math.NaN())
		default:
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return fmt.Errorf("pompc: %q is not a number, inf, -inf or nan", s)
			}
			*f = JSONFloat(v)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = JSONFloat(v)
	return nil
}

// LambdaHistory formats a run's λ records (KeyLambda: the initial value at step 0, then one per
// change) as the labels of figures and tables write it: "1" for a run that kept λ = 1,
// "1→9@5000" for one changed to 9 at agent step 5000; "" without records. A record that repeats
// the current value is not a change.
func LambdaHistory(recs []Record) string {
	var b strings.Builder
	for i, r := range recs {
		switch {
		case i == 0:
			b.WriteString(FormatLambda(r.Val))
		case !sameValue(r.Val, recs[i-1].Val):
			fmt.Fprintf(&b, "→%s@%d", FormatLambda(r.Val), r.Step)
		}
	}
	return b.String()
}
