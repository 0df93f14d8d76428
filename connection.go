package gqlambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/internal/telemetry"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
	"github.com/gqlambda/gqlambda/protocol/plainws"
	"github.com/gqlambda/gqlambda/protocol/transportws"
	"github.com/gqlambda/gqlambda/store"
)

// This file is the connection life cycle, shared by the message loop and
// fan-out: a connection is stored on $connect, and its state is deleted (with
// the hooks of what was deleted) on $disconnect, on a server close, or when
// API Gateway reports it gone.

// connect handles $connect: it negotiates the subprotocol, runs OnConnect
// and stores the connection.
func (s *Server) connect(ctx context.Context, cr ConnectRequest, endpoint string) events.APIGatewayProxyResponse {
	rc := &cr.Event.RequestContext
	log := s.log.With(slog.String("connection_id", cr.ConnectionID))

	offered := offeredSubprotocols(cr.Header)
	cr.Subprotocol = s.chooseSubprotocol(offered)
	if cr.Subprotocol == "" {
		log.InfoContext(ctx, "refusing connection: no supported subprotocol offered", slog.Any("offered", offered))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest, Body: "unsupported WebSocket subprotocol"}
	}

	authorizer := encodeAuthorizer(rc.Authorizer)
	now := s.now()
	connectedAt := now
	if rc.ConnectedAt > 0 {
		connectedAt = time.UnixMilli(rc.ConnectedAt)
	}

	var data json.RawMessage
	if s.hooks.OnConnect != nil {
		c := Conn{ID: cr.ConnectionID, Subprotocol: cr.Subprotocol, Authorizer: authorizer, ConnectedAt: connectedAt}
		res, err := s.hooks.OnConnect(withScope(ctx, scope{server: s, conn: c, hasConn: true}), cr)
		if err != nil {
			status := http.StatusForbidden
			if se, ok := errors.AsType[*StatusError](err); ok && se.Status >= 400 && se.Status <= 599 {
				status = se.Status
			}
			log.InfoContext(ctx, "connection refused by OnConnect", slog.Int("status", status), slog.String("error", err.Error()))
			return events.APIGatewayProxyResponse{StatusCode: status, Body: http.StatusText(status)}
		}
		data, err = encodeValue(res.Data)
		if err == nil && len(data) > s.limits.MaxContextBytes {
			err = fmt.Errorf("data is %d bytes, over Limits.MaxContextBytes (%d)", len(data), s.limits.MaxContextBytes)
		}
		if err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: $connect %s: OnConnect returned unusable data: %w", cr.ConnectionID, err),
				slog.String("connection_id", cr.ConnectionID))
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError, Body: "Internal Server Error"}
		}
	}

	conn := store.Connection{
		ID:          cr.ConnectionID,
		Endpoint:    endpoint,
		Protocol:    cr.Subprotocol,
		Authorizer:  authorizer,
		Data:        data,
		ConnectedAt: connectedAt,
		ExpiresAt:   now.Add(s.ttl),
		// By the server's clock, which the sweeper judges idleness by.
		LastActiveAt: now,
	}
	if err := s.store.CreateConnection(ctx, conn); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: $connect %s: store connection: %w", cr.ConnectionID, err),
			slog.String("connection_id", cr.ConnectionID))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError, Body: "Internal Server Error"}
	}
	s.conns.put(conn, now)

	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	// Echo the subprotocol only when the client offered one: clients abort
	// the handshake on a subprotocol they did not ask for.
	if len(offered) > 0 {
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": cr.Subprotocol}
	}
	return resp
}

// chooseSubprotocol picks the server's preferred protocol among those
// offered; with none offered it picks the default, or the plain dialect when
// Config.PlainProtocol is set.
func (s *Server) chooseSubprotocol(offered []string) string {
	if len(offered) == 0 {
		if s.plain {
			return plainws.Name
		}
		return defaultSubprotocol
	}
	// The supported subprotocols, preferred first.
	for _, name := range [...]string{transportws.Subprotocol, legacyws.Subprotocol} {
		for _, o := range offered {
			if o == name {
				return name
			}
		}
	}
	return ""
}

// cleanup deletes a connection and its subscriptions and runs the hooks of
// what it deleted. Concurrent cleanups of one connection run each hook once
// in total, since the store hands each record to one caller.
//
// A deletion the store fails is tried again with backoff, then remembered
// and retried by later invocations (cleanup.go).
func (s *Server) cleanup(ctx context.Context, connectionID string, info DisconnectInfo) {
	s.frames.forget(connectionID)
	s.conns.drop(connectionID)
	conn, subs, err := s.deleteConnection(ctx, connectionID)
	if err != nil && !errors.Is(err, store.ErrConnectionNotFound) {
		s.cleanupFailed(ctx, connectionID, info, err)
		return
	}
	s.forget(connectionID)
	s.deleted(ctx, connectionID, info, conn, subs, err == nil)
}

