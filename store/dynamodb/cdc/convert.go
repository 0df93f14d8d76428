package cdc

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/store"
)

// Value converts a stream attribute value to the Go value that encoding/json
// encodes as [JSON] does:
//
//	S     string
//	N     json.Number (the digits as DynamoDB sent them: exact)
//	B     []byte (base64 in JSON)
//	BOOL  bool
//	NULL  nil
//	M     map[string]any
//	L     []any
//	SS    []string
//	NS    []json.Number
//	BS    [][]byte
//
// A number that is not a JSON number, and a value of no type (the zero
// events.DynamoDBAttributeValue), are errors wrapping [store.ErrInvalidEvent].
func Value(av events.DynamoDBAttributeValue) (any, error) {
	return value(av, 0)
}

// maxDepth bounds the nesting of maps and lists, as DynamoDB does (32
// levels): a deeper value is refused rather than recursed into.
const maxDepth = 32

func value(av events.DynamoDBAttributeValue, depth int) (any, error) {
	if depth > maxDepth {
		return nil, invalid("value nested deeper than %d levels", maxDepth)
	}
	switch av.DataType() {
	case events.DataTypeString:
		return av.String(), nil
	case events.DataTypeNumber:
		return number(av.Number())
	case events.DataTypeBinary:
		return binary(av)
	case events.DataTypeBoolean:
		return av.Boolean(), nil
	case events.DataTypeNull:
		return nil, nil
	case events.DataTypeMap:
		m := av.Map()
		out := make(map[string]any, len(m))
		for k, e := range m {
			v, err := value(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case events.DataTypeList:
		l := av.List()
		out := make([]any, len(l))
		for i, e := range l {
			v, err := value(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case events.DataTypeStringSet:
		return slices.Clone(av.StringSet()), nil
	case events.DataTypeNumberSet:
		ns := av.NumberSet()
		out := make([]json.Number, len(ns))
		for i, n := range ns {
			v, err := number(n)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case events.DataTypeBinarySet:
		return slices.Clone(av.BinarySet()), nil
	}
	return nil, invalid("attribute value of unknown type %d", av.DataType())
}

// binary returns the value of a B attribute. The zero DynamoDBAttributeValue
// claims to be binary but holds nothing, and its accessor panics on it.
func binary(av events.DynamoDBAttributeValue) (b []byte, err error) {
	defer func() {
		if recover() != nil {
			b, err = nil, invalid("attribute value without a type")
		}
	}()
	return av.Binary(), nil
}

// number checks that s, the text of an N value, is a JSON number.
func number(s string) (json.Number, error) {
	if !isJSONNumber(s) {
		return "", invalid("number %q is not a JSON number", s)
	}
	return json.Number(s), nil
}

// isJSONNumber reports whether s is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// JSON converts a stream attribute value to JSON text: strings, numbers as
// DynamoDB sent them (exact, whatever their size or precision), booleans,
// null, objects (keys sorted), arrays; binary values and the elements of a
// binary set as base64 strings; the sets as arrays. Errors wrap
// [store.ErrInvalidEvent] (see [Value]).
func JSON(av events.DynamoDBAttributeValue) (json.RawMessage, error) {
	v, err := Value(av)
	if err != nil {
		return nil, err
	}
	return marshal(v)
}

// Image converts an item (a stream record's keys, old or new image) to a map
// of the values [Value] gives; nil stays nil.
func Image(img map[string]events.DynamoDBAttributeValue) (map[string]any, error) {
	if img == nil {
		return nil, nil
	}
	out := make(map[string]any, len(img))
	for _, k := range slices.Sorted(maps.Keys(img)) {
		v, err := value(img[k], 1)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// ImageJSON converts an item to a JSON object, as [JSON] converts each of
// its attributes; nil gives nil.
func ImageJSON(img map[string]events.DynamoDBAttributeValue) (json.RawMessage, error) {
	m, err := Image(img)
	if err != nil || m == nil {
		return nil, err
	}
	return marshal(m)
}

func marshal(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		// Value checked every number; nothing else fails to encode.
		return nil, invalid("%v", err)
	}
	return b, nil
}

// invalid returns an error wrapping store.ErrInvalidEvent.
func invalid(format string, args ...any) error {
	return fmt.Errorf("cdc: %w: %s", store.ErrInvalidEvent, fmt.Sprintf(format, args...))
}
