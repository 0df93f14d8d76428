// Package filter decides which events reach a subscription.
//
// A [Filter] is fixed when a subscription starts (static, or computed from the
// subscription's arguments and the connection's context), stored with the
// subscription, and evaluated in code against every event payload published on
// the subscription's topic. It has the shape and the operators of AWS AppSync's
// enhanced subscription filters: a filter is an OR of groups, a group an AND of
// conditions, and a condition compares one (possibly nested) field of the
// payload with a value:
//
//	{"filterGroup": [
//	  {"filters": [
//	    {"fieldName": "chatId", "operator": "eq", "value": "42"},
//	    {"fieldName": "author.role", "operator": "in", "value": ["admin", "mod"]}
//	  ]}
//	]}
//
// The zero Filter matches every event.
//
// # Building a filter
//
// In Go, filters are built with [Where], [All] and [Any], or with [Equal] for
// the common "these fields have these values" case. Filters received as JSON
// (AppSync's filterJsonObject) are read with [Parse].
//
// # Values
//
// Payloads and filter values are JSON-shaped: objects are map[string]any (any
// map with string keys is accepted), lists are []any (any Go slice or array is
// accepted), and scalars are strings, booleans and numbers. A number is any Go
// integer or floating-point kind, or an [encoding/json.Number]; numbers are
// compared as float64, as JSON and JavaScript do, so integers beyond 2^53 may
// compare equal to their neighbours (use strings for large identifiers). Values
// are classified by their Go kind: a named string type is a string, and
// json.Marshaler implementations are not consulted.
//
// Comparisons are strict by type: the string "1" never equals the number 1,
// and strings are ordered byte-wise (case-sensitive).
//
// # Missing fields
//
// A field is missing when a key along its path is absent, its value is null,
// or the path goes through something that is not an object (lists are not
// indexed). A missing field makes every positive operator false and the
// negative operators ([Ne], [NotIn], [NotContains]) true.
//
// # Storing filters
//
// A store may save a filter as JSON and read it back, turning every number into
// a float64 and every list into []any. Stores and servers therefore call
// [Filter.Validate] and then [Filter.Normalize] before saving a filter, so that
// the saved filter and the one read back are equal and match the same events.
package filter

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// Operator is a comparison of a [Condition].
type Operator string

// The operators of AppSync's enhanced subscription filters. Each comment gives
// the value the operator takes; "list" means a []any or any Go slice or array,
// "scalar" a string, number or bool.
const (
	Eq          Operator = "eq"          // field equals value (scalar)
	Ne          Operator = "ne"          // field is missing or does not equal value (scalar)
	Lt          Operator = "lt"          // field < value (number or string, same type as the field)
	Le          Operator = "le"          // field <= value (number or string)
	Gt          Operator = "gt"          // field > value (number or string)
	Ge          Operator = "ge"          // field >= value (number or string)
	In          Operator = "in"          // field equals one of the values (list of 1 to 100 scalars)
	NotIn       Operator = "notIn"       // field is missing or equals none of the values (list of 1 to 100 scalars)
	Between     Operator = "between"     // lo <= field <= hi, inclusive; value is [lo, hi], two numbers or two strings
	Contains    Operator = "contains"    // string field has value as a substring, or list field has value as an element (scalar)
	NotContains Operator = "notContains" // negation of Contains: also true when the field is missing (scalar)
	BeginsWith  Operator = "beginsWith"  // string field starts with value (string)
	ContainsAny Operator = "containsAny" // list field shares at least one element with the value (list of 1 to 100 scalars)
)

// Condition compares one field of the event payload with Value.
type Condition struct {
	// Field is a dot-separated path into the payload, such as "author.id".
	// Each segment is an object key; lists are not indexed.
	Field string `json:"fieldName"`
	// Operator is the comparison.
	Operator Operator `json:"operator"`
	// Value is what the field is compared with: a string, a number, a boolean,
	// or a list of them, depending on Operator.
	Value any `json:"value"`
}

// Group is an AND of conditions: it matches an event when all its conditions
// do. A valid group has at least one condition.
type Group struct {
	Conditions []Condition `json:"filters"`
}

// Filter is an OR of groups: it matches an event when any of its groups does.
// A Filter with no groups matches every event.
//
// A Filter is a plain value. Its methods do not modify it and are safe for
// concurrent use as long as no goroutine modifies the filter (or the lists in
// its values) at the same time.
type Filter struct {
	Groups []Group `json:"filterGroup,omitempty"`
}

// IsZero reports whether f has no groups, and so matches every event.
func (f Filter) IsZero() bool { return len(f.Groups) == 0 }

// Where returns the condition comparing field with value by op. It does not
// check anything: [Filter.Validate] does.
func Where(field string, op Operator, value any) Condition {
	return Condition{Field: field, Operator: op, Value: value}
}

// All returns the filter matching the events that satisfy every one of conds:
// a single group. All() with no conditions returns the zero Filter, which
// matches every event. The conditions are copied.
func All(conds ...Condition) Filter {
	if len(conds) == 0 {
		return Filter{}
	}
	return Filter{Groups: []Group{{Conditions: slices.Clone(conds)}}}
}

