package filter_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/gqlambda/gqlambda/filter"
)

// event is the payload most Match tests run against, as encoding/json decodes
// it (plus a json.Number, as a decoder with UseNumber gives).
func event() map[string]any {
	return map[string]any{
		"chatId":  "42",
		"n":       5.0,
		"big":     json.Number("1e3"),
		"flag":    true,
		"off":     false,
		"name":    "Alice",
		"empty":   "",
		"nothing": nil,
		"tags":    []any{"go", "aws", 3.0, true},
		"none":    []any{},
		"author": map[string]any{
			"id":   "x",
			"role": "admin",
			"age":  30.0,
			"profile": map[string]any{
				"lang": "en",
			},
		},
	}
}

// matchCase is one condition evaluated against event().
type matchCase struct {
	field string
	op    filter.Operator
	value any
	want  bool
}

func (c matchCase) String() string {
	return fmt.Sprintf("%s %s %#v", c.field, c.op, c.value)
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	t.Parallel()
	for _, tc := range cases {
		f := filter.All(filter.Where(tc.field, tc.op, tc.value))
		if err := f.Validate(); err != nil {
			t.Errorf("%v: test filter is invalid: %v", tc, err)
			continue
		}
		if got := f.Match(event()); got != tc.want {
			t.Errorf("%v: Match = %v, want %v", tc, got, tc.want)
		}
		// A normalized filter matches the same events.
		if got := f.Normalize().Match(event()); got != tc.want {
			t.Errorf("%v: normalized Match = %v, want %v", tc, got, tc.want)
		}
	}
}

func TestMatchEqNe(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"chatId", filter.Eq, "42", true},
		{"chatId", filter.Eq, "43", false},
		{"chatId", filter.Eq, 42, false}, // strict: string field, number value
		{"n", filter.Eq, 5, true},
		{"n", filter.Eq, "5", false}, // strict: number field, string value
		{"n", filter.Eq, 5.5, false},
		{"big", filter.Eq, 1000, true}, // json.Number field
		{"big", filter.Eq, json.Number("1000.0"), true},
		{"flag", filter.Eq, true, true},
		{"flag", filter.Eq, false, false},
		{"flag", filter.Eq, "true", false},
		{"off", filter.Eq, false, true},
		{"empty", filter.Eq, "", true},
		{"name", filter.Eq, "alice", false}, // case-sensitive
		{"tags", filter.Eq, "go", false},    // a list never equals a scalar
		{"author", filter.Eq, "x", false},   // nor does an object
		{"author.id", filter.Eq, "x", true},
		{"author.profile.lang", filter.Eq, "en", true},
		{"author.profile.lang", filter.Eq, "fr", false},

		{"chatId", filter.Ne, "42", false},
		{"chatId", filter.Ne, "43", true},
		{"chatId", filter.Ne, 42, true},
		{"n", filter.Ne, 5.0, false},
		{"n", filter.Ne, 6, true},
		{"flag", filter.Ne, true, false},
		{"flag", filter.Ne, false, true},
		{"tags", filter.Ne, "go", true},
		{"author.role", filter.Ne, "admin", false},
		{"author.role", filter.Ne, "user", true},
	})
}

func TestMatchOrdered(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"n", filter.Lt, 6, true},
		{"n", filter.Lt, 5, false},
		{"n", filter.Lt, 4.5, false},
		{"n", filter.Le, 5, true},
		{"n", filter.Le, 4.99, false},
		{"n", filter.Gt, 4, true},
		{"n", filter.Gt, 5, false},
		{"n", filter.Ge, 5, true},
		{"n", filter.Ge, 5.01, false},
		{"n", filter.Lt, -1, false},
		{"big", filter.Gt, 999, true},
		{"big", filter.Lt, 999, false},
		{"author.age", filter.Ge, 18, true},
		{"author.age", filter.Lt, 18, false},

		// Strings are ordered byte-wise, case-sensitive.
		{"name", filter.Lt, "Bob", true},
		{"name", filter.Lt, "Alice", false},
		{"name", filter.Le, "Alice", true},
		{"name", filter.Gt, "Al", true},
		{"name", filter.Gt, "alice", false}, // 'A' < 'a'
		{"name", filter.Ge, "Alicf", false},
		{"chatId", filter.Lt, "5", true}, // "42" < "5" lexically
		{"chatId", filter.Gt, "100", true},

		// Strict by type: no ordering across types.
		{"chatId", filter.Lt, 100, false},
		{"chatId", filter.Gt, 1, false},
		{"n", filter.Lt, "9", false},
		{"n", filter.Ge, "0", false},
		{"flag", filter.Ge, 0, false},
		{"tags", filter.Gt, "a", false},
	})
}

