// Package pattern compiles and matches Amazon EventBridge event patterns, as
// EventBridge matches them: a pattern is a JSON object whose fields mirror
// the event's, nested objects descend into the event's objects, and each
// leaf is a non-empty array of matchers of which one must match the event's
// value (OR), while every field must match (AND).
//
// Matchers: exact strings, numbers, booleans and null; {"prefix"},
// {"suffix"} (each also with {"equals-ignore-case"}), {"equals-ignore-case"},
// {"wildcard"}, {"anything-but"} (a value, a list of strings or of numbers,
// or {"prefix"}, {"suffix"}, {"equals-ignore-case"}, {"wildcard"}),
// {"numeric"} (one comparison or a range), {"exists"}, {"cidr"}; and "$or",
// a list of patterns one of which must match at that level.
//
// An event value that is an array matches when one of its elements does.
// {"exists"} tests leaves: a field whose value is an object does not exist
// as a leaf, as in EventBridge. Every matcher but {"exists": false} needs the
// field to be present. Numbers compare by value (300 matches 300.0).
//
// A compiled [Pattern] is immutable and safe for concurrent use.
package pattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSize is the longest pattern Compile accepts, in bytes: EventBridge's
// limit on an event pattern (PutRule, TestEventPattern).
const MaxSize = 4096

// Numbers in numeric matchers are bounded as in EventBridge.
const (
	minNumeric = -5e9
	maxNumeric = 5e9
)

// ErrInvalidPattern is wrapped by every error of Compile.
var ErrInvalidPattern = errors.New("invalid event pattern")

// ErrInvalidEvent is wrapped by the error of MatchJSON when the event is not
// a JSON object.
var ErrInvalidEvent = errors.New("invalid event")

// Pattern is a compiled event pattern.
type Pattern struct {
	root   *node
	source string
}

// String returns the pattern's JSON as it was compiled.
func (p *Pattern) String() string { return p.source }

// node is an object of the pattern: fields that must all match, and $or
// groups of which one alternative must match each.
type node struct {
	fields []field
	ors    [][]*node
}

// field is one field of a pattern object: a nested object, or a leaf.
type field struct {
	name     string
	child    *node     // nested object
	matchers []matcher // leaf: one must match
}

// matcher matches the value of a leaf field. present is false when the field
// is absent from the event (v is then nil).
type matcher interface {
	match(v any, present bool) bool
}

// Compile compiles an event pattern. Errors wrap [ErrInvalidPattern] and say
// where the pattern is wrong.
func Compile(src string) (*Pattern, error) {
	if len(src) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidPattern, len(src), MaxSize)
	}
	v, err := decode([]byte(src))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidPattern)
	}
	root, err := compileNode(obj, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	return &Pattern{root: root, source: src}, nil
}

// MustCompile is Compile for patterns known to be valid, such as constants;
// it panics on an invalid one.
func MustCompile(src string) *Pattern {
	p, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return p
}

// decode reads one JSON value, numbers as json.Number, and refuses trailing
// data.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func compileNode(obj map[string]any, path string) (*node, error) {
	n := &node{}
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := obj[name]
		at := joinPath(path, name)
		if name == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return nil, fmt.Errorf("%s: $or takes an array of at least two patterns", at)
			}
			group := make([]*node, len(alts))
			for i, alt := range alts {
				o, ok := alt.(map[string]any)
				if !ok || len(o) == 0 {
					return nil, fmt.Errorf("%s[%d]: not a non-empty object", at, i)
				}
				c, err := compileNode(o, fmt.Sprintf("%s[%d]", at, i))
				if err != nil {
					return nil, err
				}
				group[i] = c
			}
			n.ors = append(n.ors, group)
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: an empty object matches nothing", at)
			}
			c, err := compileNode(v, at)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{name: name, child: c})
		case []any:
			if len(v) == 0 {
				return nil, fmt.Errorf("%s: an empty array matches nothing", at)
			}
			ms := make([]matcher, 0, len(v))
			for i, m := range v {
				c, err := compileMatcher(m, fmt.Sprintf("%s[%d]", at, i))
				if err != nil {
					return nil, err
				}
				ms = append(ms, c)
			}
			n.fields = append(n.fields, field{name: name, matchers: ms})
		default:
			return nil, fmt.Errorf("%s: a field's value must be an object or an array of matchers, not %s", at, kind(v))
		}
	}
	return n, nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// kind names a JSON value's type for error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

