package legacyws

import (
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
	// ID is the frame's "id" when the frame is a JSON object whose "id" is a
	// non-empty string, whatever else is wrong with it, otherwise "".
	ID string
	// Reason says what is wrong, in one line, such as
	// `"start" payload has no "query"`.
	Reason string
	// Err is the encoding/json error behind Reason, if any.
	Err error

	// unparsable reports a frame the reference server cannot even parse
	// into a message (JSON.parse fails, or yields null): one that is empty,
	// not valid UTF-8, not JSON, or JSON null.
	unparsable bool
}

// Error returns "legacyws: invalid message: " followed by the reason.
func (e *DecodeError) Error() string { return "legacyws: invalid message: " + e.Reason }

// Unwrap returns the encoding/json error behind the reason, or nil.
func (e *DecodeError) Unwrap() error { return e.Err }

// DecodeClient decodes one frame a client sent: [ConnectionInit], [Start],
// [Stop] or [ConnectionTerminate], as a value of that type (not a pointer).
//
// The frame must be valid UTF-8 and hold one JSON object whose "type" is a
// string naming a client message; "id" must be a non-empty string in start
// and stop; the optional payload of connection_init must be an object or
// null; the payload of start must be an object whose "query" is a string,
// whose "operationName" is a string or null, and whose "variables" and
// "extensions" are objects or null, each when present. connection_terminate
// carries nothing (the reference client sends "payload": null, which is
// ignored). Members the protocol does not define are ignored, and member names
// are case-sensitive. A server message (connection_ack, connection_error, ka,
// data, error, complete) is invalid, and so are the types of the protocol's
// predecessor (init, subscription_start, subscription_end, ...).
//
// The reference server is more lenient: it hands whatever the frame holds to
// its hooks and to graphql-js. These rules are what the reference client and
// PROTOCOL.md produce, and what [protocol.Start] can carry.
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
		return nil, newDecodeError(wire.WrongSender(m.Type(), wire.FromClient), "")
	}
	return cm, nil
}

// DecodeServer decodes one frame a server sent: [ConnectionAck],
// [ConnectionError], [KeepAlive], [Data], [Error] or [Complete], as a value of
// that type (not a pointer). It is for clients, tests and the local gateway.
//
// The rules are those of [DecodeClient], with these for server messages: the
// optional payload of connection_ack is an object or null; connection_error
// has an object payload; ka carries nothing; data has a non-empty string "id"
// and an object payload; error has a payload that is an object or a non-empty
// array of objects, and an "id" that names the operation when it is a
// non-empty string (the reference server echoes any "id" of a frame it does
// not understand, even null or a number, and sends none when the frame had
// none: all of these mean no operation); complete has a non-empty string "id"
// (the reference server adds "payload": null, which is ignored). A client
// message is invalid. Any other frame yields a nil message and a
// [*DecodeError]; no input makes DecodeServer panic. DecodeServer is safe for
// concurrent use.
func DecodeServer(data []byte) (ServerMessage, error) {
	m, err := decode(data, wire.FromServer)
	if err != nil {
		return nil, err
	}
	sm, ok := m.(ServerMessage)
	if !ok { // decode checked the direction
		return nil, newDecodeError(wire.WrongSender(m.Type(), wire.FromServer), "")
	}
	return sm, nil
}

// newDecodeError reports bad, the problem of a frame whose "id" is id (""
// when it has no string id), as a DecodeError.
func newDecodeError(bad *wire.Invalid, id string) *DecodeError {
	return &DecodeError{Type: bad.Type, ID: id, Reason: bad.Reason, Err: bad.Err, unparsable: bad.Unparsable}
}

// decode decodes data, a frame sent by from (a client or a server).
func decode(data []byte, from wire.Sender) (Message, *DecodeError) {
	f, bad := wire.ParseFrame(data)
	if bad != nil {
		return nil, newDecodeError(bad, "")
	}
	m, bad := decodeMessage(f, from)
	if bad != nil {
		return nil, newDecodeError(bad, stringValue(f.ID))
	}
	return m, nil
}

