package gqlambda

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/store"
)

// Hooks are the server's lifecycle callbacks. Every field is optional. Each
// hook runs inside the Lambda invocation that handles the event that caused
// it, and must be safe for concurrent use: invocations for one connection may
// run at the same time in different processes.
//
// Hooks decide through their return values. Errors returned by hooks that
// cannot refuse anything (OnComplete, OnDisconnect) are passed to OnError.
type Hooks struct {
	// OnConnect runs on $connect, before the connection is stored. It
	// returns what the server keeps of the connection from then on:
	// ConnectResult.Data (the user an authorizer identified, say), stored
	// with the connection and each of its subscriptions and handed to
	// hooks, resolvers, filters and predicates as [Conn.Data]. Returning an
	// error refuses the WebSocket upgrade: with the status of a
	// [*StatusError] in the chain, else 403. It does not run for refused
	// subprotocols.
	OnConnect func(ctx context.Context, req ConnectRequest) (ConnectResult, error)

	// OnConnectionInit runs when the client's connection_init arrives (once
	// per connection; a second connection_init closes the connection without
	// running it). It returns what the server keeps: Context is stored with
	// the connection and every subscription of it, and handed to resolvers
	// and hooks via [ConnFromContext]; never return secrets (tokens) in it.
	// Ack, when non-nil, is the connection_ack payload. Returning an error
	// refuses the connection (graphql-transport-ws close 4403 Forbidden).
	// Without this hook the connection is accepted with an empty context.
	OnConnectionInit func(ctx context.Context, conn Conn, payload json.RawMessage) (InitResult, error)

	// OnSubscribe runs for every operation a client starts (subscription,
	// query or mutation) once the document is parsed and valid, before the
	// operation runs. Returning an error rejects the operation: the client
	// receives an `error` message with the error as GraphQL errors (see
	// [Error]) and the connection stays open.
	OnSubscribe func(ctx context.Context, req SubscribeRequest) error

	// OnComplete runs once for every stored subscription that ends: completed
	// by the client, by [Server.Complete], by $disconnect, by a server close,
	// because API Gateway reported the connection gone (410) during a
	// delivery, or by [Server.Sweep]. It runs after the subscription field's own OnComplete. It
	// does not run for subscriptions whose records expire unseen (TTL), nor
	// for queries and mutations.
	OnComplete func(ctx context.Context, sub store.Subscription, reason CompleteReason) error

	// OnDisconnect runs once per connection when its state is deleted: on
	// $disconnect, after the server closed it, or when API Gateway reported
	// it gone (410) — whichever comes first; $disconnect is best effort and
	// may never arrive. It runs after OnComplete of each of its
	// subscriptions. It does not run for connections whose records expire
	// unseen (TTL). [Server.Sweep] runs it, with the cause SweptGone,
	// InitTimedOut or PongMissed, for the connections it removes.
	OnDisconnect func(ctx context.Context, conn Conn, info DisconnectInfo) error

	// OnPing runs when the client sends a ping, before the pong. It returns
	// the pong payload; nil echoes the ping's payload. An error closes the
	// connection (graphql-transport-ws 4500).
	OnPing func(ctx context.Context, conn Conn, payload json.RawMessage) (json.RawMessage, error)

	// OnPong runs when the client sends a pong. An error closes the
	// connection (graphql-transport-ws 4500).
	OnPong func(ctx context.Context, conn Conn, payload json.RawMessage) error

	// OnError receives every failure the server handles without a caller to
	// return it to: store and gateway failures, failed executions during
	// fan-out (also from the stream and source handlers), stream and source
	// records that cannot be decoded or delivered, errors of hooks that
	// cannot refuse. The error names the
	// operation and the ids involved. It must not block for long.
	OnError func(ctx context.Context, err error)
}

// ConnectRequest is what [Hooks.OnConnect] sees of a $connect.
type ConnectRequest struct {
	// ConnectionID is API Gateway's id of the new connection.
	ConnectionID string
	// Subprotocol is the negotiated subprotocol: "graphql-transport-ws",
	// "graphql-ws", or plainws.Name for a connection that offered none when
	// Config.PlainProtocol is set.
	Subprotocol string
	// Header holds the upgrade request's headers (canonical keys).
	Header http.Header
	// Query holds the query string parameters of the WebSocket URL.
	Query url.Values
	// Authorizer is the API Gateway authorizer's context (principalId and
	// the authorizer's context keys), nil without an authorizer.
	Authorizer map[string]any
	// SourceIP is the client's address as API Gateway saw it.
	SourceIP string
	// Event is the raw API Gateway event.
	Event *events.APIGatewayWebsocketProxyRequest
}

// ConnectResult is what [Hooks.OnConnect] returns for an accepted
// connection.
type ConnectResult struct {
	// Data is kept with the connection for its whole life: stored with it,
	// copied onto each of its subscriptions, and handed to hooks, resolvers,
	// filters and predicates as [Conn.Data], during fan-out too. Any value
	// encoding/json can encode, or a json.RawMessage; nil keeps nothing.
	// Keep it small (at most Limits.MaxContextBytes encoded; more refuses
	// the connection with 500) and free of secrets.
	Data any
}