func compileMatcher(v any, at string) (matcher, error) {
	switch v := v.(type) {
	case nil:
		return exact{isNull: true}, nil
	case string:
		return exact{str: v, isStr: true}, nil
	case bool:
		return exact{b: v, isBool: true}, nil
	case json.Number:
		f, err := number(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		return exact{num: f, isNum: true}, nil
	case []any:
		return nil, fmt.Errorf("%s: a matcher cannot be an array", at)
	}
	obj := v.(map[string]any)
	if len(obj) != 1 {
		return nil, fmt.Errorf("%s: a matcher object has exactly one key, not %d", at, len(obj))
	}
	for op, arg := range obj {
		switch op {
		case "prefix", "suffix":
			return compileAffix(op, arg, at)
		case "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return nil, fmt.Errorf("%s: equals-ignore-case takes a string", at)
			}
			return ignoreCase{s: s}, nil
		case "wildcard":
			s, ok := arg.(string)
			if !ok {
				return nil, fmt.Errorf("%s: wildcard takes a string", at)
			}
			return compileWildcard(s, at)
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return nil, fmt.Errorf("%s: exists takes true or false", at)
			}
			return exists(b), nil
		case "numeric":
			return compileNumeric(arg, at)
		case "anything-but":
			return compileAnythingBut(arg, at)
		case "cidr":
			s, ok := arg.(string)
			if !ok {
				return nil, fmt.Errorf("%s: cidr takes a string", at)
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: cidr: %w", at, err)
			}
			return cidr{p.Masked()}, nil
		default:
			return nil, fmt.Errorf("%s: unknown matcher %q", at, op)
		}
	}
	panic("unreachable")
}

// number parses a pattern's number within EventBridge's bounds.
func number(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("number %s out of range", n)
	}
	if f < minNumeric || f > maxNumeric {
		return 0, fmt.Errorf("number %s outside [-5e9, 5e9]", n)
	}
	return f, nil
}

func compileAffix(op string, arg any, at string) (matcher, error) {
	a := affix{suffix: op == "suffix"}
	switch arg := arg.(type) {
	case string:
		a.s = arg
	case map[string]any:
		s, ok := arg["equals-ignore-case"].(string)
		if len(arg) != 1 || !ok {
			return nil, fmt.Errorf("%s: %s takes a string or {\"equals-ignore-case\": string}", at, op)
		}
		a.s, a.fold = s, true
	default:
		return nil, fmt.Errorf("%s: %s takes a string or {\"equals-ignore-case\": string}", at, op)
	}
	return a, nil
}

func compileWildcard(s, at string) (matcher, error) {
	w := wildcard{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, fmt.Errorf("%s: wildcard: a backslash escapes only * or \\", at)
			}
			i++
			lit.WriteByte(s[i])
		case '*':
			if i > 0 && s[i-1] == '*' {
				return nil, fmt.Errorf("%s: wildcard: consecutive * are not allowed", at)
			}
			w.parts = append(w.parts, lit.String())
			lit.Reset()
		default:
			lit.WriteByte(c)
		}
	}
	w.parts = append(w.parts, lit.String())
	return w, nil
}

func compileNumeric(arg any, at string) (matcher, error) {
	list, ok := arg.([]any)
	if !ok || (len(list) != 2 && len(list) != 4) {
		return nil, fmt.Errorf("%s: numeric takes [op, number] or [op, number, op, number]", at)
	}
	n := numeric{lo: math.Inf(-1), hi: math.Inf(1)}
	var haveLo, haveHi bool
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		num, isNum := list[i+1].(json.Number)
		if !ok || !isNum {
			return nil, fmt.Errorf("%s: numeric takes an operator then a number", at)
		}
		f, err := number(num)
		if err != nil {
			return nil, fmt.Errorf("%s: numeric: %w", at, err)
		}
		switch op {
		case "=":
			if len(list) != 2 {
				return nil, fmt.Errorf("%s: numeric: = stands alone", at)
			}
			n.lo, n.hi, n.loIncl, n.hiIncl = f, f, true, true
			haveLo, haveHi = true, true
		case ">", ">=":
			if haveLo {
				return nil, fmt.Errorf("%s: numeric: two lower bounds", at)
			}
			n.lo, n.loIncl, haveLo = f, op == ">=", true
		case "<", "<=":
			if haveHi {
				return nil, fmt.Errorf("%s: numeric: two upper bounds", at)
			}
			n.hi, n.hiIncl, haveHi = f, op == "<=", true
		default:
			return nil, fmt.Errorf("%s: numeric: unknown operator %q", at, op)
		}
	}
	if n.lo > n.hi || (n.lo == n.hi && !(n.loIncl && n.hiIncl)) {
		return nil, fmt.Errorf("%s: numeric: the range is empty", at)
	}
	return n, nil
}

