package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Kind is the kind of a JSON value, as error messages name it.
type Kind uint8

// The kinds of JSON values, and KindNothing for no value at all.
const (
	KindNothing Kind = iota
	KindNull
	KindBoolean
	KindNumber
	KindString
	KindArray
	KindObject
)

// String returns the kind's name in error messages: "null", "boolean",
// "number", "string", "array", "object" or "nothing".
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBoolean:
		return "boolean"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindArray:
		return "array"
	case KindObject:
		return "object"
	}
	return "nothing"
}

// KindOf returns the kind of the JSON value raw starts with, after white
// space. It looks at one byte, so anything that is not null, a boolean, a
// string, an array or an object counts as a number: raw should be valid
// JSON.
func KindOf(raw []byte) Kind {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 'n':
			return KindNull
		case 't', 'f':
			return KindBoolean
		case '"':
			return KindString
		case '[':
			return KindArray
		case '{':
			return KindObject
		}
		return KindNumber
	}
	return KindNothing
}

// Compact returns a copy of raw, one valid JSON value, without insignificant
// white space.
func Compact(raw []byte) json.RawMessage {
	if !bytes.ContainsAny(raw, " \t\r\n") {
		return bytes.Clone(raw)
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return bytes.Clone(raw) // unreachable: raw is valid JSON
	}
	return b.Bytes()
}

// QuoteType quotes a message type for an error message, shortening it to at
// most 32 bytes of its text.
func QuoteType(typ string) string {
	const max = 32
	if len(typ) <= max {
		return strconv.Quote(typ)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(typ[cut]) {
		cut--
	}
	return strconv.Quote(typ[:cut]) + "..."
}
