package filter_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gqlambda/gqlambda/filter"
)

// one returns a filter whose group 1, condition 0 is c, after a valid group
// and a valid condition, so that error messages must name the right indexes.
func one(c filter.Condition) filter.Filter {
	ok := filter.Where("ok", filter.Eq, "ok")
	return filter.Filter{Groups: []filter.Group{
		{Conditions: []filter.Condition{ok}},
		{Conditions: []filter.Condition{c, ok}},
	}}
}

func conditions(n int) []filter.Condition {
	out := make([]filter.Condition, n)
	for i := range out {
		out[i] = filter.Where("f", filter.Eq, i)
	}
	return out
}

func TestValidateValid(t *testing.T) {
	t.Parallel()
	valid := []filter.Filter{
		{},
		{Groups: []filter.Group{}},
		filter.All(filter.Where("a", filter.Eq, "x")),
		filter.All(filter.Where("a", filter.Eq, 1), filter.Where("b", filter.Eq, true), filter.Where("c", filter.Eq, json.Number("-1.5e3"))),
		filter.All(filter.Where("a", filter.Ne, myString("x")), filter.Where("a", filter.Ne, myInt(1)), filter.Where("a", filter.Ne, myBool(false))),
		filter.All(filter.Where("a", filter.Lt, 1), filter.Where("a", filter.Le, "x"), filter.Where("a", filter.Gt, uint8(3)), filter.Where("a", filter.Ge, float32(-2))),
		filter.All(filter.Where("a", filter.In, []any{"x", 1, true}), filter.Where("a", filter.NotIn, []string{"x"}), filter.Where("a", filter.ContainsAny, [3]int{1, 2, 3})),
		filter.All(filter.Where("a", filter.In, make([]string, 100))),
		filter.All(filter.Where("a", filter.Between, []any{1, 2}), filter.Where("a", filter.Between, []string{"a", "b"}), filter.Where("a", filter.Between, []any{json.Number("1"), 1.0})),
		filter.All(filter.Where("a", filter.Contains, "x"), filter.Where("a", filter.Contains, 1), filter.Where("a", filter.NotContains, false)),
		filter.All(filter.Where("a", filter.BeginsWith, "")),
		filter.All(filter.Where("a.b.c.d.e.f.g.h.i.j", filter.Eq, 1)),
		filter.All(filter.Where(strings.Repeat("x", 256), filter.Eq, 1)),
		{Groups: make([]filter.Group, 50)},
		filter.All(conditions(50)...),
	}
	// Fill the 50 groups above.
	for i := range valid[len(valid)-2].Groups {
		valid[len(valid)-2].Groups[i] = filter.Group{Conditions: conditions(1)}
	}
	for i, f := range valid {
		if err := f.Validate(); err != nil {
			t.Errorf("filter %d: Validate = %v, want nil", i, err)
		}
	}
}

