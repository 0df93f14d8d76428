package filter

import (
	"reflect"
	"strings"
)

// Match reports whether payload passes f: whether some group of f has all its
// conditions true for payload. The zero Filter matches every payload.
//
// payload is a JSON-decoded value (see the package documentation for the
// accepted types); a payload that is not an object has no fields. Match
// assumes f is valid: a condition that [Filter.Validate] would reject (an
// unknown operator, a bad field path, a value of the wrong type, a group with
// no conditions) is false, whatever its operator, and Match never panics.
//
// Match does not modify f or payload and is safe for concurrent use. It does
// not allocate when the payload's objects are map[string]any (objects of other
// map types are read through reflection).
func (f Filter) Match(payload any) bool {
	if len(f.Groups) == 0 {
		return true
	}
	for _, g := range f.Groups {
		if g.match(payload) {
			return true
		}
	}
	return false
}

// match reports whether all of g's conditions hold; a group with no conditions
// is invalid and matches nothing.
func (g Group) match(payload any) bool {
	if len(g.Conditions) == 0 {
		return false
	}
	for _, c := range g.Conditions {
		if !c.match(payload) {
			return false
		}
	}
	return true
}

// match evaluates c against payload.
func (c Condition) match(payload any) bool {
	if fieldProblem(c.Field) != "" {
		return false
	}
	v, found := lookup(payload, c.Field)
	switch c.Operator {
	case Eq, Ne:
		want := scalarOf(c.Value)
		if want.kind == kindNone {
			return false
		}
		eq := found && scalarOf(v).equal(want)
		return eq == (c.Operator == Eq)

	case Lt, Le, Gt, Ge:
		want := scalarOf(c.Value)
		if !found || (want.kind != kindString && want.kind != kindNumber) {
			return false
		}
		cmp, ok := scalarOf(v).compare(want)
		if !ok {
			return false
		}
		switch c.Operator {
		case Lt:
			return cmp < 0
		case Le:
			return cmp <= 0
		case Gt:
			return cmp > 0
		}
		return cmp >= 0

	case Between:
		l, ok := listOf(c.Value)
		if !ok || l.n != 2 || !found {
			return false
		}
		lo, hi := l.at(0), l.at(1)
		if lo.kind != hi.kind {
			return false
		}
		x := scalarOf(v)
		above, ok1 := lo.compare(x)
		below, ok2 := x.compare(hi)
		return ok1 && ok2 && above <= 0 && below <= 0

	case In, NotIn:
		l, ok := listOf(c.Value)
		if !ok || l.n == 0 || l.n > maxListValues {
			return false
		}
		in, valid := l.scan(scalarOf(v)) // a missing field is kindNone: no hit
		if !valid {
			return false
		}
		in = in && found
		return in == (c.Operator == In)

	case Contains, NotContains:
		want := scalarOf(c.Value)
		if want.kind == kindNone {
			return false
		}
		has := found && contains(v, want)
		return has == (c.Operator == Contains)

	case BeginsWith:
		want := scalarOf(c.Value)
		if !found || want.kind != kindString {
			return false
		}
		x := scalarOf(v)
		return x.kind == kindString && strings.HasPrefix(x.s, want.s)

	case ContainsAny:
		want, ok := scalarList(c.Value)
		if !ok || !found {
			return false
		}
		l, ok := listOf(v)
		if !ok {
			return false
		}
		for i := range l.n {
			if want.contains(l.at(i)) {
				return true
			}
		}
		return false
	}
	return false
}

// scalarList returns v as a list when it is a valid value of the list
// operators: a list of 1 to maxListValues scalars.
func scalarList(v any) (list, bool) {
	l, ok := listOf(v)
	if !ok || l.n == 0 || l.n > maxListValues {
		return list{}, false
	}
	if _, valid := l.scan(scalar{}); !valid {
		return list{}, false
	}
	return l, true
}

// contains reports whether the field value v contains want: as a substring
// when v is a string (want must be a string too), as an element when v is a
// list.
func contains(v any, want scalar) bool {
	if x := scalarOf(v); x.kind == kindString {
		return want.kind == kindString && strings.Contains(x.s, want.s)
	}
	if l, ok := listOf(v); ok {
		return l.contains(want)
	}
	return false
}

// lookup walks the dot path through payload's objects. found is false when a
// key is absent, a value on the way (or at the end) is null, or the path goes
// through something that is not an object.
func lookup(payload any, path string) (v any, found bool) {
	cur := payload
	for {
		seg, rest, more := strings.Cut(path, ".")
		var ok bool
		if m, isMap := cur.(map[string]any); isMap {
			v, ok = m[seg]
		} else {
			v, ok = mapIndex(cur, seg)
		}
		if !ok || v == nil {
			return nil, false
		}
		if !more {
			return v, true
		}
		cur, path = v, rest
	}
}

// mapIndex looks key up in m when m is a map with string keys other than
// map[string]any.
func mapIndex(m any, key string) (any, bool) {
	rv := reflect.ValueOf(m)
	if !isStringMap(rv) {
		return nil, false
	}
	e := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
	if !e.IsValid() || (e.Kind() == reflect.Interface && e.IsNil()) || !e.CanInterface() {
		return nil, false
	}
	return e.Interface(), true
}
