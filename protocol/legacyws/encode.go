package legacyws

import (
	"errors"
	"fmt"

	"github.com/gqlambda/gqlambda/protocol/internal/wire"
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
	if err := wire.CheckMessage(m); err != nil {
		return nil, fmt.Errorf("legacyws: encode: %w", err)
	}
	frame, err := m.appendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("legacyws: encode %s: %w", m.Type(), err)
	}
	return frame, nil
}

func (m ConnectionInit) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendOptionalPayload(dst, TypeConnectionInit, m.Payload)
}

func (m Start) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendRequestMessage(dst, TypeStart, m.ID, m.Payload)
}

func (m Stop) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, wire.ErrEmptyID
	}
	return wire.AppendIDMessage(dst, TypeStop, m.ID), nil
}

func (ConnectionTerminate) appendTo(dst []byte) ([]byte, error) {
	return append(wire.AppendType(dst, TypeConnectionTerminate), '}'), nil
}

func (m ConnectionAck) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendOptionalPayload(dst, TypeConnectionAck, m.Payload)
}

func (m ConnectionError) appendTo(dst []byte) ([]byte, error) {
	dst = wire.AppendType(dst, TypeConnectionError)
	dst = append(dst, `,"payload":`...)
	dst, err := wire.AppendObject(dst, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return append(dst, '}'), nil
}

func (KeepAlive) appendTo(dst []byte) ([]byte, error) {
	return append(wire.AppendType(dst, TypeKeepAlive), '}'), nil
}

func (m Data) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendObjectMessage(dst, TypeData, m.ID, m.Payload)
}

func (m Error) appendTo(dst []byte) ([]byte, error) {
	dst = appendErrorHead(dst, m.ID)
	if len(m.Payload) == 0 {
		return nil, errors.New("payload must be an object or an array of objects, got nothing")
	}
	start := len(dst)
	dst, err := wire.AppendCompact(dst, m.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	switch k := wire.KindOf(dst[start:]); k {
	case wire.KindObject:
	case wire.KindArray:
		if problem := objectsProblem(dst[start:]); problem != "" {
			return nil, errors.New("payload " + problem)
		}
	default:
		return nil, fmt.Errorf("payload must be an object or an array of objects, got %s", k)
	}
	return append(dst, '}'), nil
}

func (m Complete) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, wire.ErrEmptyID
	}
	return wire.AppendIDMessage(dst, TypeComplete, m.ID), nil
}

// appendErrorHead appends the opening of an error message up to its
// "payload" key: with "id" when id is not empty.
func appendErrorHead(dst []byte, id string) []byte {
	if id == "" {
		dst = wire.AppendType(dst, TypeError)
	} else {
		dst = wire.AppendHead(dst, TypeError, id)
	}
	return append(dst, `,"payload":`...)
}