// Any returns the filter matching the events that any of filters matches: the
// concatenation of their groups. Because the zero Filter matches every event,
// Any returns the zero Filter when one of filters is zero, and also when it is
// called with no filters. The groups are copied.
func Any(filters ...Filter) Filter {
	n := 0
	for _, f := range filters {
		if f.IsZero() {
			return Filter{}
		}
		n += len(f.Groups)
	}
	if n == 0 {
		return Filter{}
	}
	groups := make([]Group, 0, n)
	for _, f := range filters {
		for _, g := range f.Groups {
			groups = append(groups, Group{Conditions: slices.Clone(g.Conditions)})
		}
	}
	return Filter{Groups: groups}
}

// Equal returns the filter matching the events whose fields have the given
// values: the nested-equality shorthand, where
//
//	Equal(map[string]any{"chatId": "1", "author": map[string]any{"id": "x"}})
//
// is All(Where("author.id", Eq, "x"), Where("chatId", Eq, "1")). Nested maps
// with string keys are flattened into dot paths, and the conditions are sorted
// by path so the result does not depend on map order. Equal(nil) and an empty
// map return the zero Filter. Values that cannot be compared with [Eq] (lists,
// empty nested maps, structs) are kept as they are, for [Filter.Validate] to
// report.
func Equal(fields map[string]any) Filter {
	if len(fields) == 0 {
		return Filter{}
	}
	var conds []Condition
	flatten("", 1, reflect.ValueOf(fields), &conds)
	slices.SortFunc(conds, func(a, b Condition) int {
		if c := cmp.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		// The same path can come twice ("a.b" and {"a": {"b": ...}}); order by
		// value so the result is still deterministic.
		return cmp.Compare(fmt.Sprintf("%#v", a.Value), fmt.Sprintf("%#v", b.Value))
	})
	return Filter{Groups: []Group{{Conditions: conds}}}
}

// flatten appends an Eq condition for every leaf of the string-keyed map m,
// whose path is prefix and whose keys are at depth in the payload. Maps below
// the deepest valid path are kept as values, so a map that contains itself
// ends the recursion and Validate reports the path.
func flatten(prefix string, depth int, m reflect.Value, conds *[]Condition) {
	iter := m.MapRange()
	for iter.Next() {
		path := iter.Key().String()
		if prefix != "" {
			path = prefix + "." + path
		}
		v := iter.Value()
		if v.Kind() == reflect.Interface && !v.IsNil() {
			v = v.Elem()
		}
		if isStringMap(v) && v.Len() > 0 && depth < maxFieldDepth {
			flatten(path, depth+1, v, conds)
			continue
		}
		*conds = append(*conds, Condition{Field: path, Operator: Eq, Value: iter.Value().Interface()})
	}
}

// isStringMap reports whether v is a map with string keys.
func isStringMap(v reflect.Value) bool {
	return v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String
}

// Normalize returns a deep copy of f in the form JSON decoding gives back:
// every number (of any Go integer or floating-point kind, or a json.Number) is
// a float64, every slice or array a []any, every map with string keys a
// map[string]any, every named string or bool type a plain string or bool, and
// empty group and condition lists are nil. A valid filter and its normalized
// form match the same events, and a normalized filter survives a JSON round
// trip unchanged (reflect.DeepEqual). Stores and servers call
// [Filter.Validate] and then Normalize before saving a filter.
//
// Values that are not JSON-shaped (structs, pointers, invalid json.Number
// strings, lists or maps nested more than 32 deep) are kept as they are.
func (f Filter) Normalize() Filter {
	if len(f.Groups) == 0 {
		return Filter{}
	}
	groups := make([]Group, len(f.Groups))
	for i, g := range f.Groups {
		if len(g.Conditions) == 0 {
			continue
		}
		conds := make([]Condition, len(g.Conditions))
		for j, c := range g.Conditions {
			conds[j] = Condition{Field: c.Field, Operator: c.Operator, Value: normalize(c.Value, 0)}
		}
		groups[i].Conditions = conds
	}
	return Filter{Groups: groups}
}

// maxNormalizeDepth bounds the lists and maps Normalize copies: values of a
// valid filter are at most one list deep, and a list that contains itself must
// not recurse forever.
const maxNormalizeDepth = 32

// normalize returns v, found depth lists or maps deep in a value, in the form
// JSON decoding gives back (see Filter.Normalize).
func normalize(v any, depth int) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return v
	case json.Number:
		if n := scalarOf(x); n.kind == kindNumber {
			return n.f
		}
		return v
	}
	return normalizeValue(reflect.ValueOf(v), depth)
}

// normalizeValue is normalize for a reflect.Value.
func normalizeValue(rv reflect.Value, depth int) any {
	if rv.Type() == jsonNumberType {
		return normalize(json.Number(rv.String()), depth)
	}
	switch rv.Kind() {
	case reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return normalizeValue(rv.Elem(), depth)
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Slice, reflect.Array:
		if depth >= maxNormalizeDepth {
			break
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil // JSON null
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalizeValue(rv.Index(i), depth+1)
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String || depth >= maxNormalizeDepth {
			break
		}
		if rv.IsNil() {
			return nil
		}
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[iter.Key().String()] = normalizeValue(iter.Value(), depth+1)
		}
		return out
	}
	if rv.CanInterface() {
		return rv.Interface()
	}
	return nil
}
