package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits checked by Validate.
const (
	maxGroups     = 50  // groups per filter
	maxConditions = 50  // conditions per group
	maxListValues = 100 // values of in, notIn and containsAny
	maxFieldBytes = 256 // length of a field path
	maxFieldDepth = 10  // segments of a field path
)

// What the operators take, in error messages.
const (
	scalarTypes    = "a string, number or bool"
	orderedTypes   = "a string or number"
	scalarListDesc = "a non-empty list of strings, numbers or bools"
)

// ErrInvalid is wrapped by every error of [Filter.Validate] and [Parse], so
// callers can tell a bad filter (a client's mistake) from other failures with
// errors.Is(err, filter.ErrInvalid).
var ErrInvalid = errors.New("filter: invalid filter")

// invalidError is a validation error: its message says where and what, and it
// wraps ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

// parseError is a JSON decoding error of Parse: it wraps both ErrInvalid and
// the encoding/json error.
type parseError struct{ err error }

func (e *parseError) Error() string   { return "filter: parse: " + e.err.Error() }
func (e *parseError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// Validate reports the first problem of f, in the order of its groups and
// conditions, as an error wrapping [ErrInvalid] whose message names the group
// and condition indexes (from 0) and the field, such as
//
//	filter: group 1, condition 0 ("author.id"): operator "between" needs a list of two values, got string
//
// It returns nil for a valid filter. A valid filter has at most 50 groups,
// each with 1 to 50 conditions. Each condition has a known [Operator], a field
// path of at most 256 bytes and 10 non-empty dot-separated segments, and a
// value of the type its operator takes:
//
//   - eq, ne, contains, notContains: a string, number or bool;
//   - lt, le, gt, ge: a string or number;
//   - beginsWith: a string;
//   - in, notIn, containsAny: a list of 1 to 100 strings, numbers or bools;
//   - between: a list of two numbers or two strings, lo <= hi.
//
// Numbers must be finite, and a json.Number must be a valid JSON number. The
// zero Filter is valid. Validate does not modify f and is safe for concurrent
// use.
func (f Filter) Validate() error {
	if len(f.Groups) > maxGroups {
		return &invalidError{fmt.Sprintf("filter: %d groups, at most %d", len(f.Groups), maxGroups)}
	}
	for i, g := range f.Groups {
		switch n := len(g.Conditions); {
		case n == 0:
			return &invalidError{fmt.Sprintf("filter: group %d has no conditions", i)}
		case n > maxConditions:
			return &invalidError{fmt.Sprintf("filter: group %d has %d conditions, at most %d", i, n, maxConditions)}
		}
		for j, c := range g.Conditions {
			if p := c.problem(); p != "" {
				return &invalidError{fmt.Sprintf("filter: group %d, condition %d (%q): %s", i, j, c.Field, p)}
			}
		}
	}
	return nil
}

// problem describes what is wrong with c, or returns "".
func (c Condition) problem() string {
	if !c.Operator.known() {
		return fmt.Sprintf("unknown operator %q", string(c.Operator))
	}
	if p := fieldProblem(c.Field); p != "" {
		return p
	}
	return valueProblem(c.Operator, c.Value)
}

// known reports whether op is one of the operators.
func (op Operator) known() bool {
	switch op {
	case Eq, Ne, Lt, Le, Gt, Ge, In, NotIn, Between, Contains, NotContains, BeginsWith, ContainsAny:
		return true
	}
	return false
}

// fieldProblem describes what is wrong with the field path, or returns "". It
// does not allocate for a valid path.
func fieldProblem(path string) string {
	switch {
	case path == "":
		return "empty field name"
	case len(path) > maxFieldBytes:
		return fmt.Sprintf("field name is %d bytes, at most %d", len(path), maxFieldBytes)
	case path[0] == '.' || path[len(path)-1] == '.' || strings.Contains(path, ".."):
		return "field name has an empty segment"
	}
	if n := strings.Count(path, ".") + 1; n > maxFieldDepth {
		return fmt.Sprintf("field name has %d segments, at most %d", n, maxFieldDepth)
	}
	return ""
}

// valueProblem describes what is wrong with v as the value of the known
// operator op, or returns "".
func valueProblem(op Operator, v any) string {
	need := func(what string) string {
		return fmt.Sprintf("operator %q needs %s, got %s", string(op), what, describe(v))
	}
	switch op {
	case Eq, Ne, Contains, NotContains:
		if scalarOf(v).kind == kindNone {
			return need(scalarTypes)
		}
	case Lt, Le, Gt, Ge:
		if k := scalarOf(v).kind; k != kindString && k != kindNumber {
			return need(orderedTypes)
		}
	case BeginsWith:
		if scalarOf(v).kind != kindString {
			return need("a string")
		}
	case In, NotIn, ContainsAny:
		l, ok := listOf(v)
		if !ok || l.n == 0 {
			return need(scalarListDesc)
		}
		if l.n > maxListValues {
			return fmt.Sprintf("operator %q takes at most %d values, got %d", string(op), maxListValues, l.n)
		}
		for i := range l.n {
			if l.at(i).kind == kindNone {
				return fmt.Sprintf("operator %q needs %s, value %d is %s", string(op), scalarListDesc, i, describe(l.elem(i)))
			}
		}
	case Between:
		l, ok := listOf(v)
		if !ok || l.n != 2 {
			return need("a list of two values")
		}
		lo, hi := l.at(0), l.at(1)
		if lo.kind != hi.kind || (lo.kind != kindNumber && lo.kind != kindString) {
			return fmt.Sprintf("operator %q needs two numbers or two strings, got %s and %s", string(op), describe(l.elem(0)), describe(l.elem(1)))
		}
		if c, _ := lo.compare(hi); c > 0 {
			return fmt.Sprintf("operator %q needs lo <= hi, got [%s, %s]", string(op), quote(lo), quote(hi))
		}
	}
	return ""
}

// quote formats s as JSON would.
func quote(s scalar) string {
	if s.kind == kindString {
		return fmt.Sprintf("%q", s.s)
	}
	return fmt.Sprint(s.f)
}

// Parse decodes an AppSync filter object,
//
//	{"filterGroup": [{"filters": [{"fieldName": "chatId", "operator": "eq", "value": "42"}]}]}
//
// and validates it. JSON null and {} give the zero Filter. Unknown object
// keys, trailing data and invalid filters are errors; every error wraps
// [ErrInvalid], and a decoding error also wraps the encoding/json error. Numbers
// are decoded as float64 and lists as []any, so the filter Parse returns is
// already normalized (see [Filter.Normalize]). Parse is safe for concurrent
// use.
func Parse(data []byte) (Filter, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f Filter
	if err := dec.Decode(&f); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Filter{}, &parseError{err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Filter{}, &invalidError{"filter: parse: trailing data after the filter object"}
	}
	f = f.Normalize()
	if err := f.Validate(); err != nil {
		return Filter{}, err
	}
	return f, nil
}