func TestMatchBetween(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"n", filter.Between, []any{1, 10}, true},
		{"n", filter.Between, []any{5, 10}, true}, // inclusive lo
		{"n", filter.Between, []any{1, 5}, true},  // inclusive hi
		{"n", filter.Between, []any{5, 5}, true},
		{"n", filter.Between, []any{6, 10}, false},
		{"n", filter.Between, []any{1, 4.99}, false},
		{"n", filter.Between, []int{1, 9}, true},
		{"n", filter.Between, [2]float32{4.5, 5.5}, true},
		{"big", filter.Between, []any{json.Number("999"), 1001}, true},
		{"name", filter.Between, []any{"A", "B"}, true},
		{"name", filter.Between, []any{"Alice", "Alice"}, true},
		{"name", filter.Between, []any{"B", "C"}, false},
		{"name", filter.Between, []any{"a", "z"}, false}, // case-sensitive
		{"chatId", filter.Between, []any{1, 100}, false}, // strict
		{"n", filter.Between, []any{"1", "9"}, false},    // strict
		{"tags", filter.Between, []any{1, 100}, false},
	})
}

func TestMatchInNotIn(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"chatId", filter.In, []any{"1", "42"}, true},
		{"chatId", filter.In, []string{"42"}, true},
		{"chatId", filter.In, []any{"1", "2"}, false},
		{"chatId", filter.In, []any{42}, false}, // strict
		{"n", filter.In, []any{1, 5}, true},
		{"n", filter.In, []int64{1, 5}, true},
		{"n", filter.In, []any{"5"}, false},
		{"flag", filter.In, []any{true}, true},
		{"flag", filter.In, []any{"true", 1}, false},
		{"author.role", filter.In, []any{"admin", "mod"}, true},
		{"tags", filter.In, []any{"go"}, false}, // the field is a list, not a scalar

		{"chatId", filter.NotIn, []any{"1", "42"}, false},
		{"chatId", filter.NotIn, []any{"1", "2"}, true},
		{"chatId", filter.NotIn, []any{42}, true},
		{"n", filter.NotIn, []uint8{5}, false},
		{"n", filter.NotIn, []any{6, 7}, true},
		{"author.role", filter.NotIn, []any{"banned"}, true},
	})
}

func TestMatchContains(t *testing.T) {
	runMatchCases(t, []matchCase{
		// String field: substring, string values only.
		{"name", filter.Contains, "lic", true},
		{"name", filter.Contains, "Alice", true},
		{"name", filter.Contains, "", true},
		{"name", filter.Contains, "LIC", false},
		{"chatId", filter.Contains, "4", true},
		{"chatId", filter.Contains, 4, false}, // strict: no number-to-text
		// List field: element equality.
		{"tags", filter.Contains, "aws", true},
		{"tags", filter.Contains, "a", false}, // not a substring of an element
		{"tags", filter.Contains, 3, true},
		{"tags", filter.Contains, "3", false},
		{"tags", filter.Contains, true, true},
		{"tags", filter.Contains, false, false},
		{"none", filter.Contains, "go", false},
		// Other fields contain nothing.
		{"n", filter.Contains, 5, false},
		{"flag", filter.Contains, true, false},
		{"author", filter.Contains, "id", false},

		{"name", filter.NotContains, "lic", false},
		{"name", filter.NotContains, "bob", true},
		{"chatId", filter.NotContains, 4, true},
		{"tags", filter.NotContains, "aws", false},
		{"tags", filter.NotContains, "gcp", true},
		{"tags", filter.NotContains, "3", true},
		{"none", filter.NotContains, "go", true},
		{"n", filter.NotContains, 5, true},
	})
}

