package legacyws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Encode returns the canonical encoding of m: compact JSON with "type" first,
// then "id", then "payload", and no "payload" when the message has none (a nil
// or JSON null payload of [ConnectionInit] or [ConnectionAck], and always for
// [Stop], [ConnectionTerminate], [KeepAlive] and [Complete]). An [Error]
// without an ID has no "id". Raw payloads are compacted; a [Start] payload
// carries "query" and then, when set, "operationName", "variables" and
// "extensions" (a non-nil empty map is written as {}). Strings are escaped as
// encoding/json escapes them, except that <, > and & are left as they are.
//
// Encode fails when m is nil or breaks a rule [DecodeClient] or
// [DecodeServer] would reject it for: an empty id (but for [Error]), a payload
// that is not valid JSON or not of the kind the message requires, an [Error]
// payload that is an empty array or holds something other than objects,
// variables encoding/json cannot encode. Encoding a message that a decoder
// returned never fails and decodes to an equal message. Encode is safe for
// concurrent use.
func Encode(m Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("legacyws: encode: nil message")
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("legacyws: encode: nil %T", m)
	}
	return m.appendTo(nil)
}

func (m ConnectionInit) appendTo(dst []byte) ([]byte, error) {
	return appendOptionalPayload(dst, TypeConnectionInit, m.Payload)
}

func (m Start) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeStart)
	}
	dst = appendHead(dst, TypeStart, m.ID)
	dst = append(dst, `,"payload":{"query":`...)
	dst = appendString(dst, m.Payload.Query)
	if m.Payload.OperationName != "" {
		dst = append(dst, `,"operationName":`...)
		dst = appendString(dst, m.Payload.OperationName)
	}
	var err error
	if m.Payload.Variables != nil {
		dst = append(dst, `,"variables":`...)
		if dst, err = appendValue(dst, m.Payload.Variables); err != nil {
			return nil, fmt.Errorf("legacyws: encode start: variables: %w", err)
		}
	}
	if m.Payload.Extensions != nil {
		dst = append(dst, `,"extensions":`...)
		if dst, err = appendValue(dst, m.Payload.Extensions); err != nil {
			return nil, fmt.Errorf("legacyws: encode start: extensions: %w", err)
		}
	}
	return append(dst, "}}"...), nil
}

func (m Stop) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeStop)
	}
	return append(appendHead(dst, TypeStop, m.ID), '}'), nil
}

func (ConnectionTerminate) appendTo(dst []byte) ([]byte, error) {
	return append(appendType(dst, TypeConnectionTerminate), '}'), nil
}

func (m ConnectionAck) appendTo(dst []byte) ([]byte, error) {
	return appendOptionalPayload(dst, TypeConnectionAck, m.Payload)
}

func (m ConnectionError) appendTo(dst []byte) ([]byte, error) {
	dst = appendType(dst, TypeConnectionError)
	dst = append(dst, `,"payload":`...)
	dst, err := appendObject(dst, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("legacyws: encode connection_error: payload: %w", err)
	}
	return append(dst, '}'), nil
}

func (KeepAlive) appendTo(dst []byte) ([]byte, error) {
	return append(appendType(dst, TypeKeepAlive), '}'), nil
}

func (m Data) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeData)
	}
	dst = appendHead(dst, TypeData, m.ID)
	dst = append(dst, `,"payload":`...)
	dst, err := appendObject(dst, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("legacyws: encode data: payload: %w", err)
	}
	return append(dst, '}'), nil
}

func (m Error) appendTo(dst []byte) ([]byte, error) {
	dst = appendErrorHead(dst, m.ID)
	if len(m.Payload) == 0 {
		return nil, errors.New("legacyws: encode error: payload must be an object or an array of objects, got nothing")
	}
	start := len(dst)
	dst, err := appendCompact(dst, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("legacyws: encode error: payload: %w", err)
	}
	switch k := kindOf(dst[start:]); k {
	case kindObject:
	case kindArray:
		n, problem := 0, ""
		scanArray(dst[start:], func(i int, e []byte) bool {
			n++
			if k := kindOf(e); k != kindObject {
				problem = "payload element " + strconv.Itoa(i) + " must be an object, got " + k.String()
				return false
			}
			return true
		})
		if problem != "" {
			return nil, errors.New("legacyws: encode error: " + problem)
		}
		if n == 0 {
			return nil, errors.New("legacyws: encode error: payload must not be an empty array")
		}
	default:
		return nil, fmt.Errorf("legacyws: encode error: payload must be an object or an array of objects, got %s", k)
	}
	return append(dst, '}'), nil
}

func (m Complete) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeComplete)
	}
	return append(appendHead(dst, TypeComplete, m.ID), '}'), nil
}

func errEmptyID(typ string) error {
	return fmt.Errorf("legacyws: encode %s: id must not be empty", typ)
}

// appendErrorHead appends the opening of an error message up to its
// "payload" key: with "id" when id is not empty.
func appendErrorHead(dst []byte, id string) []byte {
	if id == "" {
		dst = appendType(dst, TypeError)
	} else {
		dst = appendHead(dst, TypeError, id)
	}
	return append(dst, `,"payload":`...)
}

// appendHead appends the opening of a message of type typ and its "id".
func appendHead(dst []byte, typ, id string) []byte {
	dst = appendType(dst, typ)
	dst = append(dst, `,"id":`...)
	return appendString(dst, id)
}

// appendType appends the opening of a message of type typ, which needs no
// escaping.
func appendType(dst []byte, typ string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	return append(dst, '"')
}

// appendOptionalPayload appends a message of type typ whose payload is
// optional and, when present, a JSON object.
func appendOptionalPayload(dst []byte, typ string, payload json.RawMessage) ([]byte, error) {
	dst = appendType(dst, typ)
	if len(payload) == 0 {
		return append(dst, '}'), nil
	}
	mark := len(dst)
	dst = append(dst, `,"payload":`...)
	start := len(dst)
	dst, err := appendCompact(dst, payload)
	if err != nil {
		return nil, fmt.Errorf("legacyws: encode %s: payload: %w", typ, err)
	}
	switch k := kindOf(dst[start:]); k {
	case kindObject:
	case kindNull:
		dst = dst[:mark]
	default:
		return nil, fmt.Errorf("legacyws: encode %s: payload must be an object or null, got %s", typ, k)
	}
	return append(dst, '}'), nil
}

// appendObject appends raw, which must hold one JSON object, compacted.
func appendObject(dst []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errors.New("must be an object, got nothing")
	}
	start := len(dst)
	dst, err := appendCompact(dst, raw)
	if err != nil {
		return nil, err
	}
	if k := kindOf(dst[start:]); k != kindObject {
		return nil, fmt.Errorf("must be an object, got %s", k)
	}
	return dst, nil
}

// appendCompact appends raw, which must hold one JSON value, without
// insignificant white space.
func appendCompact(dst []byte, raw []byte) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	if err := json.Compact(b, raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return b.Bytes(), nil
}

// appendValue appends the JSON encoding of v without HTML escaping.
func appendValue(dst []byte, v any) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil // Encoder ends every value with a newline
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. It escapes exactly what
// encoding/json escapes with HTML escaping off: quote, backslash, control
// characters (\b, \f, \n, \r and \t by name, the others as \u00XX), U+2028
// and U+2029; every byte of an invalid UTF-8 sequence becomes \ufffd, so the
// result is always valid UTF-8. It does not allocate when dst has room.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending, needing no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
