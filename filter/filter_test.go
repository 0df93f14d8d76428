package filter_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gqlambda/gqlambda/filter"
)

func TestWhere(t *testing.T) {
	t.Parallel()
	got := filter.Where("author.id", filter.Ne, 7)
	want := filter.Condition{Field: "author.id", Operator: filter.Ne, Value: 7}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Where = %#v, want %#v", got, want)
	}
}

func TestAll(t *testing.T) {
	t.Parallel()
	a := filter.Where("a", filter.Eq, 1)
	b := filter.Where("b", filter.Eq, 2)
	conds := []filter.Condition{a, b}
	got := filter.All(conds...)
	want := filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{a, b}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("All = %#v, want %#v", got, want)
	}
	conds[0] = b // All copied its arguments
	if !reflect.DeepEqual(got, want) {
		t.Errorf("All shares the caller's slice: %#v", got)
	}
	if f := filter.All(); !f.IsZero() || f.Groups != nil {
		t.Errorf("All() = %#v, want the zero Filter", f)
	}
}

func TestAny(t *testing.T) {
	t.Parallel()
	a := filter.All(filter.Where("a", filter.Eq, 1))
	bc := filter.Any(filter.All(filter.Where("b", filter.Eq, 2)), filter.All(filter.Where("c", filter.Eq, 3)))
	got := filter.Any(a, bc)
	want := filter.Filter{Groups: []filter.Group{a.Groups[0], bc.Groups[0], bc.Groups[1]}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Any = %#v, want %#v", got, want)
	}
	got.Groups[0].Conditions[0].Value = 9 // Any copied the groups
	if a.Groups[0].Conditions[0].Value != 1 {
		t.Error("Any shares its arguments' conditions")
	}
	// The zero Filter matches everything, and so does an OR with it.
	if f := filter.Any(a, filter.Filter{}); !f.IsZero() {
		t.Errorf("Any(a, zero) = %#v, want the zero Filter", f)
	}
	if f := filter.Any(); !f.IsZero() {
		t.Errorf("Any() = %#v, want the zero Filter", f)
	}
	if !filter.Any(a, filter.Filter{}).Match(map[string]any{"a": 2}) {
		t.Error("Any(a, zero) did not match an event a does not match")
	}
}

func TestIsZero(t *testing.T) {
	t.Parallel()
	if !(filter.Filter{}).IsZero() || !(filter.Filter{Groups: []filter.Group{}}).IsZero() {
		t.Error("a filter without groups is not zero")
	}
	if filter.All(filter.Where("a", filter.Eq, 1)).IsZero() {
		t.Error("a filter with a group is zero")
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fields map[string]any
		want   filter.Filter
	}{
		{"nil", nil, filter.Filter{}},
		{"empty", map[string]any{}, filter.Filter{}},
		{"flat", map[string]any{"chatId": "1", "n": 2, "b": true},
			filter.All(filter.Where("b", filter.Eq, true), filter.Where("chatId", filter.Eq, "1"), filter.Where("n", filter.Eq, 2))},
		{"nested", map[string]any{
			"chatId": "1",
			"author": map[string]any{"id": "x", "profile": map[string]any{"lang": "en"}},
			"z":      map[string]string{"k": "v"},
		}, filter.All(
			filter.Where("author.id", filter.Eq, "x"),
			filter.Where("author.profile.lang", filter.Eq, "en"),
			filter.Where("chatId", filter.Eq, "1"),
			filter.Where("z.k", filter.Eq, "v"),
		)},
		{"invalid values kept", map[string]any{
			"list":  []any{"a"},
			"empty": map[string]any{},
			"s":     struct{}{},
			"null":  nil,
		}, filter.All(
			filter.Where("empty", filter.Eq, map[string]any{}),
			filter.Where("list", filter.Eq, []any{"a"}),
			filter.Where("null", filter.Eq, nil),
			filter.Where("s", filter.Eq, struct{}{}),
		)},
		{"same path twice", map[string]any{"a.b": 2, "a": map[string]any{"b": 1}},
			filter.All(filter.Where("a.b", filter.Eq, 1), filter.Where("a.b", filter.Eq, 2))},
	}
	for _, tc := range tests {
		for range 5 { // map order varies between runs; the result must not
			if got := filter.Equal(tc.fields); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: Equal = %#v, want %#v", tc.name, got, tc.want)
				break
			}
		}
	}

	f := filter.Equal(map[string]any{"chatId": "1", "author": map[string]any{"id": "x"}})
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !f.Match(map[string]any{"chatId": "1", "author": map[string]any{"id": "x", "name": "X"}, "text": "hi"}) {
		t.Error("Equal filter did not match an event with the fields")
	}
	if f.Match(map[string]any{"chatId": "1", "author": map[string]any{"id": "y"}}) {
		t.Error("Equal filter matched an event with another author")
	}
	bad := filter.Equal(map[string]any{"chatId": "1", "tags": []any{"a"}})
	const want = `filter: group 0, condition 1 ("tags"): operator "eq" needs a string, number or bool, got list of 1 value`
	if err := bad.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
}