func TestMatchBeginsWith(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"name", filter.BeginsWith, "Al", true},
		{"name", filter.BeginsWith, "Alice", true},
		{"name", filter.BeginsWith, "", true},
		{"name", filter.BeginsWith, "al", false},
		{"name", filter.BeginsWith, "lice", false},
		{"name", filter.BeginsWith, "Alice!", false},
		{"chatId", filter.BeginsWith, "4", true},
		{"n", filter.BeginsWith, "5", false}, // strict
		{"tags", filter.BeginsWith, "go", false},
		{"author.profile.lang", filter.BeginsWith, "e", true},
	})
}

func TestMatchContainsAny(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"tags", filter.ContainsAny, []any{"rust", "go"}, true},
		{"tags", filter.ContainsAny, []string{"aws"}, true},
		{"tags", filter.ContainsAny, []any{"rust", "gcp"}, false},
		{"tags", filter.ContainsAny, []any{3}, true},
		{"tags", filter.ContainsAny, []any{"3", false}, false},
		{"tags", filter.ContainsAny, []any{true}, true},
		{"none", filter.ContainsAny, []any{"go"}, false},
		{"name", filter.ContainsAny, []any{"Alice"}, false}, // not a list field
		{"chatId", filter.ContainsAny, []any{"4"}, false},
	})
}

// TestMatchMissing checks every operator against the three kinds of missing
// field: an absent key, a null value and a path through a non-object.
func TestMatchMissing(t *testing.T) {
	t.Parallel()
	values := map[filter.Operator]any{
		filter.Eq:          "x",
		filter.Ne:          "x",
		filter.Lt:          1,
		filter.Le:          1,
		filter.Gt:          1,
		filter.Ge:          1,
		filter.In:          []any{"x", 1},
		filter.NotIn:       []any{"x", 1},
		filter.Between:     []any{0, 10},
		filter.Contains:    "x",
		filter.NotContains: "x",
		filter.BeginsWith:  "x",
		filter.ContainsAny: []any{"x"},
	}
	negative := map[filter.Operator]bool{filter.Ne: true, filter.NotIn: true, filter.NotContains: true}
	fields := []string{
		"absent",
		"author.absent",
		"author.profile.absent.deeper",
		"nothing",        // null
		"nothing.below",  // through null
		"name.first",     // through a string
		"n.x",            // through a number
		"tags.0",         // lists are not indexed
		"author.id.more", // through a nested string
	}
	payloads := map[string]any{
		"object": event(),
		"nil":    nil,
		"string": "author",
		"list":   []any{map[string]any{"absent": "x"}},
	}
	for op, v := range values {
		for _, field := range fields {
			for name, p := range payloads {
				f := filter.All(filter.Where(field, op, v))
				if err := f.Validate(); err != nil {
					t.Fatalf("test filter is invalid: %v", err)
				}
				if got, want := f.Match(p), negative[op]; got != want {
					t.Errorf("%s %s %#v on %s payload: Match = %v, want %v", field, op, v, name, got, want)
				}
			}
		}
	}
	if len(values) != 13 {
		t.Errorf("test covers %d operators, want all 13", len(values))
	}
}

type (
	myInt    int
	myString string
	myBool   bool
)