func TestValidateInvalid(t *testing.T) {
	t.Parallel()
	const at = `filter: group 1, condition 0 `
	tests := []struct {
		name string
		f    filter.Filter
		want string // the whole message
	}{
		{"too many groups", filter.Filter{Groups: make([]filter.Group, 51)},
			`filter: 51 groups, at most 50`},
		{"empty group", filter.Filter{Groups: []filter.Group{{Conditions: conditions(1)}, {Conditions: conditions(1)}, {}}},
			`filter: group 2 has no conditions`},
		{"empty group slice", filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{}}}},
			`filter: group 0 has no conditions`},
		{"too many conditions", filter.Filter{Groups: []filter.Group{{Conditions: conditions(1)}, {Conditions: conditions(51)}}},
			`filter: group 1 has 51 conditions, at most 50`},
		{"unknown operator", one(filter.Where("author.id", "like", "x")),
			at + `("author.id"): unknown operator "like"`},
		{"empty operator", one(filter.Where("a", "", "x")),
			at + `("a"): unknown operator ""`},
		{"operator case", one(filter.Where("a", "EQ", "x")),
			at + `("a"): unknown operator "EQ"`},
		{"empty field", one(filter.Where("", filter.Eq, "x")),
			at + `(""): empty field name`},
		{"leading dot", one(filter.Where(".a", filter.Eq, "x")),
			at + `(".a"): field name has an empty segment`},
		{"trailing dot", one(filter.Where("a.", filter.Eq, "x")),
			at + `("a."): field name has an empty segment`},
		{"double dot", one(filter.Where("a..b", filter.Eq, "x")),
			at + `("a..b"): field name has an empty segment`},
		{"only a dot", one(filter.Where(".", filter.Eq, "x")),
			at + `("."): field name has an empty segment`},
		{"too deep", one(filter.Where("a.b.c.d.e.f.g.h.i.j.k", filter.Eq, "x")),
			at + `("a.b.c.d.e.f.g.h.i.j.k"): field name has 11 segments, at most 10`},
		{"too long", one(filter.Where(strings.Repeat("x", 257), filter.Eq, "x")),
			at + `("` + strings.Repeat("x", 257) + `"): field name is 257 bytes, at most 256`},

		{"eq null", one(filter.Where("a", filter.Eq, nil)),
			at + `("a"): operator "eq" needs a string, number or bool, got null`},
		{"eq list", one(filter.Where("a", filter.Eq, []any{"x", "y"})),
			at + `("a"): operator "eq" needs a string, number or bool, got list of 2 values`},
		{"ne object", one(filter.Where("a", filter.Ne, map[string]any{"b": 1})),
			at + `("a"): operator "ne" needs a string, number or bool, got object`},
		{"eq NaN", one(filter.Where("a", filter.Eq, math.NaN())),
			at + `("a"): operator "eq" needs a string, number or bool, got non-finite number NaN`},
		{"eq Inf", one(filter.Where("a", filter.Eq, float32(math.Inf(-1)))),
			at + `("a"): operator "eq" needs a string, number or bool, got non-finite number -Inf`},
		{"eq bad json.Number", one(filter.Where("a", filter.Eq, json.Number("12abc"))),
			at + `("a"): operator "eq" needs a string, number or bool, got invalid number "12abc"`},
		{"eq out of range json.Number", one(filter.Where("a", filter.Eq, json.Number("1e400"))),
			at + `("a"): operator "eq" needs a string, number or bool, got invalid number "1e400"`},
		{"eq struct", one(filter.Where("a", filter.Eq, struct{ X int }{})),
			at + `("a"): operator "eq" needs a string, number or bool, got struct { X int }`},
		{"eq pointer", one(filter.Where("a", filter.Eq, new(int))),
			at + `("a"): operator "eq" needs a string, number or bool, got *int`},
		{"contains list", one(filter.Where("a", filter.Contains, []string{"x"})),
			at + `("a"): operator "contains" needs a string, number or bool, got list of 1 value`},
		{"notContains null", one(filter.Where("a", filter.NotContains, nil)),
			at + `("a"): operator "notContains" needs a string, number or bool, got null`},
		{"lt bool", one(filter.Where("a", filter.Lt, true)),
			at + `("a"): operator "lt" needs a string or number, got bool`},
		{"ge list", one(filter.Where("a", filter.Ge, []any{})),
			at + `("a"): operator "ge" needs a string or number, got empty list`},
		{"beginsWith number", one(filter.Where("a", filter.BeginsWith, 1)),
			at + `("a"): operator "beginsWith" needs a string, got number`},
		{"in scalar", one(filter.Where("a", filter.In, "x")),
			at + `("a"): operator "in" needs a non-empty list of strings, numbers or bools, got string`},
		{"in empty", one(filter.Where("a", filter.In, []any{})),
			at + `("a"): operator "in" needs a non-empty list of strings, numbers or bools, got empty list`},
		{"notIn nil slice", one(filter.Where("a", filter.NotIn, []string(nil))),
			at + `("a"): operator "notIn" needs a non-empty list of strings, numbers or bools, got empty list`},
		{"in too many", one(filter.Where("a", filter.In, make([]int, 101))),
			at + `("a"): operator "in" takes at most 100 values, got 101`},
		{"in null element", one(filter.Where("a", filter.In, []any{"x", nil})),
			at + `("a"): operator "in" needs a non-empty list of strings, numbers or bools, value 1 is null`},
		{"containsAny nested list", one(filter.Where("a", filter.ContainsAny, []any{[]any{"x"}})),
			at + `("a"): operator "containsAny" needs a non-empty list of strings, numbers or bools, value 0 is list of 1 value`},
		{"containsAny object", one(filter.Where("a", filter.ContainsAny, map[string]any{})),
			at + `("a"): operator "containsAny" needs a non-empty list of strings, numbers or bools, got object`},
		{"between scalar", one(filter.Where("author.id", filter.Between, "x")),
			at + `("author.id"): operator "between" needs a list of two values, got string`},
		{"between one", one(filter.Where("a", filter.Between, []any{1})),
			at + `("a"): operator "between" needs a list of two values, got list of 1 value`},
		{"between three", one(filter.Where("a", filter.Between, []int{1, 2, 3})),
			at + `("a"): operator "between" needs a list of two values, got list of 3 values`},
		{"between mixed", one(filter.Where("a", filter.Between, []any{1, "9"})),
			at + `("a"): operator "between" needs two numbers or two strings, got number and string`},
		{"between bools", one(filter.Where("a", filter.Between, []any{false, true})),
			at + `("a"): operator "between" needs two numbers or two strings, got bool and bool`},
		{"between null", one(filter.Where("a", filter.Between, []any{nil, 1})),
			at + `("a"): operator "between" needs two numbers or two strings, got null and number`},
		{"between reversed numbers", one(filter.Where("a", filter.Between, []any{9, 1.5})),
			at + `("a"): operator "between" needs lo <= hi, got [9, 1.5]`},
		{"between reversed strings", one(filter.Where("a", filter.Between, []string{"b", "a"})),
			at + `("a"): operator "between" needs lo <= hi, got ["b", "a"]`},
	}
	for _, tc := range tests {
		err := tc.f.Validate()
		if err == nil {
			t.Errorf("%s: Validate = nil, want %q", tc.name, tc.want)
			continue
		}
		if !errors.Is(err, filter.ErrInvalid) {
			t.Errorf("%s: Validate = %v, does not wrap ErrInvalid", tc.name, err)
		}
		if err.Error() != tc.want {
			t.Errorf("%s: Validate =\n  %s\nwant\n  %s", tc.name, err, tc.want)
		}
	}
}

// TestValidateFirstProblem checks that Validate reports the first problem in
// group and condition order.
func TestValidateFirstProblem(t *testing.T) {
	t.Parallel()
	f := filter.Filter{Groups: []filter.Group{
		{Conditions: []filter.Condition{filter.Where("a", filter.Eq, 1), filter.Where("b", filter.Eq, 1), filter.Where("c", "bad", 1)}},
		{Conditions: []filter.Condition{filter.Where("", filter.Eq, 1)}},
	}}
	const want = `filter: group 0, condition 2 ("c"): unknown operator "bad"`
	if err := f.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
}
