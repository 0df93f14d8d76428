package transportws

import (
	"encoding/json"
	"strconv"

	"github.com/gqlambda/gqlambda/protocol"
)

// Subprotocol is the Sec-WebSocket-Protocol value of graphql-transport-ws.
const Subprotocol = "graphql-transport-ws"

// The values of a message's "type" field.
const (
	TypeConnectionInit = "connection_init" // client → server
	TypeConnectionAck  = "connection_ack"  // server → client
	TypePing           = "ping"            // both directions
	TypePong           = "pong"            // both directions
	TypeSubscribe      = "subscribe"       // client → server
	TypeNext           = "next"            // server → client
	TypeError          = "error"           // server → client
	TypeComplete       = "complete"        // both directions
)

// CloseCode is a WebSocket close code defined by graphql-transport-ws.
// Converting it with int gives the value for [protocol.Close].
type CloseCode int

// The close codes a graphql-transport-ws server uses.
const (
	// CloseBadRequest: the client sent a frame that is not a valid message.
	CloseBadRequest CloseCode = 4400
	// CloseUnauthorized: the client subscribed before connection_ack.
	CloseUnauthorized CloseCode = 4401
	// CloseForbidden: the server refused connection_init.
	CloseForbidden CloseCode = 4403
	// CloseSubprotocolNotAcceptable: the socket did not negotiate
	// graphql-transport-ws.
	CloseSubprotocolNotAcceptable CloseCode = 4406
	// CloseConnectionInitialisationTimeout: no connection_init arrived in
	// time.
	CloseConnectionInitialisationTimeout CloseCode = 4408
	// CloseSubscriberAlreadyExists: a subscribe reused the id of an active
	// operation.
	CloseSubscriberAlreadyExists CloseCode = 4409
	// CloseTooManyInitialisationRequests: the client sent a second
	// connection_init.
	CloseTooManyInitialisationRequests CloseCode = 4429
	// CloseInternalServerError: the server failed.
	CloseInternalServerError CloseCode = 4500
)

// String returns the code's name in the protocol (such as "BadRequest"), or
// its number for a code the protocol does not define. It is safe for
// concurrent use and never fails.
func (c CloseCode) String() string {
	switch c {
	case CloseBadRequest:
		return "BadRequest"
	case CloseUnauthorized:
		return "Unauthorized"
	case CloseForbidden:
		return "Forbidden"
	case CloseSubprotocolNotAcceptable:
		return "SubprotocolNotAcceptable"
	case CloseConnectionInitialisationTimeout:
		return "ConnectionInitialisationTimeout"
	case CloseSubscriberAlreadyExists:
		return "SubscriberAlreadyExists"
	case CloseTooManyInitialisationRequests:
		return "TooManyInitialisationRequests"
	case CloseInternalServerError:
		return "InternalServerError"
	}
	return "CloseCode(" + strconv.Itoa(int(c)) + ")"
}

// Message is any graphql-transport-ws message. The interface is sealed: the
// message types of this package are its only implementations. Messages are
// plain values, safe for concurrent use as long as nobody mutates them.
type Message interface {
	// Type returns the message's "type" field, one of the Type constants.
	Type() string

	// appendTo appends the message's canonical encoding to dst, or fails
	// when the message breaks the protocol's rules; [Encode] prefixes the
	// error with the package and the message type.
	appendTo(dst []byte) ([]byte, error)
}

// ClientMessage is a message a client sends to a server: [ConnectionInit],
// [Ping], [Pong], [Subscribe] or [Complete]. The interface is sealed.
type ClientMessage interface {
	Message
	clientMessage()
}

// ServerMessage is a message a server sends to a client: [ConnectionAck],
// [Ping], [Pong], [Next], [Error] or [Complete]. The interface is sealed.
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

// ConnectionAck acknowledges a ConnectionInit (server → client).
type ConnectionAck struct {
	// Payload is nil when absent, otherwise a JSON object.
	Payload json.RawMessage
}

// Ping asks the peer for a Pong (both directions).
type Ping struct {
	// Payload is nil when absent, otherwise a JSON object.
	Payload json.RawMessage
}

// Pong answers a Ping or is a one-way heartbeat (both directions).
type Pong struct {
	// Payload is nil when absent, otherwise a JSON object.
	Payload json.RawMessage
}

// Subscribe starts operation ID (client → server).
type Subscribe struct {
	// ID is the client's non-empty operation id.
	ID string
	// Payload is the GraphQL request.
	Payload protocol.Request
}

// Next delivers one execution result of operation ID (server → client).
type Next struct {
	// ID is the operation id.
	ID string
	// Payload is an encoded GraphQL execution result, a JSON object.
	Payload json.RawMessage
}

// Error ends operation ID with errors that happened before or instead of
// execution (server → client). No Complete follows it.
type Error struct {
	// ID is the operation id.
	ID string
	// Payload is the non-empty list of GraphQL errors, each an encoded JSON
	// object with a "message" member.
	Payload []json.RawMessage
}

// Complete ends operation ID (both directions): from the server, the
// operation finished; from the client, the client stopped it.
type Complete struct {
	// ID is the operation id.
	ID string
}

// Type returns [TypeConnectionInit].
func (ConnectionInit) Type() string { return TypeConnectionInit }

// Type returns [TypeConnectionAck].
func (ConnectionAck) Type() string { return TypeConnectionAck }

// Type returns [TypePing].
func (Ping) Type() string { return TypePing }

// Type returns [TypePong].
func (Pong) Type() string { return TypePong }

// Type returns [TypeSubscribe].
func (Subscribe) Type() string { return TypeSubscribe }

// Type returns [TypeNext].
func (Next) Type() string { return TypeNext }

// Type returns [TypeError].
func (Error) Type() string { return TypeError }

// Type returns [TypeComplete].
func (Complete) Type() string { return TypeComplete }

func (ConnectionInit) clientMessage() {}
func (Ping) clientMessage()           {}
func (Pong) clientMessage()           {}
func (Subscribe) clientMessage()      {}
func (Complete) clientMessage()       {}

func (ConnectionAck) serverMessage() {}
func (Ping) serverMessage()          {}
func (Pong) serverMessage()          {}
func (Next) serverMessage()          {}
func (Error) serverMessage()         {}
func (Complete) serverMessage()      {}