// TestMatchNumberTypes checks that numbers compare numerically whatever their
// Go type, in the payload and in the filter.
func TestMatchNumberTypes(t *testing.T) {
	t.Parallel()
	fives := []any{
		5, int8(5), int16(5), int32(5), int64(5),
		uint(5), uint8(5), uint16(5), uint32(5), uint64(5), uintptr(5),
		float32(5), 5.0, json.Number("5"), json.Number("5.0"), json.Number("0.5e1"), myInt(5),
	}
	for _, fv := range fives {
		for _, pv := range fives {
			p := map[string]any{"v": pv}
			for _, tc := range []struct {
				op    filter.Operator
				value any
				want  bool
			}{
				{filter.Eq, fv, true},
				{filter.Ne, fv, false},
				{filter.Le, fv, true},
				{filter.Lt, fv, false},
				{filter.Ge, fv, true},
				{filter.Gt, fv, false},
				{filter.In, []any{"5", fv}, true},
				{filter.NotIn, []any{fv}, false},
				{filter.Between, []any{fv, fv}, true},
			} {
				f := filter.All(filter.Where("v", tc.op, tc.value))
				if got := f.Match(p); got != tc.want {
					t.Errorf("%T(%v) %s %T(%v): Match = %v, want %v", pv, pv, tc.op, fv, fv, got, tc.want)
				}
			}
			// A number is never a string or a bool.
			if filter.All(filter.Where("v", filter.Eq, "5")).Match(p) {
				t.Errorf("%T(%v) eq \"5\" matched", pv, pv)
			}
		}
	}
	// Inside lists too.
	p := map[string]any{"l": []int{1, 2, 3}, "u": []uint16{7}}
	if !filter.All(filter.Where("l", filter.Contains, 2.0)).Match(p) {
		t.Error("[]int{1,2,3} contains 2.0 did not match")
	}
	if !filter.All(filter.Where("u", filter.ContainsAny, []any{json.Number("7")})).Match(p) {
		t.Error("[]uint16{7} containsAny [7] did not match")
	}
}

// TestMatchGoTypes checks payloads that are not exactly what encoding/json
// gives: other map and slice types, and named scalar types.
func TestMatchGoTypes(t *testing.T) {
	t.Parallel()
	p := map[string]any{
		"s":    myString("hello"),
		"b":    myBool(true),
		"tags": []string{"a", "b"},
		"arr":  [2]any{"x", 1},
		"m":    map[string]string{"k": "v"},
		"mm":   map[myString]any{"k": map[string]int{"n": 3}},
		"nm":   map[string]any(nil),
		"im":   map[int]any{1: "x"},
	}
	tests := []struct {
		cond filter.Condition
		want bool
	}{
		{filter.Where("s", filter.Eq, "hello"), true},
		{filter.Where("s", filter.Eq, myString("hello")), true},
		{filter.Where("s", filter.BeginsWith, "he"), true},
		{filter.Where("s", filter.Contains, "ell"), true},
		{filter.Where("b", filter.Eq, true), true},
		{filter.Where("b", filter.Eq, myBool(false)), false},
		{filter.Where("tags", filter.Contains, "b"), true},
		{filter.Where("tags", filter.ContainsAny, []myString{"c", "a"}), true},
		{filter.Where("arr", filter.Contains, 1), true},
		{filter.Where("arr", filter.Contains, "1"), false},
		{filter.Where("m.k", filter.Eq, "v"), true},
		{filter.Where("m.x", filter.Eq, "v"), false},
		{filter.Where("m.x", filter.Ne, "v"), true},
		{filter.Where("mm.k.n", filter.Eq, 3), true},
		{filter.Where("nm.k", filter.Eq, "x"), false},
		{filter.Where("nm.k", filter.Ne, "x"), true},
		{filter.Where("im.1", filter.Eq, "x"), false}, // not string keys: not an object
	}
	for _, tc := range tests {
		if got := filter.All(tc.cond).Match(p); got != tc.want {
			t.Errorf("%+v: Match = %v, want %v", tc.cond, got, tc.want)
		}
	}
	// A payload of another map type.
	if !filter.All(filter.Where("k", filter.Eq, "v")).Match(map[string]string{"k": "v"}) {
		t.Error("map[string]string payload did not match")
	}
}

