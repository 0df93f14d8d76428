package legacyws

import (
	"encoding/json"
	"strconv"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/internal/wire"
)

// Subprotocol is the Sec-WebSocket-Protocol value of the legacy protocol.
const Subprotocol = "graphql-ws"

// The values of a message's "type" field.
const (
	TypeConnectionInit      = "connection_init"      // client → server
	TypeStart               = "start"                // client → server
	TypeStop                = "stop"                 // client → server
	TypeConnectionTerminate = "connection_terminate" // client → server
	TypeConnectionAck       = "connection_ack"       // server → client
	TypeConnectionError     = "connection_error"     // server → client
	TypeKeepAlive           = "ka"                   // server → client
	TypeData                = "data"                 // server → client
	TypeError               = "error"                // server → client
	TypeComplete            = "complete"             // server → client
)

// CloseCode is a WebSocket close code [Server] closes a connection with.
// The legacy protocol defines no close codes of its own (its reference
// server closes with 1011 after a failed connection_init or a socket error,
// and its client ignores the code), so these are the graphql-transport-ws
// codes for the same situations: they tell logs and the local gateway why. Converting a CloseCode
// with int gives the value for [protocol.Close].
type CloseCode int

// The close codes [Server] uses.
const (
	// CloseForbidden: the server refused connection_init.
	CloseForbidden CloseCode = 4403
	// CloseTooManyInitialisationRequests: the client sent connection_init on
	// an acknowledged connection.
	CloseTooManyInitialisationRequests CloseCode = 4429
	// CloseInternalServerError: the server failed.
	CloseInternalServerError CloseCode = 4500
)

// String returns the code's name (such as "Forbidden"), or its number for a
// code [Server] does not use. It is safe for concurrent use and never fails.
func (c CloseCode) String() string {
	switch c {
	case CloseForbidden:
		return "Forbidden"
	case CloseTooManyInitialisationRequests:
		return "TooManyInitialisationRequests"
	case CloseInternalServerError:
		return "InternalServerError"
	}
	return "CloseCode(" + strconv.Itoa(int(c)) + ")"
}

// Message is any message of the legacy protocol. The interface is sealed:
// the message types of this package are its only implementations. Messages
// are plain values, safe for concurrent use as long as nobody mutates them.
type Message interface {
	// Type returns the message's "type" field, one of the Type constants.
	Type() string

	// appendTo appends the message's canonical encoding to dst, or fails
	// when the message breaks the protocol's rules; [Encode] prefixes the
	// error with the package and the message type.
	appendTo(dst []byte) ([]byte, error)
}

// ClientMessage is a message a client sends to a server: [ConnectionInit],
// [Start], [Stop] or [ConnectionTerminate]. The interface is sealed.
type ClientMessage interface {
	Message
	clientMessage()
}

// ServerMessage is a message a server sends to a client: [ConnectionAck],
// [ConnectionError], [KeepAlive], [Data], [Error] or [Complete]. The
// interface is sealed.
type ServerMessage interface {
	Message
	serverMessage()
}

// ConnectionInit asks the server to accept the connection (client → server).
type ConnectionInit struct {
	// Payload is the client's connection parameters: nil when absent,
	// otherwise a JSON object.
	Payload json.RawMessage
}

// Start starts operation ID (client → server).
type Start struct {
	// ID is the client's non-empty operation id.
	ID string
	// Payload is the GraphQL request.
	Payload protocol.Request
}

// Stop tells the server the client stopped operation ID (client → server).
type Stop struct {
	// ID is the operation id.
	ID string
}

// ConnectionTerminate asks the server to close the connection (client →
// server).
type ConnectionTerminate struct{}

// ConnectionAck acknowledges a ConnectionInit (server → client).
type ConnectionAck struct {
	// Payload is nil when absent, otherwise a JSON object.
	Payload json.RawMessage
}

// ConnectionError tells the client that its connection failed: its
// connection_init was refused, a frame could not be parsed, or the server
// failed (server → client).
type ConnectionError struct {
	// Payload is a JSON object, usually {"message": ...}.
	Payload json.RawMessage
}

