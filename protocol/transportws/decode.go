package transportws

import (
	"encoding/json"
	"strconv"

	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// DecodeError reports a frame that is not a valid message of the direction
// being decoded. [DecodeClient] and [DecodeServer] return it (as an error; use
// errors.As). It is a plain value, safe for concurrent reading.
type DecodeError struct {
	// Type is the frame's "type" when it names a message of the protocol
	// (one of the Type constants), otherwise "".
	Type string
	// Reason says what is wrong, in one line, such as
	// `"subscribe" message "id" must not be empty`.
	Reason string
	// Err is the encoding/json error behind Reason, if any.
	Err error
}

// Error returns "transportws: invalid message: " followed by the reason.
func (e *DecodeError) Error() string { return "transportws: invalid message: " + e.Reason }

// Unwrap returns the encoding/json error behind the reason, or nil.
func (e *DecodeError) Unwrap() error { return e.Err }

// DecodeClient decodes one frame a client sent: [ConnectionInit], [Ping],
// [Pong], [Subscribe] or [Complete], as a value of that type (not a pointer).
//
// The frame must be valid UTF-8 and hold one JSON object whose "type" is a
// string naming a client message; "id" must be a non-empty string in
// subscribe and complete; the optional payload of connection_init, ping and
// pong must be an object or null; the payload of subscribe must be an object
// whose "query" is a string, whose "operationName" is a string or null, and
// whose "variables" and "extensions" are objects or null, each when present.
// Members the protocol does not define are ignored, and member names are
// case-sensitive. A server message (connection_ack, next, error) is invalid.
//
// Payloads come back compacted and a null payload as nil, so that [Encode]
// reproduces the frame canonically. Any other frame yields a nil message and a
// [*DecodeError]; no input makes DecodeClient panic (encoding/json bounds the
// nesting depth). DecodeClient is safe for concurrent use.
func DecodeClient(data []byte) (ClientMessage, error) {
	m, err := decode(data, wire.FromClient)
	if err != nil {
		return nil, err
	}
	cm, ok := m.(ClientMessage)
	if !ok { // decode checked the direction
		return nil, newDecodeError(wire.WrongSender(m.Type(), wire.FromClient))
	}
	return cm, nil
}

// DecodeServer decodes one frame a server sent: [ConnectionAck], [Ping],
// [Pong], [Next], [Error] or [Complete], as a value of that type (not a
// pointer). It is for clients, tests and the local gateway.
//
// The rules are those of [DecodeClient], with these for server messages: the
// optional payload of connection_ack is an object or null; next has a
// non-empty string "id" and an object payload; error has a non-empty string
// "id" and a payload that is a non-empty array of objects, each with a
// "message" member. A client message (connection_init, subscribe) is invalid.
// Any other frame yields a nil message and a [*DecodeError]; no input makes
// DecodeServer panic. DecodeServer is safe for concurrent use.
func DecodeServer(data []byte) (ServerMessage, error) {
	m, err := decode(data, wire.FromServer)
	if err != nil {
		return nil, err
	}
	sm, ok := m.(ServerMessage)
	if !ok { // decode checked the direction
		return nil, newDecodeError(wire.WrongSender(m.Type(), wire.FromServer))
	}
	return sm, nil
}

// newDecodeError reports bad as a DecodeError.
func newDecodeError(bad *wire.Invalid) *DecodeError {
	return &DecodeError{Type: bad.Type, Reason: bad.Reason, Err: bad.Err}
}

// decode decodes data, a frame sent by from (a client or a server).
func decode(data []byte, from wire.Sender) (Message, *DecodeError) {
	f, bad := wire.ParseFrame(data)
	if bad != nil {
		return nil, newDecodeError(bad)
	}
	typ, bad := wire.DecodeType(f.Type, []string{
		TypeConnectionInit, TypeConnectionAck, TypePing, TypePong,
		TypeSubscribe, TypeNext, TypeError, TypeComplete,
	})
	if bad != nil {
		return nil, newDecodeError(bad)
	}
	m, bad := decodeMessage(typ, f, from)
	if bad != nil {
		return nil, newDecodeError(bad)
	}
	return m, nil
}

// decodeMessage decodes a message of type typ, one of the Type constants,
// from the members of frame f.
func decodeMessage(typ string, f wire.Frame, from wire.Sender) (Message, *wire.Invalid) {
	switch typ {
	case TypeConnectionInit, TypeSubscribe:
		if from == wire.FromServer {
			return nil, wire.WrongSender(typ, from)
		}
	case TypeConnectionAck, TypeNext, TypeError:
		if from == wire.FromClient {
			return nil, wire.WrongSender(typ, from)
		}
	}

	switch typ {
	case TypeConnectionInit:
		payload, bad := wire.OptionalPayload(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return ConnectionInit{Payload: payload}, nil
	case TypeConnectionAck:
		payload, bad := wire.OptionalPayload(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return ConnectionAck{Payload: payload}, nil
	case TypePing:
		payload, bad := wire.OptionalPayload(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return Ping{Payload: payload}, nil
	case TypePong:
		payload, bad := wire.OptionalPayload(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return Pong{Payload: payload}, nil
	case TypeSubscribe:
		id, bad := wire.DecodeClientID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		req, bad := wire.DecodeRequest(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return Subscribe{ID: id, Payload: req}, nil
	case TypeNext:
		id, bad := wire.DecodeID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		if bad := wire.RequireObject(typ, f.Payload); bad != nil {
			return nil, bad
		}
		return Next{ID: id, Payload: wire.Compact(f.Payload)}, nil
	case TypeError:
		id, bad := wire.DecodeID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		return decodeError(id, f.Payload)
	default: // TypeComplete; DecodeType knows no other type
		decodeID := wire.DecodeID
		if from == wire.FromClient {
			decodeID = wire.DecodeClientID
		}
		id, bad := decodeID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		return Complete{ID: id}, nil
	}
}

func decodeError(id string, payload []byte) (Message, *wire.Invalid) {
	const typ = TypeError
	if payload == nil {
		return nil, &wire.Invalid{Type: typ, Reason: `"error" message has no "payload"`}
	}
	if k := wire.KindOf(payload); k != wire.KindArray {
		return nil, &wire.Invalid{Type: typ, Reason: `"error" message "payload" must be an array of GraphQL errors, got ` + k.String()}
	}
	var errs []json.RawMessage
	for i, e := range wire.Elements(payload) {
		if problem := graphQLErrorProblem(e); problem != "" {
			return nil, &wire.Invalid{Type: typ, Reason: `"error" message "payload" element ` + strconv.Itoa(i) + " " + problem}
		}
		errs = append(errs, wire.Compact(e))
	}
	if len(errs) == 0 {
		return nil, &wire.Invalid{Type: typ, Reason: `"error" message "payload" must not be an empty array`}
	}
	return Error{ID: id, Payload: errs}, nil
}

// graphQLErrorProblem says what makes raw, one valid JSON value, unfit as a
// GraphQL error in an error message ("must be an object, got array", `has no
// "message"`), or returns "" when it is fit.
func graphQLErrorProblem(raw []byte) string {
	if k := wire.KindOf(raw); k != wire.KindObject {
		return "must be an object, got " + k.String()
	}
	var f [1][]byte
	wire.ScanObject(raw, []string{"message"}, f[:])
	if f[0] == nil {
		return `has no "message"`
	}
	return ""
}
