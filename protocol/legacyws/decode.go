package legacyws

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
		return nil, &DecodeError{Reason: "message is empty", unparsable: true}
	}
	if !utf8.Valid(data) {
		return nil, &DecodeError{Reason: "message is not valid UTF-8", unparsable: true}
	}
	if !json.Valid(data) {
		err := json.Unmarshal(data, new(json.RawMessage)) // explains why
		if err == nil {
			err = errors.New("rejected by json.Valid")
		}
		return nil, &DecodeError{Reason: "message is not valid JSON: " + err.Error(), Err: err, unparsable: true}
	}
	switch k := kindOf(data); k {
	case kindObject:
	case kindNull:
		return nil, &DecodeError{Reason: "message must be a JSON object, got null", unparsable: true}
	default:
		return nil, &DecodeError{Reason: "message must be a JSON object, got " + k.String()}
	}
	// From here on data is valid JSON: the scanning helpers rely on it.
	var f [3][]byte
	scanObject(data, []string{"type", "id", "payload"}, f[:])
	typeRaw, idRaw, payload := f[0], f[1], f[2]
	frameID := ""
	if kindOf(idRaw) == kindString {
		frameID, _ = unquote(idRaw) // cannot fail on valid JSON
	}
	m, derr := decodeMessage(dir, typeRaw, idRaw, payload)
	if derr != nil {
		derr.ID = frameID
		return nil, derr
	}
	return m, nil
}

// decodeMessage decodes a message from the raw "type", "id" and "payload"
// members of a frame (each nil when absent).
func decodeMessage(dir direction, typeRaw, idRaw, payload []byte) (Message, *DecodeError) {
	typ, derr := decodeType(typeRaw)
	if derr != nil {
		return nil, derr
	}
	switch typ {
	case TypeConnectionInit, TypeStart, TypeStop, TypeConnectionTerminate:
		if dir == fromServer {
			return nil, &DecodeError{Type: typ, Reason: quoteType(typ) + " is a client message, a server may not send it"}
		}
	default:
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
	case TypeStart:
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		return decodeStart(id, payload)
	case TypeStop:
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		return Stop{ID: id}, nil
	case TypeConnectionTerminate:
		return ConnectionTerminate{}, nil
	case TypeConnectionAck:
		p, err := decodeOptionalPayload(typ, payload)
		if err != nil {
			return nil, err
		}
		return ConnectionAck{Payload: p}, nil
	case TypeConnectionError:
		if err := requireObject(typ, payload); err != nil {
			return nil, err
		}
		return ConnectionError{Payload: compact(payload)}, nil
	case TypeKeepAlive:
		return KeepAlive{}, nil
	case TypeData:
		id, err := decodeID(typ, idRaw)
		if err != nil {
			return nil, err
		}
		if err := requireObject(typ, payload); err != nil {
			return nil, err
		}
		return Data{ID: id, Payload: compact(payload)}, nil
	case TypeError:
		return decodeError(idRaw, payload)
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
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		if typ, ok := knownType(string(raw[1 : len(raw)-1])); ok {
			return typ, nil
		}
	}
	if k := kindOf(raw); k != kindString {
		return "", &DecodeError{Reason: `message "type" must be a string, got ` + k.String()}
	}
	s, err := unquote(raw)
	if err != nil {
		return "", &DecodeError{Reason: `message "type" cannot be decoded: ` + err.Error(), Err: err}
	}
	if typ, ok := knownType(s); ok {
		return typ, nil
	}
	if s == "" {
		return "", &DecodeError{Reason: `message "type" is empty`}
	}
	return "", &DecodeError{Reason: "unknown message type " + quoteType(s)}
}

// knownType returns the Type constant spelled s, if there is one.
func knownType(s string) (string, bool) {
	switch s {
	case TypeConnectionInit:
		return TypeConnectionInit, true
	case TypeStart:
		return TypeStart, true
	case TypeStop:
		return TypeStop, true
	case TypeConnectionTerminate:
		return TypeConnectionTerminate, true
	case TypeConnectionAck:
		return TypeConnectionAck, true
	case TypeConnectionError:
		return TypeConnectionError, true
	case TypeKeepAlive:
		return TypeKeepAlive, true
	case TypeData:
		return TypeData, true
	case TypeError:
		return TypeError, true
	case TypeComplete:
		return TypeComplete, true
	}
	return "", false
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

func decodeStart(id string, payload []byte) (Message, *DecodeError) {
	const typ = TypeStart
	if derr := requireObject(typ, payload); derr != nil {
		return nil, derr
	}
	var f [4][]byte
	scanObject(payload, []string{"query", "variables", "operationName", "extensions"}, f[:])
	q, vars, name, ext := f[0], f[1], f[2], f[3]
	bad := func(reason string, err error) (Message, *DecodeError) {
		return nil, &DecodeError{Type: typ, Reason: `"start" payload ` + reason, Err: err}
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
	return Start{ID: id, Payload: req}, nil
}

// decodeError decodes an error message from its raw "id" and "payload".
func decodeError(idRaw, payload []byte) (Message, *DecodeError) {
	const typ = TypeError
	id := ""
	if kindOf(idRaw) == kindString {
		id, _ = unquote(idRaw) // cannot fail on valid JSON
	}
	if payload == nil {
		return nil, &DecodeError{Type: typ, Reason: `"error" message has no "payload"`}
	}
	switch k := kindOf(payload); k {
	case kindObject:
	case kindArray:
		n := 0
		problem := ""
		scanArray(payload, func(i int, e []byte) bool {
			n++
			if k := kindOf(e); k != kindObject {
				problem = `"error" message "payload" element ` + strconv.Itoa(i) + " must be an object, got " + k.String()
				return false
			}
			return true
		})
		if problem != "" {
			return nil, &DecodeError{Type: typ, Reason: problem}
		}
		if n == 0 {
			return nil, &DecodeError{Type: typ, Reason: `"error" message "payload" must not be an empty array`}
		}
	default:
		return nil, &DecodeError{Type: typ, Reason: `"error" message "payload" must be an object or an array of objects, got ` + k.String()}
	}
	return Error{ID: id, Payload: compact(payload)}, nil
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