// InitResult is what [Hooks.OnConnectionInit] returns for an accepted
// connection.
type InitResult struct {
	// Context is kept with the connection and its subscriptions: any value
	// encoding/json can encode, or a json.RawMessage. Keep it small (it is
	// copied onto every subscription record) and free of secrets.
	Context any
	// Ack is the connection_ack payload, when non-nil: an object.
	Ack any
}

// SubscribeRequest is what [Hooks.OnSubscribe] sees of an operation.
type SubscribeRequest struct {
	// Conn is the connection starting the operation.
	Conn Conn
	// ID is the client's operation id.
	ID string
	// Type is the operation's type, from the parsed document.
	Type OperationType
	// Request is the GraphQL request as the client sent it.
	Request protocol.Request
}

// CompleteReason says why a subscription ended.
type CompleteReason int

// Why subscriptions end.
const (
	// CompletedByClient: the client sent complete (or stop).
	CompletedByClient CompleteReason = iota + 1
	// CompletedByServer: [Server.Complete] ended it, or the server ended it
	// after an event it could not deliver (a result over the size limit).
	CompletedByServer
	// CompletedByDisconnect: its connection closed or is gone.
	CompletedByDisconnect
)

// String returns the reason's name.
func (r CompleteReason) String() string {
	switch r {
	case CompletedByClient:
		return "client"
	case CompletedByServer:
		return "server"
	case CompletedByDisconnect:
		return "disconnect"
	}
	return "unknown"
}

// DisconnectCause says how the server learnt that a connection ended.
type DisconnectCause int

// How connections end.
const (
	// ClientDisconnected: API Gateway's $disconnect event.
	ClientDisconnected DisconnectCause = iota + 1
	// ServerClosed: the server closed the connection (a protocol violation or
	// a refused connection_init).
	ServerClosed
	// Gone: API Gateway answered 410 Gone to a post; the $disconnect was
	// lost or has not arrived yet.
	Gone
	// SweptGone: [Server.Sweep] found the connection gone (410 to its GET
	// @connections/{id} or to its ping); the $disconnect was lost.
	SweptGone
	// InitTimedOut: [Server.Sweep] closed the connection because it sent
	// no accepted connection_init within Liveness.InitTimeout.
	InitTimedOut
	// PongMissed: [Server.Sweep] closed the connection because it did not
	// answer a ping within Liveness.PongTimeout.
	PongMissed
)

// String returns the cause's name.
func (c DisconnectCause) String() string {
	switch c {
	case ClientDisconnected:
		return "disconnect"
	case ServerClosed:
		return "server-close"
	case Gone:
		return "gone"
	case SweptGone:
		return "swept-gone"
	case InitTimedOut:
		return "init-timeout"
	case PongMissed:
		return "pong-timeout"
	}
	return "unknown"
}

// DisconnectInfo is what [Hooks.OnDisconnect] learns about the end of a
// connection.
type DisconnectInfo struct {
	Cause DisconnectCause
	// Code and Reason are the WebSocket close status: the client's own on
	// $disconnect, the server's when it closed; zero when gone.
	Code   int
	Reason string
}

// Conn describes the WebSocket connection a hook, resolver or filter runs
// for.
type Conn struct {
	// ID is API Gateway's connectionId. It is empty while a subscription's
	// event is executed for several connections at once (see
	// [Config.ExecutePerConnection]).
	ID string
	// Subprotocol is the connection's negotiated subprotocol.
	Subprotocol string
	// Context is what [Hooks.OnConnectionInit] kept, as JSON; empty before
	// the connection is acknowledged.
	Context json.RawMessage
	// Authorizer is the API Gateway authorizer's context of $connect as
	// JSON (principalId and the context keys; integrationLatency, which
	// says nothing of the caller, is left out); empty without an
	// authorizer. It is kept with the connection and
	// copied onto its subscriptions, so it is there during fan-out too (one
	// shared execution serves only subscriptions of equal authorizer
	// contexts). [Conn.Identity] reads it.
	Authorizer json.RawMessage
	// Data is what [Hooks.OnConnect] kept ([ConnectResult.Data]), as JSON;
	// empty when it kept nothing.
	Data json.RawMessage
	// ConnectedAt is when the client connected; zero during fan-out.
	ConnectedAt time.Time
}

// DecodeContext decodes the connection's context into v.
func (c Conn) DecodeContext(v any) error {
	if len(c.Context) == 0 {
		return nil
	}
	return json.Unmarshal(c.Context, v)
}

// DecodeData decodes the connection's data (what OnConnect kept) into v.
func (c Conn) DecodeData(v any) error {
	if len(c.Data) == 0 {
		return nil
	}
	return json.Unmarshal(c.Data, v)
}