// goFilter uses every kind of value a Go user may put in a filter.
func goFilter() filter.Filter {
	return filter.Any(
		filter.All(
			filter.Where("a", filter.Eq, 1),
			filter.Where("b", filter.Ne, int64(-2)),
			filter.Where("c", filter.Lt, uint32(3)),
			filter.Where("d", filter.Le, float32(0.25)),
			filter.Where("e", filter.Gt, json.Number("12.5")),
			filter.Where("f", filter.Ge, myInt(4)),
			filter.Where("g", filter.Eq, myString("s")),
			filter.Where("h", filter.Eq, myBool(true)),
			filter.Where("i", filter.Eq, "plain"),
			filter.Where("j", filter.Eq, false),
		),
		filter.All(
			filter.Where("k", filter.In, []string{"x", "y"}),
			filter.Where("l", filter.NotIn, []int{1, 2}),
			filter.Where("m", filter.ContainsAny, [2]any{"z", uint8(9)}),
			filter.Where("n", filter.Between, []float32{1, 2}),
			filter.Where("o", filter.Between, []json.Number{"1", "2e3"}),
			filter.Where("p", filter.Contains, 3.5),
			filter.Where("q", filter.NotContains, "w"),
			filter.Where("r", filter.BeginsWith, "pre"),
			filter.Where("s", filter.In, []myString{"t"}),
			filter.Where("u", filter.In, []any{1, "1", true, json.Number("7")}),
		),
	)
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	f := goFilter()
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n := f.Normalize()
	want := filter.Any(
		filter.All(
			filter.Where("a", filter.Eq, 1.0),
			filter.Where("b", filter.Ne, -2.0),
			filter.Where("c", filter.Lt, 3.0),
			filter.Where("d", filter.Le, 0.25),
			filter.Where("e", filter.Gt, 12.5),
			filter.Where("f", filter.Ge, 4.0),
			filter.Where("g", filter.Eq, "s"),
			filter.Where("h", filter.Eq, true),
			filter.Where("i", filter.Eq, "plain"),
			filter.Where("j", filter.Eq, false),
		),
		filter.All(
			filter.Where("k", filter.In, []any{"x", "y"}),
			filter.Where("l", filter.NotIn, []any{1.0, 2.0}),
			filter.Where("m", filter.ContainsAny, []any{"z", 9.0}),
			filter.Where("n", filter.Between, []any{1.0, 2.0}),
			filter.Where("o", filter.Between, []any{1.0, 2000.0}),
			filter.Where("p", filter.Contains, 3.5),
			filter.Where("q", filter.NotContains, "w"),
			filter.Where("r", filter.BeginsWith, "pre"),
			filter.Where("s", filter.In, []any{"t"}),
			filter.Where("u", filter.In, []any{1.0, "1", true, 7.0}),
		),
	)
	if !reflect.DeepEqual(n, want) {
		t.Errorf("Normalize =\n  %#v\nwant\n  %#v", n, want)
	}
	if !reflect.DeepEqual(n.Normalize(), n) {
		t.Error("Normalize is not idempotent")
	}

	// A deep copy: changing the original does not change the copy.
	f.Groups[0].Conditions[0].Field = "changed"
	f.Groups[1].Conditions[9].Value.([]any)[0] = "changed"
	if !reflect.DeepEqual(n, want) {
		t.Error("Normalize shares memory with the original filter")
	}

	// Empty lists become nil, as a JSON round trip gives.
	if got := (filter.Filter{Groups: []filter.Group{}}).Normalize(); got.Groups != nil {
		t.Errorf("Normalize kept an empty groups slice: %#v", got)
	}
	if got := (filter.Filter{Groups: []filter.Group{{Conditions: []filter.Condition{}}}}).Normalize(); got.Groups[0].Conditions != nil {
		t.Errorf("Normalize kept an empty conditions slice: %#v", got)
	}
	// Values that are not JSON-shaped are kept.
	odd := filter.All(filter.Where("a", filter.Eq, struct{ X int }{1}), filter.Where("b", filter.Eq, json.Number("x")),
		filter.Where("c", filter.Eq, []string(nil)), filter.Where("d", filter.Eq, map[string]int{"k": 1}))
	wantOdd := filter.All(filter.Where("a", filter.Eq, struct{ X int }{1}), filter.Where("b", filter.Eq, json.Number("x")),
		filter.Where("c", filter.Eq, nil), filter.Where("d", filter.Eq, map[string]any{"k": 1.0}))
	if got := odd.Normalize(); !reflect.DeepEqual(got, wantOdd) {
		t.Errorf("Normalize = %#v, want %#v", got, wantOdd)
	}
}

