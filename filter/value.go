package filter

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
)

// kind is the JSON type of a scalar.
type kind uint8

const (
	kindNone   kind = iota // not a scalar: null, a list, an object, a non-finite or malformed number, ...
	kindString             // s is set
	kindNumber             // f is set, and finite
	kindBool               // b is set
)

// scalar is a string, a finite number or a bool, with its JSON type. Building
// one never allocates.
type scalar struct {
	kind kind
	s    string
	f    float64
	b    bool
}

var jsonNumberType = reflect.TypeFor[json.Number]()

// number returns the scalar for the number f, which is not a scalar when f is
// NaN or infinite.
func number(f float64) scalar {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return scalar{}
	}
	return scalar{kind: kindNumber, f: f}
}

// scalarOf classifies v. The common JSON types are handled without
// reflection.
func scalarOf(v any) scalar {
	switch x := v.(type) {
	case nil:
		return scalar{}
	case string:
		return scalar{kind: kindString, s: x}
	case float64:
		return number(x)
	case bool:
		return scalar{kind: kindBool, b: x}
	case json.Number:
		if !isJSONNumber(string(x)) {
			return scalar{}
		}
		f, err := x.Float64()
		if err != nil {
			return scalar{} // out of range
		}
		return number(f)
	case int:
		return number(float64(x))
	case int64:
		return number(float64(x))
	case int32:
		return number(float64(x))
	case uint64:
		return number(float64(x))
	case uint32:
		return number(float64(x))
	case float32:
		return number(float64(x))
	case map[string]any, []any:
		return scalar{}
	}
	return scalarOfValue(reflect.ValueOf(v))
}

// scalarOfValue is scalarOf for a reflect.Value.
func scalarOfValue(rv reflect.Value) scalar {
	if !rv.IsValid() {
		return scalar{}
	}
	if rv.Type() == jsonNumberType {
		return scalarOf(json.Number(rv.String()))
	}
	switch rv.Kind() {
	case reflect.Interface:
		if rv.IsNil() {
			return scalar{}
		}
		return scalarOfValue(rv.Elem())
	case reflect.String:
		return scalar{kind: kindString, s: rv.String()}
	case reflect.Bool:
		return scalar{kind: kindBool, b: rv.Bool()}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return number(float64(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return number(float64(rv.Uint()))
	case reflect.Float32, reflect.Float64:
		return number(rv.Float())
	}
	return scalar{}
}

// isJSONNumber reports whether s is a number in JSON syntax: strconv accepts
// more ("0x1p4", "Inf", "1_0"), which json.Marshal would then refuse.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// equal reports whether a and b are scalars of the same type and value.
func (a scalar) equal(b scalar) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindString:
		return a.s == b.s
	case kindNumber:
		return a.f == b.f
	case kindBool:
		return a.b == b.b
	}
	return false
}

// compare orders a and b when both are numbers or both are strings; ok is
// false otherwise.
func (a scalar) compare(b scalar) (c int, ok bool) {
	switch {
	case a.kind == kindNumber && b.kind == kindNumber:
		switch {
		case a.f < b.f:
			return -1, true
		case a.f > b.f:
			return 1, true
		}
		return 0, true
	case a.kind == kindString && b.kind == kindString:
		return strings.Compare(a.s, b.s), true
	}
	return 0, false
}

// list is a []any, or any other slice or array seen through reflection.
type list struct {
	any []any
	rv  reflect.Value // valid when the list is not a []any
	n   int
}

// listOf returns v as a list; ok is false when v is not a slice or an array.
func listOf(v any) (l list, ok bool) {
	switch x := v.(type) {
	case []any:
		return list{any: x, n: len(x)}, true
	case nil, string, float64, bool, json.Number, map[string]any:
		return list{}, false
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return list{}, false
	}
	return list{rv: rv, n: rv.Len()}, true
}

// at returns the i'th element as a scalar.
func (l *list) at(i int) scalar {
	if !l.rv.IsValid() {
		return scalarOf(l.any[i])
	}
	return scalarOfValue(l.rv.Index(i))
}

// elem returns the i'th element as an interface value, for error messages.
func (l *list) elem(i int) any {
	if !l.rv.IsValid() {
		return l.any[i]
	}
	e := l.rv.Index(i)
	if !e.CanInterface() {
		return nil
	}
	return e.Interface()
}

// contains reports whether an element of l equals s.
func (l *list) contains(s scalar) bool {
	if !l.rv.IsValid() {
		for _, e := range l.any {
			if scalarOf(e).equal(s) {
				return true
			}
		}
		return false
	}
	for i := range l.n {
		if l.at(i).equal(s) {
			return true
		}
	}
	return false
}

// scan reports whether an element of l equals s, and whether every element is
// a scalar, in one pass over the list.
func (l *list) scan(s scalar) (hit, valid bool) {
	if !l.rv.IsValid() {
		for _, e := range l.any {
			x := scalarOf(e)
			if x.kind == kindNone {
				return false, false
			}
			hit = hit || x.equal(s)
		}
		return hit, true
	}
	for i := range l.n {
		x := l.at(i)
		if x.kind == kindNone {
			return false, false
		}
		hit = hit || x.equal(s)
	}
	return hit, true
}

// describe names v's JSON type for error messages.
func describe(v any) string {
	if v == nil {
		return "null"
	}
	if n, ok := v.(json.Number); ok {
		if s := scalarOf(n); s.kind == kindNone {
			return fmt.Sprintf("invalid number %q", string(n))
		}
		return "number"
	}
	switch s := scalarOf(v); s.kind {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "bool"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return fmt.Sprintf("non-finite number %v", rv.Float())
	case reflect.Slice, reflect.Array:
		switch n := rv.Len(); n {
		case 0:
			return "empty list"
		case 1:
			return "list of 1 value"
		default:
			return fmt.Sprintf("list of %d values", n)
		}
	case reflect.Map:
		if isStringMap(rv) {
			return "object"
		}
	}
	return fmt.Sprintf("%T", v)
}