// decodeMessage decodes a message from the members of frame f.
func decodeMessage(f wire.Frame, from wire.Sender) (Message, *wire.Invalid) {
	typ, bad := wire.DecodeType(f.Type, []string{
		TypeConnectionInit, TypeStart, TypeStop, TypeConnectionTerminate,
		TypeConnectionAck, TypeConnectionError, TypeKeepAlive, TypeData, TypeError, TypeComplete,
	})
	if bad != nil {
		return nil, bad
	}
	switch typ {
	case TypeConnectionInit, TypeStart, TypeStop, TypeConnectionTerminate:
		if from == wire.FromServer {
			return nil, wire.WrongSender(typ, from)
		}
	default:
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
	case TypeStart:
		id, bad := wire.DecodeClientID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		req, bad := wire.DecodeRequest(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return Start{ID: id, Payload: req}, nil
	case TypeStop:
		id, bad := wire.DecodeClientID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		return Stop{ID: id}, nil
	case TypeConnectionTerminate:
		return ConnectionTerminate{}, nil
	case TypeConnectionAck:
		payload, bad := wire.OptionalPayload(typ, f.Payload)
		if bad != nil {
			return nil, bad
		}
		return ConnectionAck{Payload: payload}, nil
	case TypeConnectionError:
		if bad := wire.RequireObject(typ, f.Payload); bad != nil {
			return nil, bad
		}
		return ConnectionError{Payload: wire.Compact(f.Payload)}, nil
	case TypeKeepAlive:
		return KeepAlive{}, nil
	case TypeData:
		id, bad := wire.DecodeID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		if bad := wire.RequireObject(typ, f.Payload); bad != nil {
			return nil, bad
		}
		return Data{ID: id, Payload: wire.Compact(f.Payload)}, nil
	case TypeError:
		return decodeError(f.ID, f.Payload)
	default: // TypeComplete; DecodeType knows no other type
		id, bad := wire.DecodeID(typ, f.ID)
		if bad != nil {
			return nil, bad
		}
		return Complete{ID: id}, nil
	}
}

// decodeError decodes an error message from its raw "id" and "payload".
func decodeError(idRaw, payload []byte) (Message, *wire.Invalid) {
	const typ = TypeError
	if payload == nil {
		return nil, &wire.Invalid{Type: typ, Reason: `"error" message has no "payload"`}
	}
	switch k := wire.KindOf(payload); k {
	case wire.KindObject:
	case wire.KindArray:
		if problem := objectsProblem(payload); problem != "" {
			return nil, &wire.Invalid{Type: typ, Reason: `"error" message "payload" ` + problem}
		}
	default:
		return nil, &wire.Invalid{Type: typ, Reason: `"error" message "payload" must be an object or an array of objects, got ` + k.String()}
	}
	return Error{ID: stringValue(idRaw), Payload: wire.Compact(payload)}, nil
}

// objectsProblem says what makes arr, a valid JSON array, unfit as the
// payload of an error message ("must not be an empty array", "element 1 must
// be an object, got string"), or returns "" when it is fit.
func objectsProblem(arr []byte) string {
	n := 0
	for i, e := range wire.Elements(arr) {
		if k := wire.KindOf(e); k != wire.KindObject {
			return "element " + strconv.Itoa(i) + " must be an object, got " + k.String()
		}
		n++
	}
	if n == 0 {
		return "must not be an empty array"
	}
	return ""
}

// stringValue returns the string raw, a member of a valid JSON object (nil
// when absent), holds, or "" when it holds no string.
func stringValue(raw []byte) string {
	if wire.KindOf(raw) != wire.KindString {
		return ""
	}
	s, _ := wire.Unquote(raw) // cannot fail on valid JSON
	return s
}
