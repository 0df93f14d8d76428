package transportws

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/gqlambda/gqlambda/protocol"
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
	m, err := decode(data, fromClient)
	if err != nil {
		return nil, err
	}
	cm, ok := m.(ClientMessage)
	if !ok { // decode checked the direction
		return nil, &DecodeError{Type: m.Type(), Reason: quoteType(m.Type()) + " is a server message"}
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
	m, err := decode(data, fromServer)
	if err != nil {
		return nil, err
	}
	sm, ok := m.(ServerMessage)
	if !ok { // decode checked the direction
		return nil, &DecodeError{Type: m.Type(), Reason: quoteType(m.Type()) + " is a client message"}
	}
	return sm, nil
}

// direction is who sent the frame being decoded.
type direction bool

const (
	fromClient direction = false
	fromServer direction = true
)

func decode(data []byte, dir direction) (Message, error) {
	if len(data) == 0 {
		return nil, &DecodeError{Reason: "message is empty"}
	}
	if !utf8.Valid(data) {
		return nil, &DecodeError{Reason: "message is not valid UTF-8"}
	}
	if !json.Valid(data) {
		err := json.Unmarshal(data, new(json.RawMessage)) // explains why
		if err == nil {
			err = errors.New("rejected by json.Valid")
		}
		return nil, &DecodeError{Reason: "message is not valid JSON: " + err.Error(), Err: err}
	}
	if k := kindOf(data); k != kindObject {
		return nil, &DecodeError{Reason: "message must be a JSON object, got " + k.String()}
	}
	// From here on data is valid JSON: the scanning helpers rely on it.
	var f [3][]byte
	scanObject(data, []string{"type", "id", "payload"}, f[:])
	typeRaw, idRaw, payload := f[0], f[1], f[2]

	typ, derr := decodeType(typeRaw)
	if derr != nil {
		return nil, derr
	}
	switch typ {
	case TypeConnectionInit, TypeSubscribe:
		if dir == fromServer {
			return nil, &DecodeError{Type: typ, Reason: quoteType(typ) + " is a client message, a server may not send it"}
		}
	case TypeConnectionAck, TypeNext, TypeError:
		if dir == fromClient {
			return nil, &DecodeError{Type: typ, Reason: quoteType(typ) + " is a server message, a client may not send it"}
		}
	}

	switch typ {
	case TypeConnectionInit:
		p, err := decodeOptionalPayload(typ, payload)
		if err != nil {
			return nil, err
		}
		return ConnectionInit{Payload: p}, nil
	case TypeConnectionAck:
		p, err := decodeOptionalPayload(typ, payload)
		if err != nil {
			return nil, err
		}
		return ConnectionAck{Payload: p}, nil
	case TypePing:
		p, err := decodeOptionalPayload(typ, payload)
		if err != nil {
			return nil, err
		}
		return Ping{Payload: p}, nil
	case TypePong:
		p, err := decodeOptionalPayload(typ, payload)
		if err != nil {
			return nil, err
		}
		return Pong{Payload: p}, nil
	case TypeSubscribe:
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		return decodeSubscribe(id, payload)
	case TypeNext:
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		if err := requireObject(typ, payload); err != nil {
			return nil, err
		}
		return Next{ID: id, Payload: compact(payload)}, nil
	case TypeError:
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		return decodeError(id, payload)
	default: // TypeComplete; decodeType knows no other type
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		return Complete{ID: id}, nil
	}
}

// decodeType returns the type named by raw, the "type" member (nil when
// absent): one of the Type constants.
func decodeType(raw []byte) (string, *DecodeError) {
	if raw == nil {
		return "", &DecodeError{Reason: `message has no "type"`}
	}
	// The usual spelling of every type, without escapes, needs no decoding.
	switch string(raw) {
	case `"connection_init"`:
		return TypeConnectionInit, nil
	case `"connection_ack"`:
		return TypeConnectionAck, nil
	case `"ping"`:
		return TypePing, nil
	case `"pong"`:
		return TypePong, nil
	case `"subscribe"`:
		return TypeSubscribe, nil
	case `"next"`:
		return TypeNext, nil
	case `"error"`:
		return TypeError, nil
	case `"complete"`:
		return TypeComplete, nil
	}
	if k := kindOf(raw); k != kindString {
		return "", &DecodeError{Reason: `message "type" must be a string, got ` + k.String()}
	}
	s, err := unquote(raw)
	if err != nil {
		return "", &DecodeError{Reason: `message "type" cannot be decoded: ` + err.Error(), Err: err}
	}
	switch s {
	case TypeConnectionInit, TypeConnectionAck, TypePing, TypePong,
		TypeSubscribe, TypeNext, TypeError, TypeComplete:
		return s, nil
	case "":
		return "", &DecodeError{Reason: `message "type" is empty`}
	}
	return "", &DecodeError{Reason: "unknown message type " + quoteType(s)}
}

// decodeID returns the id of a message of type typ from raw, its "id" member
// (nil when absent), which must be a non-empty string.
func decodeID(typ string, raw []byte) (string, *DecodeError) {
	if raw == nil {
		return "", &DecodeError{Type: typ, Reason: quoteType(typ) + ` message has no "id"`}
	}
	if k := kindOf(raw); k != kindString {
		return "", &DecodeError{Type: typ, Reason: quoteType(typ) + ` message "id" must be a string, got ` + k.String()}
	}
	id, err := unquote(raw)
	if err != nil {
		return "", &DecodeError{Type: typ, Reason: quoteType(typ) + ` message "id" cannot be decoded: ` + err.Error(), Err: err}
	}
	if id == "" {
		return "", &DecodeError{Type: typ, Reason: quoteType(typ) + ` message "id" must not be empty`}
	}
	return id, nil
}

