// Package gateway defines how the server reaches WebSocket clients: the
// [Sender] contract of API Gateway's @connections API (post a frame, close a
// connection) and the errors its implementations report.
//
// [PostTrace] lets a caller hear of the attempts a Sender's retry policy
// hides (throttling, retries), as net/http/httptrace does for HTTP.
//
// It has no dependencies. The implementations live beside it:
//
//   - gateway/apigw: the production Sender, signing @connections calls for
//     API Gateway with aws-sdk-go-v2;
//   - gateway/gatewaytest: a Recorder that records frames in tests;
//   - localgateway: an emulator of an API Gateway WebSocket API on a real
//     socket, itself a Sender.
package gateway

import (
	"context"
	"errors"
)

// ErrGone is wrapped by errors of calls to a connection that no longer
// exists (HTTP 410, GoneException). The server then deletes the connection
// and its subscriptions.
var ErrGone = errors.New("gateway: connection gone")

// ErrPayloadTooLarge is wrapped by errors of posts whose frame exceeds the
// gateway's message size limit (HTTP 413, PayloadTooLargeException).
var ErrPayloadTooLarge = errors.New("gateway: payload too large")

// Sender delivers frames to WebSocket clients through API Gateway's
// @connections API.
//
// Implementations are safe for concurrent use and own their retry policy:
// an error means the call failed for good.
type Sender interface {
	// Post sends frame to the connection as one text message. An error
	// wrapping ErrGone means the client is gone (410); one wrapping
	// ErrPayloadTooLarge means the frame is over the gateway's limit (413).
	Post(ctx context.Context, endpoint, connectionID string, frame []byte) error
	// Close closes the connection. code and reason are the WebSocket close
	// status the protocol wants; real API Gateway cannot deliver them (the
	// connection is deleted and the client sees a normal close), the local
	// gateway does. Closing a connection that is already gone succeeds.
	Close(ctx context.Context, endpoint, connectionID string, code int, reason string) error
}

// Bounded is an optional capability of a [Sender] that has at most
// MaxInFlight posts in flight to one endpoint: a fan-out then runs no more
// deliveries at once than that, since the others could only wait for their
// turn (apigw.Client has it).
type Bounded interface {
	// MaxInFlight is the most posts the Sender has in flight to one
	// endpoint.
	MaxInFlight() int
}
