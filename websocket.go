package gqlambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gqlambda/gqlambda/gateway"
	"github.com/gqlambda/gqlambda/protocol"
	"github.com/gqlambda/gqlambda/protocol/legacyws"
	"github.com/gqlambda/gqlambda/protocol/transportws"
	"github.com/gqlambda/gqlambda/store"
)

// WebSocketHandler handles the events of an API Gateway WebSocket API:
// $connect, $disconnect and $default (any other route key is handled as
// $default). It is the function to give lambda.Start:
//
//	lambda.Start(srv.WebSocketHandler)
//
// It returns an error only for events that are not WebSocket events at all.
// Failures while handling a frame are handled: the client gets the
// protocol's answer (an `error` message, or a close), and server-side
// failures go to Hooks.OnError. Returning an error to API Gateway would only
// make it drop the frame.
func (s *Server) WebSocketHandler(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := &req.RequestContext
	if rc.ConnectionID == "" {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest}, errors.New("gqlambda: not an API Gateway WebSocket event: no connectionId")
	}
	switch {
	case rc.EventType == "CONNECT" || rc.RouteKey == "$connect":
		return s.connect(ctx, &req), nil
	case rc.EventType == "DISCONNECT" || rc.RouteKey == "$disconnect":
		s.disconnect(ctx, &req)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	default:
		s.message(ctx, &req)
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
}

// connect handles $connect: it negotiates the subprotocol, runs OnConnect
// and stores the connection.
func (s *Server) connect(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := &req.RequestContext
	log := s.log.With(slog.String("connection_id", rc.ConnectionID))
	header := headerOf(req.Headers, req.MultiValueHeaders)

	offered := offeredSubprotocols(header)
	chosen := s.chooseSubprotocol(offered)
	if chosen == "" {
		log.InfoContext(ctx, "refusing connection: no supported subprotocol offered", slog.Any("offered", offered))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest, Body: "unsupported WebSocket subprotocol"}
	}

	var authorizer json.RawMessage
	if rc.Authorizer != nil {
		if b, err := json.Marshal(rc.Authorizer); err == nil && string(b) != "null" {
			authorizer = b
		}
	}
	now := s.now()
	connectedAt := now
	if rc.ConnectedAt > 0 {
		connectedAt = time.UnixMilli(rc.ConnectedAt)
	}

	if s.hooks.OnConnect != nil {
		authz, _ := rc.Authorizer.(map[string]any)
		cr := ConnectRequest{
			ConnectionID: rc.ConnectionID,
			Subprotocol:  chosen,
			Header:       header,
			Query:        queryOf(req.QueryStringParameters, req.MultiValueQueryStringParameters),
			Authorizer:   authz,
			SourceIP:     rc.Identity.SourceIP,
			Event:        req,
		}
		hctx := withScope(ctx, scope{server: s, conn: Conn{ID: rc.ConnectionID, Subprotocol: chosen, Authorizer: authorizer, ConnectedAt: connectedAt}, hasConn: true})
		if err := s.hooks.OnConnect(hctx, cr); err != nil {
			status := http.StatusForbidden
			var se *StatusError
			if errors.As(err, &se) && se.Status >= 400 && se.Status <= 599 {
				status = se.Status
			}
			log.InfoContext(ctx, "connection refused by OnConnect", slog.Int("status", status), slog.String("error", err.Error()))
			return events.APIGatewayProxyResponse{StatusCode: status, Body: http.StatusText(status)}
		}
	}

	conn := store.Connection{
		ID:          rc.ConnectionID,
		Endpoint:    s.endpointOf(rc),
		Protocol:    chosen,
		Authorizer:  authorizer,
		ConnectedAt: connectedAt,
		ExpiresAt:   now.Add(s.ttl),
	}
	if err := s.store.CreateConnection(ctx, conn); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: $connect %s: store connection: %w", rc.ConnectionID, err),
			slog.String("connection_id", rc.ConnectionID))
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError, Body: "Internal Server Error"}
	}

	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	// Echo the subprotocol only when the client offered one: clients abort
	// the handshake on a subprotocol they did not ask for.
	if len(offered) > 0 {
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": chosen}
	}
	return resp
}