func compileAnythingBut(arg any, at string) (matcher, error) {
	switch arg := arg.(type) {
	case string:
		return anythingBut{strs: []string{arg}}, nil
	case json.Number:
		f, err := number(arg)
		if err != nil {
			return nil, fmt.Errorf("%s: anything-but: %w", at, err)
		}
		return anythingBut{nums: []float64{f}}, nil
	case []any:
		var a anythingBut
		if len(arg) == 0 {
			return nil, fmt.Errorf("%s: anything-but: an empty list", at)
		}
		for _, v := range arg {
			switch v := v.(type) {
			case string:
				a.strs = append(a.strs, v)
			case json.Number:
				f, err := number(v)
				if err != nil {
					return nil, fmt.Errorf("%s: anything-but: %w", at, err)
				}
				a.nums = append(a.nums, f)
			default:
				return nil, fmt.Errorf("%s: anything-but: a list holds strings or numbers, not %s", at, kind(v))
			}
		}
		if a.strs != nil && a.nums != nil {
			return nil, fmt.Errorf("%s: anything-but: a list holds strings or numbers, not both", at)
		}
		return a, nil
	case map[string]any:
		if len(arg) != 1 {
			return nil, fmt.Errorf("%s: anything-but takes one of prefix, suffix, equals-ignore-case, wildcard", at)
		}
		for op, v := range arg {
			var inner matcher
			switch op {
			case "prefix", "suffix", "wildcard":
				s, ok := v.(string)
				if !ok || (op != "wildcard" && s == "") {
					return nil, fmt.Errorf("%s: anything-but: %s takes a non-empty string", at, op)
				}
				if op == "wildcard" {
					w, err := compileWildcard(s, at)
					if err != nil {
						return nil, err
					}
					inner = w
				} else {
					inner = affix{s: s, suffix: op == "suffix"}
				}
			case "equals-ignore-case":
				var list []any
				switch v := v.(type) {
				case string:
					list = []any{v}
				case []any:
					list = v
				}
				if len(list) == 0 {
					return nil, fmt.Errorf("%s: anything-but: equals-ignore-case takes a string or a list of strings", at)
				}
				var folded ignoreCaseAny
				for _, s := range list {
					s, ok := s.(string)
					if !ok {
						return nil, fmt.Errorf("%s: anything-but: equals-ignore-case takes a string or a list of strings", at)
					}
					folded = append(folded, s)
				}
				inner = folded
			default:
				return nil, fmt.Errorf("%s: anything-but: unknown matcher %q", at, op)
			}
			return not{inner}, nil
		}
	}
	return nil, fmt.Errorf("%s: anything-but takes a string, a number, a list or an object", at)
}

// ----------------------------------------------------------------- match

// Match reports whether the event, a JSON object decoded with
// [encoding/json] (numbers as float64 or json.Number), matches.
func (p *Pattern) Match(event map[string]any) bool {
	return p.root.match(event, true)
}

// MatchJSON decodes the event and matches it. An event that is not a JSON
// object is an error wrapping [ErrInvalidEvent].
func (p *Pattern) MatchJSON(event []byte) (bool, error) {
	v, err := decode(event)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false, fmt.Errorf("%w: not a JSON object", ErrInvalidEvent)
	}
	return p.Match(obj), nil
}

// match matches a pattern object against an event value. A value that is not
// an object has no fields; an array matches when one element does.
func (n *node) match(v any, present bool) bool {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if n.match(e, true) {
				return true
			}
		}
		return len(arr) == 0 && n.match(nil, false)
	}
	obj, _ := v.(map[string]any)
	for _, f := range n.fields {
		fv, ok := obj[f.name]
		if f.child != nil {
			if !f.child.match(fv, ok) {
				return false
			}
			continue
		}
		if !matchLeaf(f.matchers, fv, ok) {
			return false
		}
	}
	for _, group := range n.ors {
		if !slices.ContainsFunc(group, func(alt *node) bool { return alt.match(v, present) }) {
			return false
		}
	}
	return true
}

