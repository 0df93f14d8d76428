package wire

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
)

// Invalid says why a frame is not a valid message. Each protocol package
// reports it as its own DecodeError, whose fields mean the same.
type Invalid struct {
	// Type is the frame's "type" when it names a message of the protocol,
	// otherwise "".
	Type string
	// Reason says what is wrong, in one line.
	Reason string
	// Err is the error behind Reason, if any.
	Err error
	// Unparsable reports a frame that holds no JSON value other than null:
	// one that is empty, not valid UTF-8, not JSON, or JSON null.
	Unparsable bool
}

// Sender is who sent the frame being decoded.
type Sender bool

// The senders of frames.
const (
	FromClient Sender = false
	FromServer Sender = true
)

// WrongSender is what is wrong with a message of type typ arriving from a
// sender that may not send it: a client message from a server, or a server
// message from a client.
func WrongSender(typ string, from Sender) *Invalid {
	if from == FromServer {
		return &Invalid{Type: typ, Reason: QuoteType(typ) + " is a client message, a server may not send it"}
	}
	return &Invalid{Type: typ, Reason: QuoteType(typ) + " is a server message, a client may not send it"}
}

// Frame holds the raw "type", "id" and "payload" members of a frame, each
// nil when absent. They are slices of a valid JSON object.
type Frame struct {
	Type, ID, Payload []byte
}

// ParseFrame checks that data is valid UTF-8 holding one JSON object, and
// returns the object's members that every message may have. From then on the
// members are valid JSON, which the other functions of this package rely on.
func ParseFrame(data []byte) (Frame, *Invalid) {
	if len(data) == 0 {
		return Frame{}, &Invalid{Reason: "message is empty", Unparsable: true}
	}
	if !utf8.Valid(data) {
		return Frame{}, &Invalid{Reason: "message is not valid UTF-8", Unparsable: true}
	}
	if !json.Valid(data) {
		err := json.Unmarshal(data, new(json.RawMessage)) // explains why
		if err == nil {
			err = errors.New("rejected by json.Valid")
		}
		return Frame{}, &Invalid{Reason: "message is not valid JSON: " + err.Error(), Err: err, Unparsable: true}
	}
	switch k := KindOf(data); k {
	case KindObject:
	case KindNull:
		return Frame{}, &Invalid{Reason: "message must be a JSON object, got null", Unparsable: true}
	default:
		return Frame{}, &Invalid{Reason: "message must be a JSON object, got " + k.String()}
	}
	var f [3][]byte
	ScanObject(data, []string{"type", "id", "payload"}, f[:])
	return Frame{Type: f[0], ID: f[1], Payload: f[2]}, nil
}

// DecodeType returns the element of types that raw, the "type" member of a
// frame (nil when absent), names. No type may need escaping in JSON.
func DecodeType(raw []byte, types []string) (string, *Invalid) {
	if raw == nil {
		return "", &Invalid{Reason: `message has no "type"`}
	}
	// The usual spelling of a type, without escapes, needs no decoding.
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		if typ, ok := lookup(types, string(raw[1:len(raw)-1])); ok {
			return typ, nil
		}
	}
	if k := KindOf(raw); k != KindString {
		return "", &Invalid{Reason: `message "type" must be a string, got ` + k.String()}
	}
	s, err := Unquote(raw)
	if err != nil {
		return "", &Invalid{Reason: `message "type" cannot be decoded: ` + err.Error(), Err: err}
	}
	if typ, ok := lookup(types, s); ok {
		return typ, nil
	}
	if s == "" {
		return "", &Invalid{Reason: `message "type" is empty`}
	}
	return "", &Invalid{Reason: "unknown message type " + QuoteType(s)}
}

// lookup returns the element of types equal to s, if there is one.
func lookup(types []string, s string) (string, bool) {
	for _, t := range types {
		if t == s {
			return t, true
		}
	}
	return "", false
}

