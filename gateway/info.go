package gateway

import (
	"context"
	"time"
)

// ConnectionInfo is what API Gateway's GetConnection (GET
// @connections/{id}) tells of a connection.
type ConnectionInfo struct {
	// ConnectedAt is when the connection was established.
	ConnectedAt time.Time
	// LastActiveAt is when the connection last sent or received a message.
	LastActiveAt time.Time
	// SourceIP is the IP address of the client.
	SourceIP string
	// UserAgent is the User-Agent of the client.
	UserAgent string
}

// Inspector is an optional capability of a [Sender]: it asks the gateway
// about one connection, as GET @connections/{id} does, which is how a
// sweeper tells a connection that is gone (410) from one that is alive. The
// implementations of this module (apigw.Client, localgateway.Gateway,
// gatewaytest.Recorder) all have it.
//
// Implementations are safe for concurrent use and own their retry policy.
type Inspector interface {
	// Get describes the connection. An error wrapping ErrGone means the
	// connection does not exist (any more).
	Get(ctx context.Context, endpoint, connectionID string) (ConnectionInfo, error)
}