// deleted runs the hooks of a deleted connection and its subscriptions.
func (s *Server) deleted(ctx context.Context, connectionID string, info DisconnectInfo, conn store.Connection, subs []store.Subscription, found bool) {
	if found {
		s.tel.Count(ctx, telemetry.Disconnections, 1)
	}
	switch info.Cause {
	case ServerClosed:
		s.tel.Mark(ctx, telemetry.Closed)
	case Gone:
		s.tel.Mark(ctx, telemetry.GoneClient)
	}
	s.log.DebugContext(ctx, "connection state deleted", slog.String("connection_id", connectionID),
		slog.String("cause", info.Cause.String()), slog.Int("subscriptions", len(subs)), slog.Bool("found", found))
	for _, sub := range subs {
		s.completed(ctx, sub, CompletedByDisconnect)
	}
	if found && s.hooks.OnDisconnect != nil {
		c := connOf(conn)
		hctx := withScope(ctx, scope{server: s, conn: c, hasConn: true})
		if err := s.hooks.OnDisconnect(hctx, c, info); err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: OnDisconnect of connection %s: %w", connectionID, err),
				slog.String("connection_id", connectionID))
		}
	}
}

// completed runs the hooks of a subscription that ended: its field's
// OnComplete (which needs its subscribe phase run again, to get the hook and
// the arguments), then Hooks.OnComplete.
func (s *Server) completed(ctx context.Context, sub store.Subscription, reason CompleteReason) {
	s.tel.Count(ctx, telemetry.SubscriptionsEnded, 1)
	if !sub.CompleteHook && s.hooks.OnComplete == nil {
		return
	}
	c := subscriptionConn(sub)
	ctx = withScope(ctx, scope{server: s, conn: c, hasConn: true, operationID: sub.ID})
	attrs := []slog.Attr{slog.String("connection_id", sub.ConnectionID), slog.String("subscription_id", sub.ID)}
	if sub.CompleteHook {
		if err := s.fieldOnComplete(ctx, c, sub); err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: connection %s subscription %s: field OnComplete (%s): %w", sub.ConnectionID, sub.ID, reason, err), attrs...)
		}
	}
	if s.hooks.OnComplete != nil {
		if err := s.hooks.OnComplete(ctx, sub, reason); err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: connection %s subscription %s: OnComplete (%s): %w", sub.ConnectionID, sub.ID, reason, err), attrs...)
		}
	}
}

// fieldOnComplete runs the OnComplete hook the subscription's field declares.
func (s *Server) fieldOnComplete(ctx context.Context, c Conn, sub store.Subscription) error {
	ctx, err := s.buildContext(ctx, ContextRequest{Conn: c})
	if err != nil {
		return fmt.Errorf("Config.Context: %w", err)
	}
	op, err := s.engine.Prepare(ctx, sub.Query, sub.OperationName)
	if err != nil {
		return err
	}
	vars, err := decodeVariables(sub.Variables)
	if err != nil {
		return err
	}
	decl, err := op.Subscribe(ctx, vars)
	if err != nil {
		return err
	}
	if decl.Options.OnComplete == nil {
		return nil
	}
	return decl.Options.OnComplete(ctx, decl.Args)
}

// connOf is what hooks and resolvers see of a stored connection.
func connOf(c store.Connection) Conn {
	return Conn{
		ID:          c.ID,
		Subprotocol: c.Protocol,
		Context:     c.Context,
		Authorizer:  c.Authorizer,
		Data:        c.Data,
		ConnectedAt: c.ConnectedAt,
	}
}

// encodeAuthorizer returns API Gateway's authorizer context as gqlambda keeps
// it: JSON, without integrationLatency (how long the authorizer took, not
// who the caller is; leaving it out lets the subscriptions of one identity
// share executions); nil without an authorizer.
func encodeAuthorizer(a any) json.RawMessage {
	if m, ok := a.(map[string]any); ok {
		if _, ok := m["integrationLatency"]; ok {
			m = maps.Clone(m)
			delete(m, "integrationLatency")
		}
		a = m
	}
	b, err := json.Marshal(a)
	if err != nil || string(b) == "null" {
		return nil
	}
	return b
}

// subscriptionConn is the connection of sub as its record holds it, for
// fan-out and the hooks of its end: everything but ConnectedAt.
func subscriptionConn(sub store.Subscription) Conn {
	return Conn{
		ID:          sub.ConnectionID,
		Subprotocol: sub.Protocol,
		Context:     sub.Context,
		Authorizer:  sub.Authorizer,
		Data:        sub.Data,
	}
}

// offeredSubprotocols lists the subprotocols of Sec-WebSocket-Protocol, which
// may be one comma-separated header or several.
func offeredSubprotocols(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Sec-Websocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
