// Package protocol is the vocabulary shared by the GraphQL-over-WebSocket
// subprotocols gqlambda speaks (and by the plain dialect of
// protocol/plainws, which has no subprotocol): what a client frame asks the server to do
// (an [Action]) and the server side of a subprotocol ([Server]).
//
// A subprotocol package (such as protocol/transportws) owns its wire format and
// its rules: which frames are valid in which [State], which close code a
// violation earns, which messages answer an operation. It does no I/O. The
// gqlambda server executes the actions: it runs hooks, reads and writes the
// store, posts frames and closes connections.
package protocol

import "encoding/json"

// Request is the GraphQL request a client sends to start an operation.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
	Extensions    map[string]any `json:"extensions,omitempty"`
}

// State is what the server remembers about a connection between two frames.
// Every frame of a connection may be handled by a different Lambda invocation,
// so the state lives in the store.
type State struct {
	// Acknowledged reports that the connection's connection_init was accepted
	// (connection_ack sent).
	Acknowledged bool
}

// Action is one thing the server must do after a frame or an outcome. The
// concrete types are [Send], [Close], [Init], [Ping], [Pong], [Start], [Stop]
// and [Terminate].
type Action interface{ isAction() }

// Send asks the server to post Frame to the client. An empty Frame is
// nothing to post.
type Send struct{ Frame []byte }

// Close asks the server to close the connection with a WebSocket close code
// and reason. Frames of earlier [Send] actions go out before it. On real API
// Gateway the code and reason cannot reach the client (the connection is
// deleted); the local gateway delivers them.
type Close struct {
	Code   int
	Reason string
}

// Init asks the server to run its connection_init hook with Payload, then to
// call [Server.Accept] or [Server.Refuse].
type Init struct{ Payload json.RawMessage }

// Ping asks the server to run its ping hook, then to answer with [Server.Pong].
type Ping struct{ Payload json.RawMessage }

// Pong tells the server the client answered a ping (or sent a heartbeat).
type Pong struct{ Payload json.RawMessage }

// Start asks the server to start operation ID with Request.
type Start struct {
	ID      string
	Request Request
}

// Stop tells the server the client stopped operation ID.
type Stop struct{ ID string }

// Terminate asks the server to close the connection normally (the legacy
// protocol's connection_terminate).
type Terminate struct{}

func (Send) isAction()      {}
func (Close) isAction()     {}
func (Init) isAction()      {}
func (Ping) isAction()      {}
func (Pong) isAction()      {}
func (Start) isAction()     {}
func (Stop) isAction()      {}
func (Terminate) isAction() {}

// Server is the server side of one subprotocol: pure functions from a frame or
// an outcome to actions. Implementations are safe for concurrent use.
//
// Errors passed to [Server.Reject] are GraphQL errors, each already encoded as
// a JSON object ({"message": ...}); results passed to [Server.AppendNext] are
// encoded GraphQL execution results ({"data": ..., "errors": ...}).
type Server interface {
	// Subprotocol is the Sec-WebSocket-Protocol value of this protocol (for
	// protocol/plainws, which has none, the name the server stores for its
	// connections).
	Subprotocol() string

	// Receive decodes one client frame and applies the protocol's rules for a
	// connection in state s. A malformed frame or a violation yields what the
	// protocol prescribes: a [Close] (preceded by whatever [Send] can tell the
	// client why), or only an error message where the protocol keeps the
	// connection open.
	Receive(s State, frame []byte) []Action

	// Accept is the outcome of an [Init] the server accepted: the new state and
	// the acknowledgement. ackPayload may be nil.
	Accept(s State, ackPayload json.RawMessage) (State, []Action)
	// Refuse is the outcome of an [Init] the server refused.
	Refuse() []Action
	// Pong answers a [Ping]; payload may be nil.
	Pong(payload json.RawMessage) []Action

	// Reject ends operation id, which failed before it produced a result
	// (invalid GraphQL, a refusing hook, a failing subscribe resolver).
	Reject(id string, errs []json.RawMessage) []Action
	// Duplicate is the outcome of a [Start] whose id is already in use.
	Duplicate(id string) []Action
	// Internal is the outcome of a server failure that ends the connection.
	Internal() []Action

	// AppendNext appends the frame delivering result for operation id.
	AppendNext(dst []byte, id string, result []byte) []byte
	// AppendComplete appends the frame telling the client that operation id
	// ended normally. A protocol without such a message (protocol/plainws)
	// appends nothing, and the server then posts nothing.
	AppendComplete(dst []byte, id string) []byte
	// AppendError appends the frame ending operation id with errs.
	AppendError(dst []byte, id string, errs []json.RawMessage) []byte
}

// AckRacer is implemented by a [Server] whose clients send operations without
// waiting for the acknowledgement of their connection_init (the legacy
// subscriptions-transport-ws client does). On API Gateway each frame is a
// separate, possibly concurrent invocation, so such a frame can be handled
// while the connection_init before it still is: the gqlambda server then
// waits briefly for the acknowledgement before it calls [Server.Receive].
type AckRacer interface {
	// MayPrecedeAck reports whether frame is one the protocol's clients may
	// send before the connection is acknowledged.
	MayPrecedeAck(frame []byte) bool
}
