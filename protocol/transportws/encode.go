package transportws

import (
	"errors"
	"fmt"

	"github.com/gqlambda/gqlambda/protocol/internal/wire"
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
	if err := wire.CheckMessage(m); err != nil {
		return nil, fmt.Errorf("transportws: encode: %w", err)
	}
	frame, err := m.appendTo(nil)
	if err != nil {
		return nil, fmt.Errorf("transportws: encode %s: %w", m.Type(), err)
	}
	return frame, nil
}

func (m ConnectionInit) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendOptionalPayload(dst, TypeConnectionInit, m.Payload)
}

func (m ConnectionAck) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendOptionalPayload(dst, TypeConnectionAck, m.Payload)
}

func (m Ping) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendOptionalPayload(dst, TypePing, m.Payload)
}

func (m Pong) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendOptionalPayload(dst, TypePong, m.Payload)
}

func (m Subscribe) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendRequestMessage(dst, TypeSubscribe, m.ID, m.Payload)
}

func (m Next) appendTo(dst []byte) ([]byte, error) {
	return wire.AppendObjectMessage(dst, TypeNext, m.ID, m.Payload)
}

func (m Error) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, wire.ErrEmptyID
	}
	if len(m.Payload) == 0 {
		return nil, errors.New("payload must not be an empty list")
	}
	dst = wire.AppendHead(dst, TypeError, m.ID)
	dst = append(dst, `,"payload":[`...)
	for i, e := range m.Payload {
		if i > 0 {
			dst = append(dst, ',')
		}
		start := len(dst)
		var err error
		if dst, err = wire.AppendObject(dst, e); err != nil {
			return nil, fmt.Errorf("payload element %d: %w", i, err)
		}
		if problem := graphQLErrorProblem(dst[start:]); problem != "" {
			return nil, fmt.Errorf("payload element %d %s", i, problem)
		}
	}
	return append(dst, "]}"...), nil
}

func (m Complete) appendTo(dst []byte) ([]byte, error) {
	if m.ID == "" {
		return nil, wire.ErrEmptyID
	}
	return wire.AppendIDMessage(dst, TypeComplete, m.ID), nil
}
