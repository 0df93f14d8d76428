package gqlambda

import "context"

// ContextRequest is what [Config.Context] builds the context of an
// operation from.
type ContextRequest struct {
	// Conn is the WebSocket connection the operation runs for: its id, its
	// stored context (Conn.Context), the data OnConnect kept (Conn.Data) and
	// the authorizer's context (Conn.Authorizer). Zero over HTTP. During fan-out Conn.ID
	// is empty when one execution serves several subscriptions (see
	// [Config.ExecutePerConnection]).
	Conn Conn
	// Event is the payload of the event being delivered, as filters and
	// resolvers see it (JSON-decoded); nil outside fan-out.
	Event any
	// HTTP is the GraphQL over HTTP request; nil over WebSocket.
	HTTP *HTTPRequest
}

// buildContext applies Config.Context to ctx.
func (s *Server) buildContext(ctx context.Context, req ContextRequest) (context.Context, error) {
	if s.contextFunc == nil {
		return ctx, nil
	}
	out, err := s.contextFunc(ctx, req)
	if err != nil {
		return ctx, err
	}
	if out == nil {
		return ctx, nil
	}
	return out, nil
}

// scope is what the server puts in the context of hooks, resolvers and
// filters.
type scope struct {
	server      *Server
	conn        Conn
	hasConn     bool
	operationID string
	// http is the GraphQL over HTTP request; nil over WebSocket.
	http *HTTPRequest
}

type scopeKey struct{}

func withScope(ctx context.Context, sc scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

func scopeOf(ctx context.Context) (scope, bool) {
	sc, ok := ctx.Value(scopeKey{}).(scope)
	return sc, ok
}

// ConnFromContext returns the connection a hook, resolver or filter runs for.
// It reports false outside the server's calls (such as in a resolver running
// for an HTTP request or a direct [Server.Publish]).
func ConnFromContext(ctx context.Context) (Conn, bool) {
	sc, ok := scopeOf(ctx)
	if !ok || !sc.hasConn {
		return Conn{}, false
	}
	return sc.conn, true
}

// OperationIDFromContext returns the client's id of the operation being
// started, run or completed. It reports false during fan-out, where one
// execution may serve several operations.
func OperationIDFromContext(ctx context.Context) (string, bool) {
	sc, ok := scopeOf(ctx)
	if !ok || sc.operationID == "" {
		return "", false
	}
	return sc.operationID, true
}

// ServerFromContext returns the server that runs the hook, resolver or
// filter, so that it can [Server.Publish] or [Server.Complete].
func ServerFromContext(ctx context.Context) (*Server, bool) {
	sc, ok := scopeOf(ctx)
	if !ok || sc.server == nil {
		return nil, false
	}
	return sc.server, true
}