// TestNormalizeMatchesTheSame checks that a filter and its normalized form
// match the same payloads.
func TestNormalizeMatchesTheSame(t *testing.T) {
	t.Parallel()
	payloads := []map[string]any{
		{"a": 1, "b": 0, "c": 2, "d": 0.25, "e": 13, "f": 4, "g": "s", "h": true, "i": "plain", "j": false},
		{"a": 1.0, "b": -2, "c": 2, "d": 0.25, "e": 13, "f": 4, "g": "s", "h": true, "i": "plain", "j": false},
		{"a": 1, "b": 0, "c": 2, "d": 0.125, "e": 12.5, "f": 4, "g": "s", "h": true, "i": "plain", "j": false},
		{"k": "y", "l": 3, "m": []any{9}, "n": 1.5, "o": 2000, "p": []any{3.5}, "q": "v", "r": "prefix", "s": "t", "u": "1"},
		{"k": "y", "l": 2, "m": []any{9}, "n": 1.5, "o": 2000, "p": []any{3.5}, "q": "v", "r": "prefix", "s": "t", "u": 7},
		{"k": "y", "l": 3, "m": []any{8}, "n": 2.5, "o": 2000, "p": []any{3.5}, "q": "v", "r": "prefix", "s": "t", "u": true},
	}
	f := goFilter()
	n := f.Normalize()
	for i, p := range payloads {
		if got, want := n.Match(p), f.Match(p); got != want {
			t.Errorf("payload %d: normalized Match = %v, original %v", i, got, want)
		}
	}
	// The cases above must not all be trivially false.
	if !f.Match(payloads[0]) || !f.Match(payloads[3]) || f.Match(payloads[1]) || f.Match(payloads[4]) {
		t.Error("goFilter does not match payloads as the test expects")
	}
}

// TestJSONRoundTrip checks that a normalized filter survives encoding/json,
// both with json.Unmarshal and with Parse.
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]filter.Filter{
		"zero":   {},
		"go":     goFilter(),
		"equal":  filter.Equal(map[string]any{"chatId": 1, "author": map[string]any{"id": "x"}}),
		"simple": filter.All(filter.Where("a.b", filter.Between, []int{1, 2})),
	} {
		n := f.Normalize()
		data, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		var back filter.Filter
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%s: Unmarshal: %v", name, err)
		}
		if !reflect.DeepEqual(back, n) {
			t.Errorf("%s: JSON round trip changed the filter:\n  %#v\nto\n  %#v", name, n, back)
		}
		parsed, err := filter.Parse(data)
		if err != nil {
			t.Fatalf("%s: Parse(%s): %v", name, data, err)
		}
		if !reflect.DeepEqual(parsed, n) {
			t.Errorf("%s: Parse(Marshal) = %#v, want %#v", name, parsed, n)
		}
	}
	// The wire format is AppSync's.
	data, err := json.Marshal(filter.All(filter.Where("chatId", filter.Eq, "42")))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"filterGroup":[{"filters":[{"fieldName":"chatId","operator":"eq","value":"42"}]}]}`
	if string(data) != want {
		t.Errorf("Marshal = %s, want %s", data, want)
	}
	if data, _ := json.Marshal(filter.Filter{}); string(data) != `{}` {
		t.Errorf("Marshal(zero) = %s, want {}", data)
	}
}

// TestCyclicValues checks that values which contain themselves are rejected
// without recursing forever.
func TestCyclicValues(t *testing.T) {
	t.Parallel()
	m := map[string]any{"id": "x"}
	m["self"] = m
	eq := filter.Equal(map[string]any{"a": m})
	if err := eq.Validate(); err == nil {
		t.Error("Validate accepted an Equal filter on a map that contains itself")
	}
	_ = eq.Normalize()

	l := []any{"x", nil}
	l[1] = l
	f := filter.All(filter.Where("a", filter.In, l), filter.Where("b", filter.Eq, m))
	const want = `filter: group 0, condition 0 ("a"): operator "in" needs a non-empty list of strings, numbers or bools, value 1 is list of 2 values`
	if err := f.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
	n := f.Normalize()
	if got := n.Groups[0].Conditions[0].Value.([]any)[0]; got != "x" {
		t.Errorf("Normalize changed the first element to %v", got)
	}
	if f.Match(map[string]any{"a": "x", "b": "y"}) || n.Match(map[string]any{"a": "x", "b": "y"}) {
		t.Error("an invalid cyclic filter matched")
	}
}
