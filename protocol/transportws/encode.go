package transportws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// Encode returns the canonical encoding of m: compact JSON with "type" first,
// then "id", then "payload", and no "payload" when the message has none (a nil
// or JSON null payload of [ConnectionInit], [ConnectionAck], [Ping] or
// [Pong]). Raw payloads are compacted; a [Subscribe] payload carries "query"
// and then, when set, "operationName", "variables" and "extensions" (a non-nil
// empty map is written as {}). Strings are escaped as encoding/json escapes
// them, except that <, > and & are left as they are.
//
// Encode fails when m is nil or breaks a rule [DecodeClient] or
// [DecodeServer] would reject it for: an empty id, a payload that is not
// valid JSON or not a JSON object, an empty [Error] list or an element of it
// without "message", variables encoding/json cannot encode. Encoding a message
// that a decoder returned never fails and decodes to an equal message. Encode
// is safe for concurrent use.
func Encode(m Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("transportws: encode: nil message")
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("transportws: encode: nil %T", m)
	}
	return m.appendTo(nil)
}

func (m ConnectionInit) appendTo(dst []byte) ([]byte, error) {
	return appendOptionalPayload(dst, TypeConnectionInit, m.Payload)
}

func (m ConnectionAck) appendTo(dst []byte) ([]byte, error) {
	return appendOptionalPayload(dst, TypeConnectionAck, m.Payload)
}

func (m Ping) appendTo(dst []byte) ([]byte, error) {
	return appendOptionalPayload(dst, TypePing, m.Payload)
}

func (m Pong) appendTo(dst []byte) ([]byte, error) {
	return appendOptionalPayload(dst, TypePong, m.Payload)
}

func (m Subscribe) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeSubscribe)
	}
	dst = appendHead(dst, TypeSubscribe, m.ID)
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
			return nil, fmt.Errorf("transportws: encode subscribe: variables: %w", err)
		}
	}
	if m.Payload.Extensions != nil {
		dst = append(dst, `,"extensions":`...)
		if dst, err = appendValue(dst, m.Payload.Extensions); err != nil {
			return nil, fmt.Errorf("transportws: encode subscribe: extensions: %w", err)
		}
	}
	return append(dst, "}}"...), nil
}

func (m Next) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeNext)
	}
	dst = appendHead(dst, TypeNext, m.ID)
	dst = append(dst, `,"payload":`...)
	dst, err := appendObject(dst, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("transportws: encode next: payload: %w", err)
	}
	return append(dst, '}'), nil
}

func (m Error) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeError)
	}
	if len(m.Payload) == 0 {
		return nil, errors.New("transportws: encode error: payload must not be an empty list")
	}
	dst = appendHead(dst, TypeError, m.ID)
	dst = append(dst, `,"payload":[`...)
	for i, e := range m.Payload {
		if i > 0 {
			dst = append(dst, ',')
		}
		start := len(dst)
		var err error
		if dst, err = appendObject(dst, e); err != nil {
			return nil, fmt.Errorf("transportws: encode error: payload element %d: %w", i, err)
		}
		if problem := graphQLErrorProblem(dst[start:]); problem != "" {
			return nil, fmt.Errorf("transportws: encode error: payload element %d %s", i, problem)
		}
	}
	return append(dst, "]}"...), nil
}

func (m Complete) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, errEmptyID(TypeComplete)
	}
	return append(appendHead(dst, TypeComplete, m.ID), '}'), nil
}

func errEmptyID(typ string) error {
	return fmt.Errorf("transportws: encode %s: id must not be empty", typ)
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
		return nil, fmt.Errorf("transportws: encode %s: payload: %w", typ, err)
	}
	switch k := kindOf(dst[start:]); k {
	case kindObject:
	case kindNull:
		dst = dst[:mark]
	default:
		return nil, fmt.Errorf("transportws: encode %s: payload must be an object or null, got %s", typ, k)
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