// DecodeID returns the id of a message of type typ from raw, its "id" member
// (nil when absent), which must be a non-empty string.
func DecodeID(typ string, raw []byte) (string, *Invalid) {
	if raw == nil {
		return "", &Invalid{Type: typ, Reason: QuoteType(typ) + ` message has no "id"`}
	}
	if k := KindOf(raw); k != KindString {
		return "", &Invalid{Type: typ, Reason: QuoteType(typ) + ` message "id" must be a string, got ` + k.String()}
	}
	id, err := Unquote(raw)
	if err != nil {
		return "", &Invalid{Type: typ, Reason: QuoteType(typ) + ` message "id" cannot be decoded: ` + err.Error(), Err: err}
	}
	if id == "" {
		return "", &Invalid{Type: typ, Reason: QuoteType(typ) + ` message "id" must not be empty`}
	}
	return id, nil
}

// MaxIDBytes bounds the operation id of a client message: clients use UUIDs
// (36 bytes) or counters, and the id becomes part of a store key and of
// every log line about the operation. A longer id is an invalid message.
const MaxIDBytes = 256

// DecodeClientID is DecodeID for a client message: the id must also be at
// most MaxIDBytes long.
func DecodeClientID(typ string, raw []byte) (string, *Invalid) {
	id, bad := DecodeID(typ, raw)
	if bad == nil && len(id) > MaxIDBytes {
		return "", &Invalid{Type: typ, Reason: QuoteType(typ) + ` message "id" is over ` + strconv.Itoa(MaxIDBytes) + ` bytes`}
	}
	return id, bad
}

// OptionalPayload returns the payload of a message of type typ whose payload
// may be absent (raw is nil), null or an object: compacted, or nil when
// absent or null.
func OptionalPayload(typ string, raw []byte) (json.RawMessage, *Invalid) {
	if raw == nil {
		return nil, nil
	}
	switch k := KindOf(raw); k {
	case KindNull:
		return nil, nil
	case KindObject:
		return Compact(raw), nil
	default:
		return nil, &Invalid{Type: typ, Reason: QuoteType(typ) + ` message "payload" must be an object or null, got ` + k.String()}
	}
}

// RequireObject checks that raw, the payload of a message of type typ (nil
// when absent), is an object.
func RequireObject(typ string, raw []byte) *Invalid {
	if raw == nil {
		return &Invalid{Type: typ, Reason: QuoteType(typ) + ` message has no "payload"`}
	}
	if k := KindOf(raw); k != KindObject {
		return &Invalid{Type: typ, Reason: QuoteType(typ) + ` message "payload" must be an object, got ` + k.String()}
	}
	return nil
}

// DecodeRequest decodes the GraphQL request that payload, the payload of a
// message of type typ that starts an operation (nil when absent), carries:
// an object whose "query" is a string, whose "operationName" is a string or
// null, and whose "variables" and "extensions" are objects or null, each when
// present. Other members are ignored.
func DecodeRequest(typ string, payload []byte) (protocol.Request, *Invalid) {
	var req protocol.Request
	if p := RequireObject(typ, payload); p != nil {
		return req, p
	}
	var f [4][]byte
	ScanObject(payload, []string{"query", "variables", "operationName", "extensions"}, f[:])
	q, vars, name, ext := f[0], f[1], f[2], f[3]
	bad := func(reason string, err error) (protocol.Request, *Invalid) {
		return protocol.Request{}, &Invalid{Type: typ, Reason: QuoteType(typ) + " payload " + reason, Err: err}
	}

	if q == nil {
		return bad(`has no "query"`, nil)
	}
	if k := KindOf(q); k != KindString {
		return bad(`"query" must be a string, got `+k.String(), nil)
	}
	var err error
	if req.Query, err = Unquote(q); err != nil {
		return bad(`"query" cannot be decoded: `+err.Error(), err)
	}

	if vars != nil {
		switch k := KindOf(vars); k {
		case KindNull:
		case KindObject:
			if err := json.Unmarshal(vars, &req.Variables); err != nil {
				return bad(`"variables" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"variables" must be an object or null, got `+k.String(), nil)
		}
	}

	if name != nil {
		switch k := KindOf(name); k {
		case KindNull:
		case KindString:
			if req.OperationName, err = Unquote(name); err != nil {
				return bad(`"operationName" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"operationName" must be a string or null, got `+k.String(), nil)
		}
	}

	if ext != nil {
		switch k := KindOf(ext); k {
		case KindNull:
		case KindObject:
			if err := json.Unmarshal(ext, &req.Extensions); err != nil {
				return bad(`"extensions" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"extensions" must be an object or null, got `+k.String(), nil)
		}
	}
	return req, nil
}