// chooseSubprotocol picks the server's preferred protocol among those
// offered; with none offered it picks the default.
func (s *Server) chooseSubprotocol(offered []string) string {
	if len(offered) == 0 {
		return defaultSubprotocol
	}
	for _, name := range s.subprotocolPreference() {
		for _, o := range offered {
			if o == name {
				return name
			}
		}
	}
	return ""
}

// subprotocolPreference lists the supported subprotocols, preferred first.
func (s *Server) subprotocolPreference() []string {
	return []string{transportws.Subprotocol, legacyws.Subprotocol}
}

// endpointOf is the @connections endpoint for connections of this API.
func (s *Server) endpointOf(rc *events.APIGatewayWebsocketProxyRequestContext) string {
	if s.endpoint != "" {
		return s.endpoint
	}
	scheme := "https://"
	if isLoopback(rc.DomainName) {
		// A local emulator of API Gateway (such as localgateway) serves
		// @connections over plain HTTP on the loopback interface; API
		// Gateway's own domains are never loopback.
		scheme = "http://"
	}
	return scheme + rc.DomainName + "/" + rc.Stage
}

// isLoopback reports whether host (with an optional port) names the loopback
// interface.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// disconnect handles $disconnect: it deletes the connection's state.
func (s *Server) disconnect(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest) {
	rc := &req.RequestContext
	info := DisconnectInfo{Cause: ClientDisconnected, Code: int(rc.DisconnectStatusCode)}
	if rc.DisconnectReason != nil {
		info.Reason = *rc.DisconnectReason
	}
	s.cleanup(ctx, rc.ConnectionID, info)
}

// cleanup deletes a connection and its subscriptions and runs the hooks of
// what it deleted. Concurrent cleanups of one connection run each hook once
// in total, since the store hands each record to one caller.
func (s *Server) cleanup(ctx context.Context, connectionID string, info DisconnectInfo) {
	conn, subs, err := s.store.DeleteConnection(ctx, connectionID)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrConnectionNotFound) {
		s.reportError(ctx, fmt.Errorf("gqlambda: delete connection %s (%s): %w", connectionID, info.Cause, err),
			slog.String("connection_id", connectionID))
		return
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

// session is one $default frame being handled.
type session struct {
	conn  store.Connection
	proto protocol.Server
	frame []byte
	log   *slog.Logger
}

// message handles a $default frame.
func (s *Server) message(ctx context.Context, req *events.APIGatewayWebsocketProxyRequest) {
	rc := &req.RequestContext
	log := s.log.With(slog.String("connection_id", rc.ConnectionID))

	conn, err := s.store.GetConnection(ctx, rc.ConnectionID)
	if err != nil {
		// Without the connection's state the frame cannot be understood: its
		// record expired, was deleted after a 410, or the store failed.
		// Closing with 1013 (Try Again Later) makes clients reconnect.
		if errors.Is(err, store.ErrConnectionNotFound) {
			log.InfoContext(ctx, "frame for an unknown connection: closing it")
		} else {
			s.reportError(ctx, fmt.Errorf("gqlambda: $default %s: read connection: %w", rc.ConnectionID, err),
				slog.String("connection_id", rc.ConnectionID))
		}
		if err := s.sender.Close(ctx, s.endpointOf(rc), rc.ConnectionID, unknownConnectionCode, unknownConnectionReason); err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: close unknown connection %s: %w", rc.ConnectionID, err),
				slog.String("connection_id", rc.ConnectionID))
		}
		if errors.Is(err, store.ErrConnectionNotFound) {
			// A lost $disconnect may have left subscriptions behind.
			s.cleanup(ctx, rc.ConnectionID, DisconnectInfo{Cause: ServerClosed, Code: unknownConnectionCode, Reason: unknownConnectionReason})
		}
		return
	}

	ss := &session{conn: conn, log: log}
	ss.proto = s.protocols[conn.Protocol]
	if ss.proto == nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s uses unknown subprotocol %q", conn.ID, conn.Protocol),
			slog.String("connection_id", conn.ID))
		s.close(ctx, ss, 1011, "Internal Error")
		return
	}

	body := []byte(req.Body)
	if req.IsBase64Encoded {
		dec, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			dec = nil // undecodable: the protocol reports an invalid message
		}
		body = dec
	}
	if len(body) > s.limits.MaxIncomingBytes {
		log.InfoContext(ctx, "message too big: closing", slog.Int("bytes", len(body)))
		s.close(ctx, ss, 1009, "Message Too Big")
		return
	}
	ss.frame = body
	if racer, ok := ss.proto.(protocol.AckRacer); ok && !conn.Acknowledged && racer.MayPrecedeAck(body) {
		ss.conn.Acknowledged = s.awaitAck(ctx, conn.ID)
	}
	s.run(ctx, ss, ss.proto.Receive(protocol.State{Acknowledged: ss.conn.Acknowledged}, body))
}