// decodeOptionalPayload returns the payload of a message of type typ whose
// payload may be absent (raw is nil), null or an object.
func decodeOptionalPayload(typ string, raw []byte) (json.RawMessage, *DecodeError) {
	if raw == nil {
		return nil, nil
	}
	switch k := kindOf(raw); k {
	case kindNull:
		return nil, nil
	case kindObject:
		return compact(raw), nil
	default:
		return nil, &DecodeError{Type: typ, Reason: quoteType(typ) + ` message "payload" must be an object or null, got ` + k.String()}
	}
}

// requireObject checks that raw, the payload of a message of type typ (nil
// when absent), is an object.
func requireObject(typ string, raw []byte) *DecodeError {
	if raw == nil {
		return &DecodeError{Type: typ, Reason: quoteType(typ) + ` message has no "payload"`}
	}
	if k := kindOf(raw); k != kindObject {
		return &DecodeError{Type: typ, Reason: quoteType(typ) + ` message "payload" must be an object, got ` + k.String()}
	}
	return nil
}

func decodeSubscribe(id string, payload []byte) (Message, error) {
	const typ = TypeSubscribe
	if derr := requireObject(typ, payload); derr != nil {
		return nil, derr
	}
	var f [4][]byte
	scanObject(payload, []string{"query", "variables", "operationName", "extensions"}, f[:])
	q, vars, name, ext := f[0], f[1], f[2], f[3]
	bad := func(reason string, err error) (Message, error) {
		return nil, &DecodeError{Type: typ, Reason: `"subscribe" payload ` + reason, Err: err}
	}

	var req protocol.Request
	if q == nil {
		return bad(`has no "query"`, nil)
	}
	if k := kindOf(q); k != kindString {
		return bad(`"query" must be a string, got `+k.String(), nil)
	}
	var err error
	if req.Query, err = unquote(q); err != nil {
		return bad(`"query" cannot be decoded: `+err.Error(), err)
	}

	if vars != nil {
		switch k := kindOf(vars); k {
		case kindNull:
		case kindObject:
			if err := json.Unmarshal(vars, &req.Variables); err != nil {
				return bad(`"variables" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"variables" must be an object or null, got `+k.String(), nil)
		}
	}

	if name != nil {
		switch k := kindOf(name); k {
		case kindNull:
		case kindString:
			if req.OperationName, err = unquote(name); err != nil {
				return bad(`"operationName" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"operationName" must be a string or null, got `+k.String(), nil)
		}
	}

	if ext != nil {
		switch k := kindOf(ext); k {
		case kindNull:
		case kindObject:
			if err := json.Unmarshal(ext, &req.Extensions); err != nil {
				return bad(`"extensions" cannot be decoded: `+err.Error(), err)
			}
		default:
			return bad(`"extensions" must be an object or null, got `+k.String(), nil)
		}
	}
	return Subscribe{ID: id, Payload: req}, nil
}

func decodeError(id string, payload []byte) (Message, error) {
	const typ = TypeError
	if payload == nil {
		return nil, &DecodeError{Type: typ, Reason: `"error" message has no "payload"`}
	}
	if k := kindOf(payload); k != kindArray {
		return nil, &DecodeError{Type: typ, Reason: `"error" message "payload" must be an array of GraphQL errors, got ` + k.String()}
	}
	var errs []json.RawMessage
	var problem string
	scanArray(payload, func(i int, e []byte) bool {
		if problem = graphQLErrorProblem(e); problem != "" {
			problem = `"error" message "payload" element ` + strconv.Itoa(i) + " " + problem
			return false
		}
		errs = append(errs, compact(e))
		return true
	})
	if problem != "" {
		return nil, &DecodeError{Type: typ, Reason: problem}
	}
	if len(errs) == 0 {
		return nil, &DecodeError{Type: typ, Reason: `"error" message "payload" must not be an empty array`}
	}
	return Error{ID: id, Payload: errs}, nil
}

// graphQLErrorProblem says what makes raw, one valid JSON value, unfit as a
// GraphQL error in an error message ("must be an object, got array", `has no
// "message"`), or returns "" when it is fit.
func graphQLErrorProblem(raw []byte) string {
	if k := kindOf(raw); k != kindObject {
		return "must be an object, got " + k.String()
	}
	var f [1][]byte
	scanObject(raw, []string{"message"}, f[:])
	if f[0] == nil {
		return `has no "message"`
	}
	return ""
}

// compact returns a copy of raw, one valid JSON value, without insignificant
// white space.
func compact(raw []byte) json.RawMessage {
	if bytes.IndexAny(raw, " \t\r\n") < 0 {
		return bytes.Clone(raw)
	}
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return bytes.Clone(raw) // unreachable: raw is valid JSON
	}
	return b.Bytes()
}

// quoteType quotes a message type for an error message, shortening it to at
// most 32 bytes of its text.
func quoteType(typ string) string {
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

// kind is the kind of a JSON value, as error messages name it.
type kind uint8

const (
	kindNothing kind = iota
	kindNull
	kindBoolean
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBoolean:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	}
	return "nothing"
}

// kindOf returns the kind of the JSON value raw starts with, after white
// space.
func kindOf(raw []byte) kind {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 'n':
			return kindNull
		case 't', 'f':
			return kindBoolean
		case '"':
			return kindString
		case '[':
			return kindArray
		case '{':
			return kindObject
		}
		return kindNumber
	}
	return kindNothing
}