// matchLeaf matches a leaf's matchers (one must match) against the event's
// value, element by element for an array. An object is no leaf: the field
// does not exist as one.
func matchLeaf(ms []matcher, v any, present bool) bool {
	switch v := v.(type) {
	case map[string]any:
		return matchAny(ms, nil, false)
	case []any:
		leaves := false
		for _, e := range v {
			switch e.(type) {
			case []any, map[string]any:
				if matchLeaf(ms, e, true) {
					return true
				}
				continue
			}
			leaves = true
			if matchAny(ms, e, true) {
				return true
			}
		}
		// An empty array (or one of objects only) has no leaf values.
		return !leaves && matchAny(ms, nil, false)
	}
	return matchAny(ms, v, present)
}

func matchAny(ms []matcher, v any, present bool) bool {
	for _, m := range ms {
		if m.match(v, present) {
			return true
		}
	}
	return false
}

// toFloat reads an event's number.
func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil
	}
	return 0, false
}

type exact struct {
	str                          string
	num                          float64
	b                            bool
	isStr, isNum, isBool, isNull bool
}

func (e exact) match(v any, present bool) bool {
	if !present {
		return false
	}
	switch v := v.(type) {
	case nil:
		return e.isNull
	case string:
		return e.isStr && v == e.str
	case bool:
		return e.isBool && v == e.b
	}
	f, ok := toFloat(v)
	return ok && e.isNum && f == e.num
}

type affix struct {
	s            string
	suffix, fold bool
}

func (a affix) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok || len(s) < len(a.s) {
		return false
	}
	if a.fold {
		return foldAffix(s, a.s, a.suffix)
	}
	if a.suffix {
		return strings.HasSuffix(s, a.s)
	}
	return strings.HasPrefix(s, a.s)
}

// foldAffix reports whether s starts (or ends) with p under Unicode case
// folding, comparing rune by rune.
func foldAffix(s, p string, suffix bool) bool {
	for p != "" {
		if s == "" {
			return false
		}
		var rs, rp rune
		var ns, np int
		if suffix {
			rs, ns = utf8.DecodeLastRuneInString(s)
			rp, np = utf8.DecodeLastRuneInString(p)
			s, p = s[:len(s)-ns], p[:len(p)-np]
		} else {
			rs, ns = utf8.DecodeRuneInString(s)
			rp, np = utf8.DecodeRuneInString(p)
			s, p = s[ns:], p[np:]
		}
		if !strings.EqualFold(string(rs), string(rp)) {
			return false
		}
	}
	return true
}

type ignoreCase struct{ s string }

func (m ignoreCase) match(v any, present bool) bool {
	s, ok := v.(string)
	return present && ok && strings.EqualFold(s, m.s)
}

type ignoreCaseAny []string

func (m ignoreCaseAny) match(v any, present bool) bool {
	s, ok := v.(string)
	return present && ok && slices.ContainsFunc(m, func(x string) bool { return strings.EqualFold(s, x) })
}

// wildcard is a glob whose only special character is *: parts are the
// literal runs between the stars.
type wildcard struct{ parts []string }

func (w wildcard) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok {
		return false
	}
	first, last := w.parts[0], w.parts[len(w.parts)-1]
	if len(w.parts) == 1 {
		return s == first
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	// Greedy from the left is exact for globs with only *.
	for _, p := range w.parts[1 : len(w.parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

type exists bool

func (e exists) match(v any, present bool) bool { return bool(e) == present }

type numeric struct {
	lo, hi         float64
	loIncl, hiIncl bool
}

func (n numeric) match(v any, present bool) bool {
	f, ok := toFloat(v)
	if !present || !ok {
		return false
	}
	if f < n.lo || (f == n.lo && !n.loIncl) {
		return false
	}
	return f < n.hi || (f == n.hi && n.hiIncl)
}

// anythingBut matches a present string or number that is none of the
// list's (a number is none of a list of strings, and the reverse); it never
// matches null or a boolean.
type anythingBut struct {
	strs []string
	nums []float64
}

func (a anythingBut) match(v any, present bool) bool {
	if !present {
		return false
	}
	if s, ok := v.(string); ok {
		return a.nums != nil || !slices.Contains(a.strs, s)
	}
	if f, ok := toFloat(v); ok {
		return a.strs != nil || !slices.Contains(a.nums, f)
	}
	return false
}

// not is anything-but of a string matcher: a present string that inner
// does not match.
type not struct{ inner matcher }

func (n not) match(v any, present bool) bool {
	_, ok := v.(string)
	return present && ok && !n.inner.match(v, present)
}

type cidr struct{ prefix netip.Prefix }

func (c cidr) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok {
		return false
	}
	addr, err := netip.ParseAddr(s)
	return err == nil && c.prefix.Contains(addr)
}