func TestMatchGroups(t *testing.T) {
	t.Parallel()
	chat42 := filter.Where("chatId", filter.Eq, "42")
	chat7 := filter.Where("chatId", filter.Eq, "7")
	admin := filter.Where("author.role", filter.Eq, "admin")
	user := filter.Where("author.role", filter.Eq, "user")
	tests := []struct {
		name string
		f    filter.Filter
		want bool
	}{
		{"zero filter", filter.Filter{}, true},
		{"empty groups slice", filter.Filter{Groups: []filter.Group{}}, true},
		{"AND all true", filter.All(chat42, admin), true},
		{"AND one false", filter.All(chat42, user), false},
		{"AND other false", filter.All(chat7, admin), false},
		{"AND all false", filter.All(chat7, user), false},
		{"OR first true", filter.Any(filter.All(chat42), filter.All(chat7)), true},
		{"OR second true", filter.Any(filter.All(chat7), filter.All(admin)), true},
		{"OR none true", filter.Any(filter.All(chat7), filter.All(user)), false},
		{"OR of ANDs", filter.Any(filter.All(chat7, admin), filter.All(chat42, admin)), true},
		{"OR of failing ANDs", filter.Any(filter.All(chat7, admin), filter.All(chat42, user)), false},
	}
	for _, tc := range tests {
		if got := tc.f.Match(event()); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMatchInvalid checks that conditions Validate rejects never match, even
// with a negative operator, and that Match never panics on them.
func TestMatchInvalid(t *testing.T) {
	t.Parallel()
	conds := []filter.Condition{
		filter.Where("chatId", "like", "4%"),
		filter.Where("chatId", "", "42"),
		filter.Where("", filter.Ne, "x"),
		filter.Where("a..b", filter.Ne, "x"),
		filter.Where(".a", filter.NotIn, []any{"x"}),
		filter.Where("a.", filter.NotContains, "x"),
		filter.Where("a.b.c.d.e.f.g.h.i.j.k", filter.Ne, "x"),
		filter.Where("chatId", filter.Ne, nil),
		filter.Where("chatId", filter.Ne, map[string]any{"a": 1}),
		filter.Where("chatId", filter.Ne, []any{"1"}),
		filter.Where("chatId", filter.Ne, math.NaN()),
		filter.Where("n", filter.Ne, math.Inf(1)),
		filter.Where("n", filter.Ne, json.Number("five")),
		filter.Where("n", filter.Ne, json.Number("0x5")),
		filter.Where("n", filter.Ne, json.Number("1e999")),
		filter.Where("chatId", filter.Ne, struct{}{}),
		filter.Where("chatId", filter.Ne, new(string)),
		filter.Where("n", filter.Lt, true),
		filter.Where("n", filter.Gt, []any{1}),
		filter.Where("name", filter.BeginsWith, 1),
		filter.Where("chatId", filter.NotIn, []any{}),
		filter.Where("chatId", filter.NotIn, "42"),
		filter.Where("chatId", filter.NotIn, []any{"1", nil}),
		filter.Where("chatId", filter.NotIn, []any{"1", []any{"2"}}),
		filter.Where("chatId", filter.NotIn, make([]any, 101)),
		filter.Where("chatId", filter.NotContains, []any{"x"}),
		filter.Where("n", filter.Between, []any{1}),
		filter.Where("n", filter.Between, []any{1, 2, 3}),
		filter.Where("n", filter.Between, []any{1, "9"}),
		filter.Where("n", filter.Between, []any{true, false}),
		filter.Where("n", filter.Between, []any{9, 1}),
		filter.Where("n", filter.Between, 5),
		filter.Where("tags", filter.ContainsAny, "go"),
		filter.Where("tags", filter.ContainsAny, []any{}),
	}
	for _, c := range conds {
		f := filter.All(c)
		if f.Validate() == nil {
			t.Errorf("%+v: Validate accepted it", c)
		}
		for _, p := range []any{event(), nil, "x", []any{1}} {
			if f.Match(p) {
				t.Errorf("%+v: Match(%v) = true, want false", c, p)
			}
		}
	}
	// A group with no conditions matches nothing (instead of everything).
	empty := filter.Filter{Groups: []filter.Group{{}}}
	if empty.Match(event()) {
		t.Error("a group with no conditions matched")
	}
	if !filter.Any(empty, filter.All(filter.Where("chatId", filter.Eq, "42"))).Match(event()) {
		t.Error("an empty group stopped another group from matching")
	}
}
