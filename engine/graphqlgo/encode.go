package graphqlgo

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"

	"github.com/gqlambda/gqlambda/engine/internal/response"
)

// shape is the order of response keys in a selection set, and the shape of
// each key's own selections. Fragments are expanded in place; keys selected
// in several places (fields merged, fragments on several types) take the
// position of their first appearance.
type shape struct {
	keys     []string
	children map[string]*shape
}

// buildShape computes the shape of the union of sets.
func buildShape(sets []*ast.SelectionSet, frags map[string]*ast.FragmentDefinition, depth int) *shape {
	sh := &shape{}
	sub := map[string][]*ast.SelectionSet{}
	var walk func(ss *ast.SelectionSet, d int)
	walk = func(ss *ast.SelectionSet, d int) {
		if ss == nil || d > maxFragmentDepth {
			return
		}
		for _, sel := range ss.Selections {
			switch sel := sel.(type) {
			case *ast.Field:
				key := responseKey(sel)
				if _, ok := sub[key]; !ok {
					sh.keys = append(sh.keys, key)
					sub[key] = nil
				}
				if sel.SelectionSet != nil {
					sub[key] = append(sub[key], sel.SelectionSet)
				}
			case *ast.InlineFragment:
				walk(sel.SelectionSet, d+1)
			case *ast.FragmentSpread:
				if fd := frags[sel.Name.Value]; fd != nil {
					walk(fd.SelectionSet, d+1)
				}
			}
		}
	}
	for _, ss := range sets {
		walk(ss, depth)
	}
	for key, children := range sub {
		if len(children) > 0 && depth < maxFragmentDepth {
			if sh.children == nil {
				sh.children = make(map[string]*shape)
			}
			sh.children[key] = buildShape(children, frags, depth+1)
		}
	}
	return sh
}

// encodeResult encodes a graphql-go result as a GraphQL response: errors
// first (as graphql-js does), then data with its fields in query order, then
// extensions.
func encodeResult(ctx context.Context, res *graphql.Result, sh *shape) ([]byte, error) {
	var data func([]byte) ([]byte, error)
	if res.Data != nil || len(res.Errors) == 0 || executionStarted(res.Errors) {
		data = func(dst []byte) ([]byte, error) {
			buf := bytes.NewBuffer(dst)
			err := encodeValue(buf, res.Data, sh)
			return buf.Bytes(), err
		}
	}
	return response.Encode(256, resolverErrors(ctx, res.Errors), data, res.Extensions)
}

// executionStarted reports whether errs come from executing fields (they
// carry a response path) rather than from preparing the execution (variable
// coercion). graphql-go leaves Data nil in both cases, but the spec wants
// "data": null in the first (a non-null field error reached the root) and no
// data entry in the second, which GraphQL over HTTP answers with 400.
func executionStarted(errs []gqlerrors.FormattedError) bool {
	for _, e := range errs {
		if len(e.Path) > 0 {
			return true
		}
	}
	return false
}

// encodeValue writes v as JSON; objects follow sh's key order.
func encodeValue(buf *bytes.Buffer, v any, sh *shape) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case map[string]any:
		return encodeObject(buf, v, sh)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeValue(buf, e, sh); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case string:
		appendString(buf, v)
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case int:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), int64(v), 10))
	case int32:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), int64(v), 10))
	case int64:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), v, 10))
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			buf.WriteString("null")
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

func encodeObject(buf *bytes.Buffer, m map[string]any, sh *shape) error {
	buf.WriteByte('{')
	written := 0
	if sh != nil {
		for _, k := range sh.keys {
			v, ok := m[k]
			if !ok {
				continue
			}
			if written > 0 {
				buf.WriteByte(',')
			}
			appendString(buf, k)
			buf.WriteByte(':')
			if err := encodeValue(buf, v, sh.children[k]); err != nil {
				return err
			}
			written++
		}
	}
	if written < len(m) {
		// Keys the selection does not name (values of custom scalars that are
		// objects): sorted, as encoding/json writes them.
		var rest []string
		for k := range m {
			if sh == nil || !slices.Contains(sh.keys, k) {
				rest = append(rest, k)
			}
		}
		slices.Sort(rest)
		for _, k := range rest {
			if written > 0 {
				buf.WriteByte(',')
			}
			appendString(buf, k)
			buf.WriteByte(':')
			if err := encodeValue(buf, m[k], nil); err != nil {
				return err
			}
			written++
		}
	}
	buf.WriteByte('}')
	return nil
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string. Unlike encoding/json it does not
// escape <, > and &, which need no escaping in JSON; invalid UTF-8 becomes
// U+FFFD, as with encoding/json.
func appendString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript in older engines.
			buf.WriteString(s[start:i])
			buf.WriteString(`\u202`)
			buf.WriteByte(hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}