// awaitAck waits up to Limits.AckWait for the connection to be acknowledged
// by a connection_init handled concurrently, and reports whether it was.
func (s *Server) awaitAck(ctx context.Context, id string) bool {
	wait := 10 * time.Millisecond
	deadline := time.Now().Add(s.limits.AckWait)
	for {
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
		conn, err := s.store.GetConnection(ctx, id)
		if err != nil {
			return false
		}
		if conn.Acknowledged {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// run carries out actions in order. Outcomes of actions (a hook's decision,
// an operation's result) are further actions, run before the remaining ones.
// A close or a gone client ends the run.
func (s *Server) run(ctx context.Context, ss *session, actions []protocol.Action) {
	for len(actions) > 0 {
		a := actions[0]
		actions = actions[1:]
		var next []protocol.Action
		switch a := a.(type) {
		case protocol.Send:
			if !s.send(ctx, ss, a.Frame) {
				return
			}
		case protocol.Close:
			s.close(ctx, ss, a.Code, a.Reason)
			return
		case protocol.Terminate:
			s.close(ctx, ss, 1000, "Normal Closure")
			return
		case protocol.Init:
			next = s.initialize(ctx, ss, a.Payload)
		case protocol.Ping:
			next = s.ping(ctx, ss, a.Payload)
		case protocol.Pong:
			next = s.pong(ctx, ss, a.Payload)
		case protocol.Start:
			next = s.start(ctx, ss, a.ID, a.Request)
		case protocol.Stop:
			s.stop(ctx, ss, a.ID)
		}
		if len(next) > 0 {
			actions = append(next, actions...)
		}
	}
}

// send posts a frame to the session's client. It reports false when the
// client is gone (its state is then deleted).
func (s *Server) send(ctx context.Context, ss *session, frame []byte) bool {
	err := s.sender.Post(ctx, ss.conn.Endpoint, ss.conn.ID, frame)
	switch {
	case err == nil:
		return true
	case errors.Is(err, gateway.ErrGone):
		ss.log.InfoContext(ctx, "client gone (410): deleting its state")
		s.cleanup(ctx, ss.conn.ID, DisconnectInfo{Cause: Gone})
		return false
	default:
		s.reportError(ctx, fmt.Errorf("gqlambda: post to connection %s: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return true
	}
}

// close closes the session's connection and deletes its state at once
// rather than waiting for a $disconnect that may never come.
func (s *Server) close(ctx context.Context, ss *session, code int, reason string) {
	ss.log.InfoContext(ctx, "closing connection", slog.Int("code", code), slog.String("reason", reason))
	if err := s.sender.Close(ctx, ss.conn.Endpoint, ss.conn.ID, code, reason); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: close connection %s with %d: %w", ss.conn.ID, code, err),
			slog.String("connection_id", ss.conn.ID))
	}
	s.cleanup(ctx, ss.conn.ID, DisconnectInfo{Cause: ServerClosed, Code: code, Reason: reason})
}

// initialize handles connection_init: OnConnectionInit decides, the store
// makes sure only one initialisation wins.
func (s *Server) initialize(ctx context.Context, ss *session, payload json.RawMessage) []protocol.Action {
	var res InitResult
	c := connOf(ss.conn)
	if s.hooks.OnConnectionInit != nil {
		var err error
		res, err = s.hooks.OnConnectionInit(withScope(ctx, scope{server: s, conn: c, hasConn: true}), c, payload)
		if err != nil {
			ss.log.InfoContext(ctx, "connection_init refused", slog.String("error", err.Error()))
			return ss.proto.Refuse()
		}
	}
	kept, err := encodeValue(res.Context)
	if err == nil && len(kept) > s.limits.MaxContextBytes {
		err = fmt.Errorf("context is %d bytes, over Limits.MaxContextBytes (%d)", len(kept), s.limits.MaxContextBytes)
	}
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s: OnConnectionInit returned an unusable context: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return ss.proto.Refuse()
	}
	ack, err := encodeValue(res.Ack)
	if err == nil && len(ack) > 0 && ack[0] != '{' {
		err = errors.New("the connection_ack payload must be an object")
	}
	if err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: connection %s: OnConnectionInit returned an unusable ack payload: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		ack = nil
	}

	switch err := s.store.AcknowledgeConnection(ctx, ss.conn.ID, kept); {
	case errors.Is(err, store.ErrAlreadyAcknowledged):
		// Another connection_init of this connection won the race: answer
		// this one as the protocol answers a repeated initialisation.
		return ss.proto.Receive(protocol.State{Acknowledged: true}, ss.frame)
	case errors.Is(err, store.ErrConnectionNotFound):
		ss.log.InfoContext(ctx, "connection vanished during connection_init")
		return nil
	case err != nil:
		s.reportError(ctx, fmt.Errorf("gqlambda: acknowledge connection %s: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return ss.proto.Internal()
	}
	ss.conn.Acknowledged = true
	ss.conn.Context = kept
	_, actions := ss.proto.Accept(protocol.State{Acknowledged: false}, ack)
	return actions
}

// ping answers a client ping, after OnPing.
func (s *Server) ping(ctx context.Context, ss *session, payload json.RawMessage) []protocol.Action {
	pong := payload
	if s.hooks.OnPing != nil {
		c := connOf(ss.conn)
		p, err := s.hooks.OnPing(withScope(ctx, scope{server: s, conn: c, hasConn: true}), c, payload)
		if err != nil {
			s.reportError(ctx, fmt.Errorf("gqlambda: OnPing of connection %s: %w", ss.conn.ID, err),
				slog.String("connection_id", ss.conn.ID))
			return ss.proto.Internal()
		}
		if p != nil {
			pong = p
		}
	}
	return ss.proto.Pong(pong)
}

// pong runs OnPong.
func (s *Server) pong(ctx context.Context, ss *session, payload json.RawMessage) []protocol.Action {
	if s.hooks.OnPong == nil {
		return nil
	}
	c := connOf(ss.conn)
	if err := s.hooks.OnPong(withScope(ctx, scope{server: s, conn: c, hasConn: true}), c, payload); err != nil {
		s.reportError(ctx, fmt.Errorf("gqlambda: OnPong of connection %s: %w", ss.conn.ID, err),
			slog.String("connection_id", ss.conn.ID))
		return ss.proto.Internal()
	}
	return nil
}

// encodeValue encodes a hook's result: nil stays nil, a json.RawMessage must
// be valid JSON, anything else goes through encoding/json.
func encodeValue(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(v) == 0 {
			return nil, nil
		}
		if !json.Valid(v) {
			return nil, errors.New("invalid JSON")
		}
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// headerOf builds an http.Header from an event's headers, preferring the
// multi-value form.
func headerOf(single map[string]string, multi map[string][]string) http.Header {
	h := make(http.Header, max(len(single), len(multi)))
	if len(multi) > 0 {
		for k, vs := range multi {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		return h
	}
	for k, v := range single {
		h.Add(k, v)
	}
	return h
}

// queryOf builds url.Values from an event's query string parameters.
func queryOf(single map[string]string, multi map[string][]string) url.Values {
	q := make(url.Values, max(len(single), len(multi)))
	if len(multi) > 0 {
		for k, vs := range multi {
			q[k] = append([]string(nil), vs...)
		}
		return q
	}
	for k, v := range single {
		q.Set(k, v)
	}
	return q
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