// KeepAlive is the server's heartbeat (server → client). [Server] never
// sends it; see [Server].
type KeepAlive struct{}

// Data delivers one execution result of operation ID (server → client).
type Data struct {
	// ID is the operation id.
	ID string
	// Payload is an encoded GraphQL execution result, a JSON object.
	Payload json.RawMessage
}

// Error ends operation ID with errors that happened before or instead of
// execution (server → client). No Complete follows it.
type Error struct {
	// ID is the operation id, or "" for an error about a frame that named no
	// operation.
	ID string
	// Payload is a JSON object, or a non-empty JSON array of objects. The
	// reference server sends one GraphQL error as an object; [Server] sends
	// {"message": ..., "errors": [...]}. [Error.Errors] reads any of them.
	Payload json.RawMessage
}

// Complete tells the client that operation ID finished (server → client).
type Complete struct {
	// ID is the operation id.
	ID string
}

// Type returns [TypeConnectionInit].
func (ConnectionInit) Type() string { return TypeConnectionInit }

// Type returns [TypeStart].
func (Start) Type() string { return TypeStart }

// Type returns [TypeStop].
func (Stop) Type() string { return TypeStop }

// Type returns [TypeConnectionTerminate].
func (ConnectionTerminate) Type() string { return TypeConnectionTerminate }

// Type returns [TypeConnectionAck].
func (ConnectionAck) Type() string { return TypeConnectionAck }

// Type returns [TypeConnectionError].
func (ConnectionError) Type() string { return TypeConnectionError }

// Type returns [TypeKeepAlive].
func (KeepAlive) Type() string { return TypeKeepAlive }

// Type returns [TypeData].
func (Data) Type() string { return TypeData }

// Type returns [TypeError].
func (Error) Type() string { return TypeError }

// Type returns [TypeComplete].
func (Complete) Type() string { return TypeComplete }

func (ConnectionInit) clientMessage()      {}
func (Start) clientMessage()               {}
func (Stop) clientMessage()                {}
func (ConnectionTerminate) clientMessage() {}

func (ConnectionAck) serverMessage()   {}
func (ConnectionError) serverMessage() {}
func (KeepAlive) serverMessage()       {}
func (Data) serverMessage()            {}
func (Error) serverMessage()           {}
func (Complete) serverMessage()        {}

// Errors returns the GraphQL errors of the message as the reference client
// reads them (formatErrors in subscriptions-transport-ws's client): the
// elements of an array payload; for an object payload, the errors of its
// "errors" member when that is truthy in JavaScript's sense, otherwise the
// object itself when its "message" is truthy; otherwise one error
// {"message":"Unknown error"}. The result is never empty unless the payload
// is an empty array, and its elements are compact copies. Errors is safe for
// concurrent use.
func (m Error) Errors() []json.RawMessage {
	raw := []byte(m.Payload)
	for {
		switch wire.KindOf(raw) {
		case wire.KindArray:
			errs := []json.RawMessage{}
			for _, e := range wire.Elements(raw) {
				errs = append(errs, wire.Compact(e))
			}
			return errs
		case wire.KindObject:
			var f [2][]byte
			wire.ScanObject(raw, []string{"errors", "message"}, f[:])
			if truthy(f[0]) {
				raw = f[0]
				continue
			}
			if truthy(f[1]) {
				return []json.RawMessage{wire.Compact(raw)}
			}
		}
		return []json.RawMessage{json.RawMessage(`{"message":"` + wire.MessageUnknownError + `"}`)}
	}
}

// truthy reports whether raw, one JSON value of a valid document or nil
// (absent), is truthy in JavaScript: anything but absent, null, false, 0 and
// "".
func truthy(raw []byte) bool {
	switch wire.KindOf(raw) {
	case wire.KindNothing, wire.KindNull:
		return false
	case wire.KindBoolean:
		return raw[wire.SkipSpace(raw, 0)] == 't'
	case wire.KindString:
		return len(raw) > 2 && string(raw) != `""`
	case wire.KindNumber:
		f, err := strconv.ParseFloat(string(raw), 64)
		return err != nil || f != 0 // an overflow (±Inf) is truthy
	}
	return true // arrays and objects, even empty
}
