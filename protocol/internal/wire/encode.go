package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
)

// MessageUnknownError is the message of the GraphQL error that stands in for
// an error the server was given empty, or did not get at all.
const MessageUnknownError = "Unknown error"

// ErrEmptyID reports a message to encode whose id is empty where the
// protocol requires one.
var ErrEmptyID = errors.New("id must not be empty")

// CheckMessage returns an error when m, a message to encode, is nil or a nil
// pointer, which has no encoding.
func CheckMessage(m any) error {
	if m == nil {
		return errors.New("nil message")
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("nil %T", m)
	}
	return nil
}

// AppendType appends the opening of a message of type typ, which must need
// no escaping: {"type":"typ" with no closing brace.
func AppendType(dst []byte, typ string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	return append(dst, '"')
}

// AppendHead appends the opening of a message of type typ for operation id:
// {"type":"typ","id":"id" with no closing brace. It does not allocate when
// dst has room.
func AppendHead(dst []byte, typ, id string) []byte {
	dst = AppendType(dst, typ)
	dst = append(dst, `,"id":`...)
	return AppendString(dst, id)
}

// AppendIDMessage appends a message of type typ that carries only the id of
// an operation. It does not allocate when dst has room.
func AppendIDMessage(dst []byte, typ, id string) []byte {
	return append(AppendHead(dst, typ, id), '}')
}

// AppendResultMessage appends a message of type typ delivering result, an
// encoded execution result, for operation id. result is appended as is,
// unchecked; an empty result is written as {}. It does not allocate when dst
// has room.
func AppendResultMessage(dst []byte, typ, id string, result []byte) []byte {
	dst = AppendHead(dst, typ, id)
	dst = append(dst, `,"payload":`...)
	if len(result) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, result...)
	}
	return append(dst, '}')
}

// AppendRequestMessage appends a message of type typ that starts operation
// id, a non-empty id, with req as its payload (see [AppendRequest]). The
// error, if any, says what is wrong with the id or the request.
func AppendRequestMessage(dst []byte, typ, id string, req protocol.Request) ([]byte, error) {
	if id == "" {
		return nil, ErrEmptyID
	}
	dst = AppendHead(dst, typ, id)
	dst = append(dst, `,"payload":`...)
	dst, err := AppendRequest(dst, req)
	if err != nil {
		return nil, err
	}
	return append(dst, '}'), nil
}

// AppendObjectMessage appends a message of type typ for operation id, a
// non-empty id, whose payload must be one JSON object and is appended
// compacted. The error, if any, says what is wrong with the id or the
// payload.
func AppendObjectMessage(dst []byte, typ, id string, payload json.RawMessage) ([]byte, error) {
	if id == "" {
		return nil, ErrEmptyID
	}
	dst = AppendHead(dst, typ, id)
	dst = append(dst, `,"payload":`...)
	dst, err := AppendObject(dst, payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return append(dst, '}'), nil
}

// AppendOptionalPayload appends a message of type typ whose payload is
// optional and, when present, a JSON object: no "payload" when payload is
// empty or JSON null, otherwise payload compacted. The error, if any, says
// what is wrong with the payload.
func AppendOptionalPayload(dst []byte, typ string, payload json.RawMessage) ([]byte, error) {
	dst = AppendType(dst, typ)
	if len(payload) == 0 {
		return append(dst, '}'), nil
	}
	mark := len(dst)
	dst = append(dst, `,"payload":`...)
	start := len(dst)
	dst, err := AppendCompact(dst, payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	switch k := KindOf(dst[start:]); k {
	case KindObject:
	case KindNull:
		dst = dst[:mark]
	default:
		return nil, fmt.Errorf("payload must be an object or null, got %s", k)
	}
	return append(dst, '}'), nil
}

// AppendRequest appends req as the payload of a message that starts an
// operation: "query" and then, when set, "operationName", "variables" and
// "extensions" (a non-nil empty map is written as {}). The error, if any,
// says which member encoding/json cannot encode.
func AppendRequest(dst []byte, req protocol.Request) ([]byte, error) {
	dst = append(dst, `{"query":`...)
	dst = AppendString(dst, req.Query)
	if req.OperationName != "" {
		dst = append(dst, `,"operationName":`...)
		dst = AppendString(dst, req.OperationName)
	}
	var err error
	if req.Variables != nil {
		dst = append(dst, `,"variables":`...)
		if dst, err = AppendValue(dst, req.Variables); err != nil {
			return nil, fmt.Errorf("variables: %w", err)
		}
	}
	if req.Extensions != nil {
		dst = append(dst, `,"extensions":`...)
		if dst, err = AppendValue(dst, req.Extensions); err != nil {
			return nil, fmt.Errorf("extensions: %w", err)
		}
	}
	return append(dst, '}'), nil
}

// AppendGraphQLError appends the GraphQL error {"message":msg}. It does not
// allocate when dst has room.
func AppendGraphQLError(dst []byte, msg string) []byte {
	dst = append(dst, `{"message":`...)
	dst = AppendString(dst, msg)
	return append(dst, '}')
}

// AppendErrorList appends errs, encoded GraphQL errors, as a JSON array. Each
// element is appended as is, unchecked; an empty element, or an empty errs,
// is written as {"message":"Unknown error"}. It does not allocate when dst
// has room.
func AppendErrorList(dst []byte, errs []json.RawMessage) []byte {
	dst = append(dst, '[')
	if len(errs) == 0 {
		dst = AppendGraphQLError(dst, MessageUnknownError)
	}
	for i, e := range errs {
		if i > 0 {
			dst = append(dst, ',')
		}
		if len(e) == 0 {
			dst = AppendGraphQLError(dst, MessageUnknownError)
			continue
		}
		dst = append(dst, e...)
	}
	return append(dst, ']')
}

// AppendObject appends raw, which must hold one JSON object, compacted.
func AppendObject(dst []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errors.New("must be an object, got nothing")
	}
	start := len(dst)
	dst, err := AppendCompact(dst, raw)
	if err != nil {
		return nil, err
	}
	if k := KindOf(dst[start:]); k != KindObject {
		return nil, fmt.Errorf("must be an object, got %s", k)
	}
	return dst, nil
}

// AppendCompact appends raw, which must hold one JSON value, without
// insignificant white space.
func AppendCompact(dst []byte, raw []byte) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	if err := json.Compact(b, raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return b.Bytes(), nil
}

// AppendValue appends the JSON encoding of v without HTML escaping.
func AppendValue(dst []byte, v any) ([]byte, error) {
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

// AppendString appends s as a JSON string. It escapes exactly what
// encoding/json escapes with HTML escaping off: quote, backslash, control
// characters (\b, \f, \n, \r and \t by name, the others as \u00XX), U+2028
// and U+2029; every byte of an invalid UTF-8 sequence becomes \ufffd, so the
// result is always valid UTF-8. It does not allocate when dst has room.
func AppendString(dst []byte, s string) []byte {
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
