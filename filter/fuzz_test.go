package filter_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gqlambda/gqlambda/filter"
)

// fuzzPayloads are the events every parsed filter is matched against.
var fuzzPayloads = []any{
	nil,
	"x",
	[]any{1.0, "a"},
	map[string]any{},
	map[string]any{
		"a": "x", "b": 1.0, "c": true, "d": nil,
		"e": []any{"x", 1.0, false, nil, map[string]any{"a": 1.0}},
		"f": map[string]any{"a": "y", "b": json.Number("2"), "g": map[string]any{"h": 3}},
	},
}

// FuzzParse checks that Parse either fails with ErrInvalid or returns a valid,
// normalized filter that survives a JSON round trip unchanged and can be
// matched against any payload.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := filter.Parse(data)
		if err != nil {
			if !errors.Is(err, filter.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			if !flt.IsZero() {
				t.Fatalf("Parse returned %#v with an error", flt)
			}
			return
		}
		if err := flt.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid filter: %v", err)
		}
		if n := flt.Normalize(); !reflect.DeepEqual(n, flt) {
			t.Fatalf("Parse returned a filter that is not normalized:\n  %#v\nnormalized\n  %#v", flt, n)
		}
		out, err := json.Marshal(flt)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", flt, err)
		}
		back, err := filter.Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(data))) = %v for %s", err, out)
		}
		if !reflect.DeepEqual(back, flt) {
			t.Fatalf("round trip changed the filter:\n  %#v\nto\n  %#v", flt, back)
		}
		for _, p := range fuzzPayloads {
			if flt.Match(p) != back.Match(p) {
				t.Fatalf("round trip changed Match(%v)", p)
			}
		}
	})
}
